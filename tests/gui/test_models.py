"""Every model through qtmodeltester, and the subject selection rules."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from fsxnat_gui.core.model import (
    EntryKind,
    NodeKind,
    NodeStatus,
    PlanNode,
    Progress,
    ResultStatus,
    RunState,
    Stage,
    Subject,
    SubjectResult,
)
from fsxnat_gui.gui.preview import PreviewPanel, build_preview_model
from fsxnat_gui.gui.progress_panel import ProgressPanel, ProgressTableModel
from fsxnat_gui.gui.subject_model import Column, SubjectFilterModel, SubjectTableModel


def subject(
    name: str,
    state: RunState = RunState.DONE,
    kind: EntryKind = EntryKind.SUBJECT,
    reason: str = "",
) -> Subject:
    return Subject(name, Path("/data") / name, kind, state, reason, "7.4.1", files=10, bytes=1000)


SUBJECTS = [
    subject("bert"),
    subject("ernie", RunState.FAILED, reason="recon-all exited with errors (recon-all.error)."),
    subject("fsaverage", RunState.NOT_APPLICABLE, EntryKind.TEMPLATE, "A FreeSurfer template."),
    subject("sub-01"),
]


def test_subject_model_passes_the_model_tester(qtmodeltester: object) -> None:
    model = SubjectTableModel()
    model.set_subjects(SUBJECTS)
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    proxy = SubjectFilterModel()
    proxy.setSourceModel(model)
    proxy.setFilterFixedString("sub")
    qtmodeltester.check(proxy)  # type: ignore[attr-defined]


def test_ineligible_subjects_cannot_be_checked_and_say_why() -> None:
    model = SubjectTableModel()
    model.set_subjects(SUBJECTS)
    ernie = model.index(1, Column.SUBJECT)
    assert not model.flags(ernie) & Qt.ItemFlag.ItemIsUserCheckable
    assert not model.setData(ernie, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert "recon-all exited with errors" in model.data(ernie, Qt.ItemDataRole.ToolTipRole)
    assert "Cannot be imported" in model.data(ernie, Qt.ItemDataRole.ToolTipRole)
    bert = model.index(0, Column.SUBJECT)
    assert model.flags(bert) & Qt.ItemFlag.ItemIsUserCheckable
    assert model.setData(bert, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert [s.name for s in model.checked()] == ["bert"]
    model.set_checked(["bert", "ernie", "fsaverage", "sub-01"])
    assert [s.name for s in model.checked()] == ["bert", "sub-01"]


def test_rescans_keep_checks_of_subjects_still_importable(qtbot: QtBot) -> None:
    model = SubjectTableModel()
    model.set_subjects(SUBJECTS)
    model.set_checked(["bert", "sub-01"])
    with qtbot.waitSignal(model.selection_changed):
        model.set_subjects([subject("bert"), subject("sub-01", RunState.RUNNING)])
    assert [s.name for s in model.checked()] == ["bert"]


def test_progressive_updates_insert_sorted_and_update_by_name() -> None:
    model = SubjectTableModel()
    for name in ("c", "a", "b"):
        model.upsert(Subject(name, Path(name), EntryKind.SUBJECT, RunState.DONE))
    assert [s.name for s in model.subjects] == ["a", "b", "c"]
    model.set_checked(["b"])
    model.upsert(subject("b"))  # measured: files and bytes arrive
    assert model.data(model.index(1, Column.FILES)) == "10"
    assert [s.name for s in model.checked()] == ["b"]


def test_progress_model_and_panel(qtmodeltester: object, qtbot: QtBot) -> None:
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.start([("bert", 2000), ("sub-01", 2000)])
    panel.feed(Progress(Stage.UPLOADING, "bert", 500, 1000, speed=1e6, eta=2.0))
    qtbot.waitUntil(lambda: panel.model.rows[0].stage is Stage.UPLOADING, timeout=1000)
    panel.feed(SubjectResult("bert", ResultStatus.IMPORTED, True, experiment_uri="/x"))
    panel.feed(SubjectResult("sub-01", ResultStatus.FAILED, False, error="The server said 500."))
    panel.feed(Progress(Stage.DONE, "", 4000, 4000, fraction=1.0))  # the core's run event
    panel.finish(None)
    assert "1 imported, 1 failed" in panel.summary.text()
    assert panel.retry_button.isEnabled()
    assert panel.failed_subjects() == ["sub-01"]
    assert panel.overall.value() == 1000
    qtmodeltester.check(panel.model)  # type: ignore[attr-defined]
    qtmodeltester.check(ProgressTableModel())  # type: ignore[attr-defined]


def test_preview_model(qtmodeltester: object, qtbot: QtBot) -> None:
    resource = PlanNode(NodeKind.RESOURCE, "FREESURFER7", NodeStatus.NEW, source="bert")
    experiment = PlanNode(
        NodeKind.EXPERIMENT, "bert_MR1", NodeStatus.NEW, source="bert", children=(resource,)
    )
    subj = PlanNode(
        NodeKind.SUBJECT, "bert", NodeStatus.EXISTS, source="bert", children=(experiment,)
    )
    root = PlanNode(NodeKind.PROJECT, "P", NodeStatus.EXISTS, children=(subj,))
    model = build_preview_model(root)
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    qtmodeltester.check(build_preview_model(None))  # type: ignore[attr-defined]
    panel = PreviewPanel()
    qtbot.addWidget(panel)
    panel.set_tree(root)
    assert panel.status_of("FREESURFER7", NodeKind.RESOURCE) is NodeStatus.NEW
    subject_item = panel.model.item(0).child(0)
    assert subject_item.isEditable()
    assert not panel.model.item(0).isEditable()
    with qtbot.waitSignal(panel.label_edited) as blocker:
        subject_item.setText("bert_renamed")
    assert blocker.args == ["bert", "bert_renamed"]
