"""The window on an archive whose subjects and MR sessions already exist: each row says where
it goes and why, a session is chosen in place for the ambiguous folder, the mapping is saved and
loaded, and the import puts every folder where the preview said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gui_helpers import WindowFactory, log_in, scan, wait_preview
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox
from pytestqt.qtbot import QtBot

from fsxnat_gui.core.model import NodeKind, NodeStatus, ResultStatus
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.demo_archive import make_existing_archive_dir, seed_existing_archive
from fsxnat_gui.gui import MainWindow
from fsxnat_gui.gui.preview import Column, Role
from fsxnat_gui.gui.subject_model import Column as SubjectColumn

PROJECT = "REAL"


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return make_existing_archive_dir(tmp_path / "subjects")


@pytest.fixture
def seeded(xnat: Any) -> Any:
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        seed_existing_archive(client, PROJECT)
    return xnat


def ready(make_window: WindowFactory, qtbot: QtBot, xnat: Any, root: Path) -> MainWindow:
    window = make_window()
    scan(window, qtbot, root)
    log_in(window, qtbot, xnat.url, xnat.user, xnat.password)
    window.target_panel.project_combo.setEditText(PROJECT)
    window.subjects_panel.model.set_checked(window.subjects_panel.model.importable_names())
    wait_preview(window, qtbot)
    return window


def find(model: QStandardItemModel, source: str, kind: NodeKind) -> QModelIndex:
    """The index of the node of this kind in the branch of folder `source`."""
    todo = [model.index(0, 0)]
    while todo:
        index = todo.pop()
        if index.data(Role.SOURCE) == source and index.data(Role.KIND) is kind:
            return index
        todo += [model.index(r, 0, index) for r in range(model.rowCount(index))]
    raise LookupError(f"no {kind.value} node for {source}")


def choose(window: MainWindow, qtbot: QtBot, folder: str, text: str) -> None:
    """Pick `text` for the folder's MR session in place, as a user would (F2, choose, Enter)."""
    tree = window.target_panel.preview.tree
    index = find(window.target_panel.preview.model, folder, NodeKind.EXPERIMENT)
    tree.setCurrentIndex(index)
    tree.edit(index)
    combo = tree.findChild(QComboBox, "previewChoice")
    assert combo is not None
    found = combo.findText(text)
    assert found >= 0, [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentIndex(found)
    with qtbot.waitSignal(window.preview_updated, timeout=10_000):
        qtbot.keyClick(combo, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.jobs.busy("preview"), timeout=10_000)


def test_rows_say_where_they_go_and_the_ambiguous_one_is_chosen_in_place(
    make_window: WindowFactory, qtbot: QtBot, seeded: Any, archive_dir: Path, tmp_path: Path
) -> None:
    window = ready(make_window, qtbot, seeded, archive_dir)
    preview = window.target_panel.preview
    model = preview.model
    caps1 = find(model, "CAPS_001", NodeKind.EXPERIMENT)
    assert caps1.data() == "CAPS_001_MR_20190311"
    detail = caps1.siblingAtColumn(Column.DETAIL).data()
    assert detail == "existing session CAPS_001_MR_20190311 — matched by subject label"
    ambiguous = find(model, "CAPS_003", NodeKind.EXPERIMENT)
    assert ambiguous.siblingAtColumn(Column.STATUS).data() == "choose"
    assert (
        "CAPS_003_MR_20190313, CAPS_003_MR_20200402"
        in ambiguous.siblingAtColumn(Column.DETAIL).data()
    )
    assert "1 folder needs a choice" in preview.summary.text()
    base = find(model, "CAPS_006_base", NodeKind.SUBJECT)
    assert base.siblingAtColumn(Column.TYPE).data() == "subject (base)"
    roles = window.subjects_panel.model
    row = roles.subjects.index(roles.subject("CAPS_006_base"))
    assert roles.data(roles.index(row, SubjectColumn.ROLE)) == "base of CAPS_006_tp1, CAPS_006_tp2"

    # the mapping as proposed, for the record
    proposed = tmp_path / "proposed.csv"
    with qtbot.waitSignal(window.jobs.job_finished, timeout=10_000):
        window.imports.save_mapping(proposed)
    assert "CAPS_003,CAPS_003,,FREESURFER7," in proposed.read_text()

    choose(window, qtbot, "CAPS_003", "CAPS_003_MR_20200402")
    chosen = find(preview.model, "CAPS_003", NodeKind.EXPERIMENT)
    assert chosen.data() == "CAPS_003_MR_20200402"
    assert chosen.siblingAtColumn(Column.STATUS).data() == "exists"
    assert "needs a choice" not in preview.summary.text()

    # a new session under an existing subject is pointed out
    choose(window, qtbot, "CAPS_002", "new session CAPS_002_MR1")
    assert "1 new MR session under an existing subject" in preview.summary.text()
    choose(window, qtbot, "CAPS_002", "CAPS_002_MR_20190312")

    saved = tmp_path / "chosen.csv"
    with qtbot.waitSignal(window.jobs.job_finished, timeout=10_000):
        window.imports.save_mapping(saved)
    assert "CAPS_003,CAPS_003,CAPS_003_MR_20200402,FREESURFER7," in saved.read_text()

    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(window.import_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(window.target_panel.import_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert {r.subject: r.status for r in report.results} == dict.fromkeys(
        [s.name for s in window.subjects_panel.model.checked()], ResultStatus.IMPORTED
    )
    with XnatClient(seeded.url, seeded.user, seeded.password) as client:
        assert client.list_files(PROJECT, "CAPS_003_MR_20200402", "FREESURFER7")
        assert "CAPS_002_MR1" not in client.list_experiments(PROJECT)


def test_a_loaded_mapping_decides_and_a_bad_one_is_refused_with_its_line(
    make_window: WindowFactory, qtbot: QtBot, seeded: Any, archive_dir: Path, tmp_path: Path
) -> None:
    window = ready(make_window, qtbot, seeded, archive_dir)
    good = tmp_path / "map.csv"
    good.write_text("folder,subject,experiment,resource\nCAPS_003,CAPS_003,CAPS_003_MR_20190313,\n")
    with qtbot.waitSignal(window.preview_updated, timeout=10_000):
        window.imports.load_mapping(good, window.state.session)
    qtbot.waitUntil(lambda: not window.jobs.busy("preview"), timeout=10_000)
    preview = window.target_panel.preview
    assert preview.status_of("CAPS_003_MR_20190313", NodeKind.EXPERIMENT) is NodeStatus.EXISTS
    assert "needs a choice" not in preview.summary.text()

    bad = tmp_path / "bad.csv"
    bad.write_text("folder,subject,experiment,resource\nCAPS_001,CAPS_002,CAPS_001_MR_20190311,\n")
    with qtbot.waitSignal(window.jobs.job_finished, timeout=10_000):
        window.imports.load_mapping(bad, window.state.session)
    text = window.message_bar.text.text()
    assert "bad.csv, line 2: experiment CAPS_001_MR_20190311 belongs to subject CAPS_001" in text
    # the good mapping still holds
    assert preview.status_of("CAPS_003_MR_20190313", NodeKind.EXPERIMENT) is NodeStatus.EXISTS


def test_only_existing_sessions_refuses_the_new_folder(
    make_window: WindowFactory, qtbot: QtBot, seeded: Any, archive_dir: Path
) -> None:
    window = ready(make_window, qtbot, seeded, archive_dir)
    with qtbot.waitSignal(window.preview_updated, timeout=10_000):
        window.target_panel.existing_only_check.setChecked(True)
    qtbot.waitUntil(lambda: not window.jobs.busy("preview"), timeout=10_000)
    preview = window.target_panel.preview
    node = find(preview.model, "CAPS_005", NodeKind.SUBJECT)
    assert node.siblingAtColumn(Column.STATUS).data() == "choose"
    assert "only existing sessions" in node.siblingAtColumn(Column.DETAIL).data()


def test_the_folder_pattern_reads_subject_and_session_from_folder_names(
    make_window: WindowFactory,
    qtbot: QtBot,
    xnat: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Options -> Folder name pattern (the CLI's --folder-pattern): BIDS-like folders of one
    subject go to that subject, each to the session its name says."""
    from PySide6.QtWidgets import QInputDialog

    from fsxnat_gui.samples import make_subject

    root = tmp_path / "bids"
    for name in ("sub-07_ses-1", "sub-07_ses-2"):
        make_subject(root, name)
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        client.create_project(PROJECT)
        client.ensure_subject(PROJECT, "sub-07")
        client.ensure_experiment(PROJECT, "sub-07", "sub-07_ses-1_MR")
    window = ready(make_window, qtbot, xnat, root)
    window.target_panel.experiment_edit.setText("{subject}_{session}_MR")
    pattern = r"(?P<subject>sub-[^_]+)_(?P<session>ses-.+)"
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (pattern, True))
    with qtbot.waitSignal(window.preview_updated, timeout=10_000):
        window.options.folder_pattern.trigger()
    qtbot.waitUntil(lambda: not window.jobs.busy("preview"), timeout=10_000)
    assert window.settings.folder_pattern == pattern
    model = window.target_panel.preview.model
    one, two = (find(model, f, NodeKind.EXPERIMENT) for f in ("sub-07_ses-1", "sub-07_ses-2"))
    assert (one.data(), one.siblingAtColumn(Column.STATUS).data()) == ("sub-07_ses-1_MR", "exists")
    # sub-07 has sessions, none named for ses-2: the user says whether it is a new one
    assert two.siblingAtColumn(Column.STATUS).data() == "choose"
    assert find(model, "sub-07_ses-2", NodeKind.SUBJECT).data() == "sub-07"
    choose(window, qtbot, "sub-07_ses-2", "new session sub-07_ses-2_MR")
    two = find(window.target_panel.preview.model, "sub-07_ses-2", NodeKind.EXPERIMENT)
    assert (two.data(), two.siblingAtColumn(Column.STATUS).data()) == ("sub-07_ses-2_MR", "new")
