"""Running an import on a terminal: the progress line, Ctrl-C, a line per subject, the reports."""

from __future__ import annotations

import datetime as dt
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
from fsxnat_gui.core.archive import printable
from fsxnat_gui.core.errors import ReportError
from fsxnat_gui.core.jobs import DEFAULT_PARALLEL, run_import
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


def run(
    plan: ImportPlan,
    client: XnatClient,
    err: TextIO,
    out: TextIO,
    workdir: Path | None = None,
    parallel: int = DEFAULT_PARALLEL,
) -> tuple[RunReport, bool]:
    """Run the import with progress; returns the report and whether it was cancelled. The
    first Ctrl-C cancels (a call hung on the server is abandoned); a second one stops at once,
    and the report still has a row per folder (those not ended: cancelled)."""
    cancel = threading.Event()
    client.cancel = cancel  # also the calls made before the run's own (the project's)
    view = ProgressView(err)
    started = _now()
    results: list[SubjectResult] = []
    final: RunReport | None = None
    with ctrl_c_cancels(cancel, err):
        events = run_import(plan, client, cancel, workdir=workdir, parallel=parallel)
        try:
            for event in events:
                if isinstance(event, Progress):
                    view.show(event)
                elif isinstance(event, SubjectResult):
                    view.clear()
                    results.append(event)
                    print(result_line(event), file=out, flush=True)
                else:
                    final = event
        except KeyboardInterrupt:  # the second Ctrl-C
            events.close()
            view.clear()
            final = _stopped(plan, client.url, started, results)
            for result in final.results[len(results) :]:
                print(result_line(result), file=out, flush=True)
    view.clear()
    assert final is not None, "run_import always ends with its report"
    return final, cancel.is_set()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _stopped(plan: ImportPlan, url: str, started: str, results: list[SubjectResult]) -> RunReport:
    """The report of a run stopped at once: the folders it had not ended are cancelled."""
    ended = {r.subject for r in results}
    rest = tuple(
        SubjectResult(i.subject.name, ResultStatus.CANCELLED, False, error=STOPPED)
        for i in plan.items
        if i.subject.name not in ended
    )
    return RunReport(url, plan.target.project, started, _now(), (*results, *rest))


STOPPED = "stopped at once by a second Ctrl-C"
RERUN = (
    "to carry on, run the same command again: a folder whose resource is on the server and "
    "identical to it is skipped, the others are imported"
)


def result_line(r: SubjectResult) -> str:
    """One line per folder: what happened, why when it was not imported, files left out."""
    size = f"{r.files} files, {human_bytes(r.bytes)}"
    name = printable(r.subject)
    if r.status is ResultStatus.IMPORTED:
        line = f"{name}: imported and verified ({size}) in {human_duration(r.seconds)}"
    elif r.status is ResultStatus.SKIPPED:
        line = f"{name}: skipped, identical on the server ({size})"
    else:
        detail = f" ({printable(r.detail)})" if r.detail else ""
        line = f"{name}: {r.status.value.upper()}: {printable(r.error)}{detail}"
    if r.left_out:
        n = len(r.left_out)
        listed = "; ".join(printable(w) for w in r.left_out)
        line += f"; {n} file{'s' if n != 1 else ''} left out: {listed}"
    return line


def write_reports(run_report: RunReport, path: Path, out: TextIO, err: TextIO) -> bool:
    """The JSON and CSV reports (each whole or not at all); False, said on `err`, when one
    could not be written."""
    if path.suffix.lower() == ".csv":  # the CSV goes beside the JSON, never over it
        path = path.with_suffix(".json")
    csv_path = path.with_suffix(".csv")
    try:
        report.write_json(run_report, path)
        report.write_csv(run_report, csv_path)
    except ReportError as exc:
        print(f"fsxnat: error: {exc}", file=err)
        return False
    print(f"report: {printable(str(path))} and {printable(str(csv_path))}", file=out)
    return True
