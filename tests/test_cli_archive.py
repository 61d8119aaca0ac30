"""`fsxnat import` into an archive whose subjects and MR sessions already exist (issue: results go
where they belong): matching, the ambiguous folder, the mapping file, --existing-only, and the
longitudinal layout, end to end against the local XNAT."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui import cli
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.demo_archive import SESSIONS, make_existing_archive_dir, seed_existing_archive

Main = Callable[..., tuple[int, str, str]]
PROJECT = "REAL"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_existing_archive_dir(tmp_path_factory.mktemp("subjects"))


@pytest.fixture
def fsxnat(capsys: pytest.CaptureFixture[str], xnat: Any, monkeypatch: pytest.MonkeyPatch) -> Main:
    monkeypatch.setenv("XNAT_PASS", xnat.password)

    def main(*args: str | Path) -> tuple[int, str, str]:
        login = ["--server", xnat.url, "--user", xnat.user, "--project", PROJECT]
        code = cli.main(["import", *(str(a) for a in args), *login])
        out, err = capsys.readouterr()
        return code, out, err

    return main


@pytest.fixture
def client(xnat: Any) -> XnatClient:
    with XnatClient(xnat.url, xnat.user, xnat.password) as c:
        seed_existing_archive(c, PROJECT)
        yield c


def experiments(client: XnatClient) -> dict[str, str]:
    """experiment label -> subject label."""
    labels = {sid: label for label, sid in client.list_subjects(PROJECT).items()}
    return {e.label: labels[e.subject_id] for e in client.list_experiments(PROJECT).values()}


def md5s(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()  # links inside a subject are stored as their content
    }


def stored(xnat: Any, *parts: str) -> Path:
    """The archive folder whose path ends with `parts` (where the server stored a resource)."""
    (found,) = [
        p for p in xnat.root.rglob(parts[-1]) if p.is_dir() and p.parts[-len(parts) :] == parts
    ]
    return found


def test_plain_import_attaches_to_existing_sessions(
    fsxnat: Main, client: XnatClient, folders: Path, xnat: Any, tmp_path: Path
) -> None:
    before = experiments(client)
    report = tmp_path / "report.json"
    code, out, err = fsxnat(folders, "--resource", "FREESURFER7", "--yes", "--report", report)
    assert code == 1, err  # the ambiguous folder is not imported: not everything was verified
    after = experiments(client)
    assert set(after) - set(before) == {"CAPS_005_MR1"}  # exactly one new session
    assert after["CAPS_005_MR1"] == "CAPS_005"
    assert len(client.list_subjects(PROJECT)) == len(SESSIONS) + 1  # and one new subject
    assert "CAPS_003: subject CAPS_003 has 2 MR sessions" in out
    assert "CAPS_003_MR_20190313, CAPS_003_MR_20200402" in out
    rows = {r["folder"]: r for r in json.loads(report.read_text())["subjects"]}
    assert rows["CAPS_003"]["status"] == "not imported"
    assert "CAPS_003_MR_20190313" in rows["CAPS_003"]["error"]
    assert rows["CAPS_001"]["experiment"] == "CAPS_001_MR_20190311"
    assert rows["CAPS_001"]["match"].endswith("matched by subject label")
    assert rows["CAPS_001"]["verified"] is True
    for name in ("CAPS_001", "CAPS_002", "CAPS_004_MR_20190314", "CAPS_005", "CAPS_006_tp1"):
        assert rows[name]["status"] == "imported", rows[name]
    # longitudinal: each run on its time point's session, the base on the subject
    for tp in ("CAPS_006_tp1", "CAPS_006_tp2"):
        folder = f"{tp}.long.CAPS_006_base"
        assert (rows[folder]["experiment"], rows[folder]["resource"]) == (tp, "FREESURFER7_LONG")
        copy = stored(xnat, tp, "RESOURCES", "FREESURFER7_LONG") / folder
        assert md5s(copy) == md5s(folders / folder)  # the zip's top folder is the folder name
    base = rows["CAPS_006_base"]
    assert (base["level"], base["subject_label"], base["experiment"]) == ("subject", "CAPS_006", "")
    copy = stored(xnat, "subjects", "CAPS_006", "FREESURFER7_BASE") / "CAPS_006_base"
    assert md5s(copy) == md5s(folders / "CAPS_006_base")
    with report.with_suffix(".csv").open() as fh:
        csv_rows = list(csv.DictReader(fh))
    assert {r["level"] for r in csv_rows} == {"experiment", "subject"}


def test_the_mapping_file_resolves_the_ambiguous_folder(
    fsxnat: Main, client: XnatClient, folders: Path, tmp_path: Path
) -> None:
    proposal = tmp_path / "map.csv"
    code, out, _ = fsxnat(folders, "--dry-run", "--write-map", proposal)
    assert code == 0
    assert "nothing was sent" in out
    lines = proposal.read_text().splitlines()
    assert lines[0] == "folder,subject,experiment,resource,match"
    (row,) = [line for line in lines if line.startswith("CAPS_003,")]
    assert row.startswith("CAPS_003,CAPS_003,,FREESURFER7,")
    edited = proposal.read_text().replace(
        "CAPS_003,CAPS_003,,", "CAPS_003,CAPS_003,CAPS_003_MR_20200402,"
    )
    proposal.write_text(edited)
    code, out, err = fsxnat(folders, "--map", proposal, "--yes")
    assert code == 0, out + err
    files = client.list_files(PROJECT, "CAPS_003_MR_20200402", "FREESURFER7")
    assert files
    assert not client.list_files(PROJECT, "CAPS_003_MR_20190313", "FREESURFER7")


def test_a_malformed_mapping_imports_nothing(
    fsxnat: Main, client: XnatClient, folders: Path, tmp_path: Path, xnat: Any
) -> None:
    bad = tmp_path / "map.csv"
    bad.write_text("folder,subject,experiment,resource\nCAPS_001,CAPS_002,CAPS_001_MR_20190311,\n")
    start = len(xnat.faults.requests)
    code, _, err = fsxnat(folders, "--map", bad, "--yes")
    assert code == 1
    assert "map.csv, line 2: experiment CAPS_001_MR_20190311 belongs to subject CAPS_001" in err
    assert not [r for r in xnat.faults.requests[start:] if r.method in ("PUT", "POST")]


def test_existing_only_creates_nothing(
    fsxnat: Main, client: XnatClient, folders: Path, xnat: Any
) -> None:
    before = experiments(client), set(client.list_subjects(PROJECT))
    code, out, _ = fsxnat(folders, "--existing-only", "--yes")
    assert code == 1  # CAPS_005 (and the ambiguous CAPS_003) are not imported
    assert (experiments(client), set(client.list_subjects(PROJECT))) == before
    assert "CAPS_005: no subject or MR session on the server matches 'CAPS_005'" in out
