"""The import runner: zip, upload, verify, retry and resume, several subjects in flight.

`run_import(plan, client, cancel, parallel=N)` is a generator of events:

- `Progress` with `item` = the subject's folder name: that subject's phase (zipping, uploading,
  server processing, verifying, retrying) with the phase's bytes done/total and speed, and the
  subject's `fraction` and `eta` (its remaining phases, the server's processing included).
  Throttled to about ten per second per subject and phase. With N > 1 the events of the
  subjects in flight interleave (each names its subject).
- `Progress` with `item == ""`: the run as a whole, for an overall bar: `done`/`total` are the
  local bytes of the runnable subjects (those in flight counted by their fractions),
  `fraction`, `speed` and `eta` the run's. Emitted with each per-subject event, and with stage
  DONE after each SubjectResult. Neither reaches 1 before the last subject's result.
- `SubjectResult` as each subject ends (in the order they end), and the `RunReport` last,
  always, with the results in plan order.

Streams: N worker threads (default 2, at most 6) take the plan's items in order, each running
one subject's sequence (`subject_import.SubjectImport`: policy, upload, verify, retries) at a
time over the one client (one XNAT session); this thread relays their events as they come
(it wakes on each, nothing polls) and keeps the numbers (`progress.RunMeter`). Zips and uploads
are `transfer.Transfers`'. `parallel=1` is the sequential run. One subject's failure never
stops the others. Cancelling is not an exception for the caller: the subjects in progress and
those after them end CANCELLED, a resource this run created for a cancelled subject is
deleted, and the generator still yields the RunReport and returns.

Pipelining: while subjects upload and the server extracts them, the next item nobody has taken
yet is zipped on a helper thread (at most N + 1 zips exist at once). Its zip is used when its
turn comes and discarded if that subject is skipped or fails first. How zips compress is
chosen by the link (core/compression.py).

Resume: running the same plan again with the SKIP policy skips every subject whose resource on
the server is identical to the local folder, so an interrupted batch carries on where it stopped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fsxnat_gui.core.errors import Cancelled, FsXnatError, XnatError
from fsxnat_gui.core.model import (
    ImportPlan,
    Level,
    PlanItem,
    Progress,
    ResultStatus,
    RunReport,
    SubjectResult,
)
from fsxnat_gui.core.progress import RunMeter
from fsxnat_gui.core.subject_import import RunContext, SubjectImport
from fsxnat_gui.core.transfer import CANCEL_CHECK_S, Transfers
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

Event = Progress | SubjectResult | RunReport
DEFAULT_PARALLEL = 2  # subjects in flight at once
MAX_PARALLEL = 6
LEFT_JOIN_S = 0.5  # how long a caller that stopped iterating waits for the streams to stop


class _Runner:
    """The run: the project checked once, the items dispensed in plan order to `parallel`
    worker threads (each runs one subject's sequence at a time), their events relayed from
    this thread as they come, the report last, in plan order."""

    def __init__(self, ctx: RunContext, parallel: int) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.client = ctx.client
        self.parallel = parallel
        total = sum(i.subject.bytes or 0 for i in self.plan.items if i.ok)
        self.meter = RunMeter(total=total, streams=parallel)
        self.fatal = ""  # once set, every remaining subject fails with it
        self._lock = threading.Lock()  # dispensing items, and choosing the one zipped ahead
        self._next = 0  # the next item to dispense
        self._messages: queue.SimpleQueue[tuple[str, int, Any]] = queue.SimpleQueue()

    def run(self) -> Iterator[Event]:
        started = _now()
        items = self.plan.items
        results: list[SubjectResult | None] = [None] * len(items)
        if any(i.ok for i in items):
            self._prepare_project()
        workers = [
            threading.Thread(target=self._work, name=f"fsxnat-stream-{n + 1}", daemon=True)
            for n in range(max(1, min(self.parallel, len(items))))
        ]
        for worker in workers:
            worker.start()
        ended = False
        try:
            running = len(workers)
            while running:
                try:
                    kind, index, payload = self._messages.get(timeout=CANCEL_CHECK_S)
                except queue.Empty:
                    kind = ""
                if kind == "begin":
                    self.meter.begin(items[index].subject.name, items[index].subject.bytes or 0)
                elif kind == "event":
                    yield from self.meter.events(payload)
                elif kind == "result":
                    results[index] = payload
                    self.meter.end(payload.subject)
                    yield payload
                    yield self.meter.run_event()
                elif kind == "exit":
                    running -= 1
            ended = True
        finally:
            self.ctx.cancel.set()  # only takes effect when the caller left before the end
            # A caller that left (a second Ctrl-C) is not kept waiting on a clean-up call to a
            # hung server: the streams are told to stop and given a moment (daemon threads).
            deadline = None if ended else time.monotonic() + LEFT_JOIN_S
            for worker in workers:
                worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        done = tuple(r for r in results if r is not None)
        yield RunReport(self.client.url, self.ctx.project, started, _now(), done)

    def _prepare_project(self) -> None:
        """Check (or create) the project once; read its subjects and experiments once."""
        project = self.ctx.project
        try:
            if not self.client.project_exists(project):
                if not self.plan.target.create_project:
                    self.fatal = f"project {project} does not exist on {self.client.url}"
                    return
                log.info("creating project %s", project)
                self.client.create_project(project)
            self.ctx.subject_ids = self.client.list_subjects(project)
            experiments = self.client.list_experiments(project)
        except (XnatError, Cancelled) as exc:  # Cancelled: every subject ends CANCELLED
            self.fatal = str(exc)
            return
        self.ctx.experiments = {label: e.subject_id for label, e in experiments.items()}

    # --- the worker threads ---------------------------------------------------------------

    def _dispense(self) -> int | None:
        with self._lock:
            if self._next >= len(self.plan.items):
                return None
            self._next += 1
            return self._next - 1

    def _work(self) -> None:
        """A worker thread: the next item in plan order until there is none."""
        put = self._messages.put
        try:
            while (index := self._dispense()) is not None:
                item = self.plan.items[index]
                result = self._without_server(item)
                if result is None:
                    put(("begin", index, None))
                    result = self._subject(item, lambda raw, i=index: put(("event", i, raw)))
                put(("result", index, _with_destination(result, item)))
        finally:
            put(("exit", -1, None))

    def _without_server(self, item: PlanItem) -> SubjectResult | None:
        """The result of an item that is not attempted: cancelled, held back (no destination
        yet), with problems, or after a fatal error; None for an item to import."""
        name = item.subject.name
        if self.ctx.cancel.is_set():
            return SubjectResult(name, ResultStatus.CANCELLED, False, error="cancelled")
        if item.held and not item.problems:
            return SubjectResult(name, ResultStatus.NOT_IMPORTED, False, error=item.held)
        if not item.ok:
            return SubjectResult(name, ResultStatus.FAILED, False, error="; ".join(item.problems))
        if self.fatal:
            return SubjectResult(name, ResultStatus.FAILED, False, error=self.fatal)
        return None

    def _subject(self, item: PlanItem, relay: Callable[[Progress], None]) -> SubjectResult:
        """One subject's sequence, its raw events relayed to the run's thread."""
        sequence = SubjectImport(self.ctx, item)
        steps = sequence.run()
        while True:
            try:
                relay(next(steps))
            except StopIteration as stop:
                result: SubjectResult = stop.value
                break
        if sequence.fatal:
            self.fatal = result.error
        return result

    def zip_next(self) -> None:
        """Start zipping the next item no worker has taken yet (called before an upload,
        while the client is idle). Only for a subject that will surely need a zip: with no
        resource of that label on the server yet. A subject that recon-all runs on again is
        found in its turn (its zip is then dropped); a zip written to disk checks its own
        room, and is made in its turn instead when there is none."""
        ctx, items = self.ctx, self.plan.items
        with self._lock:
            following = [i for i in items[self._next :] if i.ok]
            if not following or ctx.transfers.zipping_ahead or self.fatal or ctx.cancel.is_set():
                return
            nxt = following[0]
            try:
                known = ctx.subject_ids if nxt.level is Level.SUBJECT else ctx.experiments
                if nxt.owner.label in known:
                    existing = self.client.list_resources(ctx.project, nxt.owner)
                    if any(r.label == nxt.resource_label for r in existing):
                        return
            except FsXnatError as exc:
                log.debug("not zipping %s ahead: %s", nxt.subject.name, exc)
                return
            ctx.transfers.zip_ahead(nxt, items.index(nxt))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run_import(
    plan: ImportPlan,
    client: XnatClient,
    cancel: threading.Event,
    *,
    workdir: Path | None = None,
    retries: int = 3,
    backoff: float = 2.0,
    sleep: Callable[[float], object] | None = None,
    parallel: int = DEFAULT_PARALLEL,
) -> Iterator[Event]:
    """Import every item of `plan`; see the module docstring for the events.

    `parallel`: how many subjects are in flight at once (1 to MAX_PARALLEL, clamped), over the
    one client's session.

    `workdir`: where the temporary zips go (default: the system temp). Either way the run uses
    a folder of its own in it and removes it at the end. A transient error or a mismatch is
    retried at most `retries` times after `backoff`, 2 x `backoff`, ... seconds, waited with
    `sleep` (default: waiting on `cancel`, so cancelling cuts a pause short).
    """
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    parallel = min(max(parallel, 1), MAX_PARALLEL)
    run_dir = Path(tempfile.mkdtemp(prefix="fsxnat-run-", dir=workdir))
    # The run's own flag: set by the user's `cancel` (seen within CANCEL_CHECK_S) and when the
    # caller stops iterating, so the worker threads never outlive the generator.
    halt = threading.Event()
    ended = threading.Event()

    def forward() -> None:  # the user's cancel reaches the run (and its hung calls) at once
        while not ended.is_set():
            if cancel.wait(CANCEL_CHECK_S):
                halt.set()
                return

    threading.Thread(target=forward, name="fsxnat-cancel", daemon=True).start()
    caller_cancel = client.cancel  # the run binds its own; the caller's comes back after
    transfers = Transfers(client, plan.target.project, run_dir, halt)
    try:
        ctx = RunContext(
            plan,
            client,
            halt,
            transfers,
            retries,
            backoff,
            sleep or halt.wait,
            before_upload=lambda _item: runner.zip_next(),
        )
        runner = _Runner(ctx, parallel)
        yield from runner.run()
    finally:
        ended.set()
        client.cancel = caller_cancel
        transfers.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _with_destination(result: SubjectResult, item: PlanItem) -> SubjectResult:
    """The result with where its folder went (or would have gone) and why: the report's columns."""
    return dataclasses.replace(
        result,
        subject_label=item.subject_label,
        experiment=item.experiment_label if item.level is Level.EXPERIMENT else "",
        resource=item.resource_label,
        level=item.level,
        match=item.match,
    )
