"""The run report (the verification receipt) as JSON and CSV.

One row per folder: where it went (subject label, experiment, resource, level: experiment or
subject) and why (`match`), status, whether the subject is on the server as the local folder
holds it (`verified`: `SubjectResult.on_server`), the XNAT URIs, files, bytes, the error, the
files left out; `ok` when every subject is. A report never holds a secret: the server URL is
written without any user:password part it might carry.

A report is written whole or not at all (a temporary file beside it, renamed over it); a failure
to write it is a `ReportError` naming the file, never a half-written or empty report. Names that
are not valid UTF-8 (a folder name's undecodable bytes) are written as U+FFFD.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fsxnat_gui.core.archive import printable
from fsxnat_gui.core.errors import ReportError
from fsxnat_gui.core.model import Level, ResultStatus, RunReport, SubjectResult

log = logging.getLogger(__name__)

COLUMNS = (
    "subject",
    "status",
    "verified",
    "files",
    "bytes",
    "uploaded_bytes",
    "experiment_uri",
    "resource_uri",
    "seconds",
    "detail",
    "error",
    "left_out",
    # where the folder went and why (after the older columns, which keep their places)
    "folder",
    "subject_label",
    "experiment",
    "resource",
    "level",
    "match",
)


def _public_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def result_to_dict(result: SubjectResult) -> dict[str, Any]:
    return {
        "subject": printable(result.subject),  # the folder name (also `folder`)
        "status": result.status.value,
        "verified": result.on_server,
        "files": result.files,
        "bytes": result.bytes,
        "uploaded_bytes": result.uploaded_bytes,
        "experiment_uri": result.experiment_uri,
        "resource_uri": result.resource_uri,
        "seconds": round(result.seconds, 3),
        "detail": printable(result.detail),
        "error": printable(result.error),
        "left_out": [printable(w) for w in result.left_out],
        "folder": printable(result.subject),
        "subject_label": result.subject_label,
        "experiment": result.experiment,  # "" for a subject-level resource
        "resource": result.resource,
        "level": result.level.value,
        "match": printable(result.match),
    }


def report_to_dict(report: RunReport) -> dict[str, Any]:
    return {
        "server": _public_url(report.server),
        "project": report.project,
        "started": report.started,
        "finished": report.finished,
        "ok": report.ok,
        "subjects": [result_to_dict(r) for r in report.results],
    }


def result_from_dict(row: dict[str, Any]) -> SubjectResult:
    """A report row read back (as `result_from_dict(result_to_dict(r))` == r, names aside)."""
    return SubjectResult(
        subject=str(row.get("folder") or row["subject"]),
        status=ResultStatus(row["status"]),
        verified=bool(row.get("verified")),
        files=int(row.get("files") or 0),
        bytes=int(row.get("bytes") or 0),
        uploaded_bytes=int(row.get("uploaded_bytes") or 0),
        experiment_uri=str(row.get("experiment_uri") or ""),
        resource_uri=str(row.get("resource_uri") or ""),
        error=str(row.get("error") or ""),
        detail=str(row.get("detail") or ""),
        seconds=float(row.get("seconds") or 0.0),
        left_out=tuple(str(w) for w in row.get("left_out") or ()),
        subject_label=str(row.get("subject_label") or ""),
        experiment=str(row.get("experiment") or ""),
        resource=str(row.get("resource") or ""),
        level=Level(row.get("level") or Level.EXPERIMENT.value),
        match=str(row.get("match") or ""),
    )


def report_from_dict(data: dict[str, Any]) -> RunReport:
    """A report written by `write_json`, read back; KeyError/ValueError/TypeError when it is not
    one."""
    return RunReport(
        server=str(data["server"]),
        project=str(data["project"]),
        started=str(data["started"]),
        finished=str(data["finished"]),
        results=tuple(result_from_dict(r) for r in data["subjects"]),
    )


def write_json(report: RunReport, path: Path) -> None:
    """The report as JSON at `path` (atomically); `ReportError` if it cannot be written."""
    _write(path, json.dumps(report_to_dict(report), indent=2) + "\n")


def write_csv(report: RunReport, path: Path) -> None:
    """One row per subject; the run's server, project and times repeat on each row (files left
    out joined by " | ").  Atomic; `ReportError` if it cannot be written."""
    head = report_to_dict(report)
    run = {k: head[k] for k in ("server", "project", "started", "finished")}
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=(*run, *COLUMNS))
    writer.writeheader()
    for row in head["subjects"]:
        verified = "yes" if row["verified"] else "no"
        left_out = " | ".join(row["left_out"])
        writer.writerow({**run, **row, "verified": verified, "left_out": left_out})
    _write(path, text.getvalue())


def _write(path: Path, text: str) -> None:
    """Write `text` to a temporary file in `path`'s folder, then rename it over `path`."""
    path = Path(path)
    temp: str | None = None
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.chmod(temp, 0o644)  # as a file written in place (mkstemp makes it private)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
        temp = None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ReportError(
            f"The report {printable(str(path))} could not be written ({reason}); the import "
            "itself is not affected.",
            str(path),
        ) from None
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
    log.info("report written to %s", printable(str(path)))
