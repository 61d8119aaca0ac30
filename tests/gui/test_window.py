"""The main window: construction, names, drag and drop, selection rules, the demo mode and the
smoke test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gui_helpers import WindowFactory, answer_folder_dialog, drag_enter, drop, log_in, scan
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QToolBar, QWidget
from pytestqt.qtbot import QtBot

from fsxnat_gui import APP_DISPLAY_NAME
from fsxnat_gui.core.model import ResultStatus
from fsxnat_gui.gui import MainWindow
from fsxnat_gui.gui.message_bar import Level
from fsxnat_gui.gui.ui_state import DEMO_LABEL, Phase

NAMED = (
    "subjectsDirButton",
    "subjectTable",
    "previewTree",
    "loginButton",
    "projectCombo",
    "experimentTemplateEdit",
    "resourceEdit",
    "importButton",
    "cancelButton",
    "overallProgress",
    "logView",
    "filterEdit",
    "selectAllButton",
    "selectNoneButton",
    "selectImportableButton",
    "policyCombo",
    "createProjectCheck",
)


def test_constructible_with_no_arguments(qtbot: QtBot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.state.phase is Phase.IDLE
    assert not window.windowIcon().isNull()
    assert window.demo_bar.isVisibleTo(window)  # no server configured: the demo is offered
    assert window.close()
    assert window.runner.shutdown(0)  # closing stopped the worker thread


def test_controls_have_object_and_accessible_names(make_window: WindowFactory) -> None:
    window = make_window()
    for name in NAMED:
        widget = window.findChild(QWidget, name)
        assert widget is not None, name
        assert widget.accessibleName(), name


def test_main_actions_have_shortcuts(make_window: WindowFactory) -> None:
    window = make_window()
    shortcuts = {
        window.actions.open: "Ctrl+O",
        window.actions.import_: "Ctrl+I",
        window.actions.login: "Ctrl+L",
        window.actions.rescan: "F5",
        window.actions.cancel: "Esc",
    }
    for action, keys in shortcuts.items():
        assert action.shortcut().toString() == keys


def test_drop_a_subjects_dir(
    make_window: WindowFactory, qtbot: QtBot, subjects_dir: Path, settings: object
) -> None:
    window = make_window()
    with qtbot.waitSignal(window.scan_completed, timeout=10_000):
        drop(qtbot, window, [subjects_dir])
    names = [s.name for s in window.subjects_panel.model.subjects]
    assert {"sub-01", "sub-02", "sub-03", "sub-04", "sub-05", "fsaverage"} <= set(names)
    assert window.subjects_panel.root_label.text() == str(subjects_dir)
    assert window.settings.subjects_dir == str(subjects_dir)
    assert all(s.files is not None for s in window.subjects_panel.model.subjects if s.eligible)
    qtbot.waitUntil(lambda: "scanning" not in window.subjects_panel.summary.text(), timeout=2000)


def test_drop_several_subject_folders_checks_them(
    make_window: WindowFactory, qtbot: QtBot, subjects_dir: Path
) -> None:
    window = make_window()
    with qtbot.waitSignal(window.scan_completed, timeout=10_000):
        drop(
            qtbot,
            window,
            [subjects_dir / "sub-01", subjects_dir / "sub-02", subjects_dir / "sub-04"],
        )
    assert [s.name for s in window.subjects_panel.model.subjects] == ["sub-01", "sub-02", "sub-04"]
    assert [s.name for s in window.subjects_panel.model.checked()] == ["sub-01", "sub-02"]


def test_dropping_files_and_non_subjects_explains(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, subjects_dir: Path
) -> None:
    window = make_window()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("hello")
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    with qtbot.waitSignal(window.jobs.job_finished, timeout=10_000):
        drop(qtbot, window, [a_file, empty, subjects_dir / "sub-01"])
    assert window.message_bar.isVisibleTo(window)
    assert window.message_bar.level is Level.WARNING
    text = window.message_bar.text.text()
    assert "notes.txt" in text
    assert "empty-folder" in text
    assert [s.name for s in window.subjects_panel.model.subjects] == ["sub-01"]


def test_text_drags_are_refused(make_window: WindowFactory) -> None:
    window = make_window()
    mime = QMimeData()
    mime.setText("not a folder")
    assert not drag_enter(window, mime).isAccepted()


def test_selection_buttons_follow_the_rules(
    make_window: WindowFactory, qtbot: QtBot, subjects_dir: Path
) -> None:
    window = make_window()
    scan(window, qtbot, subjects_dir)
    checked = lambda: [s.name for s in window.subjects_panel.model.checked()]  # noqa: E731
    assert checked() == []
    qtbot.mouseClick(window.subjects_panel.select_importable_button, Qt.MouseButton.LeftButton)
    assert checked() == ["sub-01", "sub-02", "sub-03"]
    window.subjects_panel.filter_edit.setText("sub-02")
    qtbot.mouseClick(window.subjects_panel.select_none_button, Qt.MouseButton.LeftButton)
    assert checked() == ["sub-01", "sub-03"]
    window.subjects_panel.filter_edit.setText("sub-0")
    qtbot.mouseClick(window.subjects_panel.select_none_button, Qt.MouseButton.LeftButton)
    assert checked() == []
    qtbot.mouseClick(window.subjects_panel.select_all_button, Qt.MouseButton.LeftButton)
    assert checked() == ["sub-01", "sub-02", "sub-03"]  # sub-04/05 shown but not importable
    assert "Import 3 subjects" in window.target_panel.import_button.text()
    assert not window.target_panel.import_button.isEnabled()  # not logged in
    assert "Log in" in window.target_panel.import_button.toolTip()


def test_demo_mode_starts_and_imports_the_sample_subjects(
    make_window: WindowFactory, qtbot: QtBot
) -> None:
    window = make_window()
    with qtbot.waitSignals([window.demo_ready, window.scan_completed], timeout=30_000):
        qtbot.mouseClick(window.demo_bar.demo_button, Qt.MouseButton.LeftButton)
    assert DEMO_LABEL in window.windowTitle()
    assert DEMO_LABEL in window.login_state_label.text()
    assert window.session is not None
    assert window.session.demo
    assert window.target_panel.project_combo.currentText() == "DEMO"
    assert not window.demo_bar.isVisibleTo(window)
    assert not window.settings.profiles  # the demo server is never remembered
    checked = [s.name for s in window.subjects_panel.model.checked()]
    assert checked
    assert all(s.eligible for s in window.subjects_panel.model.checked())
    qtbot.waitUntil(lambda: window.target_panel.import_button.isEnabled(), timeout=10_000)
    with qtbot.waitSignal(window.import_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(window.target_panel.import_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert [r.status for r in report.results] == [ResultStatus.IMPORTED] * len(checked)


def test_smoke_test_exits_zero(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "fsxnat_gui", "--smoke-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "smoke test OK" in done.stdout
    assert "Keyring backend:" in done.stderr


def test_command_line_options() -> None:
    from fsxnat_gui.app import parse_args

    args, qt_args = parse_args(
        [
            "--subjects-dir",
            "/data/subjects",
            "--server",
            "https://x.org",
            "--user",
            "alice",
            "--project",
            "P1",
            "-style",
            "fusion",
        ]
    )
    assert (args.subjects_dir, args.server, args.user, args.project) == (
        Path("/data/subjects"),
        "https://x.org",
        "alice",
        "P1",
    )
    assert qt_args == ["-style", "fusion"]  # Qt's own options go to QApplication
    assert parse_args(["--demo"])[0].demo
    assert parse_args(["--smoke-test"])[0].smoke_test


def test_rescan_keeps_the_ticks_and_edited_labels(
    make_window: WindowFactory, qtbot: QtBot, subjects_dir: Path
) -> None:
    window = make_window()
    scan(window, qtbot, subjects_dir)
    window.subjects_panel.model.set_checked(["sub-01", "sub-02", "sub-03"])
    preview = window.target_panel.preview
    preview.label_edited.emit("sub-01", "S01")  # as a double-click edit in the preview
    shutil.rmtree(subjects_dir / "sub-03")  # gone by the rescan
    with qtbot.waitSignal(window.scan_completed, timeout=10_000):
        window.actions.rescan.trigger()
    assert sorted(s.name for s in window.subjects_panel.model.checked()) == ["sub-01", "sub-02"]
    assert preview_labels(window, qtbot) == {"sub-01": "S01", "sub-02": "sub-02"}

    # choosing a folder (not a rescan) starts afresh: no ticks, no edited labels
    scan(window, qtbot, subjects_dir)
    assert window.subjects_panel.model.checked() == []
    window.subjects_panel.model.set_checked(["sub-01"])
    assert preview_labels(window, qtbot) == {"sub-01": "sub-01"}


def preview_labels(window: MainWindow, qtbot: QtBot) -> dict[str, str]:
    """Folder -> XNAT subject label, as the preview shows them."""
    with qtbot.waitSignal(window.preview_updated, timeout=10_000):
        window.refresh_preview()
    root = window.target_panel.preview.root
    assert root is not None
    return {node.source or "": node.label for node in root.children}


def test_a_single_dropped_subject_is_checked(
    make_window: WindowFactory, qtbot: QtBot, subjects_dir: Path
) -> None:
    window = make_window()
    with qtbot.waitSignal(window.scan_completed, timeout=10_000):
        drop(qtbot, window, [subjects_dir / "sub-02"])
    assert [s.name for s in window.subjects_panel.model.subjects] == ["sub-02"]
    assert [s.name for s in window.subjects_panel.model.checked()] == ["sub-02"]


def test_folders_dropped_during_another_scan_are_checked(
    make_window: WindowFactory, qtbot: QtBot, subjects_dir: Path
) -> None:
    window = make_window()
    window.set_subjects_dir(subjects_dir)  # still running when the drop arrives
    assert window.jobs.current == "scan"
    with qtbot.waitSignal(window.scan_completed, timeout=10_000):
        drop(qtbot, window, [subjects_dir / "sub-01", subjects_dir / "sub-03"])
    qtbot.waitUntil(lambda: not window.jobs.busy("scan"), timeout=10_000)
    assert [s.name for s in window.subjects_panel.model.subjects] == ["sub-01", "sub-03"]
    assert [s.name for s in window.subjects_panel.model.checked()] == ["sub-01", "sub-03"]


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/data/version", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def test_the_demo_server_stops_when_the_demo_session_ends(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any
) -> None:
    window = make_window()
    with qtbot.waitSignals([window.demo_ready, window.scan_completed], timeout=30_000):
        window.sessions.start_demo()
    assert window.session is not None
    demo_url = window.session.url
    assert _serving(demo_url)
    with qtbot.waitSignal(window.login_changed, timeout=5000):
        window.sessions.log_out()
    assert not _serving(demo_url)

    # again, then switching to a real server ends it too
    with qtbot.waitSignals([window.demo_ready, window.scan_completed], timeout=30_000):
        window.sessions.start_demo()
    assert window.session is not None
    demo_url = window.session.url
    assert _serving(demo_url)
    log_in(window, qtbot, xnat.url, xnat.user, xnat.password)
    assert not _serving(demo_url)


def test_the_toolbar_login_button_follows_the_session(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any
) -> None:
    window = make_window()
    toolbar = window.findChild(QToolBar, "mainToolBar")
    account = window.actions.account
    assert account in toolbar.actions()
    assert window.actions.login not in toolbar.actions()
    assert account.text().replace("&", "") == "Log in…"
    log_in(window, qtbot, xnat.url, xnat.user, xnat.password)
    assert account.text().replace("&", "") == "Log out"
    assert window.target_panel.login_button.text() == "Log out"
    with qtbot.waitSignal(window.login_changed, timeout=5000):
        qtbot.mouseClick(toolbar.widgetForAction(account), Qt.MouseButton.LeftButton)
    assert window.session is None
    assert account.text().replace("&", "") == "Log in…"


def x11_title(window: QWidget) -> str | None:
    """The title the window manager shows (Qt appends the display name there), if readable."""
    if QGuiApplication.platformName() != "xcb" or not shutil.which("xprop"):
        return None
    out = subprocess.run(
        ["xprop", "-id", str(int(window.winId())), "_NET_WM_NAME"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split(" = ", 1)[1].strip().strip('"')


def test_the_window_title_names_the_subjects_dir_and_server_and_the_app_once(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path, qapp: QApplication
) -> None:
    previous = qapp.applicationDisplayName()
    qapp.setApplicationDisplayName(APP_DISPLAY_NAME)  # as app.main() does
    try:
        window = make_window()
        window.show()
        assert window.windowTitle() == ""  # Qt shows the display name alone
        scan(window, qtbot, subjects_dir)
        log_in(window, qtbot, xnat.url, xnat.user, xnat.password)
        title = f"subjects — {xnat.user}@{xnat.url}"
        assert window.windowTitle() == title
        if (shown := x11_title(window)) is not None:
            assert shown == f"{title} — {APP_DISPLAY_NAME}"
    finally:
        qapp.setApplicationDisplayName(previous)


def test_the_folder_dialog_opens_at_the_current_subjects_dir(
    make_window: WindowFactory, qtbot: QtBot, subjects_dir: Path
) -> None:
    """Also when that folder was not remembered (the demo's sample subjects)."""
    window = make_window()
    with qtbot.waitSignal(window.scan_completed, timeout=10_000):
        window.set_subjects_dir(subjects_dir, remember=False)
    assert window.settings.subjects_dir == ""
    opened_at = answer_folder_dialog(None)
    window.actions.open.trigger()
    assert opened_at == [str(subjects_dir)]
