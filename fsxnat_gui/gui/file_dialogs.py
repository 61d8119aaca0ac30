"""The window's file choosers (None when the user cancels), and the File menu's commands that
start with one (they hand the chosen file to the controller that uses it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QWidget

if TYPE_CHECKING:
    from fsxnat_gui.gui.import_controller import ImportController
    from fsxnat_gui.gui.session import Session
    from fsxnat_gui.gui.session_controller import SessionController


def choose_subjects_dir(parent: QWidget, start: str) -> Path | None:
    path = QFileDialog.getExistingDirectory(parent, "Choose the SUBJECTS_DIR", start)
    return Path(path) if path else None


def choose_temp_dir(parent: QWidget, start: str) -> Path | None:
    path = QFileDialog.getExistingDirectory(parent, "Choose the temporary folder for zips", start)
    return Path(path) if path else None


def choose_pyxnat_config(parent: QWidget) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(
        parent,
        "Import pyxnat config",
        str(Path.home()),
        "pyxnat config (*.cfg *.json);;All files (*)",
    )
    return Path(path) if path else None


def choose_report_file(parent: QWidget) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(
        parent,
        "Save the import report",
        str(Path.home() / "fsxnat-import-report.json"),
        "JSON (*.json);;CSV (*.csv)",
    )
    return Path(path) if path else None


def choose_mapping_to_load(parent: QWidget, start: Path) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(
        parent, "Load a mapping", str(start), "Mapping (*.csv);;All files (*)"
    )
    return Path(path) if path else None


def choose_mapping_to_save(parent: QWidget, start: Path) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(
        parent, "Save the mapping", str(start / "fsxnat-mapping.csv"), "Mapping (*.csv)"
    )
    return Path(path) if path else None


class FileCommands(QObject):
    """Import pyxnat config, Save report, Load and Save mapping: a file chooser, then the
    controller that uses the file."""

    def __init__(
        self,
        parent: QWidget,
        sessions: SessionController,
        imports: ImportController,
        session: Callable[[], Session | None],
        root: Callable[[], Path | None],
    ) -> None:
        super().__init__(parent)
        self._parent, self._sessions, self._imports = parent, sessions, imports
        self._session, self._root = session, root

    @Slot()
    def import_config(self) -> None:
        if path := choose_pyxnat_config(self._parent):
            self._sessions.open_login_dialog(path)

    @Slot()
    def save_report(self) -> None:
        if self._imports.report is not None and (path := choose_report_file(self._parent)):
            self._imports.save_report(path)

    @Slot()
    def load_mapping(self) -> None:
        if path := choose_mapping_to_load(self._parent, self._root() or Path.home()):
            self._imports.load_mapping(path, self._session())

    @Slot()
    def save_mapping(self) -> None:
        if path := choose_mapping_to_save(self._parent, self._root() or Path.home()):
            self._imports.save_mapping(path)
