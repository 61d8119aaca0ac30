"""What the commands share: exit codes, errors, the login options, the client they make, and the
core's errors in the command line's own words (its flags, not the window's settings)."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from fsxnat_gui.core import redact
from fsxnat_gui.core.errors import (
    CredentialsInURL,
    FsXnatError,
    NoSpace,
    SignInRedirect,
    TLSError,
)
from fsxnat_gui.core.http_errors import ca_bundle_problem
from fsxnat_gui.core.login import (
    NETRC,
    PASSWORD_ENV,
    USER_ENV,
    Credentials,
    FoundLogin,
    check_expiry,
    find_login,
    insecure_warning,
    make_client,
    save_token_hint,
)
from fsxnat_gui.core.pyxnat_config import read_config
from fsxnat_gui.core.units import human_bytes
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

PROG = "fsxnat"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
TOKEN_WARNING_S = 3600.0  # an import warns when its netrc token expires within the hour

# Where this process's login came from (one command per process): a 401 then names the file.
_found: list[tuple[FoundLogin, str]] = []


class UsageError(FsXnatError):
    """A command line that cannot be carried out as given (exit 2)."""


def add_login_options(p: argparse.ArgumentParser) -> None:
    login = p.add_argument_group("server and login (the password is never an argument)")
    login.add_argument(
        "--server", metavar="URL", help="XNAT base URL, e.g. https://xnat.example.org"
    )
    login.add_argument(
        "--user",
        metavar="NAME",
        help=f"login from ~/.netrc, else ${USER_ENV}/${PASSWORD_ENV}, else the OS keyring, "
        "else a prompt",
    )
    login.add_argument(
        "--config", type=Path, metavar="FILE", help="pyxnat JSON config (server, user, password)"
    )
    login.add_argument("--ca-bundle", type=Path, metavar="FILE", help="trust this CA bundle (PEM)")


def login_for(
    url: str, user: str | None, err: TextIO | None = None, *, netrc: bool = True
) -> Credentials:
    """~/.netrc, then $XNAT_USER/$XNAT_PASS, then the OS keyring (`core.login.find_login`),
    then a prompt when on a terminal. An expired netrc alias token fails here, before the server
    is contacted; one that expires within the hour is a warning."""
    found = find_login(url, user, netrc=netrc)
    if found is not None:
        if warning := check_expiry(found, url, TOKEN_WARNING_S):
            print(f"{PROG}: warning: {warning}", file=err or sys.stderr)
        _found[:] = [(found, url)]
        return found.credentials
    user = user or os.environ.get(USER_ENV) or None
    if user and sys.stdin.isatty():
        return Credentials(user, getpass.getpass(f"XNAT password for {user} at {url}: "))
    if not user:
        raise UsageError(
            f"give --user NAME (or set {USER_ENV}), or save a login in ~/.netrc: "
            f"{save_token_hint(url, None)}"
        )
    raise UsageError(
        f"no password: set {PASSWORD_ENV}, store it in the keyring, or use --config "
        f"(on a cluster node: {save_token_hint(url, user)})"
    )


def auth_hint() -> str:
    """For a refused login: the netrc file it came from and the fix ("" when not from one)."""
    if not _found or _found[0][0].source != NETRC:
        return ""
    found, url = _found[0]
    return (
        f" The login came from {found.path}: if its alias token expired or was revoked, get a "
        f"new one: {save_token_hint(url, None)}"
    )


def client_for(args: argparse.Namespace, err: TextIO) -> XnatClient:
    """The client the command line asks for (a pyxnat config file, or server and user)."""
    if args.config:
        if args.server or args.user or args.ca_bundle:
            raise UsageError(
                "--config holds the server, user and password (and 'verify' for a CA bundle); "
                "do not combine it with --server, --user or --ca-bundle"
            )
        config = read_config(args.config)
        url, login, verify = config.server, Credentials(config.user, config.password), config.verify
    else:
        if not args.server:
            raise UsageError("give --server URL and --user NAME, or --config FILE")
        try:
            url = redact.check_server_url(args.server)
        except CredentialsInURL:
            raise UsageError(SERVER_WITH_CREDENTIALS) from None
        verify = True
        if args.ca_bundle:
            problem = ca_bundle_problem(str(args.ca_bundle))
            if problem is not None:
                raise UsageError(bundle_advice(problem.kind, str(args.ca_bundle))) from None
            verify = str(args.ca_bundle)
        netrc = getattr(args, "use_netrc", True)
        login = login_for(url, args.user, err, netrc=netrc)
    if verify is False:
        print(f"{PROG}: warning: {insecure_warning(url)}", file=err)
    return make_client(url, login.auth_user, login.secret, verify)


SERVER_WITH_CREDENTIALS = (
    "--server takes the address alone, e.g. https://xnat.example.org, never a user name or "
    f"password (nothing before an '@'): give the user with --user and the password in "
    f"${PASSWORD_ENV}, the keyring or at the prompt"
)
TEMP_DIR_ADVICE = "use --temp-dir DIR to put the zips in a folder with room for them"


def bundle_advice(kind: str, path: str) -> str:
    """Why the CA bundle file cannot be used, with what --ca-bundle needs."""
    if kind == "bundle-folder":
        return f"--ca-bundle {path} is a folder: give the certificate file (.pem) itself"
    if kind == "bundle-invalid":
        return (
            f"--ca-bundle {path} holds no certificate in PEM format (text starting with "
            "-----BEGIN CERTIFICATE-----); a DER file converts with "
            f"'openssl x509 -inform der -in {path} -out bundle.pem'"
        )
    return f"--ca-bundle {path}: no such file (give the CA bundle file, .pem, of your site)"


def explain(exc: FsXnatError) -> str:
    """The error in the command line's words: the core's sentence, plus the flag that helps."""
    text = str(exc)
    if isinstance(exc, TLSError):
        advice = {
            "untrusted": "give your site's CA bundle with --ca-bundle FILE (PEM)",
            "hostname": "give that host name in --server",
            "not-tls": "for a plain http server, --server starts with http://",
            "other": "check --server, and --ca-bundle FILE if your site has its own CA",
        }.get(exc.kind)
        return f"{text} ({advice})" if advice else text
    if isinstance(exc, SignInRedirect):
        page = f" ({exc.location})" if exc.location else ""
        return (
            f"the server redirects to a sign-in page{page}: it is behind a single sign-on. "
            "Keep --server at the XNAT address (not the sign-in page's) and log in with an "
            "alias token issued on XNAT's web site: --user TOKEN_ALIAS, the token's secret in "
            f"${PASSWORD_ENV}"
        )
    if isinstance(exc, NoSpace):
        return (
            f"not enough disk space in {exc.folder} for the zip (about {human_bytes(exc.needed)})"
            f": free some space there, or {TEMP_DIR_ADVICE}"
        )
    return text


SESSION_END_WAIT_S = 0.5  # after Ctrl-C, the longest wait for the server to end the session


@contextmanager
def session(client: XnatClient) -> Iterator[XnatClient]:
    """The client, its XNAT session ended at the end. After a Ctrl-C (the run cancelled, or an
    interrupt on its way out) the server is not waited for: it may be the one that hangs."""
    interrupted = False
    try:
        yield client
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if interrupted or (client.cancel is not None and client.cancel.is_set()):
            ending = threading.Thread(target=client.close, name="end-session", daemon=True)
            ending.start()
            ending.join(SESSION_END_WAIT_S)
        else:
            client.close()


def print_table(
    rows: Sequence[Sequence[str]], out: TextIO, right: frozenset[int] = frozenset()
) -> None:
    """Aligned columns; the last column is never padded (it holds free text)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row[:-1], widths, strict=False))
        ]
        print("  ".join([*cells, row[-1]]).rstrip(), file=out)
