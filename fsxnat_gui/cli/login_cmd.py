"""`fsxnat login --server URL --user NAME [--save-token]`: check a login; with --save-token, trade
it for an XNAT alias token kept in ~/.netrc (mode 0600) for cluster nodes without a keyring."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from fsxnat_gui.cli.common import EXIT_OK, PROG, client_for
from fsxnat_gui.core import netrc_file


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "login",
        help="check a login; --save-token stores an alias token in ~/.netrc for cluster jobs",
    )
    p.add_argument("--server", metavar="URL", required=True, help="XNAT base URL")
    p.add_argument(
        "--user",
        metavar="NAME",
        help="password from ~/.netrc, $XNAT_USER/$XNAT_PASS, the OS keyring or a prompt",
    )
    p.add_argument("--ca-bundle", type=Path, metavar="FILE", help="trust this CA bundle (PEM)")
    p.add_argument(
        "--save-token",
        action="store_true",
        help="issue an XNAT alias token and store it in ~/.netrc ($NETRC), never the password",
    )
    p.set_defaults(run=cmd_login, config=None)


def cmd_login(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    args.use_netrc = not args.save_token  # a new token: from the password, not the old token
    with client_for(args, err) as client:
        info = client.login()
        print(
            f"{client.url} (XNAT {info.version or 'version unknown'}): logged in as {info.user}",
            file=out,
        )
        if not args.save_token:
            return EXIT_OK
        token = client.issue_token()
    path = netrc_file.save_token(client.url, token)
    when = datetime.fromtimestamp(token.expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"alias token saved in {path} (mode 600) for {netrc_file.host_of(client.url)}; it "
        f"expires on {when}: run '{PROG} login --server {client.url} --user {info.user} "
        "--save-token' again before then",
        file=out,
    )
    return EXIT_OK
