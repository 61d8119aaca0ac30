"""`fsxnat-localxnat`: run the local XNAT server until SIGINT or SIGTERM.

The first line on stdout is `URL http://HOST:PORT`. Without `--user`, the only account is the
documented default `admin:admin`. Passwords are never logged or printed.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .server import DEFAULT_SESSION_TIMEOUT, make_server

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = ("admin", "admin")


def _account(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return name, password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fsxnat-localxnat",
        description="A local XNAT 1.8-compatible server for testing fsxnat-gui.",
    )
    parser.add_argument("--root", required=True, type=Path, help="archive and database folder")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--user",
        action="append",
        type=_account,
        default=[],
        metavar="NAME:PASSWORD",
        help="an account that can create projects (repeatable; default admin:admin)",
    )
    parser.add_argument(
        "--readonly-user",
        action="append",
        type=_account,
        default=[],
        metavar="NAME:PASSWORD",
        help="a read-only account that sees every project (repeatable)",
    )
    parser.add_argument(
        "--session-timeout",
        type=float,
        default=DEFAULT_SESSION_TIMEOUT,
        metavar="SECONDS",
        help="idle session lifetime (default 900)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    users = dict(args.user) if args.user else dict([DEFAULT_ACCOUNT])
    if not _is_loopback(args.host):
        print(
            f"warning: binding {args.host}, which is not a loopback address: the test server "
            "is reachable from other machines",
            file=sys.stderr,
        )
    server = make_server(
        args.root,
        users=users,
        readonly_users=dict(args.readonly_user),
        host=args.host,
        port=args.port,
        session_timeout=args.session_timeout,
    )
    print(f"URL {server.url}", flush=True)
    if not args.user:
        print(f"Default account: user '{DEFAULT_ACCOUNT[0]}', password '{DEFAULT_ACCOUNT[1]}'")
    print(f"Archive root: {args.root}", flush=True)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        threading.Thread(target=server.shutdown, name="localxnat-stop").start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
