"""core.archive: walking a subject, zipping it, its manifest, cancel and cleanup."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
from collections.abc import Generator
from pathlib import Path
from typing import TypeVar

import pytest

from fsxnat_gui.core import archive
from fsxnat_gui.core.archive import (
    walk_subject,
)
from fsxnat_gui.core.errors import ArchiveError
from fsxnat_gui.core.model import Progress

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


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def every_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """No time throttling: an event after every chunk that crosses a 1 % step."""
    monkeypatch.setattr(archive, "PROGRESS_INTERVAL", 0.0)


# --- walk_subject ----------------------------------------------------------------------------


def test_walk_lists_every_regular_file_sorted_with_arcnames(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    files, warnings = walk_subject(subject)
    assert warnings == []
    arcnames = [f.arcname for f in files]
    assert arcnames == sorted(f"bert/{rel}" for rel in FILES)
    for f in files:
        rel = f.arcname.removeprefix("bert/")
        assert f.path == subject / rel
        assert f.size == len(FILES[rel])


def test_walk_stores_intra_subject_relative_links_as_their_target(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    (subject / "surf/lh.pial").symlink_to("lh.pial.T1")
    (subject / "mri/brain.mgz").symlink_to("../mri/transforms/../T1.mgz")
    (subject / "surf/chain").symlink_to("lh.pial")  # link to a link, still inside
    files, warnings = walk_subject(subject)
    assert warnings == []
    by_name = {f.arcname: f for f in files}
    assert by_name["bert/surf/lh.pial"].path == subject / "surf/lh.pial"
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


def test_walk_skips_special_files(tmp_path: Path) -> None:
    subject = make_tree(tmp_path)
    os.mkfifo(subject / "scripts/pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(subject / "s"))  # a short path: AF_UNIX paths are limited to ~100 bytes
        files, warnings = walk_subject(subject)
    assert len(files) == len(FILES)
    assert sorted(warnings) == [
        "s is a socket: not included",
        "scripts/pipe is a named pipe: not included",
    ]


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
