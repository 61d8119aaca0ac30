"""The window's "Watch this folder" toggle: each subject imported when its recon-all finishes,
stopped at once when unticked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import WindowFactory, log_in, scan
from pytestqt.qtbot import QtBot

from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.gui.message_bar import Level
from fsxnat_gui.samples import finish_subject

pytestmark = pytest.mark.slow


def test_the_watch_toggle_imports_each_subject_as_it_finishes(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    window = make_window()
    action = window.actions.watch
    assert action.isCheckable()
    assert not action.isEnabled()  # not logged in
    scan(window, qtbot, subjects_dir)
    log_in(window, qtbot, xnat.url, xnat.user, xnat.password)
    assert action.isEnabled()
    told: list[tuple[Level, str]] = []
    window.notify = lambda level, text, buttons=(): told.append((level, text))  # type: ignore[method-assign]
    action.setChecked(True)  # no project yet
    assert not action.isChecked()
    assert told[-1] == (Level.WARNING, "To watch the folder, choose a project first.")
    window.target_panel.project_combo.setEditText("WATCH")
    window.target_panel.create_project_check.setChecked(True)
    window.watcher.interval, window.watcher.settle = 0.5, 1.0
    imported: list[str] = []
    window.watcher.imported.connect(imported.append)
    action.setChecked(True)
    assert window.watcher.running
    qtbot.waitUntil(lambda: len(imported) == 3, timeout=60_000)
    assert sorted(imported) == ["sub-01", "sub-02", "sub-03"]
    finish_subject(subjects_dir / "sub-05")
    start = time.monotonic()
    qtbot.waitUntil(lambda: "sub-05" in imported, timeout=30_000)
    assert time.monotonic() - start < 30
    with qtbot.waitSignal(window.watcher.stopped, timeout=5_000):
        action.setChecked(False)
    qtbot.waitUntil(lambda: not window.watcher.running, timeout=5_000)
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        assert sorted(client.list_experiments("WATCH")) == [
            "sub-01_MR1", "sub-02_MR1", "sub-03_MR1", "sub-05_MR1"
        ]  # fmt: skip
