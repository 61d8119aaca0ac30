"""The transfer machinery of an import run: zips made (one of them ahead, on a helper thread) and
uploads sent (on another), watched from the runner's thread, which polls them and the cancel
event every POLL_S.

`Transfers` is all the per-subject sequence (core/subject_import.py) knows of it:

- `zip(item, index)`: the subject's zip, the one made ahead when there is one (and still valid:
  a subject modified since is zipped again), else made now; ZIPPING events.
- `zip_ahead(item, index)`: start zipping a subject ahead of its turn; `drop_ahead()` discards it.
- `send(item, zip_path)`: the upload, as `Sent` looks at it (bytes sent, then the time the
  server has been processing); cancelling stops it within a poll and one block.

One zip ahead and one upload at a time today; several uploads in flight (issue 11) change this
module and how subject_import.py's sequences are driven, not the sequence itself.

It never decides what to upload or whether to retry; it only moves bytes.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Generator
from pathlib import Path

from fsxnat_gui.core import archive
from fsxnat_gui.core.errors import Cancelled
from fsxnat_gui.core.model import PlanItem, Progress
from fsxnat_gui.core.progress import relay
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

POLL_S = 0.1  # how often the runner looks at the helper threads and the cancel flag
CANCEL_GRACE_S = 1.0  # how long a cancelled upload may take to stop (or to be answered)
ZIP_SLACK = 16 * 1024 * 1024  # free space asked for beyond the files and 5 %


@dataclasses.dataclass(frozen=True)
class Sent:
    """A look at an upload in flight."""

    sent: int  # bytes sent so far
    total: int  # the zip's size
    processing: float | None = None  # seconds since the last byte, while the server works


class CancelledWhileProcessing(Cancelled):
    """Cancelled after the last byte was sent: the server may still store the upload."""


def zip_room(item: PlanItem) -> int:
    """Disk space a subject's zip may need: at most its files plus headers (stored .mgz,
    deflated text)."""
    size = item.subject.bytes or 0
    return size + size // 20 + ZIP_SLACK


class _Upload(threading.Thread):
    """`client.upload_zip` in a helper thread.

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


class _ZipAhead(threading.Thread):
    """`archive.zip_subject` of a subject ahead of its turn. `stop` aborts it (the zip is then
    deleted by zip_subject)."""

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


class Transfers:
    """The zips and uploads of one run (see the module docstring); `close()` ends them."""

    def __init__(
        self, client: XnatClient, project: str, workdir: Path, cancel: threading.Event
    ) -> None:
        self.client = client
        self.project = project
        self.workdir = workdir
        self.cancel = cancel
        self._ahead: _ZipAhead | None = None

    def close(self) -> None:
        self.drop_ahead()

    # --- zips -----------------------------------------------------------------------------

    def zip_path(self, index: int) -> Path:
        """By position in the plan: labels that differ only in case would be one file on a
        case-insensitive disk (macOS, Windows)."""
        return self.workdir / f"{index:05d}.zip"

    @property
    def zipping_ahead(self) -> bool:
        return self._ahead is not None

    def zip_ahead(self, item: PlanItem, index: int) -> None:
        """Start zipping `item` on a helper thread (at most one at a time)."""
        if self._ahead is None:
            self._ahead = _ZipAhead(item, self.zip_path(index))
            self._ahead.start()

    def drop_ahead(self, item: PlanItem | None = None) -> None:
        """Discard the zip made ahead (only if it is `item`'s, when given)."""
        if self._ahead is not None and (item is None or self._ahead.item is item):
            self._ahead.abandon()
            self._ahead = None

    def zip(self, item: PlanItem, index: int) -> Generator[Progress, None, archive.ArchiveResult]:
        """The subject's zip: the one the helper thread made (or is making), else made now."""
        ahead, self._ahead = self._ahead, None
        zip_path = self.zip_path(index)
        if ahead is None or ahead.item is not item:
            if ahead is not None:
                ahead.abandon()
            return (yield from self._zip_now(item, zip_path))
        try:
            while ahead.is_alive() or not ahead.events.empty():
                ahead.join(POLL_S)
                if self.cancel.is_set():
                    raise Cancelled()
                latest = None
                while not ahead.events.empty():
                    latest = ahead.events.get_nowait()
                if latest is not None:
                    yield dataclasses.replace(latest, item=item.subject.name)
        except BaseException:
            ahead.abandon()
            raise
        if ahead.error is not None:
            raise ahead.error
        assert ahead.result is not None
        if _changed_since(item, ahead.result, ahead.started):
            log.info("%s changed after it was zipped ahead: zipping it again", item.subject.name)
            return (yield from self._zip_now(item, zip_path))
        return ahead.result

    def _zip_now(
        self, item: PlanItem, zip_path: Path
    ) -> Generator[Progress, None, archive.ArchiveResult]:
        archive.free_space_for(self.workdir, zip_room(item))
        zipping = archive.zip_subject(
            item.subject.path, zip_path, self.cancel, total_hint=item.subject.bytes
        )
        return (yield from relay(zipping, item.subject.name))

    # --- uploads --------------------------------------------------------------------------

    def send(self, item: PlanItem, zip_path: Path) -> Generator[Sent, None, int]:
        """Upload the zip into the item's resource; a `Sent` every POLL_S; returns the bytes
        sent. Raises what the
        upload raised, `Cancelled`, or `CancelledWhileProcessing` when every byte was sent and
        the server did not answer within CANCEL_GRACE_S of the cancel."""
        upload = _Upload(self.client, self.project, item, zip_path)
        sent, total = 0, zip_path.stat().st_size
        last_byte: float | None = None
        upload.start()
        try:
            while upload.is_alive():
                upload.join(POLL_S)
                if self.cancel.is_set():
                    upload.stop.set()
                    upload.join(CANCEL_GRACE_S)
                    if upload.is_alive() and sent >= total:
                        raise CancelledWhileProcessing()
                    raise Cancelled()
                while not upload.sent.empty():
                    sent, total = upload.sent.get_nowait()
                if sent < total:
                    yield Sent(sent, total)
                elif upload.is_alive():
                    if last_byte is None:
                        last_byte = time.monotonic()
                    yield Sent(sent, total, time.monotonic() - last_byte)
        finally:
            upload.stop.set()
        if upload.error is not None:
            raise upload.error
        return sent


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
