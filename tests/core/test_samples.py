"""The synthetic recon-all generator: layout, markers, variants, determinism and the full size."""

from __future__ import annotations

import hashlib
import os
import struct
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest

from fsxnat_gui.core.scan import classify
from fsxnat_gui.samples import make_demo_subjects_dir, make_subject, make_templates


def _tree(subject: Path) -> tuple[list[Path], list[Path]]:
    """(regular files, symlinks) under subject, by lstat."""
    files, links = [], []
    for dirpath, dirnames, filenames in os.walk(subject):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                links.append(path)
            elif name in filenames:
                files.append(path)
    return files, links


def _digest(subject: Path) -> dict[str, str]:
    files, _ = _tree(subject)
    return {
        p.relative_to(subject).as_posix(): hashlib.md5(p.read_bytes()).hexdigest() for p in files
    }


def test_small_subject_layout(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "sub-01")
    files, links = _tree(subject)
    # 62 files of the small table + ?h.white.preaparc.{H,K}, the targets of 4 of the 8 links
    assert len(files) == 66
    assert len(links) == 8
    assert 1.6e6 < sum(p.stat().st_size for p in files) < 2.0e6
    for link in links:
        target = os.readlink(link)
        assert "/" not in target
        assert (link.parent / target).is_file()
    assert os.readlink(subject / "surf" / "lh.pial") == "lh.pial.T1"
    for empty in ("tmp", "trash", "mri/transforms/bak"):
        assert (subject / empty).is_dir()


def test_markers_of_a_finished_fs7_subject(tmp_path: Path) -> None:
    scripts = make_subject(tmp_path, "sub-01") / "scripts"
    stamp = "freesurfer-linux-centos7_x86_64-7.4.1-20230613-7eb8460\n"
    assert (scripts / "build-stamp.txt").read_text() == stamp
    assert (scripts / "lastcall.build-stamp.txt").read_text() == stamp
    done = (scripts / "recon-all.done").read_text().splitlines()
    assert done[0].startswith("---")
    keys = dict(line.split(" ", 1) for line in done[1:])
    assert keys["SUBJECT"] == "sub-01"
    assert keys["VERSION"] == f"7.4.1 ({stamp.strip()})"
    assert keys["CMDARGS"].startswith("-s sub-01 ")
    assert keys["CMDARGS"].endswith("-openmp 4")
    assert {"START_TIME", "END_TIME", "RUNTIME_HOURS", "UNAME", "CMDPATH"} <= keys.keys()
    status = (scripts / "recon-all-status.log").read_text().splitlines()
    assert status[-1].startswith("recon-all -s sub-01 finished without error at ")
    assert f"build-stamp.txt: {stamp}" in (scripts / "recon-all.log").read_text()


def test_content_kinds(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "sub-01")
    surf = (subject / "surf" / "lh.white").read_bytes()
    assert surf[:3] == b"\xff\xff\xfe"
    header_end = surf.index(b"\n\n") + 2
    v, f = struct.unpack(">ii", surf[header_end : header_end + 8])
    assert (v, f) == (2562, 5120)
    assert len(surf) == 92_542
    curv = (subject / "surf" / "lh.thickness").read_bytes()
    assert curv[:3] == b"\xff\xff\xff"
    assert len(curv) == 15 + 4 * v
    assert (subject / "mri" / "T1.mgz").read_bytes()[:3] == b"\x1f\x8b\x08"
    annot = (subject / "label" / "lh.aparc.annot").read_bytes()
    assert struct.unpack(">i", annot[:4])[0] == v
    assert len(annot) == 23_100
    label = (subject / "label" / "lh.cortex.label").read_text().splitlines()
    assert label[0].startswith("#!ascii label")
    assert int(label[1]) == len(label) - 2


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = make_subject(tmp_path / "a", "sub-01", seed=5)
    b = make_subject(tmp_path / "b", "sub-01", seed=5)
    c = make_subject(tmp_path / "c", "sub-01", seed=6)
    assert _digest(a) == _digest(b)
    assert _digest(a)["surf/lh.white"] != _digest(c)["surf/lh.white"]
    assert (a / "surf" / "lh.white").stat().st_size != (c / "surf" / "lh.white").stat().st_size


