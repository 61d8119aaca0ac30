"""Compression chosen by the link: stored until the link is measured, deflated only while the
upload is slower than deflating; the zip's content is the same either way."""

from __future__ import annotations

import logging
import threading
import zipfile
from pathlib import Path

import pytest

from fsxnat_gui.core import archive
from fsxnat_gui.core.compression import MIN_LINK_BYTES, Compression
from fsxnat_gui.samples import make_subject


@pytest.fixture
def subject(tmp_path: Path) -> Path:
    return make_subject(tmp_path, "sub-01")


def zipped(src: Path, dest: Path, deflate: bool) -> archive.ArchiveResult:
    steps = archive.zip_subject(src, dest, threading.Event(), deflate=deflate)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def test_link_speed_counts_overlapping_uploads_once() -> None:
    c = Compression()
    assert c.link_speed() is None
    c.sent(10.0, 12.0, MIN_LINK_BYTES)
    c.sent(11.0, 13.0, MIN_LINK_BYTES)  # two streams on one link: 3 s of sending, not 4
    c.sent(20.0, 21.0, MIN_LINK_BYTES)
    assert c.link_speed() == pytest.approx(3 * MIN_LINK_BYTES / 4.0)


def test_store_until_measured_then_by_the_link(
    subject: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fsxnat_gui.core.compression")
    c = Compression()
    assert not c.deflate(subject), "nothing waits for a deflated first zip"
    c.sent(0.0, 100.0, MIN_LINK_BYTES)  # ~84 kB/s: deflating is faster
    assert c.deflate(subject)
    c.sent(100.0, 100.001, 1000 * MIN_LINK_BYTES)  # now a fast link
    assert not c.deflate(subject)
    choices = [r.getMessage() for r in caplog.records]
    assert choices[0] == "compression: store (the link is not measured yet)"
    assert choices[1].startswith("compression: deflate (upload 0 MB/s, deflate level 1 ")
    assert choices[2].startswith("compression: store (upload ")
    assert len(choices) == 3, "each change is logged once"


def test_stored_and_deflated_zips_hold_the_same_files(subject: Path, tmp_path: Path) -> None:
    stored = zipped(subject, tmp_path / "stored.zip", deflate=False)
    deflated = zipped(subject, tmp_path / "deflated.zip", deflate=True)
    assert stored.manifest == deflated.manifest
    with zipfile.ZipFile(stored.path) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
        assert z.testzip() is None
    with zipfile.ZipFile(deflated.path) as z:
        types = {i.filename: i.compress_type for i in z.infolist()}
        assert types["sub-01/stats/aseg.stats"] == zipfile.ZIP_DEFLATED
        assert types["sub-01/mri/aseg.mgz"] == zipfile.ZIP_STORED, "already compressed"
    assert deflated.zip_bytes < stored.zip_bytes
