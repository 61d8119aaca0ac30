"""`fsxnat merge-reports RUN_DIR`: the job that ends an `fsxnat slurm` run merges the task reports
into report.json and report.csv and writes the one-line summary.txt."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from fsxnat_gui.cli.common import EXIT_FAILED, EXIT_OK
from fsxnat_gui.core.slurm import merge_reports


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "merge-reports", help="merge the task reports of an `fsxnat slurm` run folder"
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.set_defaults(run=cmd_merge)


def cmd_merge(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    merged, line = merge_reports(args.run_dir)
    print(line, file=out)
    return EXIT_OK if merged.ok and merged.results else EXIT_FAILED
