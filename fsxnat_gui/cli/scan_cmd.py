"""`fsxnat scan SUBJECTS_DIR [--json]`: what is there, and what can be imported."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from fsxnat_gui.cli.common import EXIT_OK, print_table
from fsxnat_gui.core import scan
from fsxnat_gui.core.archive import printable
from fsxnat_gui.core.model import Subject
from fsxnat_gui.core.units import human_bytes


def add_parser(commands: Any) -> None:
    p = commands.add_parser("scan", help="list the entries of a SUBJECTS_DIR")
    p.add_argument("subjects_dir", type=Path, metavar="SUBJECTS_DIR")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=lambda args, out, err: cmd_scan(args, out))


def subject_to_dict(s: Subject) -> dict[str, Any]:
    return {
        "name": printable(s.name),  # undecodable bytes as U+FFFD: any stdout can print them
        "path": printable(str(s.path)),
        "kind": s.kind.value,
        "state": s.state.value,
        "eligible": s.eligible,
        "reason": printable(s.reason),
        "version": s.version,
        "mixed_version": s.mixed_version,
        "long_role": s.long_role.value,
        "files": s.files,
        "bytes": s.bytes,
        "suggested_resource": s.suggested_resource if s.eligible else None,
        "warnings": [printable(w) for w in s.warnings],
    }


def cmd_scan(args: argparse.Namespace, out: TextIO) -> int:
    subjects = scan.scan(args.subjects_dir)
    if args.json:
        json.dump([subject_to_dict(s) for s in subjects], out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not subjects:
        print(f"{printable(str(args.subjects_dir))}: empty", file=out)
        return EXIT_OK
    rows = [("NAME", "KIND", "STATE", "IMPORT", "VERSION", "FILES", "SIZE", "REASON")]
    for s in subjects:
        rows.append(
            (
                printable(s.name),
                s.kind.value,
                s.state.value,
                "yes" if s.eligible else "no",
                s.version or "-",
                "-" if s.files is None else str(s.files),
                "-" if s.bytes is None else human_bytes(s.bytes),
                printable("; ".join(filter(None, (s.reason, *s.warnings)))),
            )
        )
    print_table(rows, out, right=frozenset({5, 6}))
    eligible = [s for s in subjects if s.eligible]
    size = human_bytes(sum(s.bytes or 0 for s in eligible))
    print(f"\n{len(eligible)} of {len(subjects)} entries can be imported ({size}).", file=out)
    hint = scan.subject_folder_hint(args.subjects_dir)
    if hint:
        print(f"{hint}.", file=out)
    return EXIT_OK
