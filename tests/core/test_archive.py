"""core.archive: walking a subject, zipping it, its manifest, cancel and cleanup."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import struct
import threading
import time
import zipfile
import zlib
from collections import namedtuple
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TypeVar

import pytest

from fsxnat_gui.core import archive, progress
from fsxnat_gui.core.archive import (
    ArchiveResult,
    free_space_for,
    is_stored,
    local_manifest,
    needs_zip64,
    subject_name,
    walk_subject,
    zip_subject,
)
from fsxnat_gui.core.errors import ArchiveError, Cancelled
from fsxnat_gui.core.model import ManifestEntry, Progress, Stage

T = TypeVar("T")

FILES = {
    "mri/T1.mgz": b"\x1f\x8b\x08" + os.urandom(300_000),
    "mri/orig/001.mgz": b"\x1f\x8b\x08" + os.urandom(50_000),
    "mri/transforms/talairach.m3z": b"\x1f\x8b\x08" + os.urandom(20_000),
    "mri/transforms/talairach.xfm": b"MNI Transform File\n" * 10,
    "surf/lh.pial.T1": bytes(range(256)) * 2_000,
    "surf/lh.white": b"\xff\xff\xfe" + b"surface " * 40_000,
    "label/lh.cortex.label": b"#!ascii label\n" + b"12  1.000  2.000  3.000 0.0000000000\n" * 9_000,
    "stats/aseg.stats": b"# Title Segmentation Statistics\n" * 50,
    "scripts/recon-all.done": b"------------------------------\nSUBJECT bert\n",
    "scripts/qc.png": b"\x89PNG" + os.urandom(1_000),
    "touch/nu.touch": b"mri_nu_correct.mni --i orig.mgz\n",
    "empty.txt": b"",
}


def make_tree(root: Path, name: str = "bert") -> Path:
    subject = root / name
    for rel, data in FILES.items():
        path = subject / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for empty in ("tmp", "trash", "mri/transforms/bak"):
        (subject / empty).mkdir(parents=True)
    return subject


def run(gen: Generator[Progress, None, T]) -> tuple[list[Progress], T]:
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


def drive(gen: Generator[Progress, None, object], on_event: Callable[[Progress], None]) -> None:
    """Run a generator to its end, calling `on_event` for each event (to mutate or cancel)."""
    for event in gen:
        on_event(event)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def every_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """No time throttling: an event after every chunk that crosses a 1 % step."""
    monkeypatch.setattr(progress, "EVENT_INTERVAL_S", 0.0)


# --- walk_subject ----------------------------------------------------------------------------


def test_walk_lists_every_regular_file_sorted_with_arcnames(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    files, warnings = walk_subject(subject)
    assert warnings == []
    arcnames = [f.arcname for f in files]
    assert arcnames == sorted(f"bert/{rel}" for rel in FILES)
    for f in files:
        rel = f.arcname.removeprefix("bert/")
        assert f.path == str(subject / rel)
        assert f.size == len(FILES[rel])


def test_walk_stores_intra_subject_relative_links_as_their_target(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    (subject / "surf/lh.pial").symlink_to("lh.pial.T1")
    (subject / "mri/brain.mgz").symlink_to("../mri/transforms/../T1.mgz")
    (subject / "surf/chain").symlink_to("lh.pial")  # link to a link, still inside
    files, warnings = walk_subject(subject)
    assert warnings == []
    by_name = {f.arcname: f for f in files}
    assert by_name["bert/surf/lh.pial"].path == str(subject / "surf/lh.pial")
    assert by_name["bert/surf/lh.pial"].size == len(FILES["surf/lh.pial.T1"])
    assert by_name["bert/surf/chain"].size == len(FILES["surf/lh.pial.T1"])
    assert by_name["bert/mri/brain.mgz"].size == len(FILES["mri/T1.mgz"])


def test_walk_skips_links_it_must_not_follow_with_warnings(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "lh.pial").write_bytes(b"outside")
    (outside / "big").mkdir()
    (outside / "big/file").write_bytes(b"x" * 100)
    subject = make_tree(tmp_path)
    links = {
        "surf/abs.pial": outside / "lh.pial",  # absolute, outside
        "surf/abs_inside": subject / "surf/lh.white",  # absolute even though inside
        "surf/up.pial": Path("../../elsewhere/lh.pial"),  # relative, leaves the subject
        "surf/dangling": Path("lh.pial.T2"),
        "mri/surfdir": Path("../surf"),  # a folder inside the subject
        "fsaverage": Path("../elsewhere/big"),  # a folder outside: never followed
    }
    for rel, target in links.items():
        (subject / rel).symlink_to(target)
    files, warnings = walk_subject(subject)
    assert [f.arcname for f in files] == sorted(f"bert/{rel}" for rel in FILES)
    assert len(warnings) == len(links)
    text = "\n".join(warnings)
    assert f"surf/abs.pial is a link to {outside / 'lh.pial'}, an absolute path: not included" in (
        text
    )
    assert "surf/abs_inside is a link to" in text
    assert "surf/up.pial is a link to ../../elsewhere/lh.pial, outside the subject" in text
    assert "surf/dangling is a link to lh.pial.T2, which does not exist: not included" in text
    assert "mri/surfdir is a link to the folder ../surf: not included" in text
    assert "fsaverage is a link to ../elsewhere/big, outside the subject" in text
    assert all(w.endswith("not included") for w in warnings)


def test_walk_skips_link_loops(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    (subject / "surf/a").symlink_to("b")
    (subject / "surf/b").symlink_to("a")
    files, warnings = walk_subject(subject)
    assert len(files) == len(FILES)
    assert sorted(w.split(" ")[0] for w in warnings) == ["surf/a", "surf/b"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_walk_skips_special_files(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    os.mkfifo(subject / "scripts/pipe")
    files, warnings = walk_subject(subject)
    assert len(files) == len(FILES)
    assert warnings == ["scripts/pipe is a named pipe: not included"]


def test_walk_names_the_subject_after_the_real_folder_for_dot_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = make_tree(tmp_path)
    monkeypatch.chdir(subject)
    assert subject_name(Path(".")) == subject_name(subject / "surf/..") == "bert"
    files, _ = walk_subject(Path("."))
    assert files[0].arcname.startswith("bert/")


def test_walk_through_a_symlinked_subject_folder(tmp_path: Path) -> None:
    real = make_tree(tmp_path / "real")
    (real / "surf/lh.pial").symlink_to("lh.pial.T1")
    (tmp_path / "bert").symlink_to(real)
    files, warnings = walk_subject(tmp_path / "bert")
    assert warnings == []
    assert len(files) == len(FILES) + 1
    assert files[0].arcname.startswith("bert/")


def test_walk_empty_folders_give_nothing(tmp_path: Path) -> None:
    (tmp_path / "s/tmp/deeper").mkdir(parents=True)
    assert walk_subject(tmp_path / "s") == ([], [])


def test_walk_unreadable_folder_is_an_archive_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = make_tree(tmp_path)
    scandir = os.scandir

    def denied(path: Path) -> object:  # chmod 0 is no obstacle when the tests run as root
        if Path(path) == subject / "label":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(ArchiveError, match=r"Cannot read the folder label of bert .*permission"):
        walk_subject(subject)


def test_walk_missing_subject_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="Cannot read the subject folder"):
        walk_subject(tmp_path / "nope")


# --- zip_subject -----------------------------------------------------------------------------


def zip_tree(tmp_path: Path, subject: Path, **kwargs: int) -> tuple[list[Progress], ArchiveResult]:
    return run(zip_subject(subject, tmp_path / "out" / "bert.zip", threading.Event(), **kwargs))


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out"


def test_zip_has_one_top_folder_sorted_entries_each_file_once(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path)
    (subject / "surf/lh.pial").symlink_to("lh.pial.T1")
    _, result = zip_tree(tmp_path, subject)
    assert result.path == outdir / "bert.zip"
    assert result.zip_bytes == result.path.stat().st_size
    expected = {**FILES, "surf/lh.pial": FILES["surf/lh.pial.T1"]}
    with zipfile.ZipFile(result.path) as zf:
        names = zf.namelist()
        assert names == sorted(f"bert/{rel}" for rel in expected)  # files only, no folders
        for rel, data in expected.items():
            assert zf.read(f"bert/{rel}") == data
        assert zf.testzip() is None
        for info in zf.infolist():
            assert info.external_attr >> 16 == 0o100644
            assert info.create_system == 3
            assert not info.flag_bits & 0x800  # ASCII names: no UTF-8 flag needed


def test_zip_stores_compressed_formats_and_deflates_the_rest_at_level_1(
    tmp_path: Path, outdir: Path
) -> None:
    subject = make_tree(tmp_path)
    _, result = zip_tree(tmp_path, subject)
    with zipfile.ZipFile(result.path) as zf:
        for info in zf.infolist():
            rel = info.filename.removeprefix("bert/")
            stored = rel.endswith((".mgz", ".m3z", ".png")) or not FILES[rel]
            assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
            if not stored:
                level1 = zlib.compressobj(1, zlib.DEFLATED, -15)
                size = len(level1.compress(FILES[rel]) + level1.flush())
                assert info.compress_size == size, rel


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("bert/mri/T1.mgz", True),
        ("bert/mri/transforms/talairach.m3z", True),
        ("bert/mri/x.nii.gz", True),
        ("bert/a.ZIP", True),
        ("bert/a.tar.bz2", True),
        ("bert/a.xz", True),
        ("bert/a.zst", True),
        ("bert/qc/snap.JPG", True),
        ("bert/qc/snap.gif", True),
        ("bert/surf/lh.pial", False),
        ("bert/surf/lh.w-g.pct.mgh", False),
        ("bert/scripts/recon-all.log", False),
        ("bert/.gz", False),
        ("bert/mgz", False),
    ],
)
def test_is_stored(name: str, stored: bool) -> None:
    assert is_stored(name) is stored


def test_manifest_matches_hashlib_and_what_zipfile_reads_back(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path)
    _, result = zip_tree(tmp_path, subject)
    assert result.manifest == tuple(
        ManifestEntry(f"bert/{rel}", len(data), md5(data)) for rel, data in sorted(FILES.items())
    )
    with zipfile.ZipFile(result.path) as zf:
        for entry in result.manifest:
            data = zf.read(entry.path)
            assert (len(data), md5(data)) == (entry.size, entry.md5)
            assert zf.getinfo(entry.path).file_size == entry.size


def test_zip_keeps_mtimes_and_clamps_them_to_the_zip_range(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path)
    os.utime(subject / "stats/aseg.stats", (0, 0))  # 1970: before the zip epoch
    stamp = 1_700_000_000  # 2023-11-14
    os.utime(subject / "surf/lh.white", (stamp, stamp))
    _, result = zip_tree(tmp_path, subject)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.getinfo("bert/stats/aseg.stats").date_time == (1980, 1, 1, 0, 0, 0)
        local = time.localtime(stamp)
        assert zf.getinfo("bert/surf/lh.white").date_time[:5] == tuple(local[:5])


def test_zip_skips_links_with_the_walk_warnings(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path)
    (subject / "surf/lh.pial").symlink_to("/elsewhere/lh.pial")
    (subject / "surf/rh.pial").symlink_to("rh.pial.T1")
    (subject / "mri/surf").symlink_to("../surf")
    _, result = zip_tree(tmp_path, subject)
    assert sorted(result.warnings) == [
        "mri/surf is a link to the folder ../surf: not included",
        "surf/lh.pial is a link to /elsewhere/lh.pial, an absolute path: not included",
        "surf/rh.pial is a link to rh.pial.T1, which does not exist: not included",
    ]
    with zipfile.ZipFile(result.path) as zf:
        assert len(zf.namelist()) == len(FILES)
        assert "bert/surf/lh.pial" not in zf.namelist()
        assert not any(n.startswith("bert/mri/surf/") for n in zf.namelist())


def test_zip_round_trips_utf8_names(tmp_path: Path, outdir: Path) -> None:
    subject = tmp_path / "sujet_é"
    (subject / "notes").mkdir(parents=True)
    (subject / "notes/résumé ü 日本.txt").write_bytes(b"bonjour")
    (subject / "notes/plain.txt").write_bytes(b"ascii")
    events, result = run(zip_subject(subject, outdir / "s.zip", threading.Event()))
    assert events[-1].item == "sujet_é"
    with zipfile.ZipFile(result.path) as zf:
        info = zf.getinfo("sujet_é/notes/résumé ü 日本.txt")
        assert info.flag_bits & 0x800  # the UTF-8 name flag
        assert zf.getinfo("sujet_é/notes/plain.txt").flag_bits & 0x800
        assert zf.read(info) == b"bonjour"


def test_progress_is_monotonic_and_ends_at_total(
    tmp_path: Path, outdir: Path, every_chunk: None
) -> None:
    subject = make_tree(tmp_path)
    total = sum(len(d) for d in FILES.values())
    events, _ = zip_tree(tmp_path, subject)
    assert len(events) > 3
    assert {(e.stage, e.item, e.total) for e in events} == {(Stage.ZIPPING, "bert", total)}
    done = [e.done for e in events]
    assert done == sorted(done)
    assert done[0] == 0
    assert done[-1] == total
    assert events[-1].eta == 0


def test_progress_is_throttled_by_time(
    tmp_path: Path, outdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "EVENT_INTERVAL_S", 3600.0)
    subject = make_tree(tmp_path)
    events, _ = zip_tree(tmp_path, subject)  # only the first and the final events
    assert [e.done for e in events] == [0, sum(len(d) for d in FILES.values())]


def test_total_hint_mismatch_warns_that_the_subject_changed(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path)
    total = sum(len(d) for d in FILES.values())
    _, same = zip_tree(tmp_path, subject, total_hint=total)
    assert same.warnings == ()
    _, changed = zip_tree(tmp_path, subject, total_hint=total + 5_000_000)
    assert changed.warnings == (
        f"the subject changed since it was scanned ({(total + 5_000_000) / 1e6:,.1f} MB then, "
        f"{total / 1e6:,.1f} MB now)",
    )


def test_cancel_mid_zip_raises_and_leaves_no_zip(
    tmp_path: Path, outdir: Path, every_chunk: None
) -> None:
    subject = make_tree(tmp_path)
    cancel = threading.Event()
    seen = []

    def on_event(event: Progress) -> None:
        seen.append(event.done)
        if event.done > 0:
            assert (outdir / "bert.zip").exists()
            cancel.set()

    with pytest.raises(Cancelled):
        drive(zip_subject(subject, outdir / "bert.zip", cancel), on_event)
    assert 0 < seen[-1] < sum(len(d) for d in FILES.values())
    assert list(outdir.iterdir()) == []


def test_abandoned_generator_deletes_the_half_written_zip(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path)
    gen = zip_subject(subject, outdir / "bert.zip", threading.Event())
    next(gen)
    assert (outdir / "bert.zip").exists()
    gen.close()  # GeneratorExit at the yield
    assert list(outdir.iterdir()) == []


@pytest.mark.parametrize("change", ["grow", "shrink", "delete"])
def test_file_changing_while_zipping_is_an_error_and_leaves_no_zip(
    tmp_path: Path, outdir: Path, every_chunk: None, change: str
) -> None:
    subject = make_tree(tmp_path)
    victim = subject / "touch/nu.touch"  # the last file in arcname order

    def on_event(event: Progress) -> None:
        if event.done > 0 and victim.exists() and victim.stat().st_size == 32:
            if change == "grow":
                with victim.open("ab") as f:
                    f.write(b"more")
            elif change == "shrink":
                victim.write_bytes(b"x")
            else:
                victim.unlink()

    with pytest.raises(ArchiveError, match=r"bert/touch/nu.touch changed or disappeared"):
        drive(zip_subject(subject, outdir / "bert.zip", threading.Event()), on_event)
    assert list(outdir.iterdir()) == []


def test_file_growing_during_its_own_read_is_an_error(
    tmp_path: Path, outdir: Path, every_chunk: None
) -> None:
    subject = tmp_path / "bert"
    subject.mkdir()
    (subject / "big.bin").write_bytes(os.urandom(3 * archive.CHUNK_SIZE))

    def on_event(event: Progress) -> None:
        if 0 < event.done < event.total:
            with (subject / "big.bin").open("ab") as f:
                f.write(b"appended while being read")

    with pytest.raises(ArchiveError, match=r"bert/big.bin changed or disappeared"):
        drive(zip_subject(subject, outdir / "bert.zip", threading.Event()), on_event)
    assert list(outdir.iterdir()) == []


def test_disk_full_is_an_archive_error_with_the_temp_folder(
    tmp_path: Path, outdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = make_tree(tmp_path)
    write = zipfile._ZipWriteFile.write

    def full(self: zipfile._ZipWriteFile, data: bytes) -> int:
        if self._zinfo.filename == "bert/surf/lh.white":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, data)

    monkeypatch.setattr(zipfile._ZipWriteFile, "write", full)
    with pytest.raises(ArchiveError) as caught:
        zip_tree(tmp_path, subject)
    assert str(caught.value) == (
        f"Not enough disk space in {outdir} for the zip of bert (needs about 1.5 MB). "
        "Free some space or choose another temporary folder."
    )
    assert list(outdir.iterdir()) == []


def test_unreadable_file_is_an_archive_error(
    tmp_path: Path, outdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = make_tree(tmp_path)
    real_open = open

    def denied(path: Path, *args: object, **kwargs: object) -> object:
        if Path(path) == subject / "stats/aseg.stats":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(archive, "open", denied, raising=False)
    with pytest.raises(
        ArchiveError, match=r"^Cannot read bert/stats/aseg.stats: permission denied"
    ):
        zip_tree(tmp_path, subject)
    assert list(outdir.iterdir()) == []


def test_needs_zip64_for_entries_near_the_2_gib_limit_and_above() -> None:
    assert needs_zip64(4 << 30)
    assert needs_zip64(2 << 30)
    assert not needs_zip64(100 * 1_000_000)
    assert not needs_zip64(0)


def test_entries_the_helper_picks_get_zip64_headers(
    tmp_path: Path, outdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "needs_zip64", lambda size: size > 100_000)
    subject = make_tree(tmp_path)
    _, result = zip_tree(tmp_path, subject)
    with zipfile.ZipFile(result.path) as zf, result.path.open("rb") as raw:
        assert zf.testzip() is None
        for info in zf.infolist():
            raw.seek(info.header_offset)
            header = raw.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            extra = raw.read(name_len + extra_len)[name_len:]
            assert (extra[:2] == b"\x01\x00") is (info.file_size > 100_000), info.filename


# --- local_manifest, the realistic sample subject --------------------------------------------


def test_local_manifest_equals_the_zip_manifest(tmp_path: Path, outdir: Path) -> None:
    from fsxnat_gui.samples import make_subject

    subject = make_subject(tmp_path / "subjects", "bert", variant="outside-link")
    events, manifest = run(local_manifest(subject, threading.Event()))
    assert {e.stage for e in events} == {Stage.CHECKING}
    assert events[-1].done == events[-1].total == sum(e.size for e in manifest)
    _, result = run(zip_subject(subject, outdir / "bert.zip", threading.Event()))
    assert manifest == result.manifest
    assert len(manifest) > 60
    assert any("outside the subject" in w or "absolute" in w for w in result.warnings)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.namelist() == [e.path for e in manifest]
        pial = zf.read("bert/surf/rh.pial")
        assert pial == (subject / "surf/rh.pial.T1").read_bytes()


def test_local_manifest_cancel(tmp_path: Path, every_chunk: None) -> None:
    subject = make_tree(tmp_path)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        run(local_manifest(subject, cancel))


# --- free_space_for --------------------------------------------------------------------------

DiskUsage = namedtuple("DiskUsage", "total used free")


def test_free_space_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        shutil, "disk_usage", lambda _: DiskUsage(10**10, 10**10 - 5 * 10**8, 5 * 10**8)
    )
    free_space_for(tmp_path, 5 * 10**8)
    with pytest.raises(ArchiveError) as caught:
        free_space_for(tmp_path, 700 * 10**6)
    assert str(caught.value) == (
        f"Not enough disk space in {tmp_path}: the zip needs about 700.0 MB and only 500.0 MB "
        "are free. Free some space or choose another temporary folder."
    )


def test_free_space_for_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="Cannot use the temporary folder"):
        free_space_for(tmp_path / "missing", 1)


# --- issue 10: left-out files, undecodable names, the zip's size, changes on disk -------------


def test_a_link_loop_is_called_a_link_loop(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    (subject / "surf/a").symlink_to("b")
    (subject / "surf/b").symlink_to("a")
    (subject / "surf/self").symlink_to("self")
    _files, warnings = walk_subject(subject)
    assert len(warnings) == 3
    for warning in warnings:
        assert "is a link loop" in warning
        assert "does not exist" not in warning


UNDECODABLE = os.fsdecode(b"caf\xe9.txt")  # Latin-1 bytes: not UTF-8


def test_an_undecodable_name_is_skipped_with_a_clear_message(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path)
    (subject / "stats" / UNDECODABLE).write_bytes(b"x")
    result = run(zip_subject(subject, outdir / "bert.zip", threading.Event()))[1]
    assert result.warnings == (
        "stats/caf\ufffd.txt has a name that is not valid UTF-8 text: not included",
    )
    assert len(result.manifest) == len(FILES)
    with zipfile.ZipFile(outdir / "bert.zip") as z:
        assert z.testzip() is None


def test_an_undecodable_subject_folder_is_an_archive_error(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path, os.fsdecode(b"sub-\xff01"))
    with pytest.raises(ArchiveError) as info:
        run(zip_subject(subject, outdir / "x.zip", threading.Event()))
    assert "sub-\ufffd01" in str(info.value)
    assert "not valid UTF-8" in str(info.value)
    assert not (outdir / "x.zip").exists()


def test_the_zip_estimate_counts_sparse_files_by_their_blocks(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    with (subject / "mri" / "sparse.nii").open("wb") as f:
        f.truncate(2_000_000_000)  # 2 GB of holes: deflated to almost nothing
    estimate = archive.zip_estimate(subject)
    assert estimate < sum(len(d) for d in FILES.values()) * 1.1 + 100_000
    zip_path = tmp_path / "bert.zip"
    (subject / "mri" / "sparse.nii").unlink()
    result = run(zip_subject(subject, zip_path, threading.Event()))[1]
    assert archive.zip_estimate(subject) >= result.zip_bytes, "never less than the zip takes"


def test_changed_on_disk_names_the_file(tmp_path: Path, outdir: Path) -> None:
    subject = make_tree(tmp_path)
    result = run(zip_subject(subject, outdir / "bert.zip", threading.Event()))[1]
    assert archive.changed_on_disk(subject, result.manifest) is None
    target = subject / "stats/aseg.stats"
    os.utime(target, ns=(time.time_ns(), target.stat().st_mtime_ns + 5_000_000_000))
    assert archive.changed_on_disk(subject, result.manifest) == "bert/stats/aseg.stats"
    (subject / "stats/new.stats").write_text("x")
    assert archive.changed_on_disk(subject, result.manifest) == "bert/stats/new.stats"


def test_a_full_disk_is_no_space_with_the_folder(tmp_path: Path) -> None:
    from fsxnat_gui.core.errors import NoSpace

    with pytest.raises(NoSpace) as info:
        free_space_for(tmp_path, 1 << 62)
    assert info.value.folder == tmp_path
    assert info.value.needed == 1 << 62
