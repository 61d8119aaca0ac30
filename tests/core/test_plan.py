"""Import plans: resolved labels, sanitising, collisions, and statuses against the server."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui.core import scan
from fsxnat_gui.core.compare import compare
from fsxnat_gui.core.errors import Cancelled, LabelError
from fsxnat_gui.core.jobs import run_import
from fsxnat_gui.core.model import (
    EntryKind,
    NodeKind,
    NodeStatus,
    OnExisting,
    PlanNode,
    ResultStatus,
    RunState,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.plan import blocking_reasons, make_plan, resource_label, retry_plan
from fsxnat_gui.core.tree import offline_tree
from fsxnat_gui.core.xnat import XnatClient


def subject(
    name: str,
    *,
    state: RunState = RunState.DONE,
    reason: str = "",
    version: str = "7.4.1",
    root: Path = Path("/nowhere"),
) -> Subject:
    return Subject(name, root / name, EntryKind.SUBJECT, state, reason, version, files=3, bytes=30)


def statuses(node: PlanNode) -> list[tuple[str, str, str]]:
    """(kind, label, status) of every node, depth first."""
    rows = [(node.kind.value, node.label, node.status.value)]
    for child in node.children:
        rows += statuses(child)
    return rows


def test_labels_resolved_with_default_template() -> None:
    plan = make_plan([subject("bert"), subject("ernie")], Target("P1"))
    assert [(i.subject_label, i.experiment_label, i.resource_label) for i in plan.items] == [
        ("bert", "bert_MR1", "FREESURFER7"),
        ("ernie", "ernie_MR1", "FREESURFER7"),
    ]
    assert plan.ok


def test_folder_name_sanitised_and_noted() -> None:
    plan = make_plan([subject("sub 01.v2")], Target("P1", experiment_template="{subject}_FS"))
    (item,) = plan.items
    assert (item.subject_label, item.experiment_label) == ("sub_01_v2", "sub_01_v2_FS")
    assert item.ok
    node = offline_tree(plan).children[0]
    assert node.detail == "from folder 'sub 01.v2'"


def test_override_used_as_typed_and_validated() -> None:
    target = Target("P1")
    plan = make_plan([subject("bert")], target, {"bert": "S001"})
    assert plan.items[0].subject_label == "S001"
    bad = make_plan([subject("bert")], target, {"bert": "S 001"})
    assert not bad.ok
    assert (
        "subject label: 'S 001' has characters XNAT does not allow (space)"
        in (bad.items[0].problems[0])
    )


def test_two_folders_one_subject_label_name_both() -> None:
    plan = make_plan([subject("sub 01"), subject("sub.01"), subject("ok")], Target("P1"))
    bad = [i for i in plan.items if not i.ok]
    assert [i.subject.name for i in bad] == ["sub 01", "sub.01"]
    for item in bad:
        (problem,) = item.problems
        assert "'sub 01' and 'sub.01'" in problem
        assert "subject 'sub_01'" in problem
    assert plan.items[2].ok


def test_template_without_subject_collides_on_experiment() -> None:
    plan = make_plan([subject("a"), subject("b")], Target("P1", experiment_template="MR1"))
    for item in plan.items:
        assert item.problems == (
            "folders 'a' and 'b' would all become experiment 'MR1'; give one of them another label",
        )


@pytest.mark.parametrize("template", ["{subj}_MR1", "{subject}_{date}", "{subject", "{0}", "{}"])
def test_bad_template_raises(template: str) -> None:
    with pytest.raises(LabelError, match="template"):
        make_plan([subject("bert")], Target("P1", experiment_template=template))


def test_template_producing_invalid_label() -> None:
    plan = make_plan([subject("bert")], Target("P1", experiment_template="{subject} MR1"))
    assert plan.items[0].problems == (
        "experiment label: 'bert MR1' has characters XNAT does not allow (space); "
        "use letters, digits, '_' and '-'",
    )


def test_invalid_project_and_resource_block_every_item() -> None:
    plan = make_plan([subject("a"), subject("b")], Target("my project", resource="FS 7"))
    for item in plan.items:
        assert len(item.problems) == 2
    tree = offline_tree(plan)
    assert tree.status is NodeStatus.INVALID
    assert "space" in tree.detail


def test_all_digit_resource_label_is_refused() -> None:
    """XNAT would read '3' as the numeric id of some other resource (and REPLACE delete it)."""
    plan = make_plan([subject("a")], Target("P", resource="3"))
    assert not plan.ok
    assert "all digits" in plan.items[0].problems[0]


def test_ineligible_subject_rejected_with_reason() -> None:
    running = subject(
        "bert", state=RunState.RUNNING, reason="recon-all is running (IsRunning.lh+rh)"
    )
    plan = make_plan([running, subject("ernie")], Target("P1"))
    assert plan.items[0].problems == ("bert: recon-all is running (IsRunning.lh+rh)",)
    assert plan.items[1].ok
    assert not plan.ok


def test_ineligible_subjects_take_no_part_in_collisions() -> None:
    failed = subject("sub.01", state=RunState.FAILED, reason="recon-all failed")
    plan = make_plan([failed, subject("sub 01")], Target("P1"))
    assert plan.items[1].ok


def test_offline_tree_shape() -> None:
    plan = make_plan([subject("bert"), subject("bad", state=RunState.FAILED)], Target("P1"))
    assert statuses(offline_tree(plan)) == [
        ("project", "P1", "unknown"),
        ("subject", "bert", "unknown"),
        ("experiment", "bert_MR1", "unknown"),
        ("resource", "FREESURFER7", "unknown"),
        ("subject", "bad", "invalid"),
        ("experiment", "bad_MR1", "invalid"),
        ("resource", "FREESURFER7", "invalid"),
    ]
    bert = offline_tree(plan).children[0]
    assert bert.source == "bert"
    assert bert.children[0].children[0].kind is NodeKind.RESOURCE


def test_plan_is_fast_for_large_selections() -> None:
    import time

    many = [subject(f"sub-{i:04d}") for i in range(2000)]
    t = time.perf_counter()
    plan = make_plan(many, Target("P1"))
    offline_tree(plan)
    assert time.perf_counter() - t < 0.5
    assert plan.ok


# --- the rules both front ends apply ----------------------------------------------------------


def test_resource_label_from_the_freesurfer_version() -> None:
    assert resource_label([subject("a"), subject("b")]) == "FREESURFER7"
    assert resource_label([subject("a", version="6.0.0")]) == "FREESURFER6"
    assert resource_label([subject("a", version="")]) == "FREESURFER"
    assert resource_label([subject("a")], "MY_FS") == "MY_FS"  # typed wins


def test_mixed_versions_have_no_resource_label_but_a_reason() -> None:
    mixed = [subject("a", version="6.0.0"), subject("b"), subject("c")]
    with pytest.raises(LabelError) as info:
        resource_label(mixed)
    assert "FREESURFER6 and FREESURFER7" in str(info.value)
    assert "--resource" in str(info.value)
    assert resource_label(mixed, "FREESURFER") == "FREESURFER"


def test_blocking_reasons_offline_and_compared(subjects: list[Subject], client: XnatClient) -> None:
    plan = make_plan([subject("bert"), subject("bad", state=RunState.RUNNING)], Target("P1"))
    reasons = blocking_reasons(plan)  # not compared: the offline tree's INVALID nodes
    assert reasons
    assert all(r.startswith("bad: ") for r in reasons)
    assert blocking_reasons(make_plan(subjects, Target("P1", create_project=True))) == []

    compared = compare(make_plan(subjects[:1], Target("P1")), client)
    assert blocking_reasons(compared) == [
        "project P1: project P1 does not exist; tick 'create project' (--create-project)"
    ]


def test_retry_plan_takes_what_did_not_reach_the_server(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        (tmp_path / name).mkdir()
    last = make_plan([subject(n, root=tmp_path) for n in "abcde"], Target("P1"))
    results = [
        SubjectResult("a", ResultStatus.IMPORTED, verified=True),
        SubjectResult("b", ResultStatus.SKIPPED, verified=True),
        SubjectResult("c", ResultStatus.FAILED, verified=False),
        SubjectResult("e", ResultStatus.CANCELLED, verified=False),
    ]  # d: no result (the run stopped before it); e: its folder is gone
    again, gone = retry_plan(last, results)
    assert again is not None
    assert [i.subject.name for i in again.items] == ["c", "d"]
    assert again.target == last.target
    assert gone == ["e"]
    assert retry_plan(last, [SubjectResult(n, ResultStatus.IMPORTED, True) for n in "abcd"]) == (
        None,
        ["e"],
    )


# --- compared with the real local server -------------------------------------------------------


def imported(subjects: list[Subject], client: XnatClient) -> None:
    """Put the subjects on the server the normal way (the runner is tested in test_jobs)."""
    plan = compare(make_plan(subjects, Target("P1", create_project=True)), client)
    events = list(run_import(plan, client, threading.Event()))
    assert events[-1].ok  # type: ignore[union-attr]


def test_everything_new(subjects: list[Subject], client: XnatClient) -> None:
    plan = compare(make_plan(subjects[:1], Target("P1", create_project=True)), client)
    assert plan.tree is not None
    assert statuses(plan.tree) == [
        ("project", "P1", "new"),
        ("subject", "sub-01", "new"),
        ("experiment", "sub-01_MR1", "new"),
        ("resource", "FREESURFER7", "new"),
    ]
    assert plan.tree.detail == "will be created"
    resource = plan.tree.children[0].children[0].children[0]
    assert resource.detail.startswith("74 files, ")


def test_missing_project_is_a_conflict(subjects: list[Subject], client: XnatClient) -> None:
    plan = compare(make_plan(subjects[:1], Target("P1")), client)
    assert plan.tree is not None
    assert plan.tree.status is NodeStatus.CONFLICT
    assert plan.tree.detail.startswith("project P1 does not exist; tick 'create project'")


@pytest.mark.parametrize(
    ("policy", "status", "detail"),
    [
        (OnExisting.SKIP, "exists", "will be checked file by file and skipped if identical"),
        (OnExisting.REPLACE, "exists", "will be replaced"),
        (OnExisting.FAIL, "conflict", "the policy for existing resources is to stop"),
    ],
)
def test_existing_resource_per_policy(
    subjects: list[Subject],
    client: XnatClient,
    xnat: Any,
    policy: OnExisting,
    status: str,
    detail: str,
) -> None:
    imported(subjects[:1], client)
    xnat.faults.clear_requests()
    plan = compare(make_plan(subjects[:3], Target("P1", on_existing=policy)), client)
    assert plan.tree is not None
    assert statuses(plan.tree)[:4] == [
        ("project", "P1", "exists"),
        ("subject", "sub-01", "exists"),
        ("experiment", "sub-01_MR1", "exists"),
        ("resource", "FREESURFER7", status),
    ]
    assert {s for _, _, s in statuses(plan.tree)[4:]} == {"new"}
    resource = plan.tree.children[0].children[0].children[0]
    assert resource.detail.startswith("exists: 74 files, ")
    assert resource.detail.endswith(detail)
    gets = sorted(r.path for r in xnat.faults.requests if r.method == "GET")
    assert gets == [
        "/data/projects/P1",
        "/data/projects/P1/experiments",
        "/data/projects/P1/experiments/sub-01_MR1/resources",
        "/data/projects/P1/subjects",
    ], "one listing per collection"


def test_skip_with_different_counts_is_a_conflict(
    subjects: list[Subject], client: XnatClient
) -> None:
    imported(subjects[:1], client)
    (subjects[0].path / "stats" / "extra.stats").write_text("# new\n")
    changed = scan.measure(scan.classify(subjects[0].path))
    plan = compare(make_plan([changed], Target("P1")), client)
    assert plan.tree is not None
    resource = plan.tree.children[0].children[0].children[0]
    assert resource.status is NodeStatus.CONFLICT
    assert "the local folder has 75 files" in resource.detail
    assert resource.detail.endswith("choose replace to overwrite")


def test_experiment_of_another_subject_is_a_conflict(
    subjects: list[Subject], client: XnatClient
) -> None:
    client.create_project("P1")
    client.ensure_experiment("P1", "other", "sub-01_MR1")
    plan = compare(make_plan(subjects[:1], Target("P1")), client)
    assert plan.tree is not None
    experiment = plan.tree.children[0].children[0]
    assert experiment.status is NodeStatus.CONFLICT
    assert "belongs to subject other" in experiment.detail


def test_invalid_items_stay_invalid(subjects: list[Subject], client: XnatClient) -> None:
    plan = make_plan(subjects[:2], Target("P1", create_project=True), {"sub-02": "no good"})
    plan = compare(plan, client)
    assert plan.tree is not None
    assert [c.status for c in plan.tree.children] == [NodeStatus.NEW, NodeStatus.INVALID]
    assert "'no good' has characters" in plan.tree.children[1].detail


def test_compare_honours_cancel(subjects: list[Subject], client: XnatClient) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        compare(make_plan(subjects, Target("P1", create_project=True)), client, cancel)
