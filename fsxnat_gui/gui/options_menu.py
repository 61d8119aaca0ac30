"""The Options menu: where the import writes its temporary zips, how many uploads it runs at
once, and how folder names say their subject and session (the folder pattern). All are
Settings, read when an import or a preview starts (a running import keeps its own)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from fsxnat_gui.gui import file_dialogs
from fsxnat_gui.gui.icons import icon
from fsxnat_gui.gui.settings import PARALLEL_UPLOADS, Settings

log = logging.getLogger(__name__)

FOLDER_PATTERN_TIP = (
    "A regular expression with named groups: (?P<subject>…) says which subject a folder belongs "
    "to, (?P<session>…) its session for the {session} of the experiment label, e.g. "
    "(?P<subject>sub-[^_]+)_(?P<session>ses-.+)"
)


class OptionsMenu(QMenu):
    """Options of the next import. `default_temp_dir`: where the zips go until a folder is
    chosen (the app's data folder; a run uses a folder of its own in it and removes it).

    Signals:
        matching_changed(): the folder pattern changed (the preview matches again)
    """

    matching_changed = Signal()

    def __init__(self, settings: Settings, default_temp_dir: Path, parent: QWidget) -> None:
        super().__init__("&Options", parent)
        self.setObjectName("optionsMenu")
        self.setToolTipsVisible(True)
        self._settings, self._default = settings, default_temp_dir
        self.temp_dir = QAction(icon("folder"), "&Temporary folder for zips…", self)
        self.temp_dir.setObjectName("tempDirAction")
        self.temp_dir.triggered.connect(self._on_temp_dir_triggered)
        self.default_temp_dir = QAction("Use the &default temporary folder", self)
        self.default_temp_dir.setObjectName("defaultTempDirAction")
        self.default_temp_dir.triggered.connect(self._on_default_temp_dir_triggered)
        self.addAction(self.temp_dir)
        self.addAction(self.default_temp_dir)
        self.addSeparator()
        uploads = self.addMenu("&Parallel uploads")
        uploads.setObjectName("parallelUploadsMenu")
        self.parallel = QActionGroup(self)
        self.parallel.setExclusive(True)
        for n in PARALLEL_UPLOADS:
            action = QAction(str(n), self.parallel)
            action.setObjectName(f"parallelUploads{n}Action")
            action.setCheckable(True)
            action.setData(n)
            action.setStatusTip(f"Upload up to {n} subject{'s' if n > 1 else ''} at a time")
            uploads.addAction(action)
        self.parallel.triggered.connect(self._on_parallel_triggered)
        self.addSeparator()
        self.folder_pattern = QAction("Folder name &pattern…", self)
        self.folder_pattern.setObjectName("folderPatternAction")
        self.folder_pattern.triggered.connect(self._on_folder_pattern_triggered)
        self.addAction(self.folder_pattern)
        self._show()

    def _show(self) -> None:
        folder = self._settings.temp_folder(self._default)
        where = f"The zips are written in {folder} (free space is checked first)"
        for action in (self.temp_dir, self.default_temp_dir):
            action.setToolTip(where)
            action.setStatusTip(where)
        self.default_temp_dir.setEnabled(bool(self._settings.temp_dir))
        for action in self.parallel.actions():
            action.setChecked(action.data() == self._settings.parallel_uploads)
        pattern = self._settings.folder_pattern
        tip = f"Folder names are read with {pattern}" if pattern else FOLDER_PATTERN_TIP
        self.folder_pattern.setToolTip(tip)
        self.folder_pattern.setStatusTip(tip)

    @Slot()
    def _on_temp_dir_triggered(self) -> None:
        folder = self._settings.temp_folder(self._default)  # made by the first import
        start = next((p for p in (folder, *folder.parents) if p.is_dir()), Path.home())
        if path := file_dialogs.choose_temp_dir(self.parentWidget(), str(start)):
            self._settings.temp_dir = str(path)
            log.info("Temporary zips go to %s", path)
            self._show()

    @Slot()
    def _on_default_temp_dir_triggered(self) -> None:
        self._settings.temp_dir = ""
        log.info("Temporary zips go to the default folder, %s", self._default)
        self._show()

    @Slot(QAction)
    def _on_parallel_triggered(self, action: QAction) -> None:
        self._settings.parallel_uploads = int(action.data())
        log.info("Parallel uploads: %d", self._settings.parallel_uploads)
        self._show()

    @Slot()
    def _on_folder_pattern_triggered(self) -> None:
        text, ok = QInputDialog.getText(
            self.parentWidget(),
            "Folder name pattern",
            FOLDER_PATTERN_TIP + "\nLeave it empty to match folders by their whole name.",
            text=self._settings.folder_pattern,
        )
        if ok:
            self._settings.folder_pattern = text.strip()
            log.info("Folder name pattern: %s", text.strip() or "(none)")
            self._show()
            self.matching_changed.emit()
