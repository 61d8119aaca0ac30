"""The zip made while it is sent: the same bytes as the stored zip on disk, readable entry by
entry as Java's ZipInputStream reads it (CRC and sizes in each local header), and never
anything but what its manifest describes."""

from __future__ import annotations

import struct
import threading
import zipfile
import zlib
from collections.abc import Generator
from pathlib import Path
from typing import TypeVar

import pytest

from fsxnat_gui.core import archive, zipstream
from fsxnat_gui.core.errors import ArchiveError
from fsxnat_gui.samples import make_subject

R = TypeVar("R")


def drain(steps: Generator[object, None, R]) -> R:
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def read_all(reader: zipstream.ZipReader, size: int) -> bytes:
    out = bytearray()
    while chunk := reader.read(size):
        out += chunk
    return bytes(out)


@pytest.fixture
def subject(tmp_path: Path) -> Path:
    return make_subject(tmp_path, "sub-01")


def test_same_bytes_as_the_stored_zip_on_disk(subject: Path, tmp_path: Path) -> None:
    disk = drain(archive.zip_subject(subject, tmp_path / "d.zip", threading.Event(), deflate=False))
    stored = drain(zipstream.prepare(subject, threading.Event()))
    assert stored is not None
    assert stored.result.manifest == disk.manifest
    assert stored.size == disk.zip_bytes
    reader = stored.open()
    first = read_all(reader, 16_384)
    assert first == (tmp_path / "d.zip").read_bytes()
    reader.seek(0)  # a request sent again starts from the first byte
    assert read_all(reader, 1_000_003) == first


def test_every_stored_entry_is_readable_front_to_back(subject: Path) -> None:
    """As ZipInputStream reads: local header, then exactly `size` bytes, with the CRC and the
    sizes in the header (no data descriptor)."""
    stored = drain(zipstream.prepare(subject, threading.Event()))
    assert stored is not None
    data = read_all(stored.open(), 65_536)
    pos, names = 0, []
    while data[pos : pos + 4] == b"PK\x03\x04":
        flags, method, _t, _d, crc, csize, size, nlen, xlen = struct.unpack(
            "<HHHHIIIHH", data[pos + 6 : pos + 30]
        )
        assert not flags & 0x08, "no data descriptor"
        assert method == zipfile.ZIP_STORED
        assert csize == size
        start = pos + 30 + nlen + xlen
        assert zlib.crc32(data[start : start + size]) == crc
        names.append(data[pos + 30 : pos + 30 + nlen].decode())
        pos = start + size
    assert data[pos : pos + 4] == b"PK\x01\x02", "then the central directory"
    assert names == [m.path for m in stored.result.manifest]


def test_a_file_changed_after_reading_stops_the_stream(subject: Path) -> None:
    stored = drain(zipstream.prepare(subject, threading.Event()))
    assert stored is not None
    stats = subject / "stats" / "aseg.stats"
    data = stats.read_bytes()
    stats.write_bytes(data[:-2] + b"X\n")  # same size: only the CRC tells
    with pytest.raises(ArchiveError, match=r"sub-01/stats/aseg\.stats changed"):
        read_all(stored.open(), 65_536)


def test_a_zip_that_needs_zip64_is_not_streamed(
    subject: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zipstream, "_LIMIT", 1_000_000)  # as if the subject were 4 GiB
    assert drain(zipstream.prepare(subject, threading.Event())) is None
