"""The run report as JSON and CSV: every key the issue lists, and never a secret."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from fsxnat_gui.core.model import ResultStatus, RunReport, SubjectResult
from fsxnat_gui.core.report import COLUMNS, report_to_dict, write_csv, write_json

REPORT = RunReport(
    server="https://alice:s3cret@xnat.example.org:8443/xnat",
    project="P1",
    started="2024-06-01T10:00:00+00:00",
    finished="2024-06-01T10:05:00+00:00",
    results=(
        SubjectResult(
            "bert",
            ResultStatus.IMPORTED,
            True,
            files=341,
            bytes=330_000_000,
            uploaded_bytes=200_000_000,
            experiment_uri="/data/projects/P1/experiments/bert_MR1",
            resource_uri="/data/projects/P1/experiments/bert_MR1/resources/FREESURFER7",
            seconds=12.3456,
        ),
        SubjectResult(
            "ernie", ResultStatus.FAILED, False, error="3 files missing on the server: a, b, c"
        ),
    ),
)


def test_dict_has_every_key() -> None:
    d = report_to_dict(REPORT)
    assert d["ok"] is False
    assert d["project"] == "P1"
    assert set(d["subjects"][0]) == set(COLUMNS)
    bert, ernie = d["subjects"]
    assert bert["status"] == "imported"
    assert bert["verified"] is True
    assert bert["seconds"] == 12.346
    assert ernie["status"] == "failed"
    assert ernie["error"].startswith("3 files missing")


def test_json_round_trip_without_secret(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(REPORT, path)
    text = path.read_text()
    assert "s3cret" not in text
    assert "alice" not in text
    data = json.loads(text)
    assert data["server"] == "https://xnat.example.org:8443/xnat"
    assert [s["subject"] for s in data["subjects"]] == ["bert", "ernie"]


def test_csv_one_row_per_subject(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    write_csv(REPORT, path)
    assert "s3cret" not in path.read_text()
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["subject"], r["status"], r["verified"]) for r in rows] == [
        ("bert", "imported", "yes"),
        ("ernie", "failed", "no"),
    ]
    assert rows[0]["project"] == "P1"
    assert rows[0]["bytes"] == "330000000"


def test_on_server_is_the_one_answer_of_verified_and_ok() -> None:
    """Only a verified import or a verified identical skip is on the server."""
    on_server = [
        SubjectResult("a", ResultStatus.IMPORTED, True),
        SubjectResult("b", ResultStatus.SKIPPED, True),
    ]
    assert all(r.on_server for r in on_server)
    run = RunReport("https://x", "P1", "t0", "t1", tuple(on_server))
    assert run.ok
    assert report_to_dict(run)["ok"] is True
    unverified = SubjectResult("c", ResultStatus.IMPORTED, False)
    cancelled = SubjectResult("d", ResultStatus.CANCELLED, False)
    assert not unverified.on_server
    assert not cancelled.on_server
    run = RunReport("https://x", "P1", "t0", "t1", (*on_server, unverified))
    data = report_to_dict(run)
    assert not run.ok
    assert data["ok"] is False
    assert [r["verified"] for r in data["subjects"]] == [True, True, False]
