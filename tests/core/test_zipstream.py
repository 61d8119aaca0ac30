"""The zip made while it is sent: the same bytes as the stored zip on disk, readable entry by
entry as Java's ZipInputStream reads it (CRC and sizes in each local header), never anything
but what its manifest describes, sent while its files are still being read for their CRCs,
and read for their MD5s once it was sent."""

from __future__ import annotations

import struct
import threading
import zipfile
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fsxnat_gui.core import archive, zipstream
from fsxnat_gui.core.errors import ArchiveError, Cancelled
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


def prepared(subject: Path) -> zipstream.StoredZip | None:
    """The subject's stored zip with its CRC and MD5 passes done."""
    stored = zipstream.describe(subject)
    if stored is not None:
        drain(stored.crc_pass(threading.Event()))
        stored.md5_pass(threading.Event())
    return stored


@pytest.mark.parametrize("small_file", [zipstream.SMALL_FILE, 0])
def test_same_bytes_as_the_stored_zip_on_disk(
    subject: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_file: int
) -> None:
    """Small files get their MD5 in the CRC pass, others in the MD5 pass: the same manifest."""
    monkeypatch.setattr(zipstream, "SMALL_FILE", small_file)
    disk = drain(archive.zip_subject(subject, tmp_path / "d.zip", threading.Event(), deflate=False))
    stored = prepared(subject)
    assert stored is not None
    assert stored.manifest(threading.Event()) == disk.manifest
    assert stored.size == disk.zip_bytes
    reader = stored.open(threading.Event())
    first = read_all(reader, 16_384)
    assert first == (tmp_path / "d.zip").read_bytes()
    reader.seek(0)  # a request sent again starts from the first byte
    assert read_all(reader, 1_000_003) == first


def test_every_stored_entry_is_readable_front_to_back(subject: Path) -> None:
    """As ZipInputStream reads: local header, then exactly `size` bytes, with the CRC and the
    sizes in the header (no data descriptor)."""
    stored = prepared(subject)
    assert stored is not None
    data = read_all(stored.open(threading.Event()), 65_536)
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
    assert names == [m.path for m in stored.manifest(threading.Event())]


def test_a_file_changed_after_reading_stops_the_stream(subject: Path) -> None:
    stored = prepared(subject)
    assert stored is not None
    stats = subject / "stats" / "aseg.stats"
    data = stats.read_bytes()
    stats.write_bytes(data[:-2] + b"X\n")  # same size: its modification time tells
    with pytest.raises(ArchiveError, match=r"sub-01/stats/aseg\.stats changed"):
        read_all(stored.open(threading.Event()), 65_536)


def test_a_zip_that_needs_zip64_is_not_streamed(
    subject: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zipstream, "_LIMIT", 1_000_000)  # as if the subject were 4 GiB
    assert prepared(subject) is None


def test_the_size_is_known_before_any_file_is_read(subject: Path, tmp_path: Path) -> None:
    """The Content-Length comes from the walk alone: names and sizes."""
    disk = drain(archive.zip_subject(subject, tmp_path / "d.zip", threading.Event(), deflate=False))
    stored = zipstream.describe(subject)
    assert stored is not None
    assert stored.size == disk.zip_bytes
    assert (stored.files, stored.nbytes) == (len(disk.manifest), sum(m.size for m in disk.manifest))


