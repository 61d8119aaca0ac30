"""The `fsxnat` parser (one module per command) and the entry point: every error is one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from fsxnat_gui import __version__
from fsxnat_gui.cli import import_cmd, login_cmd, merge_cmd, scan_cmd, slurm_cmd, watch_cmd
from fsxnat_gui.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_USAGE,
    PROG,
    UsageError,
    auth_hint,
    explain,
)
from fsxnat_gui.core.errors import AuthError, FsXnatError

COMMANDS = (scan_cmd, import_cmd, watch_cmd, slurm_cmd, merge_cmd, login_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Import FreeSurfer recon-all subjects into XNAT, verified."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=(logging.ERROR, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args, sys.stdout, sys.stderr))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FsXnatError as exc:
        hint = auth_hint() if isinstance(exc, AuthError) else ""
        print(f"{PROG}: error: {explain(exc)}{hint}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `fsxnat scan DIR | head`: the reader left, no complaint
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # e.g. the report file cannot be written
        print(
            f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return EXIT_FAILED
    except EOFError:  # Ctrl-D at a prompt
        print(f"\n{PROG}: error: no answer (end of input): nothing was done", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
