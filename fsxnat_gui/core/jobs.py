"""The import runner: zip, upload, verify, retry and resume, subject by subject.

`run_import(plan, client, cancel)` is a generator of events:

- `Progress` with `item` = the subject's folder name: that subject's phase (zipping, uploading,
  server processing, verifying, retrying) with the phase's bytes done/total and speed, and the
  subject's `fraction` and `eta` (its remaining phases, the server's processing included).
  Throttled to about ten per second per phase.
- `Progress` with `item == ""`: the run as a whole, for an overall bar: `done`/`total` are the
  local bytes of the runnable subjects (the subject in progress counted by its fraction),
  `fraction`, `speed` and `eta` the run's. Emitted with each per-subject event, and with stage
  DONE after each SubjectResult. Neither reaches 1 before the last subject's result.
- `SubjectResult` as each subject ends, and the `RunReport` last, always.

The numbers come from `progress.RunMeter`; each subject's sequence (policy, upload, verify,
retries) is `subject_import.SubjectImport`; zips and uploads are `transfer.Transfers`'.
One subject's failure never stops the others. Cancelling is not an exception for the caller:
the subject in progress and those after it end CANCELLED, a resource this run created for the
cancelled subject is deleted, and the generator still yields the RunReport and returns.

Pipelining: while a subject uploads and the server extracts it, the next runnable subject is
zipped on a helper thread (two cores: the client deflates while the server extracts). Its zip
is used when its turn comes and discarded if that subject is skipped or fails first; its
progress is shown from its turn on.

Resume: running the same plan again with the SKIP policy skips every subject whose resource on
the server is identical to the local folder, so an interrupted batch carries on where it stopped.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

from fsxnat_gui.core import archive, scan
from fsxnat_gui.core.errors import FsXnatError, XnatError
from fsxnat_gui.core.model import (
    ImportPlan,
    PlanItem,
    Progress,
    ResultStatus,
    RunReport,
    SubjectResult,
)
from fsxnat_gui.core.progress import RunMeter
from fsxnat_gui.core.subject_import import RunContext, SubjectImport
from fsxnat_gui.core.transfer import Transfers, zip_room
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

Event = Progress | SubjectResult | RunReport


class _Runner:
    """The run: the project checked once, each item in turn, the report last."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.client = ctx.client
        self.meter = RunMeter(total=sum(i.subject.bytes or 0 for i in self.plan.items if i.ok))
        self.fatal = ""  # once set, every remaining subject fails with it

    def run(self) -> Iterator[Event]:
        started = _now()
        results: list[SubjectResult] = []
        if any(i.ok for i in self.plan.items):
            self._prepare_project()
        for item in self.plan.items:
            name = item.subject.name
            if self.ctx.cancel.is_set():
                result = SubjectResult(name, ResultStatus.CANCELLED, False, error="cancelled")
            elif not item.ok:
                error = "; ".join(item.problems)
                result = SubjectResult(name, ResultStatus.FAILED, False, error=error)
            elif self.fatal:
                result = SubjectResult(name, ResultStatus.FAILED, False, error=self.fatal)
            else:
                result = yield from self._subject(item)
            results.append(result)
            yield result
            yield self.meter.run_event()
        yield RunReport(self.client.url, self.ctx.project, started, _now(), tuple(results))

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
        except XnatError as exc:
            self.fatal = str(exc)
            return
        self.ctx.experiments = {label: e.subject_id for label, e in experiments.items()}

    def _subject(self, item: PlanItem) -> Generator[Progress, None, SubjectResult]:
        """One subject's sequence, its raw events turned into the meter's."""
        sequence = SubjectImport(self.ctx, item)
        steps = sequence.run()
        self.meter.begin(item.subject.name, item.subject.bytes or 0)
        try:
            while True:
                try:
                    raw = next(steps)
                except StopIteration as stop:
                    result: SubjectResult = stop.value
                    break
                yield from self.meter.events(raw)
        finally:
            self.meter.end()
        if sequence.fatal:
            self.fatal = result.error
        return result

    def zip_next(self, current: PlanItem) -> None:
        """Start zipping the subject after `current` (called before its upload, while the
        client is idle). Only for a subject that will surely need a zip: eligible now, with no
        resource of that label on the server yet, and room for a second zip."""
        ctx, items = self.ctx, self.plan.items
        following = [i for i in items[items.index(current) + 1 :] if i.ok]
        if not following or ctx.transfers.zipping_ahead or self.fatal or ctx.cancel.is_set():
            return
        nxt = following[0]
        try:
            if not scan.classify(nxt.subject.path).eligible:
                return
            if nxt.experiment_label in ctx.experiments:
                existing = self.client.list_resources(ctx.project, nxt.experiment_label)
                if any(r.label == nxt.resource_label for r in existing):
                    return
            archive.free_space_for(ctx.transfers.workdir, zip_room(current) + zip_room(nxt))
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
) -> Iterator[Event]:
    """Import every item of `plan`; see the module docstring for the events.

    `workdir`: where the temporary zips go (default: the system temp). Either way the run uses
    a folder of its own in it and removes it at the end. A transient error or a mismatch is
    retried at most `retries` times after `backoff`, 2 x `backoff`, ... seconds, waited with
    `sleep` (default: waiting on `cancel`, so cancelling cuts a pause short).
    """
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="fsxnat-run-", dir=workdir))
    transfers = Transfers(client, plan.target.project, run_dir, cancel)
    try:
        ctx = RunContext(
            plan,
            client,
            cancel,
            transfers,
            retries,
            backoff,
            sleep or cancel.wait,
            before_upload=lambda item: runner.zip_next(item),
        )
        runner = _Runner(ctx)
        yield from runner.run()
    finally:
        transfers.close()
        shutil.rmtree(run_dir, ignore_errors=True)
