"""Scanning a SUBJECTS_DIR (or dropped folders) in the background into the subjects model."""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from fsxnat_gui.gui import tasks
from fsxnat_gui.gui.message_bar import Level
from fsxnat_gui.gui.runner import Job, JobQueue, StepsFactory
from fsxnat_gui.gui.settings import Settings
from fsxnat_gui.gui.subject_model import SubjectTableModel


class ScanController(QObject):
    """Fills the subjects model from scans run on the worker thread, and ticks what a scan
    should tick. A rescan (F5, same folder) keeps the ticks of the subjects still there.

    Signals:
        scan_started(object, bool): a scan of this SUBJECTS_DIR (None: dropped folders) began;
            True for a rescan (the edited labels stay)
        root_changed(object): the SUBJECTS_DIR is now this Path (a dropped SUBJECTS_DIR)
        scan_completed(): the scan filled the model (not after a failure or a cancel)
        scan_finished(): the scan ended, whatever the outcome
        failed(str, object): what failed, and the exception
        notice(object, str): a Level and a sentence for the message bar
    """

    scan_started = Signal(object, bool)
    root_changed = Signal(object)
    scan_completed = Signal()
    scan_finished = Signal()
    failed = Signal(str, object)
    notice = Signal(object, str)

    def __init__(
        self,
        jobs: JobQueue,
        model: SubjectTableModel,
        settings: Settings,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._jobs, self._model, self._settings = jobs, model, settings
        self._root: Path | None = None
        self._rescan_checks: set[str] | None = None  # ticks to put back after a rescan

    @property
    def root(self) -> Path | None:
        return self._root

    def scan_dir(self, path: Path, *, remember: bool = True, check_all: bool = False) -> None:
        """Scan this SUBJECTS_DIR, filling the table as entries come (`check_all`: then tick
        every importable subject)."""
        path = Path(path)
        if remember:
            self._settings.subjects_dir = str(path)
        self._start(functools.partial(tasks.scan_dir, path), path, check_all=check_all)

    def scan_dropped(self, paths: list[Path]) -> None:
        """Dropped folders: a SUBJECTS_DIR, or subject folders (then ticked, the importable)."""
        self._start(
            functools.partial(tasks.scan_dropped, paths), None, check={p.name for p in paths}
        )

    def rescan(self) -> None:
        if self._root is not None:
            self._start(functools.partial(tasks.scan_dir, self._root), self._root, rescan=True)

    def _start(
        self,
        steps: StepsFactory,
        root: Path | None,
        *,
        rescan: bool = False,
        check: set[str] | None = None,
        check_all: bool = False,
    ) -> None:
        """What to tick belongs to this scan alone (a scan superseded by another one never
        changes what the newer one ticks)."""
        to_check = set(check) if check is not None else None

        def on_start() -> None:
            if rescan:  # a rescan superseded before it ended left its ticks to keep
                self._rescan_checks = (self._rescan_checks or set()) | self._model.checked_names()
            else:
                self._rescan_checks = None
            self._model.clear()
            self._root = root
            self.scan_started.emit(root, rescan)

        def on_step(step: object) -> None:
            nonlocal to_check
            if isinstance(step, tasks.ScanRoot):
                to_check = None  # a dropped SUBJECTS_DIR: nothing is ticked by itself
                self._root = step.path
                self._settings.subjects_dir = str(step.path)
                self.root_changed.emit(step.path)
            else:
                self._model.upsert(step)

        def on_result(notes: tasks.Notes) -> None:
            if notes:
                self.notice.emit(Level.WARNING, "\n".join(notes))
            if check_all:
                self._model.set_checked(self._model.importable_names())
            elif to_check is not None:
                self._model.set_checked(to_check)  # the importable ones among them
            elif rescan:
                self._model.set_checked(self._rescan_checks or set())
                self._rescan_checks = None
            if not self._model.subjects:
                self.notice.emit(Level.WARNING, "No FreeSurfer subjects were found there.")
            self.scan_completed.emit()

        def on_failure(exc: BaseException) -> None:
            self.failed.emit("Scanning failed", exc)

        self._jobs.submit(
            Job(
                "scan",
                steps,
                on_start=on_start,
                on_step=on_step,
                on_result=on_result,
                on_failure=on_failure,
                on_finish=self.scan_finished.emit,
            )
        )
