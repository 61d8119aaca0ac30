"""The run report as JSON and CSV: every key the issue lists, and never a secret."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from fsxnat_gui.core.errors import ReportError
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


# --- issue 10: undecodable names, atomic writes ---------------------------------------------


def test_undecodable_names_and_left_out_files_are_written(tmp_path: Path) -> None:
    name = os.fsdecode(b"sub-\xe901")  # the folder name's bytes are Latin-1, not UTF-8
    result = SubjectResult(
        name,
        ResultStatus.FAILED,
        False,
        error=f"The subject folder name {name} is not valid UTF-8 text",
        left_out=("scripts/pipe is a named pipe: not included",),
    )
    report = RunReport("https://xnat", "P1", "t0", "t1", (result,))
    write_json(report, tmp_path / "r.json")
    write_csv(report, tmp_path / "r.csv")
    subject = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["subjects"][0]
    assert subject["subject"] == "sub-\ufffd01"
    assert subject["left_out"] == ["scripts/pipe is a named pipe: not included"]
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert row["subject"] == "sub-\ufffd01"
    assert row["left_out"] == "scripts/pipe is a named pipe: not included"


def test_a_report_that_cannot_be_written_is_a_report_error_and_no_half_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "report.json"
    target.write_text("the previous report\n")
    folder = tmp_path / "readonly"
    folder.mkdir()
    (folder / "r.json").mkdir()  # a folder where the report should go: it cannot be replaced
    with pytest.raises(ReportError) as info:
        write_json(REPORT, folder / "r.json")
    assert "could not be written" in str(info.value)
    assert info.value.path == str(folder / "r.json")
    assert sorted(p.name for p in folder.iterdir()) == ["r.json"], "no temporary file left"
    write_json(REPORT, target)
    assert json.loads(target.read_text())["project"] == "P1", "replaced whole"
