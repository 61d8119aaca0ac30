"""Typed errors of the core. Every message is fit to show to a user as it is, and never holds a
secret (passwords and tokens are never formatted into an exception)."""

from __future__ import annotations

from pathlib import Path


class FsXnatError(Exception):
    """Base class: str(exc) is a complete, actionable sentence."""


class Cancelled(FsXnatError):  # noqa: N818 - a state, not a failure
    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)


class ScanError(FsXnatError):
    """The folder cannot be read or is not a SUBJECTS_DIR / subject."""


class LabelError(FsXnatError):
    """A label XNAT would refuse, or two subjects mapping to one label."""


class ArchiveError(FsXnatError):
    """Zipping failed (unreadable file, disk full, ...)."""


class NoSpace(ArchiveError):  # noqa: N818
    """Not enough free space in the temporary `folder` for a zip of about `needed` bytes (the
    front ends name their way to choose another folder: --temp-dir, the window's setting)."""

    def __init__(self, message: str, *, folder: Path, needed: int) -> None:
        super().__init__(message)
        self.folder = folder
        self.needed = needed


class FileChanged(ArchiveError):  # noqa: N818 - a state
    """A file changed (or went) while it was being read into the zip or sent (`path`: its path
    in the zip): zipped and sent again, up to a bound (then ChangedOnDisk)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class ChangedOnDisk(ArchiveError):  # noqa: N818
    """A file changed after it was read into the zip (`path`: its path in the zip), and kept
    changing: what the server holds would not be the folder as it is on disk."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class ReportError(FsXnatError):
    """The run report could not be written (`path`); the import itself is not concerned."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class XnatError(FsXnatError):
    """Any failure talking to XNAT. `status` is the HTTP status when there was one."""

    transient = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(XnatError):
    """Wrong user/password/token, or the login expired and could not be renewed."""


class PermissionDenied(XnatError):  # noqa: N818 - reads as the state the user is in
    """Logged in, but not allowed to do this on this project."""


class NotFound(XnatError):  # noqa: N818
    """The project/subject/experiment/resource does not exist (a real 404, never a guess)."""


class Conflict(XnatError):  # noqa: N818
    """The server refused because something exists or differs (409, duplicates answer)."""


class ServerError(XnatError):
    """5xx or a malformed answer. Transient: may be retried after listing what the server has."""

    transient = True


class NetworkError(XnatError):
    """Connection refused/reset, DNS failure, timeout."""

    transient = True


class Abandoned(Cancelled):
    """A call still waiting for the server when the run was cancelled: no longer waited for.
    The server may still carry it out."""

    def __init__(self, message: str = "Cancelled while waiting for the server.") -> None:
        super().__init__(message)


class TLSError(XnatError):
    """The secure connection failed. `kind` says why, for the front ends' advice (the CLI's
    --ca-bundle, the window's connection settings), which the message leaves to them:

    - "untrusted": the certificate is not signed by a trusted authority (or the bundle's);
    - "hostname": the certificate was issued for another host name;
    - "bundle-missing", "bundle-folder", "bundle-invalid": the CA bundle file does not exist,
      is a folder, or holds no PEM certificate;
    - "not-tls": the port does not speak TLS (an http:// server);
    - "other": any other TLS failure.
    """

    def __init__(self, message: str, status: int | None = None, *, kind: str = "other") -> None:
        super().__init__(message, status)
        self.kind = kind


class CredentialsInURL(XnatError):  # noqa: N818
    """A server address that carries a user name or password (the message never quotes it)."""


class SignInRedirect(AuthError):  # noqa: N818
    """The server redirects to a sign-in page (single sign-on): the XNAT address itself, or an
    alias token, is needed. `location` is the sign-in page's address, without its query."""

    def __init__(self, message: str, status: int | None = None, *, location: str = "") -> None:
        super().__init__(message, status)
        self.location = location


class TooLarge(XnatError):  # noqa: N818
    """413: a proxy in front of XNAT refuses a body of `size` bytes (its body-size limit)."""

    def __init__(self, message: str, status: int | None = None, *, size: int = 0) -> None:
        super().__init__(message, status)
        self.size = size


class VerificationError(XnatError):
    """The server's file list does not match the local files."""
