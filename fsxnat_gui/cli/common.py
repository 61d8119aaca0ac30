"""What the commands share: exit codes, errors, the login options and the client they make."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from fsxnat_gui.core.errors import FsXnatError
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
        verify = True
        if args.ca_bundle:
            if not args.ca_bundle.is_file():
                raise UsageError(f"the CA bundle {args.ca_bundle} does not exist")
            verify = str(args.ca_bundle)
        netrc = getattr(args, "use_netrc", True)
        url, login = args.server, login_for(args.server, args.user, err, netrc=netrc)
    if verify is False:
        print(f"{PROG}: warning: {insecure_warning(url)}", file=err)
    return make_client(url, login.auth_user, login.secret, verify)


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
