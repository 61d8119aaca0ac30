"""The window's "Watch this folder" toggle: `core.watch` on a thread of its own (it runs for
hours; the job queue's one worker stays free for scans, previews and imports), each event a line
in the log. Stopping never waits: the loop sees the cancel event within a second, and a call in
flight is abandoned (`client.cancel`)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from fsxnat_gui.core import watch
from fsxnat_gui.core.errors import FsXnatError
from fsxnat_gui.core.login import ClientFactory
from fsxnat_gui.core.model import SubjectResult, Target
from fsxnat_gui.gui.session import Session

log = logging.getLogger(__name__)

WATCH_TEXT = "Watch this folder: import each subject when its recon-all finishes"


def describe(event: object) -> str:
    """One line for an event worth a line ("" for progress and the like)."""
    if isinstance(event, SubjectResult):
        said = f"{event.subject}: {event.status.value}"
        return f"{said}: {event.error}" if event.error else said
    if isinstance(event, watch.WatchEvent) and event.kind not in (
        watch.WatchKind.DONE,  # the subject's result said it
        watch.WatchKind.FAILED,
    ):
        return f"{event.folder}: {event.message}" if event.folder else event.message
    return ""


class WatchController(QObject):
    """Signals (queued to the GUI thread): `line(str)` per event, `imported(str)` a folder now
    on the server, `stopped(str)`: the current watch ended ("" when asked to, else why)."""

    line = Signal(str)
    imported = Signal(str)
    stopped = Signal(str)

    def __init__(self, factory: ClientFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self.interval, self.settle = watch.DEFAULT_INTERVAL, watch.DEFAULT_SETTLE
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(
        self, session: Session, subjects_dir: Path, target: Target, resource: str | None
    ) -> None:
        self.stop()
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(session, subjects_dir, target, resource, self._cancel),
            name="fsxnat-watch",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the watch to stop (it ends within seconds); never waits."""
        self._cancel.set()

    def toggle(
        self,
        on: bool,
        session: Session | None,
        subjects_dir: Path | None,
        target: Target,
        resource: str | None,
    ) -> str:
        """Start or stop watching; the sentence for the message bar (a warning when it cannot
        start: what is missing, then `started` is False)."""
        if not on:
            self.stop()
            return ""
        if subjects_dir is None or session is None or not target.project:
            missing = (
                "open a SUBJECTS_DIR" if subjects_dir is None else "log in" if session is None
                else "choose a project"
            )  # fmt: skip
            return f"To watch the folder, {missing} first."
        self.start(session, subjects_dir, target, resource)
        return ""

    def _run(
        self,
        session: Session,
        subjects_dir: Path,
        target: Target,
        resource: str | None,
        cancel: threading.Event,
    ) -> None:
        why = ""
        try:
            profile = session.profile
            with self._factory(session.url, session.auth_user, session.secret, profile.verify) as c:
                c.cancel = cancel
                key = watch.target_key(c.url, target, resource)
                state = watch.WatchState(watch.state_path(subjects_dir, key))
                batch = watch.BatchImport(c, target, cancel, resource=resource)
                events = watch.watch(
                    subjects_dir, batch, state, cancel, interval=self.interval, settle=self.settle
                )
                for event in events:
                    if text := describe(event):
                        log.info("Watch: %s", text)
                        self.line.emit(text)
                    if isinstance(event, SubjectResult) and event.on_server:
                        self.imported.emit(event.subject)
        except FsXnatError as exc:
            why = str(exc)
        except Exception:  # the thread must say it ended, whatever happened
            log.exception("The watch stopped")
            why = "The watch stopped on an unexpected error (see the log)."
        if why:
            log.warning("Watch: %s", why)
        if cancel is self._cancel:  # not a watch the user already replaced by a new one
            self.stopped.emit(why)
