"""Helpers shared by the window tests (waiting on the window's signals, drag and drop)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget
from pytestqt.qtbot import QtBot

from fsxnat_gui.gui import MainWindow
from fsxnat_gui.gui.session import Session
from fsxnat_gui.gui.settings import ServerProfile

WindowFactory = Callable[..., MainWindow]


def log_in(window: MainWindow, qtbot: QtBot, url: str, user: str, password: str) -> None:
    """Log the window in as the login dialog would, and wait for the project list."""
    with qtbot.waitSignal(
        window.jobs.job_finished, timeout=10_000, check_params_cb=lambda name: name == "projects"
    ):
        window.sessions.set_session(Session(ServerProfile(url, user), user, password))


def scan(window: MainWindow, qtbot: QtBot, root: Path) -> None:
    with qtbot.waitSignal(window.scan_completed, timeout=10_000):
        window.set_subjects_dir(root)


def wait_preview(window: MainWindow, qtbot: QtBot) -> None:
    """Wait until the preview reflects the current inputs and no comparison is pending."""
    with qtbot.waitSignal(window.preview_updated, timeout=10_000):
        window.refresh_preview()
    qtbot.waitUntil(lambda: not window.jobs.busy("preview"), timeout=10_000)


def _drag_enter(pos: QPointF, mime: QMimeData) -> QDragEnterEvent:
    """Qt 6.12 wants a QPointF (the QPoint overload warns); 6.11 only has the QPoint one."""
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    try:
        return QDragEnterEvent(pos, *args)
    except TypeError:
        return QDragEnterEvent(pos.toPoint(), *args)


def drag_enter(widget: QWidget, mime: QMimeData) -> QDragEnterEvent:
    enter = _drag_enter(QPointF(widget.rect().center()), mime)
    QApplication.sendEvent(widget, enter)
    return enter


def drop(qtbot: QtBot, widget: QWidget, paths: list[Path]) -> QDropEvent:
    """Drag these paths onto the widget: DragEnter first (it must be accepted), then Drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    assert drag_enter(widget, mime).isAccepted()
    event = QDropEvent(
        QPointF(widget.rect().center()),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)
    return event


def answer_folder_dialog(choose: Path | None) -> list[str]:
    """Answer the next folder dialog (within 5 s) as a user would: choose this folder (None:
    Cancel); never leave it open. Returns the list the folder it opened at is added to."""
    opened_at: list[str] = []
    tries = iter(range(250))

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            if next(tries, None) is not None:
                QTimer.singleShot(20, answer)
            return
        opened_at.append(dialog.directory().absolutePath())
        if choose is not None:
            dialog.setDirectory(str(choose))
            dialog.accept()
        if dialog.isVisible():  # Cancel, or the choice was refused: the test fails, not hangs
            dialog.reject()

    QTimer.singleShot(0, answer)
    return opened_at
