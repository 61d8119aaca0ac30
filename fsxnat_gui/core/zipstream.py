"""A store-only zip made while it is sent: no zip on disk, no wait for a whole zip.

XNAT extracts uploads with Java's `ZipInputStream`, which cannot read a STORED entry whose CRC
and sizes come after its data (a data descriptor): they must be in the local header. So
`prepare()` reads every file once first (MD5 for the manifest and CRC-32 for the headers, the
cost of hashing, no writing), which also gives the exact size of the zip for the
Content-Length; `StoredZip.open()` then produces the zip's bytes while the upload reads them,
file by file, reading each file again and checking its size and CRC-32 against the first
read: a file that changed in between stops the upload (`ArchiveError`), so what is sent is
always what the manifest describes.

The files, their order, names, dates and mode are those of `archive.zip_subject` (the same
walk; a stored zip of it is byte for byte the same entries). Zips that would need ZIP64
(4 GiB, 65535 entries, a file over 2 GiB) are not streamed: `prepare()` returns None and the
caller writes the zip to disk as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from fsxnat_gui.core import archive
from fsxnat_gui.core.errors import Cancelled
from fsxnat_gui.core.model import LocalFile, ManifestEntry, Progress, Stage
from fsxnat_gui.core.progress import ByteMeter

log = logging.getLogger(__name__)

_LIMIT = 0xFFFFFFFF  # beyond it a zip needs ZIP64
_END = struct.Struct(zipfile.structEndArchive)
_CENTRAL = struct.Struct(zipfile.structCentralDir)


@dataclass(frozen=True)
class _Entry:
    local: LocalFile
    zinfo: zipfile.ZipInfo
    header: bytes  # the local header
    offset: int  # of the local header in the zip


class StoredZip:
    """A subject's store-only zip, described (`size`, `result`) before any byte of it exists;
    `open()` gives a reader of its bytes (each reader reads the files again)."""

    def __init__(self, entries: list[_Entry], result: archive.ArchiveResult) -> None:
        self._entries = entries
        self.result = result
        self._central = _central_directory(entries)
        self.size = result.zip_bytes

    def open(self) -> ZipReader:
        return ZipReader(self)

    def chunks(self) -> Iterator[bytes]:
        """The zip's bytes, in pieces of at most CHUNK_SIZE (plus headers)."""
        for entry in self._entries:
            yield entry.header
            yield from _file_chunks(entry)
        yield self._central


class ZipReader:
    """A file-like view of a `StoredZip` for an upload body: `read(size)`, and `seek(0)` to
    start again (a request sent again after a refused session cookie)."""

    def __init__(self, stored: StoredZip) -> None:
        self._stored = stored
        self._chunks = stored.chunks()
        self._buffer = memoryview(b"")

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise ValueError("a streamed zip can only start again from its first byte")
        self._chunks = self._stored.chunks()
        self._buffer = memoryview(b"")
        return 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join([bytes(self._buffer), *self._chunks])
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer = memoryview(chunk)
        piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return bytes(piece)

    def close(self) -> None:
        self._chunks = iter(())


def prepare(
    src: Path, cancel: threading.Event, *, total_hint: int | None = None
) -> Generator[Progress, None, StoredZip | None]:
    """Read the subject's files once (ZIPPING progress): the manifest and the CRC-32s; the
    stored zip to stream, or None when it would need ZIP64. Raises ArchiveError or Cancelled.
    """
    src = Path(src)
    name = archive.subject_name(src)
    files, warnings = archive.walk_subject(src)
    total = sum(f.size for f in files)
    if total_hint is not None and total_hint != total:
        warnings.append(
            f"the subject changed since it was scanned ({total_hint / 1e6:,.1f} MB then, "
            f"{total / 1e6:,.1f} MB now)"
        )
    headers = sum(30 + 46 + 2 * len(f.arcname.encode()) for f in files) + _END.size
    if (
        len(files) >= zipfile.ZIP_FILECOUNT_LIMIT
        or total + headers >= _LIMIT
        or any(f.size > zipfile.ZIP64_LIMIT for f in files)
    ):
        return None
    meter = ByteMeter(Stage.ZIPPING, name, total)
    yield meter.event()
    entries: list[_Entry] = []
    manifest: list[ManifestEntry] = []
    offset = 0
    for local in files:
        if cancel.is_set():
            raise Cancelled()
        md5 = hashlib.md5(usedforsecurity=False)
        crc = 0
        before = _stat(local)
        for chunk in _read(local):
            md5.update(chunk)
            crc = zlib.crc32(chunk, crc)
            if (event := meter.advance(len(chunk))) is not None:
                yield event
            if cancel.is_set():
                raise Cancelled()
        after = _stat(local)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise archive._changed(local.arcname)  # changed while it was read: never mixed
        zinfo = archive._zip_info(local, before.st_mtime, deflate=False)
        zinfo.CRC = crc
        zinfo.compress_size = local.size
        header = zinfo.FileHeader(zip64=False)
        entries.append(_Entry(local, zinfo, header, offset))
        manifest.append(
            ManifestEntry(local.arcname, local.size, md5.hexdigest(), before.st_mtime_ns)
        )
        offset += len(header) + local.size
    yield meter.event()
    size = offset + len(_central_directory(entries))
    log.info("ready to stream %s: %d files, %d bytes (zip %d bytes)", name, len(files), total, size)
    result = archive.ArchiveResult(Path(name + ".zip"), tuple(manifest), tuple(warnings), size)
    return StoredZip(entries, result)


def _stat(local: LocalFile) -> os.stat_result:
    try:
        return os.stat(local.path)
    except OSError as exc:
        raise archive._read_error(local.arcname, exc) from exc


def _read(local: LocalFile) -> Iterator[bytes]:
    """The file's chunks, checking it still has the size of the walk."""
    try:
        source = open(local.path, "rb", buffering=0)  # noqa: SIM115 - closed just below
    except FileNotFoundError as exc:
        raise archive._changed(local.arcname) from exc
    except OSError as exc:
        raise archive._read_error(local.arcname, exc) from exc
    with source:
        info = os.fstat(source.fileno())
        if info.st_size != local.size:
            raise archive._changed(local.arcname)
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
    """The entry's data read again, checked against the CRC-32 of the first read."""
    crc = 0
    for chunk in _read(entry.local):
        crc = zlib.crc32(chunk, crc)
        yield chunk
    if crc != entry.zinfo.CRC:
        raise archive._changed(entry.local.arcname)


def _central_directory(entries: list[_Entry]) -> bytes:
    """The central directory and the end record (no ZIP64: prepare() checked the sizes)."""
    records = []
    for e in entries:
        z = e.zinfo
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
    start = entries[-1].offset + len(entries[-1].header) + entries[-1].local.size if entries else 0
    end = _END.pack(
        zipfile.stringEndArchive, 0, 0, len(entries), len(entries), len(central), start, 0
    )
    return central + end