def test_the_first_entries_go_while_the_rest_is_read(
    subject: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader sends each entry once its CRC is known: the first bytes leave before the CRC
    pass has read the whole subject (entries handed over one by one here; by 8 MiB batches
    in a run)."""
    monkeypatch.setattr(zipstream, "PUBLISH_BYTES", 1)
    stored = zipstream.describe(subject)
    assert stored is not None
    hashing = stored.crc_pass(threading.Event())
    reader = stored.open(threading.Event())
    got = threading.Event()
    first: list[bytes] = []

    def read_first() -> None:
        first.append(reader.read(16_384))
        got.set()

    thread = threading.Thread(target=read_first, daemon=True)
    thread.start()
    assert not got.wait(0.3), "nothing can be sent before the first file's CRC is known"
    while not got.is_set():  # read file by file until the reader has its first bytes
        next(hashing)
    thread.join(5)
    assert first[0].startswith(b"PK\x03\x04")
    drain(hashing)
    manifest = stored.md5_pass(threading.Event())
    assert manifest == stored.manifest(threading.Event())


def test_the_md5_pass_waits_until_the_zip_is_sent(subject: Path) -> None:
    """`sending()`, which the zipper waits on before the MD5 pass, returns once a reader is
    opened: a zip made ahead of its turn is not read again before it is sent (the uploads
    before it get the CPU); asking for the manifest lets the pass start at once."""
    stored = zipstream.describe(subject)
    assert stored is not None
    drain(stored.crc_pass(threading.Event()))
    waiting = threading.Thread(target=stored.sending, args=(threading.Event(),), daemon=True)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive(), "not sent yet"
    reader = stored.open(threading.Event())
    waiting.join(5)
    assert not waiting.is_alive()
    assert len(read_all(reader, 65_536)) == stored.size

    other = zipstream.describe(subject)
    assert other is not None
    drain(other.crc_pass(threading.Event()))
    asked = threading.Thread(target=other.manifest, args=(threading.Event(),), daemon=True)
    asked.start()
    other.sending(threading.Event())  # returns: the manifest was asked for
    other.md5_pass(threading.Event())
    asked.join(5)
    assert not asked.is_alive()


def test_a_file_changed_after_it_was_sent_is_not_in_the_manifest(
    subject: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MD5s describe the folder as it is: a file rewritten after its CRC was read (its
    modification time tells) fails the MD5 pass rather than describing other bytes. (A small
    file's MD5 comes from the CRC pass: the check after the upload sees its new time.)"""
    monkeypatch.setattr(zipstream, "SMALL_FILE", 0)
    stored = zipstream.describe(subject)
    assert stored is not None
    drain(stored.crc_pass(threading.Event()))
    read_all(stored.open(threading.Event()), 65_536)
    stats = subject / "stats" / "aseg.stats"
    stats.write_bytes(stats.read_bytes()[:-2] + b"X\n")
    with pytest.raises(ArchiveError, match=r"sub-01/stats/aseg\.stats changed"):
        stored.md5_pass(threading.Event())
    with pytest.raises(ArchiveError, match=r"sub-01/stats/aseg\.stats changed"):
        stored.manifest(threading.Event())


def test_a_cancel_stops_the_md5_pass_within_a_file(
    subject: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file (up to 2 GiB) is not read to its end once the import is cancelled."""
    monkeypatch.setattr(zipstream, "SMALL_FILE", 0)
    stored = zipstream.describe(subject)
    assert stored is not None
    drain(stored.crc_pass(threading.Event()))
    cancel = threading.Event()
    read: list[int] = []
    chunks = zipstream._chunks

    def cancelled_after_one(source: Any, local: Any) -> Iterator[bytes]:
        for chunk in chunks(source, local):
            read.append(len(chunk))
            cancel.set()
            yield chunk

    monkeypatch.setattr(zipstream, "_chunks", cancelled_after_one)
    with pytest.raises(Cancelled):
        stored.md5_pass(cancel)
    assert len(read) == 1
    with pytest.raises(Cancelled):
        stored.manifest(threading.Event())


def test_a_zipper_stopped_before_its_turn_fails_its_manifest(subject: Path) -> None:
    """Stopped while it waits for its upload, a zip tells whoever asks for its manifest."""
    stored = zipstream.describe(subject)
    assert stored is not None
    drain(stored.crc_pass(threading.Event()))
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        stored.sending(stop)
    with pytest.raises(Cancelled):
        stored.manifest(threading.Event())


def test_a_crc_pass_that_fails_stops_the_reader(subject: Path) -> None:
    stored = zipstream.describe(subject)
    assert stored is not None
    (subject / "stats" / "aseg.stats").unlink()  # gone after the walk
    with pytest.raises(ArchiveError, match=r"aseg\.stats changed or disappeared"):
        drain(stored.crc_pass(threading.Event()))
    with pytest.raises(ArchiveError, match=r"aseg\.stats changed or disappeared"):
        read_all(stored.open(threading.Event()), 65_536)
    with pytest.raises(ArchiveError, match=r"aseg\.stats changed or disappeared"):
        stored.manifest(threading.Event())


def test_a_cancelled_reader_stops_waiting_for_the_crc_pass(subject: Path) -> None:
    stored = zipstream.describe(subject)
    assert stored is not None
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        stored.open(cancel).read(16_384)


def test_small_pieces_are_joined_into_blocks(subject: Path) -> None:
    """Headers and small files go to the socket many at a time, not a write each."""
    stored = prepared(subject)
    assert stored is not None
    reader = stored.open(threading.Event())
    sizes = []
    while chunk := reader.read(archive.CHUNK_SIZE):
        sizes.append(len(chunk))
    assert sum(sizes) == stored.size
    assert all(n <= archive.CHUNK_SIZE for n in sizes)
    assert len(sizes) < stored.files / 2, "far fewer writes than files"
