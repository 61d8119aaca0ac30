"""The transfer machinery of an import run: zips made (one of them ahead of its turn, on a
helper thread) and uploads sent (each on a helper thread), watched from the subject's thread.
Several subjects may be in flight at once (`run_import(parallel=N)`): one `Transfers` serves
them all, from their N threads, over the one client (one XNAT session, one connection pool).

`Transfers` is all the per-subject sequence (core/subject_import.py) knows of it:

- `zip(item, index)`: the subject's zip, the one made ahead when there is one (and still valid:
  a subject modified since is zipped again), else made now; ZIPPING events. Deflated or stored
  as `compression.Compression` decides from the run's measurements.
- `zip_ahead(item, index)`: start zipping a subject ahead of its turn (one at a time, so at most
  N + 1 zips exist); `drop_ahead()` discards it.
- `send(item, zip_path)`: the upload, as `Sent` looks at it (bytes sent, then the time the
  server has been processing); cancelling stops it within CANCEL_CHECK_S and one block.

Nothing polls: the waiting thread wakes when the helper thread reports (bytes, the end of the
zip or of the upload); its timeout only bounds how soon a cancel is seen.

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
from typing import BinaryIO, Literal, TypeVar, cast

from fsxnat_gui.core import archive, zipstream
from fsxnat_gui.core.compression import Compression
from fsxnat_gui.core.errors import ArchiveError, Cancelled
from fsxnat_gui.core.model import PlanItem, Progress
from fsxnat_gui.core.progress import relay
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)
_T = TypeVar("_T")

CANCEL_CHECK_S = 0.2  # the longest a waiting thread goes without looking at the cancel flag
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
    """Disk space a subject's zip may need (`archive.zip_estimate`: stored files by size,
    deflated ones by the blocks they occupy), or its files plus 5 % if it cannot be read now."""
    try:
        return archive.zip_estimate(item.subject.path) + ZIP_SLACK
    except ArchiveError:
        size = item.subject.bytes or 0
        return size + size // 20 + ZIP_SLACK


_END = None  # a helper thread's last message


def _make_zip(
    item: PlanItem, zip_path: Path, cancel: threading.Event, deflate: bool
) -> Generator[Progress, None, tuple[archive.ArchiveResult, zipstream.StoredZip | None]]:
    """The subject's zip: stored, it is only described now and made while it is sent
    (core/zipstream.py); deflated (or too big to stream), it is written to `zip_path`."""
    subject = item.subject
    if not deflate:
        stored = yield from zipstream.prepare(subject.path, cancel, total_hint=subject.bytes)
        if stored is not None:
            return dataclasses.replace(stored.result, path=zip_path), stored
    archive.free_space_for(zip_path.parent, zip_room(item))
    zipping = archive.zip_subject(
        subject.path, zip_path, cancel, total_hint=subject.bytes, deflate=deflate
    )
    return (yield from zipping), None


class _Upload(threading.Thread):
    """`client.upload_zip` in a helper thread; `messages` gets `(sent, total)` as bytes go,
    then _END.

    The client is shared with the other subjects' threads (one session, a pool of connections;
    requests' connection pool and cookie jar are thread-safe); while this upload is in flight
    its own subject's thread only uses the client for the best-effort delete after a cancel
    during server processing (the upload is then only waiting).
    """

    def __init__(
        self,
        client: XnatClient,
        project: str,
        item: PlanItem,
        zip_path: Path,
        compression: Compression,
        stored: zipstream.StoredZip | None,
    ) -> None:
        super().__init__(name=f"fsxnat-upload-{item.subject.name}", daemon=True)
        self.stop = threading.Event()
        self.messages: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._args = (client, project, item, zip_path)
        self._compression = compression
        self._stored = stored
        self._first: float | None = None

    def _on_bytes(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._first is None or done == 0:
            self._first = now
        if done >= total:
            self._compression.sent(self._first, now, total)
        self.messages.put((done, total))

    def run(self) -> None:
        client, project, item, zip_path = self._args
        where = (project, item.owner, item.resource_label, zip_path)
        # the resource is new or empty: a duplicate is an error (overwrite=False)
        try:
            if self._stored is None:
                client.upload_zip(*where, cancel=self.stop, on_bytes=self._on_bytes)
            else:
                # the zip is made while it is read (ZipReader: read and seek(0) as a file)
                reader = cast(BinaryIO, self._stored.open())
                size = self._stored.size
                client.upload_body(*where, reader, size, cancel=self.stop, on_bytes=self._on_bytes)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the subject's thread
            self.error = exc
        finally:
            self.messages.put(_END)


class _ZipAhead(threading.Thread):
    """`_make_zip` of a subject ahead of its turn; `events` gets its progress, then _END.
    `stop` aborts it (a zip on disk is then deleted by zip_subject)."""

    def __init__(self, item: PlanItem, zip_path: Path, deflate: bool) -> None:
        super().__init__(name=f"fsxnat-zip-{item.subject.name}", daemon=True)
        self.item = item
        self.zip_path = zip_path
        self.deflate = deflate
        self.stop = threading.Event()
        self.started = time.time()  # files modified after this make the zip stale
        self.events: queue.SimpleQueue[Progress | None] = queue.SimpleQueue()
        self.result: archive.ArchiveResult | None = None
        self.stored: zipstream.StoredZip | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        steps = _make_zip(self.item, self.zip_path, self.stop, self.deflate)
        try:
            while True:
                self.events.put(next(steps))
        except StopIteration as done:
            self.result, self.stored = done.value
        except BaseException as exc:  # noqa: BLE001 - re-raised in the subject's thread
            self.error = exc
        finally:
            self.events.put(_END)

    def abandon(self) -> None:
        self.stop.set()
        self.join()
        self.zip_path.unlink(missing_ok=True)


class Transfers:
    """The zips and uploads of one run (see the module docstring); `close()` ends them.
    Used from the threads of the subjects in flight: the zip made ahead is guarded by a lock."""

    def __init__(
        self, client: XnatClient, project: str, workdir: Path, cancel: threading.Event
    ) -> None:
        self.client = client
        self.project = project
        self.workdir = workdir
        self.cancel = cancel
        self.compression = Compression()
        self._lock = threading.Lock()
        self._ahead: _ZipAhead | None = None
        self._streams: dict[Path, zipstream.StoredZip] = {}  # zips sent as they are made

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
        with self._lock:
            if self._ahead is None:
                deflate = self.compression.deflate(item.subject.path)
                self._ahead = _ZipAhead(item, self.zip_path(index), deflate)
                self._ahead.start()

    def drop_ahead(self, item: PlanItem | None = None) -> None:
        """Discard the zip made ahead (only if it is `item`'s, when given)."""
        with self._lock:
            ahead = self._ahead
            if ahead is None or (item is not None and ahead.item is not item):
                return
            self._ahead = None
        ahead.abandon()

    def zip(self, item: PlanItem, index: int) -> Generator[Progress, None, archive.ArchiveResult]:
        """The subject's zip: the one the helper thread made (or is making), else made now."""
        with self._lock:
            ahead = self._ahead
            if ahead is not None and ahead.item is item:
                self._ahead = None
            else:
                ahead = None
        zip_path = self.zip_path(index)
        if ahead is None:
            return (yield from self._zip_now(item, zip_path))
        try:
            latest: Progress | Literal[False] | None = False
            while latest is not _END:
                latest = self._next(ahead.events)
                shown = latest
                while latest is not _END and not ahead.events.empty():
                    latest = ahead.events.get_nowait()  # only the latest is worth showing
                    shown = latest or shown
                if shown:
                    yield dataclasses.replace(shown, item=item.subject.name)
        except BaseException:
            ahead.abandon()
            raise
        ahead.join()
        if ahead.error is not None:
            raise ahead.error
        assert ahead.result is not None
        if _changed_since(item, ahead.result, ahead.started):
            log.info("%s changed after it was zipped ahead: zipping it again", item.subject.name)
            return (yield from self._zip_now(item, zip_path))
        self._keep(zip_path, ahead.stored)
        return ahead.result

    def _zip_now(
        self, item: PlanItem, zip_path: Path
    ) -> Generator[Progress, None, archive.ArchiveResult]:
        deflate = self.compression.deflate(item.subject.path)
        zipping = _make_zip(item, zip_path, self.cancel, deflate)
        result, stored = yield from relay(zipping, item.subject.name)
        self._keep(zip_path, stored)
        return result

    def _keep(self, zip_path: Path, stored: zipstream.StoredZip | None) -> None:
        if stored is not None:
            with self._lock:
                self._streams[zip_path] = stored

    def discard(self, zip_path: Path) -> None:
        """The subject is done with its zip: delete it (or forget the streamed one)."""
        with self._lock:
            self._streams.pop(zip_path, None)
        zip_path.unlink(missing_ok=True)

    def _next(self, messages: queue.SimpleQueue[_T]) -> _T | Literal[False]:
        """The helper thread's next message; False when none came within CANCEL_CHECK_S.
        Raises Cancelled once the run is cancelled."""
        if self.cancel.is_set():
            raise Cancelled()
        try:
            return messages.get(timeout=CANCEL_CHECK_S)
        except queue.Empty:
            return False

    # --- uploads --------------------------------------------------------------------------

    def send(self, item: PlanItem, zip_path: Path) -> Generator[Sent, None, int]:
        """Upload the zip into the item's resource; a `Sent` as bytes go (and at least every
        CANCEL_CHECK_S while the server processes); returns the bytes sent. Raises what the
        upload raised, `Cancelled`, or `CancelledWhileProcessing` when every byte was sent and
        the server did not answer within CANCEL_GRACE_S of the cancel."""
        stored = self._streams.get(zip_path)
        upload = _Upload(self.client, self.project, item, zip_path, self.compression, stored)
        sent, total = 0, stored.size if stored is not None else zip_path.stat().st_size
        last_byte: float | None = None
        upload.start()
        try:
            while True:
                try:
                    message = self._next(upload.messages)
                except Cancelled:
                    upload.stop.set()
                    upload.join(CANCEL_GRACE_S)
                    while not upload.messages.empty():
                        message = upload.messages.get_nowait()
                        sent, total = message or (sent, total)
                    if upload.is_alive() and sent >= total:
                        raise CancelledWhileProcessing() from None
                    raise
                if message is _END:
                    break
                if message:
                    sent, total = message
                if sent < total:
                    yield Sent(sent, total)
                else:
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
