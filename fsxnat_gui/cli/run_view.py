"""Running an import on a terminal: the progress line, Ctrl-C, a line per subject, the reports."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

from fsxnat_gui.core import report
from fsxnat_gui.core.jobs import run_import
from fsxnat_gui.core.model import (
    ImportPlan,
    Progress,
    ResultStatus,
    RunReport,
    Stage,
    SubjectResult,
)
from fsxnat_gui.core.units import human_bytes, human_duration
from fsxnat_gui.core.xnat import XnatClient

PLAIN_PROGRESS_S = 5.0  # seconds between progress lines when stderr is not a terminal


class ProgressView:
    """A one-line bar on a terminal (overwritten in place); otherwise a plain line when a
    subject enters a new phase and every few seconds within one. Reads the overall events
    (item == "") and the subject's own ones."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.tty = err.isatty()
        self.overall: Progress | None = None
        self.last_plain: tuple[str, Stage, float] | None = None
        self.width = 0

    def show(self, event: Progress) -> None:
        if not event.item:
            self.overall = event
            return
        line = self._line(event)
        if self.tty:
            line = line[: shutil.get_terminal_size().columns - 1]
            self.err.write("\r" + line.ljust(self.width))
            self.width = max(self.width, len(line))
            self.err.flush()
            return
        now = time.monotonic()
        if self.last_plain is not None:
            item, stage, when = self.last_plain
            if (item, stage) == (event.item, event.stage) and now - when < PLAIN_PROGRESS_S:
                return
        self.last_plain = (event.item, event.stage, now)
        print(line, file=self.err, flush=True)

    def _line(self, event: Progress) -> str:
        parts = []
        if self.overall is not None and self.overall.total:
            share = self.overall.done / self.overall.total
            filled = round(20 * share)
            parts.append(f"[{'#' * filled}{'.' * (20 - filled)}] {share:4.0%}")
        parts.append(f"{event.item}: {event.stage.value}")
        if event.total and event.stage in (Stage.ZIPPING, Stage.UPLOADING):
            parts.append(f"{human_bytes(event.done)}/{human_bytes(event.total)}")
        if event.speed:
            parts.append(f"{human_bytes(event.speed)}/s")
        if event.eta is not None:
            parts.append(f"ETA {human_duration(event.eta)}")
        if event.message:
            parts.append(event.message)
        return "  ".join(parts)

    def clear(self) -> None:
        if self.tty and self.width:
            self.err.write("\r" + " " * self.width + "\r")
            self.err.flush()
            self.width = 0


@contextmanager
def ctrl_c_cancels(cancel: threading.Event, err: TextIO) -> Iterator[None]:
    """The first Ctrl-C asks the run to stop cleanly; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\ncancelling (Ctrl-C again to stop at once)...", file=err, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(plan: ImportPlan, client: XnatClient, err: TextIO, out: TextIO) -> tuple[RunReport, bool]:
    """Run the import with progress; returns the report and whether it was cancelled."""
    cancel = threading.Event()
    view = ProgressView(err)
    final: RunReport | None = None
    with ctrl_c_cancels(cancel, err):
        for event in run_import(plan, client, cancel):
            if isinstance(event, Progress):
                view.show(event)
            elif isinstance(event, SubjectResult):
                view.clear()
                print(result_line(event), file=out, flush=True)
            else:
                final = event
    view.clear()
    assert final is not None, "run_import always ends with its report"
    return final, cancel.is_set()


def result_line(r: SubjectResult) -> str:
    size = f"{r.files} files, {human_bytes(r.bytes)}"
    if r.status is ResultStatus.IMPORTED:
        return f"{r.subject}: imported and verified ({size}) in {human_duration(r.seconds)}"
    if r.status is ResultStatus.SKIPPED:
        return f"{r.subject}: skipped, identical on the server ({size})"
    return f"{r.subject}: {r.status.value.upper()}: {r.error}" + (
        f" ({r.detail})" if r.detail else ""
    )


def write_reports(run_report: RunReport, path: Path, out: TextIO) -> None:
    if path.suffix.lower() == ".csv":  # the CSV goes beside the JSON, never over it
        path = path.with_suffix(".json")
    report.write_json(run_report, path)
    csv_path = path.with_suffix(".csv")
    report.write_csv(run_report, csv_path)
    print(f"report: {path} and {csv_path}", file=out)
