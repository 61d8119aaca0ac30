"""A plan compared with a real (local) archive whose sessions already exist: where each folder
goes, what the preview tree says, and how many listings it took."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui.core import scan
from fsxnat_gui.core.compare import compare
from fsxnat_gui.core.model import How, Level, NodeKind, NodeStatus, PlanNode, Target
from fsxnat_gui.core.plan import blocking_reasons, make_plan
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.demo_archive import make_existing_archive_dir, seed_existing_archive

PROJECT = "REAL"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_existing_archive_dir(tmp_path_factory.mktemp("sd"))


@pytest.fixture
def archive(client: XnatClient) -> XnatClient:
    seed_existing_archive(client, PROJECT)
    return client


def nodes(tree: PlanNode, source: str) -> list[tuple[str, str, str]]:
    (branch,) = [c for c in tree.children if c.source == source]
    out, todo = [], [branch]
    while todo:
        node = todo.pop(0)
        out.append((node.kind.value, node.label, node.status.value))
        todo.extend(node.children)
    return out


def test_folders_go_where_they_belong(folders: Path, archive: XnatClient, xnat: Any) -> None:
    subjects = [s for s in scan.scan(folders) if s.eligible]
    before = len(xnat.faults.requests)
    plan = compare(make_plan(subjects, Target(PROJECT)), archive)
    listings = [r for r in xnat.faults.requests[before:] if r.method == "GET"]
    assert sum("/subjects" in r.path and "resources" not in r.path for r in listings) == 1
    assert sum(r.path.endswith("/experiments") for r in listings) == 1  # one listing each
    items = {i.subject.name: i for i in plan.items}
    assert plan.tree is not None
    caps1 = items["CAPS_001"]
    assert (caps1.subject_label, caps1.experiment_label) == ("CAPS_001", "CAPS_001_MR_20190311")
    assert caps1.match == "existing session CAPS_001_MR_20190311 — matched by subject label"
    assert nodes(plan.tree, "CAPS_001") == [
        ("subject", "CAPS_001", "exists"),
        ("experiment", "CAPS_001_MR_20190311", "exists"),
        ("resource", "FREESURFER7", "new"),
    ]
    assert items["CAPS_004_MR_20190314"].how is How.SESSION_LABEL
    assert items["CAPS_004_MR_20190314"].subject_label == "CAPS_004"
    # several sessions: held back, candidates named, the plan may still run
    caps3 = items["CAPS_003"]
    assert caps3.how is How.AMBIGUOUS
    assert caps3.candidates == ("CAPS_003_MR_20190313", "CAPS_003_MR_20200402")
    assert nodes(plan.tree, "CAPS_003")[1] == ("experiment", "(not decided)", "choose")
    assert blocking_reasons(plan) == []
    # a brand-new folder: a new subject and session
    assert nodes(plan.tree, "CAPS_005")[:2] == [
        ("subject", "CAPS_005", "new"),
        ("experiment", "CAPS_005_MR1", "new"),
    ]
    # longitudinal: runs on their time point's session, the base on the subject
    long1 = items["CAPS_006_tp1.long.CAPS_006_base"]
    assert (long1.experiment_label, long1.resource_label) == ("CAPS_006_tp1", "FREESURFER7_LONG")
    base = items["CAPS_006_base"]
    assert (base.subject_label, base.level, base.resource_label) == (
        "CAPS_006",
        Level.SUBJECT,
        "FREESURFER7_BASE",
    )
    assert nodes(plan.tree, "CAPS_006_base") == [
        ("subject", "CAPS_006", "exists"),
        ("resource", "FREESURFER7_BASE", "new"),
    ]


def test_existing_only_creates_nothing_new(folders: Path, archive: XnatClient) -> None:
    subjects = [s for s in scan.scan(folders) if s.eligible]
    plan = compare(make_plan(subjects, Target(PROJECT, existing_only=True)), archive)
    new = [
        i.subject.name for i in plan.items if i.ok and i.how in (How.NEW_SUBJECT, How.NEW_SESSION)
    ]
    assert new == []
    caps5 = next(i for i in plan.items if i.subject.name == "CAPS_005")
    assert not caps5.ok
    assert "only existing sessions" in caps5.held


def test_a_new_session_under_an_existing_subject_is_pointed_out(
    folders: Path, archive: XnatClient
) -> None:
    archive.ensure_subject(PROJECT, "CAPS_009")  # a subject with no MR session yet
    sd = folders.parent / "one"
    sd.mkdir(exist_ok=True)
    from fsxnat_gui.samples import make_subject

    if not (sd / "CAPS_009").exists():
        make_subject(sd, "CAPS_009")
    plan = compare(make_plan(scan.scan(sd), Target(PROJECT)), archive)
    assert plan.tree is not None
    experiment = plan.tree.children[0].children[0]
    assert experiment.kind is NodeKind.EXPERIMENT
    assert experiment.status is NodeStatus.NEW
    assert experiment.detail.startswith("new session CAPS_009_MR1 under existing subject CAPS_009")
