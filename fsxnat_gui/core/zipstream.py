"""A store-only zip made while it is sent: no zip on disk, no wait for a whole zip.

XNAT extracts uploads with Java's `ZipInputStream`, which cannot read a STORED entry whose CRC
and sizes come after its data (a data descriptor): they must be in the local header. The size
of a stored zip only depends on the names and sizes of its files, so `describe()` knows it (the
Content-Length) from the walk alone, before any file is read. Then:

- the CRC pass (`StoredZip.crc_pass()`, on the zipper's thread) reads each file for its CRC-32
  (its local header) and publishes it;
- a reader (`StoredZip.open()`, the upload body) sends each entry as soon as its CRC is known:
  its header, then the file read again, which must still have the size and modification time
  of the first read. A file that changed in between stops the upload (`FileChanged`); the
  server checks every entry's CRC-32 as it extracts. The first bytes leave after the first
  file's CRC, not the whole subject's, and the body goes at the speed of the CRC, not of the
  MD5 (a quarter of it). Small files (most files, few bytes) get their MD5 here too;
- the MD5 pass (`StoredZip.md5_pass()`, on the zipper's thread again) reads each other file a
  third time for the manifest, after the CRC pass, once the zip is being sent (`sending()`) or
  the manifest is asked for: on a slow link while the upload goes, on a fast one while the
  server extracts and digests it; never before the upload, and never in its way (a zip made
  ahead of its turn is not read for its MD5s while the others' uploads need the CPU). Each file
  must still have the size and modification time of the CRC pass; the MD5s are verified
  against the server's after the upload, so what the server keeps is what the manifest
  describes, and what the manifest describes is the folder.

The files, their order, names, dates and mode are those of `archive.zip_subject` (the same
walk; a stored zip of it is byte for byte the same entries). Zips that would need ZIP64
(4 GiB, 65535 entries, a file over 2 GiB) are not streamed: `describe()` returns None and the
caller writes the zip to disk as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import BinaryIO

from fsxnat_gui.core import archive
from fsxnat_gui.core.errors import Cancelled
from fsxnat_gui.core.model import LocalFile, ManifestEntry, Progress, Stage
from fsxnat_gui.core.progress import ByteMeter

log = logging.getLogger(__name__)

_LIMIT = 0xFFFFFFFF  # beyond it a zip needs ZIP64
_END = struct.Struct(zipfile.structEndArchive)
_CENTRAL = struct.Struct(zipfile.structCentralDir)
_LOCAL_FIXED = struct.calcsize(zipfile.structFileHeader)  # 30: the local header before the name
_CENTRAL_FIXED = _CENTRAL.size  # 46
_WAIT_S = 0.2  # how long a waiting thread goes without looking at its cancel event
# Entries whose CRC is known go to the readers in batches of at least this many bytes (the last
# batch aside): a few wake-ups a subject rather than one a file. The first bytes of a big
# subject leave after 8 MiB are read; a small subject is read whole first.
PUBLISH_BYTES = 8 * 1024 * 1024
# Files up to this size get their MD5 in the CRC pass too: opening them again would cost more
# than hashing them (most files of a subject, a small part of its bytes).
SMALL_FILE = 256 * 1024


class _Entry:
    """One file of the zip: where its local header starts; its header once its CRC is known."""

    __slots__ = ("header", "local", "md5", "mtime_ns", "offset", "zinfo")

    def __init__(self, local: LocalFile, offset: int) -> None:
        self.local = local
        self.offset = offset
        self.zinfo: zipfile.ZipInfo | None = None
        self.header = b""
        self.mtime_ns = 0  # the file's modification time in the CRC pass
        self.md5 = ""  # a small file's, from the CRC pass


class StoredZip:
    """A subject's store-only zip, described (`size`, `files`, `nbytes`, `warnings`) before
    any byte of it exists; see the module docstring. Thread-safe: one thread runs the CRC
    pass then the MD5 pass, readers on other threads wait for the entries they need."""

    def __init__(self, name: str, files: list[LocalFile], warnings: list[str]) -> None:
        self.name = name
        self.files = len(files)
        self.nbytes = sum(f.size for f in files)
        self.warnings = tuple(warnings)
        self._entries: list[_Entry] = []
        offset = 0
        for local in files:
            self._entries.append(_Entry(local, offset))
            offset += _LOCAL_FIXED + len(local.arcname.encode()) + local.size
        central = sum(_CENTRAL_FIXED + len(f.arcname.encode()) for f in files)
        self._central_offset = offset
        self.size = offset + central + _END.size
        self._ready = threading.Condition()
        self._known = 0  # entries whose CRC is known, in order
        self._wanted = False  # the zip is being sent, or the manifest was asked for
        self._error: BaseException | None = None  # why a pass stopped
        self._manifest: tuple[ManifestEntry, ...] | None = None
        self._central: bytes | None = None

    def crc_pass(self, cancel: threading.Event) -> Generator[Progress, None, None]:
        """Each file read once for its CRC-32 and local header (ZIPPING progress), published
        in batches. Raises FileChanged, ArchiveError or Cancelled, which the readers and
        `manifest()` raise too."""
        meter = ByteMeter(Stage.ZIPPING, self.name, self.nbytes)
        with self._failing():
            yield meter.event()
            unpublished = 0  # bytes read since the readers were last told
            for count, entry in enumerate(self._entries, start=1):
                yield from _crc_entry(entry, cancel, meter)
                unpublished += entry.local.size
                if unpublished >= PUBLISH_BYTES or count == len(self._entries):
                    unpublished = 0
                    with self._ready:
                        self._known = count
                        self._ready.notify_all()
            yield meter.event()

    def sending(self, cancel: threading.Event) -> None:
        """Until the zip is being sent (a reader was opened), or the manifest asked for.
        Raises Cancelled, which `manifest()` raises too."""
        with self._failing(), self._ready:
            while not self._wanted:
                self._check(cancel)
                self._ready.wait(_WAIT_S)

    def md5_pass(self, cancel: threading.Event) -> tuple[ManifestEntry, ...]:
        """Each file read again for its MD5, after the CRC pass: the manifest. Raises
        FileChanged (a file changed since the CRC pass), ArchiveError or Cancelled, which
        `manifest()` raises too."""
        with self._failing():
            manifest = tuple(_md5_entry(entry, cancel) for entry in self._entries)
        log.info("hashed %s: %d files, %d bytes", self.name, self.files, self.nbytes)
        with self._ready:
            self._manifest = manifest
            self._ready.notify_all()
        return manifest

    def manifest(self, cancel: threading.Event) -> tuple[ManifestEntry, ...]:
        """The manifest, once the MD5 pass has ended (asking for it starts the pass if the
        zip is not being sent yet)."""
        self._want()
        with self._ready:
            while self._manifest is None:
                self._check(cancel)
                self._ready.wait(_WAIT_S)
            return self._manifest

    def open(self, cancel: threading.Event) -> ZipReader:
        """A reader of the zip's bytes (the MD5 pass may start once the CRC pass has ended);
        `cancel` stops one waiting for the CRC pass."""
        self._want()
        return ZipReader(self, cancel)

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """A pass that stops tells the threads waiting for it why."""
        try:
            yield
        except BaseException as exc:
            with self._ready:
                self._error = Cancelled() if isinstance(exc, GeneratorExit) else exc
                self._ready.notify_all()
            raise

    def _want(self) -> None:
        with self._ready:
            self._wanted = True
            self._ready.notify_all()

    def _wait(self, count: int, cancel: threading.Event) -> float:
        """Until `count` entries have their CRC; the seconds waited."""
        if self._known >= count:
            return 0.0
        started = time.monotonic()
        with self._ready:
            while self._known < count:
                self._check(cancel)
                self._ready.wait(_WAIT_S)
        return time.monotonic() - started

    def _check(self, cancel: threading.Event) -> None:
        if self._error is not None:
            # raised in several threads: each time from here, not after the others' frames
            raise self._error.with_traceback(None)
        if cancel.is_set():
            raise Cancelled()

    def _central_directory(self) -> bytes:
        if self._central is None:
            self._central = _central_directory(self._entries, self._central_offset)
        return self._central


class ZipReader:
    """A file-like view of a `StoredZip` for an upload body: `read(size)`, `seek(0)` to start
    again (a request sent again after a refused session cookie), `close()`. `waited`: the
    seconds it spent waiting for the CRC pass (not the link's time)."""

    def __init__(self, stored: StoredZip, cancel: threading.Event) -> None:
        self._stored = stored
        self._cancel = cancel
        self._chunks = self._pieces()
        self._buffer = b""
        self._pos = 0
        self.waited = 0.0

    def _pieces(self) -> Generator[bytes, None, None]:
        """The zip's bytes: each entry once its CRC is known, its file in pieces of
        CHUNK_SIZE."""
        stored = self._stored
        for count, entry in enumerate(stored._entries, start=1):
            self.waited += stored._wait(count, self._cancel)
            yield entry.header
            yield from _file_chunks(entry)
        yield stored._central_directory()

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise ValueError("a streamed zip can only start again from its first byte")
        self._chunks.close()
        self._chunks = self._pieces()
        self._buffer, self._pos = b"", 0
        return 0

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes. Pieces are never copied to be split when they fit: small
        ones (headers, small files) are joined while the next one fits, so each socket write
        carries many of them; a file's CHUNK_SIZE pieces go as they were read."""
        if size is None or size < 0:
            return b"".join([self._buffer[self._pos :], *self._chunks])
        pieces: list[bytes] = []
        taken = 0
        while taken < size:
            if self._pos >= len(self._buffer):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buffer, self._pos = chunk, 0
            rest = len(self._buffer) - self._pos
            if taken and taken + rest > size:
                break  # sent whole by the next read
            take = min(rest, size - taken)
            whole = self._pos == 0 and take == len(self._buffer)
            pieces.append(self._buffer if whole else self._buffer[self._pos : self._pos + take])
            self._pos += take
            taken += take
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        """Stop reading (the file being read is closed)."""
        self._chunks.close()
        self._buffer, self._pos = b"", 0


def describe(src: Path, *, total_hint: int | None = None) -> StoredZip | None:
    """The subject's stored zip as the walk finds it (nothing read yet), or None when it would
    need ZIP64. Raises ArchiveError."""
    src = Path(src)
    name = archive.subject_name(src)
    files, warnings = archive.walk_subject(src)
    total = sum(f.size for f in files)
    if total_hint is not None and total_hint != total:
        warnings.append(
            f"the subject changed since it was scanned ({total_hint / 1e6:,.1f} MB then, "
            f"{total / 1e6:,.1f} MB now)"
        )
    if len(files) >= zipfile.ZIP_FILECOUNT_LIMIT or any(
        f.size > zipfile.ZIP64_LIMIT for f in files
    ):
        return None
    stored = StoredZip(name, files, warnings)
    if stored.size >= _LIMIT:
        return None
    log.info(
        "ready to stream %s: %d files, %d bytes (zip %d bytes)",
        name,
        len(files),
        total,
        stored.size,
    )
    return stored


def _crc_entry(
    entry: _Entry, cancel: threading.Event, meter: ByteMeter
) -> Generator[Progress, None, None]:
    """Read one file: its CRC-32 and local header (a small file's MD5 too); unchanged while it
    was read."""
    local = entry.local
    if cancel.is_set():
        raise Cancelled()
    crc = 0
    md5 = hashlib.md5(usedforsecurity=False) if local.size <= SMALL_FILE else None
    source, before = _open(local)
    with source:
        for chunk in _chunks(source, local):
            crc = zlib.crc32(chunk, crc)
            if md5 is not None:
                md5.update(chunk)
            if (event := meter.advance(len(chunk))) is not None:
                yield event
            if cancel.is_set():
                raise Cancelled()
        after = os.fstat(source.fileno())
    if after.st_mtime_ns != before.st_mtime_ns:
        raise archive._changed(local.arcname)  # changed while it was read: never mixed
    zinfo = archive._zip_info(local, before.st_mtime, deflate=False)
    zinfo.CRC = crc
    zinfo.compress_size = local.size
    entry.zinfo, entry.header = zinfo, zinfo.FileHeader(zip64=False)
    entry.mtime_ns = before.st_mtime_ns
    entry.md5 = md5.hexdigest() if md5 is not None else ""


def _md5_entry(entry: _Entry, cancel: threading.Event) -> ManifestEntry:
    """Read one file again: its MD5 (a small file's is known); as the CRC pass found it (size,
    modification time)."""
    if entry.md5:
        return ManifestEntry(entry.local.arcname, entry.local.size, entry.md5, entry.mtime_ns)
    if cancel.is_set():
        raise Cancelled()
    md5 = hashlib.md5(usedforsecurity=False)
    for chunk in _file_chunks(entry):
        md5.update(chunk)
        if cancel.is_set():
            raise Cancelled()
    return ManifestEntry(entry.local.arcname, entry.local.size, md5.hexdigest(), entry.mtime_ns)


def _open(local: LocalFile) -> tuple[BinaryIO, os.stat_result]:
    """The file, unbuffered, and its status; it must still have the size of the walk."""
    try:
        source = open(local.path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
    except FileNotFoundError as exc:  # gone since the walk
        raise archive._changed(local.arcname) from exc
    except OSError as exc:
        raise archive._read_error(local.arcname, exc) from exc
    info = os.fstat(source.fileno())
    if info.st_size != local.size:
        source.close()
        raise archive._changed(local.arcname)
    return source, info


def _chunks(source: BinaryIO, local: LocalFile) -> Iterator[bytes]:
    """The open file's chunks, exactly the size of the walk."""
    size = 0
    while True:
        try:
            chunk = source.read(archive.CHUNK_SIZE)
        except OSError as exc:
            raise archive._read_error(local.arcname, exc) from exc
        if not chunk:
            break
        size += len(chunk)
        if size > local.size:
            raise archive._changed(local.arcname)
        yield chunk
    if size != local.size:
        raise archive._changed(local.arcname)


def _file_chunks(entry: _Entry) -> Iterator[bytes]:
    """The entry's data read again (sent, or for its MD5): the file must still be as the CRC
    pass read it (size and modification time, checked after it was read). A rewrite that kept
    both is left to the server, which checks each entry's CRC-32 as it extracts (Java's
    ZipInputStream), and to the MD5s, read from the folder again and verified against the
    server's."""
    source, before = _open(entry.local)
    with source:
        yield from _chunks(source, entry.local)
        after = os.fstat(source.fileno())
    if (before.st_mtime_ns, after.st_mtime_ns) != (entry.mtime_ns, entry.mtime_ns):
        raise archive._changed(entry.local.arcname)


def _central_directory(entries: list[_Entry], start: int) -> bytes:
    """The central directory and the end record (no ZIP64: describe() checked the sizes)."""
    records = []
    for e in entries:
        z = e.zinfo
        assert z is not None, "every entry has its CRC before the central directory"
        dt = z.date_time
        dosdate = (dt[0] - 1980) << 9 | dt[1] << 5 | dt[2]
        dostime = dt[3] << 11 | dt[4] << 5 | (dt[5] // 2)
        filename, flags = z._encodeFilenameFlags()
        records.append(
            _CENTRAL.pack(
                zipfile.stringCentralDir,
                z.create_version,
                z.create_system,
                z.extract_version,
                z.reserved,
                flags,
                z.compress_type,
                dostime,
                dosdate,
                z.CRC,
                z.compress_size,
                z.file_size,
                len(filename),
                0,  # extra
                0,  # comment
                0,  # disk number
                z.internal_attr,
                z.external_attr,
                e.offset,
            )
            + filename
        )
    central = b"".join(records)
    end = _END.pack(
        zipfile.stringEndArchive, 0, 0, len(entries), len(entries), len(central), start, 0
    )
    return central + end
