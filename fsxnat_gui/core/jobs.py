"""The import runner: zip, upload, verify, retry and resume, subject by subject.

`run_import(plan, client, cancel)` is a generator of events:

- `Progress` with `item` = the subject's folder name: that subject's phase (zipping, uploading,
  server processing, verifying, retrying), bytes done/total of the phase, speed and ETA while
  uploading. Throttled to about ten per second per phase.
- `Progress` with `item == ""`: the OVERALL progress of the run, for an overall bar. `done` and
  `total` are the local bytes of the runnable subjects; the subject in progress counts in
  proportion to its zipping (the first third) and its upload (the rest). Emitted with each
  per-subject event, and with stage DONE after each SubjectResult.
- `SubjectResult` as each subject ends, and the `RunReport` last, always.

A subject is IMPORTED only after the server's file list matched the zip's manifest (paths,
sizes, and MD5 where the server has digests). One subject's failure never stops the others.
Cancelling is not an exception for the caller: the subject in progress and those after it end
CANCELLED, a resource this run created for the cancelled subject is deleted, and the generator
still yields the RunReport and returns.

Existing resource: SKIP skips it when identical to the local folder (paths, sizes, MD5s where
the server has digests) and fails the subject otherwise; REPLACE deletes it, but only once the new
zip is ready; FAIL fails the subject. An empty resource is simply filled.

Pipelining: while a subject uploads and the server extracts it, the next runnable subject is
zipped on a helper thread (two cores: the client deflates while the server extracts). Its zip
is used when its turn comes and discarded if that subject is skipped or fails first; its
progress is shown from its turn on.

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
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from fsxnat_gui.core import archive, scan
from fsxnat_gui.core.errors import (
    AuthError,
    Cancelled,
    Conflict,
    FsXnatError,
    NetworkError,
    ScanError,
    ServerError,
    TLSError,
    VerificationError,
    XnatError,
)
from fsxnat_gui.core.model import (
    ImportPlan,
    OnExisting,
    PlanItem,
    Progress,
    RemoteFile,
    ResultStatus,
    RunReport,
    Stage,
    SubjectResult,
)
from fsxnat_gui.core.units import human_duration
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

Event = Progress | SubjectResult | RunReport
Steps = Generator[Progress, None, None]
R = TypeVar("R")

THROTTLE_S = 0.1  # at most ~10 progress events per second per phase
POLL_S = 0.1  # how often the runner looks at the upload thread and the cancel flag
CANCEL_GRACE_S = 1.0  # how long a cancelled upload may take to stop (or to be answered)
ZIP_SHARE = 1 / 3  # share of a subject's overall progress taken by zipping
ZIP_SLACK = 16 * 1024 * 1024  # free space asked for beyond the files and 5 %
LISTED_NAMES = 5  # file names quoted in a mismatch message
FATAL = (AuthError, TLSError)  # errors that will fail every remaining subject the same way


# --- comparing file lists ---------------------------------------------------------------------


def _names(paths: list[str]) -> str:
    shown = ", ".join(paths[:LISTED_NAMES])
    return (
        f"{shown}, ... ({len(paths) - LISTED_NAMES} more)" if len(paths) > LISTED_NAMES else shown
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def file_differences(local: Mapping[str, tuple[int, str]], remote: Iterable[RemoteFile]) -> str:
    """A sentence naming every difference between local files (path -> (size, md5 or "")) and the
    server's list, or "" when they match. MD5s are compared where both sides have one."""
    theirs = {f.path: f for f in remote}
    missing = sorted(set(local) - set(theirs))
    extra = sorted(set(theirs) - set(local))
    size = sorted(p for p in set(local) & set(theirs) if local[p][0] != theirs[p].size)
    digest = sorted(
        p
        for p in set(local) & set(theirs)
        if p not in size and local[p][1] and theirs[p].digest and local[p][1] != theirs[p].digest
    )
    parts = []
    if missing:
        parts.append(f"{_count(len(missing), 'file')} missing on the server: {_names(missing)}")
    if size:
        parts.append(f"{_count(len(size), 'file')} with another size: {_names(size)}")
    if digest:
        parts.append(f"{_count(len(digest), 'file')} with another MD5: {_names(digest)}")
    if extra:
        parts.append(f"{_count(len(extra), 'file')} on the server only: {_names(extra)}")
    return "; ".join(parts)


