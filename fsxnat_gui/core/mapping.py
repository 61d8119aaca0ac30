"""The reviewable mapping file: which folder goes to which subject, experiment and resource.

CSV with the header `folder,subject,experiment,resource`. The written file adds a `match` column
saying why (a sentence); extra columns are ignored on input, so a spreadsheet's notes survive,
except an optional `on_existing` (skip, replace or fail): that row's existing-resource policy.
An empty `experiment` means "undecided" for a session-level row (an ambiguous match) and
"the subject itself" for a base (subject-level) row. Empty values are matched as usual; given
values win over matching (archive-conventions.md §2: the spreadsheet is the review step).

A malformed file is refused whole, with the line number: nothing is imported from it.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from fsxnat_gui.core.errors import FsXnatError
from fsxnat_gui.core.labels import label_problem
from fsxnat_gui.core.matching import ArchiveIndex
from fsxnat_gui.core.model import Assignment, OnExisting, PlanItem

COLUMNS = ("folder", "subject", "experiment", "resource")
POLICY = "on_existing"
_POLICIES = {p.value: p for p in OnExisting}
WRITTEN = (*COLUMNS, "match")


class MappingError(FsXnatError):
    """The mapping file cannot be used; the message names the file and the line."""


def write_mapping(items: Iterable[PlanItem], path: Path) -> None:
    """Write the proposal, one row per folder (atomically: a failure leaves no half file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".mapping-", suffix=".csv", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(WRITTEN)
            for i in items:
                why = i.held or i.match
                row = (i.subject.name, i.subject_label, i.experiment_label, i.resource_label, why)
                writer.writerow(row)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_mapping(
    path: Path, folders: Collection[str], index: ArchiveIndex | None = None
) -> dict[str, Assignment]:
    """The rows of a mapping file by folder, checked against the folders to import and (when
    given) the project's listing. Raises MappingError naming the line of the first problem."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return _rows(path, csv.reader(fh), folders, index)
    except UnicodeDecodeError:
        raise MappingError(
            f"{path.name} is not a UTF-8 text file; save it as CSV (UTF-8)"
        ) from None
    except csv.Error as exc:
        raise MappingError(f"{path.name} is not a readable CSV file: {exc}") from None
    except OSError as exc:
        raise MappingError(f"cannot read the mapping file {path}: {exc.strerror}") from None


def _rows(
    path: Path,
    reader: Iterable[list[str]],
    folders: Collection[str],
    index: ArchiveIndex | None,
) -> dict[str, Assignment]:
    rows = iter(reader)
    header = [h.strip().lower() for h in next(rows, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise MappingError(
            f"{path.name}, line 1: the header lacks {', '.join(missing)}; "
            f"it must name the columns {','.join(COLUMNS)}"
        )
    at = {c: header.index(c) for c in (*COLUMNS, POLICY) if c in header}
    out: dict[str, Assignment] = {}
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = {c: (row[i].strip() if i < len(row) else "") for c, i in at.items()}
        where = f"{path.name}, line {number}"
        folder = values["folder"]
        if folder not in folders:
            raise MappingError(f"{where}: '{folder}' is not one of the folders to import")
        if folder in out:
            raise MappingError(f"{where}: '{folder}' already has a row; give each folder one row")
        for column in ("subject", "experiment", "resource"):
            value = values[column]
            if value and (problem := label_problem(value)):
                raise MappingError(f"{where}: {column} {problem}")
        if index is not None:
            _check_owner(where, values, index)
        policy = values.get(POLICY, "").lower()
        if policy and policy not in _POLICIES:
            raise MappingError(
                f"{where}: on_existing '{policy}' is not one of {', '.join(_POLICIES)}"
            )
        out[folder] = Assignment(
            values["subject"], values["experiment"], values["resource"], _POLICIES.get(policy)
        )
    return out


def _check_owner(where: str, values: Mapping[str, str], index: ArchiveIndex) -> None:
    """A row may not put a folder on a session of another subject (XNAT would move it)."""
    remote = index.experiment(values["experiment"]) if values["experiment"] else None
    if remote is None or not values["subject"]:
        return
    owner = index.subject_label(remote.subject_id)
    if owner != values["subject"]:
        raise MappingError(
            f"{where}: experiment {remote.label} belongs to subject {owner} on the server, "
            f"not {values['subject']}"
        )
