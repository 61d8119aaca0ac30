"""The run report (the verification receipt) as JSON and CSV.

One row per subject: status, whether the subject is on the server as the local folder holds it
(`verified`: `SubjectResult.on_server`), the XNAT URIs, files, bytes, the error; `ok` when every
subject is. A report never holds a secret: the server URL is written without
any user:password part it might carry.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fsxnat_gui.core.model import RunReport, SubjectResult

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
)


def _public_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def result_to_dict(result: SubjectResult) -> dict[str, Any]:
    return {
        "subject": result.subject,
        "status": result.status.value,
        "verified": result.on_server,
        "files": result.files,
        "bytes": result.bytes,
        "uploaded_bytes": result.uploaded_bytes,
        "experiment_uri": result.experiment_uri,
        "resource_uri": result.resource_uri,
        "seconds": round(result.seconds, 3),
        "detail": result.detail,
        "error": result.error,
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


def write_json(report: RunReport, path: Path) -> None:
    path.write_text(json.dumps(report_to_dict(report), indent=2) + "\n", encoding="utf-8")
    log.info("report written to %s", path)


def write_csv(report: RunReport, path: Path) -> None:
    """One row per subject; the run's server, project and times repeat on each row."""
    head = report_to_dict(report)
    run = {k: head[k] for k in ("server", "project", "started", "finished")}
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=(*run, *COLUMNS))
        writer.writeheader()
        for row in head["subjects"]:
            writer.writerow({**run, **row, "verified": "yes" if row["verified"] else "no"})
    log.info("report written to %s", path)