def _read(subject: Path, rel: str) -> str:
    return (subject / rel).read_text()


def test_state_variants(tmp_path: Path) -> None:
    def make(variant: str, name: str | None = None) -> Path:
        return make_subject(tmp_path / "sd", name or variant, variant=variant)

    running = make("running")
    assert not (running / "scripts" / "recon-all.done").exists()
    info = _read(running, "scripts/IsRunning.lh+rh")
    assert "HOST node12" in info
    assert "PROCESSID 4242" in info
    assert "\nDATE " in info

    crashed = make("crashed")
    age = time.time() - (crashed / "scripts" / "IsRunning.lh+rh").stat().st_mtime
    assert age > 2.9 * 86400

    failed = make("failed")
    assert _read(failed, "scripts/recon-all.done") == "1\n"
    assert "\nCMD mri_ca_register " in _read(failed, "scripts/recon-all.error")
    assert "exited with ERRORS" in _read(failed, "scripts/recon-all-status.log").splitlines()[-1]

    incomplete = make("incomplete")
    scripts = set(os.listdir(incomplete / "scripts"))
    assert not scripts & {"recon-all.done", "IsRunning.lh+rh", "recon-all.error"}

    partial = make("partial")
    assert "CMDARGS -s partial -autorecon1" in _read(partial, "scripts/recon-all.done")
    assert not any((partial / d).exists() for d in ("surf", "label", "stats"))


def test_version_variants(tmp_path: Path) -> None:
    fs6 = make_subject(tmp_path, "fs6", variant="fs6")
    assert _tree(fs6)[1] == []
    assert (fs6 / "surf" / "lh.pial").is_file()
    assert not (fs6 / "surf" / "lh.pial.T1").exists()
    stamp = "freesurfer-Linux-centos6_x86_64-stable-pub-v6.0.0-2beb96c\n"
    assert _read(fs6, "scripts/build-stamp.txt") == stamp
    assert "VERSION $Id: FreeSurferEnv.csh" in _read(fs6, "scripts/recon-all.done")

    fs5 = make_subject(tmp_path, "fs5", variant="fs5")
    assert not (fs5 / "scripts" / "lastcall.build-stamp.txt").exists()
    assert "stable-pub-v5.3.0" in _read(fs5, "scripts/build-stamp.txt")
    assert "START_TIME" not in _read(fs5, "scripts/recon-all.done")

    fs8 = make_subject(tmp_path, "fs8", version="8.0.0")
    assert "-8.0.0-" in _read(fs8, "scripts/lastcall.build-stamp.txt")


def test_longitudinal_and_lookalike_variants(tmp_path: Path) -> None:
    long = make_subject(tmp_path, "x_ses-1.long.x", variant="long")
    assert _read(long, "scripts/long.base") == "x\n"
    assert "CMDARGS -long x_ses-1 x " in _read(long, "scripts/recon-all.done")
    assert not (long / "mri" / "orig" / "001.mgz").exists()

    base = make_subject(tmp_path, "x", variant="base")
    assert _read(base, "base-tps").split() == ["x_ses-1", "x_ses-2"]
    assert not (base / "scripts" / "build-stamp.txt").exists()

    fast = make_subject(tmp_path, "fast", variant="fastsurfer")
    assert (fast / "scripts" / "recon-surf.done").is_file()
    assert (fast / "mri" / "aparc.DKTatlas+aseg.deep.mgz").is_file()


