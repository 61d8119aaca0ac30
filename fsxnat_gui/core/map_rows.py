"""A mapping file cut down to some folders (header kept), for an import of only those folders:
`fsxnat import --map` refuses rows for folders it is not importing, and a SLURM task or a watch
batch imports a few folders of a mapping file written for all of them."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from pathlib import Path

from fsxnat_gui.core.mapping import COLUMNS, MappingError


def rows_for(path: Path, folders: Collection[str]) -> str:
    """The CSV text of `path` with its header and only the rows of `folders`."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MappingError(f"cannot read the mapping file {path}: {exc}") from None
    if not rows or COLUMNS[0] not in (header := [h.strip().lower() for h in rows[0]]):
        raise MappingError(f"{path.name}, line 1: the header lacks {COLUMNS[0]}")
    at = header.index(COLUMNS[0])
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(rows[0])
    for row in rows[1:]:
        if at < len(row) and row[at].strip() in folders:
            writer.writerow(row)
    return text.getvalue()


def write_rows_for(path: Path, folders: Collection[str], dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(rows_for(path, folders), encoding="utf-8", newline="")
    return dest
