"""`fsxnat watch SUBJECTS_DIR --project P [import options] [--interval S] [--once]`: import each
subject as soon as its recon-all finishes (core/watch.py), one line per event, until Ctrl-C.

Each batch of ready folders goes through the same steps as `fsxnat import` (matching, mapping,
policy, verification); what is already on the server is skipped as identical, and the watch's
state file keeps a restart from importing anything twice.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from fsxnat_gui.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    add_login_options,
    client_for,
)
from fsxnat_gui.cli.import_cmd import add_target_options, target_for
from fsxnat_gui.cli.run_view import ctrl_c_cancels, result_line
from fsxnat_gui.core import watch
from fsxnat_gui.core.errors import FsXnatError
from fsxnat_gui.core.model import SubjectResult


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "watch", help="import each subject of a SUBJECTS_DIR when its recon-all finishes"
    )
    p.add_argument("subjects_dir", type=Path, metavar="SUBJECTS_DIR")
    add_login_options(p)
    add_target_options(p)
    loop = p.add_argument_group("watching")
    loop.add_argument(
        "--interval",
        type=float,
        default=watch.DEFAULT_INTERVAL,
        metavar="S",
        help="seconds between looks at the folder (default: %(default)s)",
    )
    loop.add_argument(
        "--settle",
        type=float,
        default=watch.DEFAULT_SETTLE,
        metavar="S",
        help="a finished folder must be unchanged this long (default: %(default)s)",
    )
    loop.add_argument("--once", action="store_true", help="import what is finished now, then stop")
    p.set_defaults(run=cmd_watch)


def stamp() -> str:
    return time.strftime("%H:%M:%S")


def cmd_watch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    args.subjects_dir = args.subjects_dir.resolve()
    if not args.subjects_dir.is_dir():
        raise FsXnatError(f"{args.subjects_dir} is not a folder")
    cancel = threading.Event()
    failed = False
    with client_for(args, err) as client, ctrl_c_cancels(cancel, err):
        client.cancel = cancel  # Ctrl-C abandons a hung call, also between imports
        info = client.login()
        print(f"{client.url} (XNAT {info.version or 'version unknown'}), logged in as "
              f"{info.user}", file=out, flush=True)  # fmt: skip
        target = target_for(args, args.resource or "")
        key = watch.target_key(client.url, target, args.resource)
        state = watch.WatchState(watch.state_path(args.subjects_dir, key))
        batch = watch.BatchImport(client, target, cancel, resource=args.resource or None,
                                  mapping=args.map, only=args.subject or ())  # fmt: skip
        events = watch.watch(
            args.subjects_dir, batch, state, cancel,
            interval=args.interval, settle=args.settle, once=args.once,
        )  # fmt: skip
        for event in events:
            if isinstance(event, SubjectResult):
                failed |= not event.on_server
                print(f"{stamp()} {result_line(event)}", file=out, flush=True)
            elif isinstance(event, watch.WatchEvent) and event.kind not in SAID_BY_RESULT:
                where = f"{event.folder}: " if event.folder else ""
                print(f"{stamp()} {where}{event.message}", file=out, flush=True)
    if cancel.is_set():
        return EXIT_CANCELLED
    return EXIT_FAILED if failed else EXIT_OK


# a subject's result line already says these
SAID_BY_RESULT = (watch.WatchKind.DONE, watch.WatchKind.FAILED)