# --- progress ---------------------------------------------------------------------------------


class _Rate:
    """Speed over the last few seconds, and the ETA it implies."""

    WINDOW_S = 3.0

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, done: int, total: int) -> tuple[float | None, float | None]:
        now = time.monotonic()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW_S:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        if now - t0 < 0.05 or done <= d0:
            return None, None
        speed = (done - d0) / (now - t0)
        return speed, (total - done) / speed


@dataclasses.dataclass
class _Overall:
    """Bytes of the whole run for the overall bar (see the module docstring)."""

    total: int
    finished: int = 0  # local bytes of the subjects already ended
    current: float = 0.0  # bytes credited to the subject in progress
    started: float = dataclasses.field(default_factory=time.monotonic)

    def event(self, stage: Stage) -> Progress:
        done = min(self.total, self.finished + round(self.current))
        elapsed = time.monotonic() - self.started
        eta = elapsed * (self.total - done) / done if done else None
        return Progress(stage, "", done, self.total, eta=eta)


class _Throttle:
    """Lets an event through every THROTTLE_S per stage, and always the last one of a phase."""

    def __init__(self) -> None:
        self._last: dict[Stage, float] = {}

    def due(self, stage: Stage, done: int, total: int) -> bool:
        now = time.monotonic()
        if done >= total or now - self._last.get(stage, 0.0) >= THROTTLE_S:
            self._last[stage] = now
            return True
        return False


# --- one subject ------------------------------------------------------------------------------


@dataclasses.dataclass
class _State:
    """What the runner knows about the subject in progress."""

    item: PlanItem
    files: int
    bytes: int
    started: float = dataclasses.field(default_factory=time.monotonic)
    reuse_empty: bool = False  # an empty resource of that label is already there
    replaces: int = 0  # files of the existing resource that the REPLACE policy will delete
    created_resource: bool = False  # this run created the resource: it may delete it
    uploaded: int = 0  # bytes sent, every attempt counted
    notes: list[str] = dataclasses.field(default_factory=list)  # -> SubjectResult.detail


