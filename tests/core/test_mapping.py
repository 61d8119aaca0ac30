"""The mapping file: written for review, read back with line-numbered refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from archive_helpers import REAL, base, folder, long_run

from fsxnat_gui.core.mapping import MappingError, read_mapping, write_mapping
from fsxnat_gui.core.model import Assignment, OnExisting, Target
from fsxnat_gui.core.plan import make_plan

FOLDERS = ["CAPS_001", "CAPS_003", "CAPS_001_base", "CAPS_001.long.CAPS_001_base"]


def subjects() -> list:
    return [
        folder("CAPS_001"),
        folder("CAPS_003"),
        base("CAPS_001_base", "CAPS_001"),
        long_run("CAPS_001", "CAPS_001_base"),
    ]


def test_written_proposal_reads_back_to_the_same_destinations(tmp_path: Path) -> None:
    proposal = make_plan(subjects(), Target("REAL"), index=REAL).items
    path = tmp_path / "map.csv"
    write_mapping(proposal, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "folder,subject,experiment,resource,match"
    assert lines[1].startswith(
        "CAPS_001,CAPS_001,CAPS_001_MR_20190311,FREESURFER7,existing session"
    )
    assert lines[2].startswith("CAPS_003,CAPS_003,,FREESURFER7,")  # ambiguous: experiment empty
    assert lines[3].startswith("CAPS_001_base,CAPS_001,,FREESURFER7_BASE,")  # subject level
    rows = read_mapping(path, FOLDERS, REAL)
    assert rows["CAPS_003"] == Assignment("CAPS_003", "", "FREESURFER7")
    again = make_plan(subjects(), Target("REAL"), rows, index=REAL).items
    assert [(i.subject_label, i.experiment_label, i.resource_label, i.ok) for i in again] == [
        (i.subject_label, i.experiment_label, i.resource_label, i.ok) for i in proposal
    ]


def test_an_edited_row_resolves_the_ambiguous_folder(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    write_mapping(make_plan(subjects(), Target("REAL"), index=REAL).items, path)
    text = path.read_text(encoding="utf-8").replace(
        "CAPS_003,CAPS_003,,", "CAPS_003,CAPS_003,CAPS_003_MR_20200401,"
    )
    path.write_text(text + "\n", encoding="utf-8")  # a trailing blank line is fine
    rows = read_mapping(path, FOLDERS, REAL)
    item = make_plan(subjects(), Target("REAL"), rows, index=REAL).items[1]
    assert item.ok
    assert item.experiment_label == "CAPS_003_MR_20200401"


def test_a_row_may_carry_its_own_existing_resource_policy(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("folder,subject,experiment,resource,on_existing\nCAPS_001,,,,Replace\n")
    rows = read_mapping(path, FOLDERS, REAL)
    assert rows["CAPS_001"] == Assignment(on_existing=OnExisting.REPLACE)
    item = make_plan(subjects(), Target("REAL"), rows, index=REAL).items[0]
    assert item.on_existing is OnExisting.REPLACE
    path.write_text("folder,subject,experiment,resource,on_existing\nCAPS_001,,,,maybe\n")
    with pytest.raises(MappingError, match="line 2: on_existing 'maybe'"):
        read_mapping(path, FOLDERS, REAL)


def test_extra_columns_and_a_spreadsheet_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text(
        "\ufeffnote,Folder,subject,experiment,resource\nchecked,CAPS_001,,,\n", encoding="utf-8"
    )
    assert read_mapping(path, FOLDERS, REAL) == {"CAPS_001": Assignment()}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("folder,subject,experiment\n", "line 1: the header lacks resource"),
        (
            "folder,subject,experiment,resource\nnope,,,\n",
            "line 2: 'nope' is not one of the folders",
        ),
        (
            "folder,subject,experiment,resource\nCAPS_001,,,\nCAPS_001,,,\n",
            "line 3: 'CAPS_001' already has a row",
        ),
        (
            "folder,subject,experiment,resource\nCAPS_001,CAPS_002,CAPS_001_MR_20190311,\n",
            "line 2: experiment CAPS_001_MR_20190311 belongs to subject CAPS_001",
        ),
        ("folder,subject,experiment,resource\nCAPS_001,CAPS 1,,\n", "line 2: subject 'CAPS 1'"),
    ],
)
def test_a_malformed_file_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match=message):
        read_mapping(path, FOLDERS, REAL)


def test_unreadable_files_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the mapping file"):
        read_mapping(tmp_path / "missing.csv", FOLDERS)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(MappingError, match="not a UTF-8 text file"):
        read_mapping(tmp_path / "bin.csv", FOLDERS)
