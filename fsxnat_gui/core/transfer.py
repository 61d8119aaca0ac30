"""The transfer machinery of an import run: zips made on helper threads (one of them ahead of
its turn) and uploads sent (each on a helper thread), watched from the subject's thread.
Several subjects may be in flight at once (`run_import(parallel=N)`): one `Transfers` serves
them all, from their N threads, over the one client (one XNAT session, one connection pool).

`Transfers` is all the per-subject sequence (core/subject_import.py) knows of it:

- `zip(item, index)`: the subject's zip (`Zipped`), the one made ahead when there is one (and
  still valid: a subject modified since is zipped again), else started now. Deflated or stored
  as `compression.Compression` decides from the run's measurements. A stored zip is ready as
  soon as it is described (core/zipstream.py): the zipper's thread reads its files for their
  CRCs while the upload sends what is read, then for their MD5s once it is being sent (on a
  slow link during the upload, on a fast one while the server extracts it). A deflated one is
  ready once written (ZIPPING events).
- `zip_ahead(item, index)`: start zipping a subject ahead of its turn (one at a time, so at most
  N + 1 zips exist); `drop_ahead()` discards it.
- `send(item, zipped)`: the upload, as `Sent` looks at it (bytes sent, then the time the
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
from fsxnat_gui.core.errors import ArchiveError, Cancelled, NoSpace
from fsxnat_gui.core.model import ManifestEntry, PlanItem, Progress
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
_READY = "ready"  # the zipper's message: the zip can be sent


@dataclasses.dataclass(frozen=True)
class Zipped:
    """A subject's zip, ready to be sent: on disk (`result`), or streamed (`stored`: made
    while it is sent, its CRC and MD5 passes possibly still running; core/zipstream.py)."""

    path: Path
    files: int
    nbytes: int
    warnings: tuple[str, ...]
    result: archive.ArchiveResult | None = None
    stored: zipstream.StoredZip | None = None

    def manifest(self, cancel: threading.Event) -> tuple[ManifestEntry, ...]:
        """What the zip holds (paths, sizes, MD5s, the times the files were read); for a
        streamed zip, once its MD5 pass has ended (started when the zip is being sent)."""
        if self.stored is not None:
            return self.stored.manifest(cancel)
        assert self.result is not None
        return self.result.manifest


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
        zipped: Zipped,
        compression: Compression,
    ) -> None:
        super().__init__(name=f"fsxnat-upload-{item.subject.name}", daemon=True)
        self.stop = threading.Event()
        self.messages: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._args = (client, project, item)
        self._zipped = zipped
        self._compression = compression
        self._first: float | None = None
        self._reader: zipstream.ZipReader | None = None

    def _on_bytes(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._first is None or done == 0:
            self._first = now
        if done >= total:
            # the link's time: not the time the stream waited for the CRC pass
            waited = self._reader.waited if self._reader is not None else 0.0
            self._compression.sent(self._first, now - waited, total)
        self.messages.put((done, total))

    def run(self) -> None:
        client, project, item = self._args
        where = (project, item.owner, item.resource_label, self._zipped.path)
        stored = self._zipped.stored
        # the resource is new or empty: a duplicate is an error (overwrite=False)
        try:
            if stored is None:
                client.upload_zip(*where, cancel=self.stop, on_bytes=self._on_bytes)
            else:
                # the zip is made while it is read (ZipReader: read and seek(0) as a file)
                self._reader = stored.open(self.stop)
                body = cast(BinaryIO, self._reader)
                client.upload_body(
                    *where, body, stored.size, cancel=self.stop, on_bytes=self._on_bytes
                )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the subject's thread
            self.error = exc
        finally:
            if self._reader is not None:
                self._reader.close()  # the file it was reading, if it stopped in one
            self.messages.put(_END)


class _Zipper(threading.Thread):
    """One subject's zip, made on a helper thread: `events` gets its progress, then _READY
    once it can be sent, then _END. Stored, the zip is described from the walk and ready at
    once; its CRC pass goes on here while it is sent, then its MD5 pass once it is being sent
    (core/zipstream.py). Deflated (or too big to stream), it is written to `zip_path` first.
    `abandon()` stops it and deletes the zip on disk. `after`: zippers that go first; a stored
    zip made ahead is read once the zips being sent were (`read` is set when a zipper has
    read its files, or ended), so that their uploads get the CPU first. `done` is set when
    the zipper ends.
    """

    def __init__(
        self, item: PlanItem, zip_path: Path, deflate: bool, after: tuple[_Zipper, ...] = ()
    ) -> None:
        super().__init__(name=f"fsxnat-zip-{item.subject.name}", daemon=True)
        self.item = item
        self.zip_path = zip_path
        self.deflate = deflate
        self.after = after
        self.read = threading.Event()
        self.done = threading.Event()
        self.stop = threading.Event()
        self.started = time.time()  # files modified after this make a zip on disk stale
        self.events: queue.SimpleQueue[Progress | str | None] = queue.SimpleQueue()
        self.zipped: Zipped | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        subject = self.item.subject
        try:
            stored = None
            if not self.deflate:
                stored = zipstream.describe(subject.path, total_hint=subject.bytes)
            if stored is not None:
                self.zipped = Zipped(
                    self.zip_path, stored.files, stored.nbytes, stored.warnings, stored=stored
                )
                self.events.put(_READY)
                for other in self.after:
                    while not self.stop.is_set() and not other.read.wait(CANCEL_CHECK_S):
                        pass
                self.after = ()  # no chain of zippers (and their zips) kept alive
                for _event in stored.crc_pass(self.stop):  # shown as the upload's bytes
                    pass
                self.read.set()
                stored.sending(self.stop)
                stored.md5_pass(self.stop)
                return
            archive.free_space_for(self.zip_path.parent, zip_room(self.item))
            zipping = archive.zip_subject(
                subject.path,
                self.zip_path,
                self.stop,
                total_hint=subject.bytes,
                deflate=self.deflate,
            )
            while True:
                try:
                    self.events.put(next(zipping))
                except StopIteration as done:
                    result: archive.ArchiveResult = done.value
                    break
            files = len(result.manifest)
            nbytes = sum(m.size for m in result.manifest)
            self.zipped = Zipped(result.path, files, nbytes, result.warnings, result=result)
            self.events.put(_READY)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the subject's thread
            self.error = exc
        finally:
            self.read.set()
            self.done.set()
            self.events.put(_END)

    def abandon(self) -> None:
        self.stop.set()
        self.join()
        self.zip_path.unlink(missing_ok=True)


class Transfers:
    """The zips and uploads of one run (see the module docstring); `close()` ends them.
    Used from the threads of the subjects in flight: the zippers are guarded by a lock."""

    def __init__(
        self, client: XnatClient, project: str, workdir: Path, cancel: threading.Event
    ) -> None:
        self.client = client
        self.project = project
        self.workdir = workdir
        self.cancel = cancel
        self.compression = Compression()
        self._lock = threading.Lock()
        self._ahead: _Zipper | None = None
        self._zippers: dict[Path, _Zipper] = {}  # the zips of the subjects in flight

    def close(self) -> None:
        self.drop_ahead()
        with self._lock:
            zippers, self._zippers = list(self._zippers.values()), {}
        for zipper in zippers:
            zipper.abandon()

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
                first = () if deflate else tuple(self._zippers.values())
                self._ahead = _Zipper(item, self.zip_path(index), deflate, first)
                self._ahead.start()

    def drop_ahead(self, item: PlanItem | None = None) -> None:
        """Discard the zip made ahead (only if it is `item`'s, when given)."""
        with self._lock:
            ahead = self._ahead
            if ahead is None or (item is not None and ahead.item is not item):
                return
            self._ahead = None
        ahead.abandon()

    def zip(self, item: PlanItem, index: int) -> Generator[Progress, None, Zipped]:
        """The subject's zip, ready to send: the one started ahead (still valid: a subject
        modified since is zipped again), else one started now; ZIPPING events meanwhile."""
        with self._lock:
            ahead = self._ahead
            if ahead is not None and ahead.item is item:
                self._ahead = None
                self._zippers[ahead.zip_path] = ahead  # close() stops it from now on
            else:
                ahead = None
        if ahead is not None:
            try:
                zipped = yield from self._ready(ahead)
            except NoSpace:  # made ahead while another zip took the room: made now instead
                log.info("no room to zip %s ahead: zipping it now", item.subject.name)
            else:
                if _still_valid(item, zipped, ahead):
                    return zipped
                log.info("%s: its zip made ahead is stale: zipping it again", item.subject.name)
                self.discard(zipped.path)
        deflate = self.compression.deflate(item.subject.path)
        zipper = _Zipper(item, self.zip_path(index), deflate)
        with self._lock:
            self._zippers[zipper.zip_path] = zipper
        zipper.start()
        return (yield from self._ready(zipper))

    def _ready(self, zipper: _Zipper) -> Generator[Progress, None, Zipped]:
        """Relay the zipper's progress until its zip can be sent (the latest event only)."""
        try:
            message: Progress | str | Literal[False] | None = False
            while message is not _READY and message is not _END:
                message = self._next(zipper.events)
                shown = message
                while isinstance(message, Progress) and not zipper.events.empty():
                    message = zipper.events.get_nowait()  # only the latest is worth showing
                    shown = message if isinstance(message, Progress) else shown
                if isinstance(shown, Progress):
                    yield dataclasses.replace(shown, item=zipper.item.subject.name)
        except BaseException:
            self.discard(zipper.zip_path)
            raise
        if message is _END:
            self.discard(zipper.zip_path)
            assert zipper.error is not None, "a zipper ends before ready only on an error"
            raise zipper.error
        assert zipper.zipped is not None
        return zipper.zipped

    def discard(self, zip_path: Path) -> None:
        """The subject is done with its zip: stop its zipper, delete the zip on disk."""
        with self._lock:
            zipper = self._zippers.pop(zip_path, None)
        if zipper is not None:
            zipper.abandon()
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

    def send(self, item: PlanItem, zipped: Zipped) -> Generator[Sent, None, int]:
        """Upload the zip into the item's resource; a `Sent` as bytes go (and at least every
        CANCEL_CHECK_S while the server processes); returns the bytes sent. Raises what the
        upload raised, `Cancelled`, or `CancelledWhileProcessing` when every byte was sent and
        the server did not answer within CANCEL_GRACE_S of the cancel."""
        upload = _Upload(self.client, self.project, item, zipped, self.compression)
        stored = zipped.stored
        sent, total = 0, stored.size if stored is not None else zipped.path.stat().st_size
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


def _still_valid(item: PlanItem, zipped: Zipped, zipper: _Zipper) -> bool:
    """Whether a zip made ahead can still be sent: a streamed one whose passes have not
    failed (each file is checked again as it is sent); one on disk whose subject has the same
    files, none modified after the zip was started (a manual edit saved meanwhile)."""
    if zipped.result is None:
        return not (zipper.done.is_set() and zipper.error is not None)
    files, _warnings = archive.walk_subject(item.subject.path)
    manifest = zipped.result.manifest
    if {(f.arcname, f.size) for f in files} != {(m.path, m.size) for m in manifest}:
        return False
    since_ns = int(zipper.started * 1e9)
    return not any(f.mtime_ns >= since_ns for f in files)
