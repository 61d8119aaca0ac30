"""Import plans: resolved labels, sanitising, collisions, and statuses against the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsxnat_gui.core.errors import LabelError
from fsxnat_gui.core.model import (
    EntryKind,
    NodeKind,
    NodeStatus,
    OnExisting,
    PlanNode,
    RunState,
    Subject,
    Target,
)
from fsxnat_gui.core.plan import compare, make_plan, offline_tree


def subject(name: str, *, state: RunState = RunState.DONE, reason: str = "") -> Subject:
    return Subject(
        name, Path("/nowhere") / name, EntryKind.SUBJECT, state, reason, "7.4.1", files=3, bytes=30
    )


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


_ = (compare, OnExisting)