def test_link_variants(tmp_path: Path) -> None:
    dangling = make_subject(tmp_path / "sd", "dangling", variant="dangling-link")
    pial = dangling / "surf" / "lh.pial"
    assert pial.is_symlink()
    assert not pial.exists()

    outside = make_subject(tmp_path / "sd", "outside", variant="outside-link")
    target = Path(os.readlink(outside / "surf" / "lh.pial"))
    assert target.is_absolute()
    assert target.is_file()
    assert not target.is_relative_to(tmp_path / "sd")

    chosen = make_subject(
        tmp_path / "sd", "chosen", variant="outside-link", outside_dir=tmp_path / "elsewhere"
    )
    assert (
        Path(os.readlink(chosen / "surf" / "lh.pial")).parent == tmp_path / "elsewhere" / "chosen"
    )


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        make_subject(tmp_path, "a", variant="nope")
    with pytest.raises(ValueError, match="unknown size"):
        make_subject(tmp_path, "a", size="huge")
    with pytest.raises(ValueError, match="version"):
        make_subject(tmp_path, "a", version="7")
    make_subject(tmp_path, "a")
    with pytest.raises(FileExistsError):
        make_subject(tmp_path, "a")


def test_templates_and_clutter(tmp_path: Path) -> None:
    root = tmp_path / "subjects"
    make_templates(root)
    entries = set(os.listdir(root))
    assert entries == {
        "fsaverage",
        "fsaverage5",
        "lh.EC_average",
        "rh.EC_average",
        "fs-allowed-versions.txt",
        ".DS_Store",
        "qa",
    }
    fsaverage = root / "fsaverage"
    assert fsaverage.is_symlink()
    assert Path(os.readlink(fsaverage)).is_absolute()
    assert not fsaverage.resolve().is_relative_to(root)
    assert (root / "fsaverage5" / "scripts" / "make_average_surface.log").is_file()
    assert not (root / "fsaverage5").is_symlink()
    assert (root / "lh.EC_average").is_symlink()


def test_demo_subjects_dir(tmp_path: Path) -> None:
    root = make_demo_subjects_dir(tmp_path / "demo", n=3)
    names = sorted(e for e in os.listdir(root) if e.startswith("sub-"))
    assert names == ["sub-01", "sub-02", "sub-03", "sub-04", "sub-05"]
    assert (root / "sub-04" / "scripts" / "recon-all.error").is_file()
    assert (root / "sub-05" / "scripts" / "IsRunning.lh+rh").is_file()
    assert (root / "fsaverage").is_symlink()
    again = make_demo_subjects_dir(tmp_path / "again", n=3)
    assert _digest(root / "sub-02") == _digest(again / "sub-02")


def _deflate1_ratio(files: list[Path], window: int = 64 * 1024, samples_per_file: int = 6) -> float:
    """Estimated deflate-1 size / raw size, compressing evenly spaced windows of every file.

    Each file holds one content kind (or, for surfaces, vertices then faces), so a few windows
    per file estimate its ratio well; this keeps the test at a second instead of a full zip."""
    raw = packed = 0.0
    for path in files:
        size = path.stat().st_size
        if size == 0:
            continue
        with open(path, "rb") as fh:
            chunks = []
            for i in range(samples_per_file):
                fh.seek(int(i * max(size - window, 0) / max(samples_per_file - 1, 1)))
                chunks.append(fh.read(window))
        sample = sum(len(c) for c in chunks)
        comp = sum(len(zlib.compress(c, 1)) for c in chunks)
        raw += size
        packed += size * comp / sample
    return packed / raw


@pytest.mark.slow
def test_full_subject_size_count_and_compressibility(tmp_path: Path) -> None:
    started = time.perf_counter()
    subject = make_subject(tmp_path, "sub-01", size="full")
    elapsed = time.perf_counter() - started
    files, links = _tree(subject)
    assert len(files) == 333
    assert len(links) == 8
    total = sum(p.stat().st_size for p in files)
    assert 320e6 < total < 338e6
    assert elapsed < 30, f"generating a full subject took {elapsed:.1f} s"
    counts = Counter(p.relative_to(subject).parts[0] for p in files)
    assert counts == {"mri": 50, "surf": 82, "label": 95, "stats": 19, "scripts": 15, "touch": 72}
    assert 0.60 < _deflate1_ratio(files) < 0.80
    assert classify(subject).eligible
