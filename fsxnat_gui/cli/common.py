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

from fsxnat_gui.core import credentials
from fsxnat_gui.core.errors import FsXnatError
from fsxnat_gui.core.login import Credentials, insecure_warning, make_client, saved_credentials
from fsxnat_gui.core.pyxnat_config import read_config
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

PROG = "fsxnat"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
PASSWORD_ENV = "XNAT_PASS"


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
        help=f"password from the OS keyring, else ${PASSWORD_ENV}, else a prompt",
    )
    login.add_argument(
        "--config", type=Path, metavar="FILE", help="pyxnat JSON config (server, user, password)"
    )
    login.add_argument("--ca-bundle", type=Path, metavar="FILE", help="trust this CA bundle (PEM)")


def login_for(url: str, user: str) -> Credentials:
    """The login saved in the OS keyring (a password or an alias token the window stored),
    then $XNAT_PASS, then a prompt when on a terminal."""
    saved = saved_credentials(url, user)
    if saved is not None:
        log.info("login for %s from the keyring (%s)", user, credentials.backend_name())
        return saved
    if secret := os.environ.get(PASSWORD_ENV, ""):
        return Credentials(user, secret)
    if sys.stdin.isatty():
        return Credentials(user, getpass.getpass(f"XNAT password for {user} at {url}: "))
    raise UsageError(f"no password: set {PASSWORD_ENV}, store it in the keyring, or use --config")


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
        if not args.server or not args.user:
            raise UsageError("give --server URL and --user NAME, or --config FILE")
        verify = True
        if args.ca_bundle:
            if not args.ca_bundle.is_file():
                raise UsageError(f"the CA bundle {args.ca_bundle} does not exist")
            verify = str(args.ca_bundle)
        url, login = args.server, login_for(args.server, args.user)
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
