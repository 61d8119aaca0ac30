"""Watch a SUBJECTS_DIR and import each subject as soon as its recon-all has finished.

A folder is ready when it is a finished recon-all subject (recon-all.done, no IsRunning*) whose
files have not changed for `settle` seconds: recon-all writes its done file last, but a copy or a
sync may still be arriving. Each ready folder is handed to `import_folders` (the same import the
CLI and the window run, with its matching, policy and verification); a folder is recorded as done
only when its result says it is on the server, in a state file keyed by the folder's signature,
so a restart imports nothing twice (and the server's own check, "skip if identical", backs that
up). A failed folder is tried again when it changes, or after `retry_after` seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from fsxnat_gui.core import scan
from fsxnat_gui.core.archive import walk_subject
from fsxnat_gui.core.compare import compare, fetch_index
from fsxnat_gui.core.errors import ArchiveError, Cancelled, FsXnatError, ScanError
from fsxnat_gui.core.jobs import run_import
from fsxnat_gui.core.map_rows import write_rows_for
from fsxnat_gui.core.mapping import read_mapping
from fsxnat_gui.core.model import (
    EntryKind,
    ImportPlan,
    ResultStatus,
    RunState,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.plan import PlanRefusedError, blocking_reasons, make_plan, resource_label
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0
DEFAULT_SETTLE = 5.0
DEFAULT_RETRY_AFTER = 600.0


class WatchKind(Enum):
    WATCHING = "watching"  # the loop started (message: what and where)
    WAITING = "waiting"  # a folder finished but is still changing
    READY = "ready"  # a folder is about to be imported
    DONE = "done"  # on the server (imported, or found identical)
    FAILED = "failed"  # not imported; tried again later
    ALREADY = "already"  # recorded as imported by an earlier run of the watch
    STOPPED = "stopped"


@dataclass(frozen=True)
class WatchEvent:
    kind: WatchKind
    folder: str
    message: str


ImportFolders = Callable[[list[Subject]], Iterable[object]]


def signature(subject: Subject) -> str:
    """What changes when a subject's files change: names, sizes and modification times."""
    files, _ = walk_subject(subject.path)
    h = hashlib.sha1(usedforsecurity=False)
    for f in files:
        st = os.stat(f.path)
        h.update(f"{f.arcname}\0{st.st_size}\0{st.st_mtime_ns}\n".encode(errors="surrogateescape"))
    return h.hexdigest()


class WatchState:
    """Folders already imported, by signature; kept in a JSON file written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, str] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.done = {str(k): str(v) for k, v in data.get("imported", {}).items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("watch state %s is unreadable (%s): starting afresh", path, exc)

    def record(self, folder: str, sig: str) -> None:
        self.done[folder] = sig
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".watch-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"imported": self.done}, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise


def state_path(subjects_dir: Path, target_key: str) -> Path:
    """Where the watch of `subjects_dir` into `target_key` (server, project, resource) keeps its
    state: the user's state folder, one file per SUBJECTS_DIR and target."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    key = hashlib.sha1(
        f"{Path(subjects_dir).resolve()}\0{target_key}".encode(), usedforsecurity=False
    ).hexdigest()[:16]
    return base / "fsxnat" / f"watch-{key}.json"


@dataclass
class _Seen:
    sig: str
    since: float  # monotonic time the signature was first seen
    failed_at: float | None = None


class Watcher:
    """One poll at a time: which folders are ready now."""

    def __init__(self, subjects_dir: Path, state: WatchState, settle: float, retry_after: float):
        self.subjects_dir = Path(subjects_dir)
        self.state = state
        self.settle = settle
        self.retry_after = retry_after
        self._seen: dict[str, _Seen] = {}
        self._announced: set[str] = set()

    def poll(self, now: float) -> tuple[list[Subject], list[WatchEvent]]:
        ready: list[Subject] = []
        events: list[WatchEvent] = []
        for subject in self._finished():
            try:
                sig = signature(subject)
            except (ArchiveError, OSError) as exc:
                log.debug("cannot read %s yet: %s", subject.name, exc)
                continue
            if self.state.done.get(subject.name) == sig:
                if subject.name not in self._announced:
                    self._announced.add(subject.name)
                    events.append(
                        WatchEvent(WatchKind.ALREADY, subject.name, "imported by an earlier run")
                    )
                continue
            seen = self._seen.get(subject.name)
            if seen is None or seen.sig != sig:
                self._seen[subject.name] = _Seen(sig, now)
                if self.settle > 0:
                    events.append(
                        WatchEvent(
                            WatchKind.WAITING, subject.name, "finished; waiting for it to settle"
                        )
                    )
                    continue
                seen = self._seen[subject.name]
            if now - seen.since < self.settle:
                continue
            if seen.failed_at is not None and now - seen.failed_at < self.retry_after:
                continue
            ready.append(subject)
        return ready, events

    def _finished(self) -> list[Subject]:
        try:
            names = sorted(os.listdir(self.subjects_dir))
        except OSError as exc:
            raise ScanError(f"The folder {self.subjects_dir} cannot be read: {exc}") from None
        out = []
        for name in names:
            try:
                entry = scan.classify(self.subjects_dir / name)
            except ScanError:
                continue  # vanished between listdir and classify
            if entry.kind is EntryKind.SUBJECT and entry.state is RunState.DONE:
                out.append(entry)
        return out

    def finished(self, subject: Subject, result: SubjectResult, now: float) -> WatchEvent:
        seen = self._seen.get(subject.name)
        if result.on_server and seen is not None:
            self.state.record(subject.name, seen.sig)
            self._announced.add(subject.name)
            return WatchEvent(WatchKind.DONE, subject.name, result.detail or result.status.value)
        if seen is not None:
            seen.failed_at = now
        why = result.error or result.status.value
        return WatchEvent(WatchKind.FAILED, subject.name, f"{why} (tried again when it changes)")


