"""Typed errors of the core. Every message is fit to show to a user as it is, and never holds a
secret (passwords and tokens are never formatted into an exception)."""

from __future__ import annotations


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


class TLSError(XnatError):
    """The server's certificate is not trusted."""


class VerificationError(XnatError):
    """The server's file list does not match the local files."""