class _Upload(threading.Thread):
    """`client.upload_zip` in a helper thread, so the runner can yield progress while it runs.

    The runner does not use the client while this thread runs, except for the best-effort
    delete after a cancel during server processing (the thread is then only waiting).
    """

    def __init__(self, client: XnatClient, project: str, item: PlanItem, zip_path: Path) -> None:
        super().__init__(name=f"fsxnat-upload-{item.subject.name}", daemon=True)
        self.stop = threading.Event()
        self.sent: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._args = (client, project, item, zip_path)

    def run(self) -> None:
        client, project, item, zip_path = self._args
        try:
            client.upload_zip(
                project,
                item.experiment_label,
                item.resource_label,
                zip_path,
                overwrite=False,  # the resource is new or empty: a duplicate is an error
                cancel=self.stop,
                on_bytes=lambda done, total: self.sent.put((done, total)),
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the runner's thread
            self.error = exc


class _Prefetch(threading.Thread):
    """`archive.zip_subject` of the next subject in a helper thread (see the module docstring).

    `stop` aborts it (the zip is then deleted by zip_subject); the runner sets it when the run is
    cancelled or ends, or when the subject no longer needs the zip."""

    def __init__(self, item: PlanItem, zip_path: Path) -> None:
        super().__init__(name=f"fsxnat-zip-{item.subject.name}", daemon=True)
        self.item = item
        self.zip_path = zip_path
        self.stop = threading.Event()
        self.started = time.time()  # files modified after this make the zip stale
        self.events: queue.SimpleQueue[Progress] = queue.SimpleQueue()
        self.result: archive.ArchiveResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        steps = archive.zip_subject(
            self.item.subject.path, self.zip_path, self.stop, total_hint=self.item.subject.bytes
        )
        try:
            while True:
                self.events.put(next(steps))
        except StopIteration as done:
            self.result = done.value
        except BaseException as exc:  # noqa: BLE001 - re-raised in the runner's thread
            self.error = exc

    def abandon(self) -> None:
        self.stop.set()
        self.join()
        self.zip_path.unlink(missing_ok=True)


class _Runner:
    def __init__(
        self,
        plan: ImportPlan,
        client: XnatClient,
        cancel: threading.Event,
        workdir: Path,
        retries: int,
        backoff: float,
        sleep: Callable[[float], object],
    ) -> None:
        self.plan = plan
        self.project = plan.target.project
        self.client = client
        self.cancel = cancel
        self.workdir = workdir
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.overall = _Overall(total=sum(i.subject.bytes or 0 for i in plan.items if i.ok))
        self.weight = 0  # local bytes of the subject in progress
        self.throttle = _Throttle()
        self.fatal = ""  # once set, every remaining subject fails with it
        self.subject_ids: dict[str, str] = {}  # label -> accession id
        self.experiments: dict[str, str] = {}  # experiment label -> subject accession id
        self.prefetch: _Prefetch | None = None  # the next subject's zip, being made

    def run(self) -> Iterator[Event]:
        try:
            yield from self._run()
        finally:
            self._drop_prefetch()

    def _run(self) -> Iterator[Event]:
        started = _now()
        results: list[SubjectResult] = []
        if any(i.ok for i in self.plan.items):
            self._prepare_project()
        for item in self.plan.items:
            name = item.subject.name
            if self.cancel.is_set():
                result = SubjectResult(name, ResultStatus.CANCELLED, False, error="cancelled")
            elif not item.ok:
                error = "; ".join(item.problems)
                result = SubjectResult(name, ResultStatus.FAILED, False, error=error)
            elif self.fatal:
                result = SubjectResult(name, ResultStatus.FAILED, False, error=self.fatal)
            else:
                self.weight = item.subject.bytes or 0
                result = yield from self._subject(item)
                self.overall.finished += self.weight
                self.overall.current = 0
            results.append(result)
            yield result
            yield self.overall.event(Stage.DONE)
        yield RunReport(self.client.url, self.project, started, _now(), tuple(results))

    def _prepare_project(self) -> None:
        """Check (or create) the project once; read its subjects and experiments once."""
        try:
            if not self.client.project_exists(self.project):
                if not self.plan.target.create_project:
                    self.fatal = f"project {self.project} does not exist on {self.client.url}"
                    return
                log.info("creating project %s", self.project)
                self.client.create_project(self.project)
            self.subject_ids = self.client.list_subjects(self.project)
            experiments = self.client.list_experiments(self.project)
        except XnatError as exc:
            self.fatal = str(exc)
            return
        self.experiments = {label: e.subject_id for label, e in experiments.items()}

    def _subject(self, item: PlanItem) -> Generator[Progress, None, SubjectResult]:
        """Import one subject; every outcome becomes its SubjectResult."""
        subject = item.subject
        state = _State(item, files=subject.files or 0, bytes=subject.bytes or 0)
        log.info("importing %s as %s/%s", subject.name, item.experiment_label, item.resource_label)
        status, error = ResultStatus.FAILED, ""
        try:
            self._check_unchanged(item)
            self._ensure_experiment(item)
            if (yield from self._existing_resource(state)):
                status = ResultStatus.SKIPPED
            else:
                yield from self._zip_upload_verify(state)
                status = ResultStatus.IMPORTED
        except Cancelled:
            status, error = ResultStatus.CANCELLED, "cancelled by the user"
            self._drop_prefetch()
            self._discard(state)
        except FsXnatError as exc:
            error = str(exc)
            if isinstance(exc, FATAL):
                self.fatal = error
            self._discard(state)
        except Exception as exc:  # a bug: logged with its traceback; the others still run
            log.exception("unexpected error while importing %s", subject.name)
            error = f"unexpected error: {exc}"
            self._discard(state)
        if self.prefetch is not None and self.prefetch.item is item:
            self._drop_prefetch()  # skipped or failed before its zip was used
        if error:
            log.warning("%s %s: %s", subject.name, status.value, error)
        experiment_uri = self.client.experiment_uri(self.project, item.experiment_label)
        return SubjectResult(
            subject=subject.name,
            status=status,
            verified=status in (ResultStatus.IMPORTED, ResultStatus.SKIPPED),
            files=state.files,
            bytes=state.bytes,
            uploaded_bytes=state.uploaded,
            experiment_uri=experiment_uri,
            resource_uri=f"{experiment_uri}/resources/{item.resource_label}",
            error=error,
            detail="; ".join(state.notes),
            seconds=time.monotonic() - state.started,
        )

    # the steps of one subject, in order

    def _check_unchanged(self, item: PlanItem) -> None:
        """recon-all may have started again on the subject since the scan."""
        now = scan.classify(item.subject.path)
        if not now.eligible:
            why = now.reason or now.state.value
            raise ScanError(f"{item.subject.name} changed since the scan: {why}")

    def _ensure_experiment(self, item: PlanItem) -> None:
        """Create the subject and the MR session unless they exist; never move an experiment."""
        owner = self.experiments.get(item.experiment_label)
        subject_id = self.subject_ids.get(item.subject_label)
        if owner is not None and owner != subject_id:
            labels = {sid: label for label, sid in self.subject_ids.items()}
            raise Conflict(
                f"experiment {item.experiment_label} belongs to subject "
                f"{labels.get(owner, owner)} on the server; importing would move it: "
                "choose another experiment label"
            )
        if subject_id is None:
            subject_id = self.client.ensure_subject(self.project, item.subject_label)
            self.subject_ids[item.subject_label] = subject_id
        if owner is None:
            self.client.ensure_experiment(self.project, item.subject_label, item.experiment_label)
            self.experiments[item.experiment_label] = subject_id

    def _existing_resource(self, state: _State) -> Generator[Progress, None, bool]:
        """Apply the policy to a resource that is already there. True = skip the subject."""
        item = state.item
        experiment, resource = item.experiment_label, item.resource_label
        labels = [r.label for r in self.client.list_resources(self.project, experiment)]
        if resource not in labels:
            return False
        remote = self._list_files(item)
        if not remote:
            state.reuse_empty = True
            return False
        policy = self.plan.target.on_existing
        if policy is OnExisting.REPLACE:
            state.replaces = len(remote)  # deleted only once the new zip is ready
            return False
        there = f"a {resource} resource already exists on {experiment} ({len(remote)} files)"
        if policy is OnExisting.FAIL:
            raise Conflict(f"{there}; the policy for existing resources is to stop")
        differences = yield from self._local_differences(state, remote)
        if differences:
            raise Conflict(f"{there} and differs: {differences}; choose replace to overwrite it")
        state.notes.append("skipped: an identical resource is already on the server")
        return True

    def _local_differences(
        self, state: _State, remote: list[RemoteFile]
    ) -> Generator[Progress, None, str]:
        """Local folder vs the server's files: paths and sizes first (cheap), then MD5s when
        the server keeps digests."""
        src = state.item.subject.path
        files, _warnings = archive.walk_subject(src)
        differences = file_differences({f.arcname: (f.size, "") for f in files}, remote)
        if differences or not any(f.digest for f in remote):
            return differences
        name = state.item.subject.name
        manifest = yield from self._relay(archive.local_manifest(src, self.cancel), name)
        return file_differences({m.path: (m.size, m.md5) for m in manifest}, remote)

    def _zip_upload_verify(self, state: _State) -> Steps:
        item = state.item
        zip_path = self._zip_path(item)
        try:
            # the zip is at most the files plus headers (stored .mgz, deflated text)
            result = yield from self._zip(item, zip_path)
            state.files = len(result.manifest)
            state.bytes = sum(m.size for m in result.manifest)
            state.notes.extend(result.warnings)
            if state.replaces:
                self._delete_old(state)
            if not state.reuse_empty:
                self._create_resource(state)
            expected = {m.path: (m.size, m.md5) for m in result.manifest}
            yield from self._upload_until_verified(state, result.path, expected)
        finally:
            zip_path.unlink(missing_ok=True)

    def _zip(
        self, item: PlanItem, zip_path: Path
    ) -> Generator[Progress, None, archive.ArchiveResult]:
        """The subject's zip: the one the helper thread made (or is making), else made now."""
        prefetch, self.prefetch = self.prefetch, None
        if prefetch is None or prefetch.item is not item:
            if prefetch is not None:
                prefetch.abandon()
            return (yield from self._zip_now(item, zip_path))
        try:
            while prefetch.is_alive() or not prefetch.events.empty():
                prefetch.join(POLL_S)
                if self.cancel.is_set():
                    raise Cancelled()
                latest = None
                while not prefetch.events.empty():
                    latest = prefetch.events.get_nowait()
                if latest is not None:
                    yield from self._emit(dataclasses.replace(latest, item=item.subject.name))
        except BaseException:
            prefetch.abandon()
            raise
        if prefetch.error is not None:
            raise prefetch.error
        assert prefetch.result is not None
        if _changed_since(item, prefetch.result, prefetch.started):
            log.info("%s changed after it was zipped ahead: zipping it again", item.subject.name)
            return (yield from self._zip_now(item, zip_path))
        return prefetch.result

    def _zip_now(
        self, item: PlanItem, zip_path: Path
    ) -> Generator[Progress, None, archive.ArchiveResult]:
        archive.free_space_for(self.workdir, _zip_room(item))
        zipping = archive.zip_subject(
            item.subject.path, zip_path, self.cancel, total_hint=item.subject.bytes
        )
        return (yield from self._relay(zipping, item.subject.name))

    def _zip_path(self, item: PlanItem) -> Path:
        """By position in the plan: labels that differ only in case would be one file on a
        case-insensitive disk (macOS, Windows)."""
        return self.workdir / f"{self.plan.items.index(item):05d}.zip"

    def _start_prefetch(self, current: PlanItem) -> None:
        """Start zipping the subject after `current` (called before its upload, while the
        client is idle). Only for a subject that will surely need a zip: eligible now, with no
        resource of that label on the server yet, and room for a second zip."""
        items = self.plan.items
        following = [i for i in items[items.index(current) + 1 :] if i.ok]
        if not following or self.prefetch is not None or self.fatal or self.cancel.is_set():
            return
        nxt = following[0]
        try:
            if not scan.classify(nxt.subject.path).eligible:
                return
            if nxt.experiment_label in self.experiments:
                existing = self.client.list_resources(self.project, nxt.experiment_label)
                if any(r.label == nxt.resource_label for r in existing):
                    return
            archive.free_space_for(self.workdir, _zip_room(current) + _zip_room(nxt))
        except FsXnatError as exc:
            log.debug("not zipping %s ahead: %s", nxt.subject.name, exc)
            return
        self.prefetch = _Prefetch(nxt, self._zip_path(nxt))
        self.prefetch.start()

    def _drop_prefetch(self) -> None:
        if self.prefetch is not None:
            self.prefetch.abandon()
            self.prefetch = None

    def _delete_old(self, state: _State) -> None:
        item = state.item
        log.info(
            "replacing %s of %s (%d files)",
            item.resource_label,
            item.experiment_label,
            state.replaces,
        )
        self.client.delete_resource(self.project, item.experiment_label, item.resource_label)
        state.notes.append(f"replaced the previous {item.resource_label} ({state.replaces} files)")

    def _create_resource(self, state: _State) -> None:
        target, item = self.plan.target, state.item
        self.client.create_resource(
            self.project,
            item.experiment_label,
            item.resource_label,
            format=target.resource_format,
            content=target.resource_content,
            tags=target.resource_tags,
        )
        state.created_resource = True

    def _upload_until_verified(
        self, state: _State, zip_path: Path, expected: Mapping[str, tuple[int, str]]
    ) -> Steps:
        """At most 1 + retries attempts; a transient error or a mismatch starts another one
        after a pause of backoff, 2 x backoff, 4 x backoff, ... seconds."""
        attempts = self.retries + 1
        last: XnatError | None = None
        for attempt in range(attempts):
            if attempt:
                yield from self._pause(state, attempt, str(last))
            try:
                differences = yield from self._attempt(state, zip_path, expected, retry=attempt > 0)
            except (ServerError, NetworkError) as exc:
                last = exc
                continue
            if not differences:
                return
            last = VerificationError(differences)
        assert last is not None
        raise type(last)(f"gave up after {attempts} attempts: {last}", last.status)

    def _attempt(
        self, state: _State, zip_path: Path, expected: Mapping[str, tuple[int, str]], retry: bool
    ) -> Generator[Progress, None, str]:
        """One upload and its verification ("" = verified, else what differs).

        A retry first lists the resource: the server may have finished the previous upload
        after answering 5xx or timing out. If the files are all there, nothing is sent again;
        if some are, the resource is emptied so the new upload starts clean."""
        item = state.item
        if retry and (remote := self._list_files(item)):
            if not file_differences(expected, remote):
                state.notes.append("the server finished storing an earlier attempt")
                return ""
            log.info("emptying %s of %s before the retry", item.resource_label, item.subject.name)
            self.client.delete_resource(self.project, item.experiment_label, item.resource_label)
            self._create_resource(state)
        upload_error: XnatError | None = None
        try:
            yield from self._upload(state, zip_path)
        except (ServerError, NetworkError) as exc:
            upload_error = exc
            log.warning("upload of %s: %s; listing what the server has", item.subject.name, exc)
        except Conflict as exc:
            if not retry:
                raise
            # The earlier attempt was still being processed when this one was sent, and has
            # stored its files since (a proxy timeout): what the server holds is checked now.
            upload_error = exc
            log.warning("upload of %s: %s; an earlier attempt finished", item.subject.name, exc)
        return (yield from self._verify(state, expected, upload_error))

    def _verify(
        self,
        state: _State,
        expected: Mapping[str, tuple[int, str]],
        upload_error: XnatError | None,
    ) -> Generator[Progress, None, str]:
        """The server's list against the zip's manifest; after a 5xx or a network error too,
        since the server may have stored everything before the answer was lost."""
        name, n = state.item.subject.name, len(expected)
        yield from self._emit(Progress(Stage.VERIFYING, name, 0, n))
        differences = file_differences(expected, self._list_files(state.item))
        if differences:
            return f"{upload_error}; then {differences}" if upload_error else differences
        if upload_error is not None:
            state.notes.append(f"the server finished storing the files despite: {upload_error}")
        yield from self._emit(Progress(Stage.VERIFYING, name, n, n))
        return ""

    def _pause(self, state: _State, attempt: int, problem: str) -> Steps:
        delay = self.backoff * 2 ** (attempt - 1)
        message = (
            f"attempt {attempt + 1} of {self.retries + 1} in {human_duration(delay)} "
            f"after: {problem}"
        )
        log.info("%s: %s", state.item.subject.name, message)
        yield from self._emit(
            Progress(Stage.RETRYING, state.item.subject.name, 0, 0, message=message)
        )
        self.sleep(delay)
        if self.cancel.is_set():
            raise Cancelled()

    def _upload(self, state: _State, zip_path: Path) -> Steps:
        """One upload in a helper thread, yielding UPLOADING, then PROCESSING while the server
        works after the last byte. Cancel stops the upload within a poll and one chunk."""
        name = state.item.subject.name
        total = zip_path.stat().st_size
        self._start_prefetch(state.item)
        upload = _Upload(self.client, self.project, state.item, zip_path)
        rate = _Rate()
        sent = 0
        waiting_since: float | None = None
        upload.start()
        try:
            while upload.is_alive():
                upload.join(POLL_S)
                if self.cancel.is_set():
                    upload.stop.set()
                    upload.join(CANCEL_GRACE_S)
                    if upload.is_alive() and sent >= total:
                        # Every byte was sent and the server is storing them: a delete now could
                        # be undone by the server finishing. Leave the resource alone, say so.
                        # (With part of the body unsent, the server stores nothing: delete.)
                        state.created_resource = False
                        resource, experiment = (
                            state.item.resource_label,
                            state.item.experiment_label,
                        )
                        state.notes.append(
                            f"the server was still processing the upload when it was cancelled: "
                            f"if {resource} appears on {experiment}, delete it or choose replace"
                        )
                    raise Cancelled()
                while not upload.sent.empty():
                    sent, total = upload.sent.get_nowait()
                if sent < total:
                    speed, eta = rate.add(sent, total)
                    yield from self._emit(Progress(Stage.UPLOADING, name, sent, total, speed, eta))
                elif upload.is_alive():
                    if waiting_since is None:
                        waiting_since = time.monotonic()
                        yield from self._emit(Progress(Stage.UPLOADING, name, total, total))
                    waited = human_duration(time.monotonic() - waiting_since)
                    message = f"the server is extracting and cataloguing the files ({waited})"
                    yield from self._emit(
                        Progress(Stage.PROCESSING, name, total, total, message=message)
                    )
        finally:
            upload.stop.set()
            state.uploaded += sent
        if upload.error is not None:
            raise upload.error

    def _list_files(self, item: PlanItem) -> list[RemoteFile]:
        return self.client.list_files(self.project, item.experiment_label, item.resource_label)

    def _discard(self, state: _State) -> None:
        """Best effort: delete the resource this run created for a subject that did not finish,
        so nothing partial is left and a rerun starts clean."""
        if not state.created_resource:
            return
        item = state.item
        try:
            self.client.delete_resource(self.project, item.experiment_label, item.resource_label)
        except XnatError as exc:
            log.warning(
                "could not delete %s of %s: %s", item.resource_label, item.subject.name, exc
            )
            state.notes.append(
                f"the {item.resource_label} resource created by this run could not be deleted "
                f"({exc}); delete it, or choose replace next time"
            )
        else:
            state.notes.append(
                f"the {item.resource_label} resource created by this run was deleted"
            )

    # progress

    def _relay(
        self, steps: Generator[Progress, None, R], name: str
    ) -> Generator[Progress, None, R]:
        """Relay a core generator's events as this subject's; return the generator's result."""
        while True:
            try:
                event = next(steps)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            yield from self._emit(dataclasses.replace(event, item=name))

    def _emit(self, event: Progress) -> Steps:
        """The subject's event and the overall one, throttled per stage."""
        if not self.throttle.due(event.stage, event.done, event.total):
            return
        fraction = event.done / event.total if event.total else 1.0
        if event.stage is Stage.ZIPPING:
            self.overall.current = self.weight * ZIP_SHARE * fraction
        elif event.stage is Stage.UPLOADING:
            self.overall.current = self.weight * (ZIP_SHARE + (1 - ZIP_SHARE) * fraction)
        elif event.stage in (Stage.PROCESSING, Stage.VERIFYING):
            self.overall.current = self.weight
        yield event
        yield self.overall.event(event.stage)


def _changed_since(item: PlanItem, result: archive.ArchiveResult, since: float) -> bool:
    """Whether the subject's files differ from a zip made earlier: other paths or sizes, or a
    file modified after the zip was started (a manual edit saved meanwhile)."""
    files, _warnings = archive.walk_subject(item.subject.path)
    if {(f.arcname, f.size) for f in files} != {(m.path, m.size) for m in result.manifest}:
        return True
    try:
        return any(f.path.stat().st_mtime >= since for f in files)
    except OSError:
        return True


def _zip_room(item: PlanItem) -> int:
    """Disk space a subject's zip may need: at most its files plus headers (stored .mgz,
    deflated text)."""
    size = item.subject.bytes or 0
    return size + size // 20 + ZIP_SLACK


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
    try:
        runner = _Runner(plan, client, cancel, run_dir, retries, backoff, sleep or cancel.wait)
        yield from runner.run()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