def watch(
    subjects_dir: Path,
    import_folders: ImportFolders,
    state: WatchState,
    cancel: threading.Event,
    *,
    interval: float = DEFAULT_INTERVAL,
    settle: float = DEFAULT_SETTLE,
    retry_after: float = DEFAULT_RETRY_AFTER,
    once: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[object]:
    """Poll, import what is ready, repeat until `cancel` (or after one pass with `once`).
    Yields WatchEvents and, passed through, the import's own events and results."""
    watcher = Watcher(subjects_dir, state, 0.0 if once else settle, retry_after)
    yield WatchEvent(WatchKind.WATCHING, "", f"watching {subjects_dir}")
    try:
        while not cancel.is_set():
            ready, events = watcher.poll(clock())
            yield from events
            if ready:
                by_name = {s.name: s for s in ready}
                for s in ready:
                    yield WatchEvent(WatchKind.READY, s.name, "recon-all finished: importing")
                for event in import_folders(ready):
                    yield event
                    if isinstance(event, SubjectResult) and event.subject in by_name:
                        yield watcher.finished(by_name[event.subject], event, clock())
            if once:
                break
            cancel.wait(interval)
    except Cancelled:
        pass
    yield WatchEvent(WatchKind.STOPPED, "", "stopped")


class BatchImport:
    """`import_folders` for `watch`: a batch of ready folders planned as `fsxnat import` plans
    them (resource label, matching, `mapping` rows, comparison, blocking reasons) and imported
    with `run_import`. A batch that cannot be planned or run (the server unreachable, a refused
    plan) is a failed result for each of its folders, tried again later. `only`: the folders
    to import (all when empty)."""

    def __init__(
        self,
        client: XnatClient,
        target: Target,
        cancel: threading.Event,
        *,
        resource: str | None = None,
        mapping: Path | None = None,
        only: Collection[str] = (),
    ) -> None:
        self.client, self.target, self.cancel = client, target, cancel
        self.resource, self.mapping, self.only = resource, mapping, frozenset(only)

    def __call__(self, ready: list[Subject]) -> Iterator[object]:
        wanted = [s for s in ready if not self.only or s.name in self.only]
        reported: set[str] = set()
        try:
            if not wanted:
                return
            chosen = [scan.measure(s) for s in wanted]
            for event in run_import(self._plan(chosen), self.client, self.cancel):
                if isinstance(event, SubjectResult):
                    reported.add(event.subject)
                yield event
        except Cancelled:
            raise
        except FsXnatError as exc:
            for s in wanted:
                if s.name not in reported:
                    yield SubjectResult(s.name, ResultStatus.FAILED, False, error=str(exc))

    def _plan(self, chosen: list[Subject]) -> ImportPlan:
        target = dataclasses.replace(self.target, resource=resource_label(chosen, self.resource))
        index = fetch_index(self.client, target.project)
        rows = {}
        if self.mapping is not None:
            names = [s.name for s in chosen]
            with tempfile.TemporaryDirectory(prefix="fsxnat-watch-") as tmp:
                batch = write_rows_for(self.mapping, names, Path(tmp) / "map.csv")
                rows = read_mapping(batch, names, index)
        the_plan = make_plan(chosen, target, rows, index=index)
        the_plan = compare(the_plan, self.client, index=index)
        if reasons := blocking_reasons(the_plan):
            raise PlanRefusedError(reasons)
        return the_plan


def target_key(url: str, target: Target, resource: str | None) -> str:
    """What a watch's state file is kept per (with the SUBJECTS_DIR): server, project, labels."""
    return f"{url}|{target.project}|{resource or ''}|{target.experiment_template}"
