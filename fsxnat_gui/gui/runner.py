"""The one long-lived worker thread of a window (STYLE.md §3.3) and a small queue in front of it.

`JobRunner` runs one generator at a time in its worker thread, relays what the generator
yields as `progress` and hands its `return` value to `returned` (napari's worker signals).
`JobQueue` feeds it jobs one after the other: scans, server queries and the import all share
the thread, a job submitted while another runs waits, and a newer job with the
same name replaces a queued (or cancels a running) older one, so only the freshest preview or
scan is computed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from fsxnat_gui.core.errors import Cancelled

log = logging.getLogger(__name__)

# A job: called in the worker thread with the cancel event. A generator function's yields are
# progress and its `return` value the result; a plain function's return value is the result.
StepsFactory = Callable[[threading.Event], object]


class _Worker(QObject):
    """Lives in the worker thread. Widgets never connect to it: use `JobRunner`."""

    progress = Signal(object)
    returned = Signal(object)
    cancelled = Signal()
    failed = Signal(object)
    done = Signal()

    @Slot(object, object)
    def run(self, make_steps: StepsFactory, cancel: threading.Event) -> None:
        try:
            steps = make_steps(cancel)
            result = steps
            while isinstance(steps, Generator):
                try:
                    step = next(steps)
                except StopIteration as stop:
                    result = stop.value
                    break
                self.progress.emit(step)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - handed to the GUI, which logs it
            self.failed.emit(exc)
        else:
            self.returned.emit(result)
        finally:
            self.done.emit()


class JobRunner(QObject):
    """Runs one job at a time in a worker thread that lives as long as the runner.

    Signals (all emitted in the GUI thread):
        progress(object): whatever the job's generator yielded
        returned(object): the generator ended normally, with this `return` value (or None)
        cancelled(): the generator raised `Cancelled`
        failed(object): the generator raised this exception
        finished(): after any of the three above
    """

    progress = Signal(object)
    returned = Signal(object)
    cancelled = Signal()
    failed = Signal(object)
    finished = Signal()
    _run_requested = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel, self._running = threading.Event(), False
        self._thread = QThread()
        self._thread.setObjectName("fsxnat-worker")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._run_requested.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.returned.connect(self.returned)
        self._worker.cancelled.connect(self.cancelled)
        self._worker.failed.connect(self.failed)
        self._worker.done.connect(self._on_done)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._running

    def start(self, make_steps: StepsFactory) -> None:
        if self._running:
            raise RuntimeError("a job is already running")
        self._running, self._cancel = True, threading.Event()
        self._run_requested.emit(make_steps, self._cancel)

    def cancel(self) -> None:
        self._cancel.set()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        self._cancel.set()
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    @Slot()
    def _on_done(self) -> None:
        self._running = False
        self.finished.emit()


@dataclass(eq=False, repr=False)
class Job:
    """A unit of background work with GUI-thread callbacks.

    `name` groups jobs of one kind ("scan", "preview", "import"...): submitting a job cancels a
    running job of the same name and replaces a queued one, unless `supersede` is False.
    `on_step` gets what the generator yields, `on_result` what it returns (when it ends
    normally), `on_failure` the exception it raised (not `Cancelled`); `on_finish` runs last,
    whatever the outcome, also for a job dropped before it started.
    """

    name: str
    make_steps: StepsFactory
    on_start: Callable[[], None] | None = None
    on_step: Callable[[Any], None] | None = None
    on_result: Callable[[Any], None] | None = None
    on_failure: Callable[[BaseException], None] | None = None
    on_finish: Callable[[], None] | None = None
    supersede: bool = True

    def __repr__(self) -> str:  # `make_steps` is often a partial holding a secret: never shown
        return f"Job({self.name!r}, supersede={self.supersede})"


class JobQueue(QObject):
    """Feeds a `JobRunner` one `Job` at a time, in submission order.

    Signals:
        job_started(str): a job of that name started in the worker
        job_finished(str): it ended (whatever the outcome), after its callbacks ran
    """

    job_started = Signal(str)
    job_finished = Signal(str)

    def __init__(self, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._queue: list[Job] = []
        self._current: Job | None = None
        self._closed = False
        runner.progress.connect(self._on_runner_progress)
        runner.returned.connect(self._on_runner_returned)
        runner.failed.connect(self._on_runner_failed)
        runner.finished.connect(self._on_runner_finished)

    @property
    def current(self) -> str | None:
        return self._current.name if self._current else None

    def busy(self, name: str | None = None) -> bool:
        """True when a job (of `name`, if given) runs or waits."""
        jobs = ([self._current] if self._current else []) + self._queue
        return any(name is None or j.name == name for j in jobs)

    def submit(self, job: Job) -> None:
        if self._closed:
            return
        if job.supersede:
            self._queue = [j for j in self._queue if j.name != job.name]
            if self._current is not None and self._current.name == job.name:
                self._runner.cancel()
        self._queue.append(job)
        self._start_next()

    def cancel(self, name: str | None = None) -> None:
        """Cancel the running job and drop the waiting ones (only those of `name`, if given).

        A dropped job never ran, but it ends like a cancelled one: its `on_finish` callback runs
        and `job_finished` is emitted, so whoever waits for it (the window in "Cancelling…")
        sees it end."""
        dropped = [j for j in self._queue if name is None or j.name == name]
        self._queue = [j for j in self._queue if name is not None and j.name != name]
        if self._current is not None and (name is None or self._current.name == name):
            self._runner.cancel()
        for job in dropped:
            if job.on_finish:
                job.on_finish()
            self.job_finished.emit(job.name)

    def close(self) -> None:
        """Accept no more jobs and cancel everything (before `JobRunner.shutdown`)."""
        self._closed = True
        self.cancel()

    def _start_next(self) -> None:
        if self._current is not None or self._runner.running or not self._queue:
            return
        self._current = self._queue.pop(0)
        if self._current.on_start:
            self._current.on_start()
        self._runner.start(self._current.make_steps)
        self.job_started.emit(self._current.name)

    @Slot(object)
    def _on_runner_progress(self, step: object) -> None:
        if self._current is not None and self._current.on_step:
            self._current.on_step(step)

    @Slot(object)
    def _on_runner_returned(self, result: object) -> None:
        if self._current is not None and self._current.on_result:
            self._current.on_result(result)

    @Slot(object)
    def _on_runner_failed(self, exc: BaseException) -> None:
        if self._current is None:
            return
        if self._current.on_failure:
            self._current.on_failure(exc)
        else:
            log.error("%s failed: %s", self._current.name, exc, exc_info=exc)

    @Slot()
    def _on_runner_finished(self) -> None:
        job, self._current = self._current, None
        if job is not None:
            if job.on_finish:
                job.on_finish()
            self.job_finished.emit(job.name)
        if not self._closed:
            self._start_next()
