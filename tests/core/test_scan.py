"""SUBJECTS_DIR detection: kinds, run states, versions, roles, sizes, iteration and drops."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from fsxnat_gui.core import scan as scan_mod
from fsxnat_gui.core.errors import ArchiveError, Cancelled, ScanError
from fsxnat_gui.core.model import EntryKind, LongRole, RunState, Subject
from fsxnat_gui.core.scan import (
    classify,
    iter_scan,
    measure,
    parse_version,
    scan,
    scan_paths,
)
from fsxnat_gui.samples import make_subject, make_templates

LONG_NAME = "x_ses-1.long.x"

SUBJ, FAST = EntryKind.SUBJECT, EntryKind.FASTSURFER
CROSS, LONG, BASE = LongRole.CROSS, LongRole.LONG, LongRole.BASE
V7 = "7.4.1"

# variant -> kind, state, version, role, fragment of the reason
EXPECTED = {
    "done": (SUBJ, RunState.DONE, V7, CROSS, "finished without error"),
    "running": (SUBJ, RunState.RUNNING, V7, CROSS, "running on host node12 (pid 4242) since"),
    "crashed": (SUBJ, RunState.RUNNING, V7, CROSS, "probably crashed"),
    "failed": (SUBJ, RunState.FAILED, V7, CROSS, "see scripts/recon-all.error (CMD mri_ca_reg"),
    "incomplete": (SUBJ, RunState.INCOMPLETE, V7, CROSS, "no recon-all.done"),
    "partial": (SUBJ, RunState.DONE_PARTIAL, V7, CROSS, "(the last run was '-autorecon1')"),
    "fs6": (SUBJ, RunState.DONE, "6.0.0", CROSS, "finished without error"),
    "fs5": (SUBJ, RunState.DONE, "5.3.0", CROSS, "finished without error"),
    "long": (SUBJ, RunState.DONE, V7, LONG, "finished without error"),
    "base": (SUBJ, RunState.DONE, V7, BASE, "finished without error"),
    "fastsurfer": (FAST, RunState.NOT_APPLICABLE, None, CROSS, "FastSurfer"),
    "dangling-link": (SUBJ, RunState.DONE_PARTIAL, V7, CROSS, "surf/lh.pial (dangling link)"),
    "outside-link": (SUBJ, RunState.DONE_PARTIAL, V7, CROSS, "lh.pial (link to outside the subj"),
}


def _name(variant: str) -> str:
    return LONG_NAME if variant == "long" else f"v-{variant}"


@pytest.fixture(scope="module")
def sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SUBJECTS_DIR with every state variant, templates and clutter (read-only for tests)."""
    root = tmp_path_factory.mktemp("scan") / "subjects"
    for seed, variant in enumerate(EXPECTED):
        make_subject(root, _name(variant), variant=variant, seed=seed)
    make_templates(root)
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("nothing here\n")
    (root / "README").write_text("readme\n")
    return root


def _regular_files(subject: Path) -> tuple[int, int]:
    """Files and bytes the zip should hold: regular files plus in-subject links to files."""
    root = os.path.realpath(subject)
    files = size = 0
    for dirpath, _dirs, names in os.walk(subject):
        for name in names:
            path = Path(dirpath, name)
            if path.is_symlink():
                real = os.path.realpath(path)
                if os.path.isabs(os.readlink(path)) or not real.startswith(root + os.sep):
                    continue
                if not os.path.isfile(real):
                    continue
            files += 1
            size += path.stat().st_size
    return files, size


@pytest.mark.parametrize("variant", list(EXPECTED))
def test_state_variants(sd: Path, variant: str) -> None:
    kind, state, version, role, fragment = EXPECTED[variant]
    subject = classify(sd / _name(variant))
    assert subject.name == _name(variant)
    assert subject.kind is kind
    assert subject.state is state
    assert subject.eligible is (state is RunState.DONE and kind is EntryKind.SUBJECT)
    assert fragment in subject.reason
    assert subject.version == version
    assert subject.long_role is role
    assert subject.files is None
    assert subject.bytes is None
    if subject.eligible:
        assert subject.warnings == ()


def test_partial_reason_lists_missing_outputs(sd: Path) -> None:
    reason = classify(sd / "v-partial").reason
    assert reason.startswith("recon-all.done is present but outputs are missing: surf/lh.white, ")
    assert " more (the last run was '-autorecon1')" in reason


def test_running_reason_names_the_marker(sd: Path) -> None:
    assert (
        "remove scripts/IsRunning.lh+rh if no recon-all runs" in classify(sd / "v-running").reason
    )
    crashed = classify(sd / "v-crashed").reason
    assert "written nothing for 3 days" in crashed
    assert "remove scripts/IsRunning.lh+rh" in crashed


@pytest.mark.parametrize(
    ("name", "kind", "fragment"),
    [
        ("fsaverage", EntryKind.LINKED, "linked FreeSurfer template (fsaverage -> /"),
        ("lh.EC_average", EntryKind.LINKED, "linked FreeSurfer template"),
        ("fsaverage5", EntryKind.TEMPLATE, "FreeSurfer template subject (not imported)"),
        ("qa", EntryKind.NOT_SUBJECT, "utility folder"),
        (".DS_Store", EntryKind.NOT_SUBJECT, "hidden"),
        ("fs-allowed-versions.txt", EntryKind.NOT_SUBJECT, "a file"),
        ("README", EntryKind.NOT_SUBJECT, "a file"),
        ("notes", EntryKind.NOT_SUBJECT, "no recon-all outputs"),
    ],
)
def test_templates_and_clutter(sd: Path, name: str, kind: EntryKind, fragment: str) -> None:
    entry = classify(sd / name)
    assert entry.kind is kind
    assert entry.state is RunState.NOT_APPLICABLE
    assert fragment in entry.reason
    assert not entry.eligible


def test_copied_template_detected_by_its_logs(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "my_template")
    (subject / "scripts" / "make_average_volume.log").write_text("make_average_volume\n")
    assert classify(subject).kind is EntryKind.TEMPLATE


@pytest.mark.parametrize(
    ("stamp", "version"),
    [
        ("freesurfer-Linux-centos6_x86_64-stable-pub-v5.3.0", "5.3.0"),
        ("freesurfer-Linux-centos4_x86_64-stable-pub-v5.3.0", "5.3.0"),
        ("freesurfer-Linux-centos6_x86_64-stable-pub-v5.3.0-HCP", "5.3.0"),
        ("freesurfer-Darwin-lion-stable-pub-v5.3.0", "5.3.0"),
        ("freesurfer-Linux-centos6_x86_64-stable-pub-v6.0.0-2beb96c", "6.0.0"),
        ("freesurfer-Darwin-OSX-stable-pub-v6.0.0-2beb96c", "6.0.0"),
        ("freesurfer-Linux-centos6_x86_64-stable-pub-v6.0.1-f53a55a", "6.0.1"),
        ("freesurfer-linux-centos7_x86_64-7.1.1-20200723-8b40551", "7.1.1"),
        ("freesurfer-linux-centos7_x86_64-7.2.0-beta-20210713-aa8f76b", "7.2.0"),
        ("freesurfer-linux-ubuntu18_x86_64-7.2.0-20210721-aa8f76b", "7.2.0"),
        ("freesurfer-darwin-macOS-7.2.0-20210713-aa8f76b", "7.2.0"),
        ("freesurfer-linux-ubuntu22_x86_64-7.3.2-20220804-6354275", "7.3.2"),
        ("freesurfer-linux-centos7_x86_64-7.4.1-20230613-7eb8460", "7.4.1"),
        ("freesurfer-linux-ubuntu22_x86_64-8.0.0-20250204-0f2bd3a", "8.0.0"),
        ("freesurfer-macOS-darwin_x86_64-8.0.0-beta-20241103-b8aacdc", "8.0.0"),
        ("freesurfer-linux-ubuntu22_x86_64-8.1.0-20250719-f30dfed", "8.1.0"),
        ("freesurfer-linux-rocky8_x86_64-8.1.0-20250718", "8.1.0"),
        ("7.4.1 (freesurfer-linux-centos7_x86_64-7.4.1-20230613-7eb8460)", "7.4.1"),
        ("$Id: FreeSurferEnv.csh,v 1.89 2016/06/09 18:20:26 zkaufman Exp $", None),
        ("", None),
    ],
)
def test_parse_version(stamp: str, version: str | None) -> None:
    assert parse_version(stamp) == version


@pytest.mark.parametrize("version", ["6.0.1", "7.1.1", "8.0.0"])
def test_version_from_generated_stamps(tmp_path: Path, version: str) -> None:
    subject = classify(make_subject(tmp_path, "sub-01", version=version))
    assert subject.version == version
    assert subject.version_stamp is not None
    assert version in subject.version_stamp
    assert subject.suggested_resource == f"FREESURFER{version[0]}"
    assert subject.state is RunState.DONE


def test_mixed_version_flag(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "sub-01", version="7.1.1")
    newer = "freesurfer-linux-centos7_x86_64-7.4.1-20230613-7eb8460\n"
    (subject / "scripts" / "lastcall.build-stamp.txt").write_text(newer)
    entry = classify(subject)
    assert entry.mixed_version
    assert entry.version == "7.1.1"  # build-stamp.txt: the version that first worked on it
    assert any("first 7.1.1" in w and "latest 7.4.1" in w for w in entry.warnings)
    assert entry.state is RunState.DONE


def test_version_falls_back_to_lastcall_done_and_log(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "sub-01")
    scripts = subject / "scripts"
    (scripts / "build-stamp.txt").unlink()
    assert classify(subject).version == "7.4.1"  # lastcall
    (scripts / "lastcall.build-stamp.txt").unlink()
    entry = classify(subject)
    assert entry.version == "7.4.1"  # VERSION line of recon-all.done
    assert entry.version_stamp == "freesurfer-linux-centos7_x86_64-7.4.1-20230613-7eb8460"
    assert entry.state is RunState.DONE_PARTIAL  # no stamp file left: rule 8


def test_fs6_bogus_version_line_is_ignored(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "sub-01", variant="fs6")
    scripts = subject / "scripts"
    (scripts / "build-stamp.txt").unlink()
    (scripts / "lastcall.build-stamp.txt").unlink()
    assert classify(subject).version == "6.0.0"  # from "build-stamp.txt:" in recon-all.log
    log_text = (scripts / "recon-all.log").read_text().replace("build-stamp.txt:", "stamp was")
    (scripts / "recon-all.log").write_text(log_text)
    entry = classify(subject)
    assert entry.version is None
    assert entry.version_stamp is None
    assert entry.suggested_resource == "FREESURFER"


def test_long_role_from_scripts_long_base(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "tp1_long", variant="long")
    assert classify(subject).long_role is LongRole.LONG


def test_name_mismatch_is_a_warning(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "sub-01")
    renamed = subject.rename(tmp_path / "sub-01-copy")
    entry = classify(renamed)
    assert entry.eligible
    assert entry.warnings == (
        "recon-all.done names the subject 'sub-01' but the folder is 'sub-01-copy' "
        "(renamed or copied subject)",
    )


def test_status_log_without_verdict_warns(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "sub-01")
    (subject / "scripts" / "recon-all-status.log").write_text("#@# MotionCor\n")
    entry = classify(subject)
    assert entry.state is RunState.DONE
    assert entry.warnings == ("scripts/recon-all-status.log has no 'finished without error' line",)


def test_errors_in_status_log_alone_mean_failed(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "sub-01")
    with open(subject / "scripts" / "recon-all-status.log", "a") as fh:
        fh.write("recon-all -s sub-01 exited with ERRORS at Tue Jun 13 10:00:00 UTC 2023\n")
    entry = classify(subject)
    assert entry.state is RunState.FAILED
    assert entry.reason == "recon-all exited with errors: see scripts/recon-all.log"


def test_fastsurfer_only_outputs(tmp_path: Path) -> None:
    subject = tmp_path / "fs_only"
    (subject / "scripts").mkdir(parents=True)
    (subject / "scripts" / "recon-surf.log").write_text("recon-surf\n")
    assert classify(subject).kind is EntryKind.FASTSURFER


def test_classify_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="does not exist"):
        classify(tmp_path / "nope")


def test_measure_matches_files_on_disk(sd: Path) -> None:
    entry = measure(classify(sd / "v-done"))
    assert (entry.files, entry.bytes) == _regular_files(sd / "v-done")
    assert entry.files == 66 + 8  # the 8 relative links are stored with their target's content
    assert entry.warnings == ()
    assert entry.state is RunState.DONE


@pytest.mark.parametrize("variant", ["dangling-link", "outside-link"])
def test_measure_reports_and_skips_bad_links(sd: Path, variant: str) -> None:
    entry = measure(classify(sd / _name(variant)))
    assert (entry.files, entry.bytes) == _regular_files(sd / _name(variant))
    assert entry.files == 66 + 7 - (variant == "dangling-link")
    assert len(entry.warnings) == 1
    assert "lh.pial" in entry.warnings[0]


def test_iter_scan_order(sd: Path) -> None:
    results = list(iter_scan(sd))
    names = sorted(os.listdir(sd))
    first, second = results[: len(names)], results[len(names) :]
    assert [s.name for s in first] == names
    assert all(s.files is None for s in first)
    subjects = [s.name for s in first if s.kind is EntryKind.SUBJECT]
    assert [s.name for s in second] == subjects
    assert all(s.files is not None and s.bytes is not None for s in second)
    assert len(subjects) == len(EXPECTED) - 1  # all but FastSurfer


def test_scan_is_measured_and_sorted(sd: Path) -> None:
    result = scan(sd)
    assert [s.name for s in result] == sorted(os.listdir(sd))
    by_name = {s.name: s for s in result}
    assert by_name["v-done"].files == 74
    assert by_name["fsaverage"].files is None
    assert "xhemi" not in by_name


def test_iter_scan_cancel(sd: Path) -> None:
    cancel = threading.Event()
    it = iter_scan(sd, cancel)
    next(it)
    cancel.set()
    with pytest.raises(Cancelled):
        next(it)
    with pytest.raises(Cancelled):
        next(iter_scan(sd, cancel))


def test_cancel_during_measuring(sd: Path) -> None:
    cancel = threading.Event()
    seen: list[Subject] = []

    def consume() -> None:
        for subject in iter_scan(sd, cancel):
            seen.append(subject)
            if subject.files is not None:
                cancel.set()

    with pytest.raises(Cancelled):
        consume()
    assert sum(s.files is not None for s in seen) == 1


def test_scan_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match=r"^The folder .*nope does not exist\.$"):
        scan(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ScanError, match="is a file, not a folder"):
        scan(tmp_path / "file.txt")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any folder")
def test_scan_unreadable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(ScanError, match="cannot be read: permission denied"):
            scan(locked)
    finally:
        locked.chmod(0o755)


def test_scan_unreadable_with_mocked_listdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deny(path: object) -> list[str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(scan_mod.os, "listdir", deny)
    with pytest.raises(ScanError, match=r"cannot be read: permission denied\.$"):
        scan(tmp_path)


def test_xhemi_inside_a_subject_is_not_scanned(tmp_path: Path) -> None:
    root = tmp_path / "subjects"
    subject = make_subject(root, "sub-01")
    shutil.copytree(subject / "scripts", subject / "xhemi" / "scripts")
    (subject / "xhemi" / "mri").mkdir()
    assert [s.name for s in scan(root)] == ["sub-01"]


def test_scan_paths_with_a_subjects_dir(sd: Path) -> None:
    subjects, messages = scan_paths([sd])
    assert messages == []
    assert [s.name for s in subjects] == sorted(os.listdir(sd))
    done = next(s for s in subjects if s.name == "v-done")
    assert done.files == 74


def test_scan_paths_with_subject_folders_and_duplicates(sd: Path) -> None:
    paths = [sd / "v-done", sd / "v-failed", sd / "v-done", sd / "v-fs6"]
    subjects, messages = scan_paths(paths)
    assert messages == []
    assert [s.name for s in subjects] == ["v-done", "v-failed", "v-fs6"]
    assert all(s.files is not None for s in subjects)
    both, _ = scan_paths([sd, sd / "v-done"])
    assert sum(s.name == "v-done" for s in both) == 1


def test_scan_paths_with_junk(sd: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    subjects, messages = scan_paths([notes, tmp_path / "missing", empty, sd / "qa", sd / "v-done"])
    assert [s.name for s in subjects] == ["v-done"]
    assert messages[0] == "notes.txt is a file, not a FreeSurfer subject folder"
    assert messages[1] == f"{tmp_path / 'missing'} does not exist"
    assert messages[2].startswith("empty is not a FreeSurfer subject folder and holds none (")
    assert messages[3].startswith("qa is not a FreeSurfer subject folder and holds none (")
    assert len(messages) == 4


def test_scan_paths_template_only_dir_counts_as_subjects_dir(tmp_path: Path) -> None:
    root = tmp_path / "subjects"
    make_templates(root)
    subjects, messages = scan_paths([root])
    assert messages == []
    assert {s.kind for s in subjects} >= {EntryKind.LINKED, EntryKind.TEMPLATE}


def test_measure_keeps_scanning_when_a_subject_cannot_be_walked(
    sd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(path: Path) -> tuple[list[object], list[str]]:
        raise ArchiveError(f"Cannot read the subject folder {path}: permission denied.")

    monkeypatch.setattr(scan_mod, "walk_subject", unreadable)
    entry = measure(classify(sd / "v-done"))
    assert entry.files is None
    assert entry.warnings[-1].startswith("Cannot read the subject folder ")


def test_longitudinal_folders_know_their_time_point_base_and_time_points(tmp_path: Path) -> None:
    """The matcher needs the time point of a long run and the time points of a base."""
    long_run = classify(make_subject(tmp_path, "CAPS_001_tp1.long.CAPS_001_base", variant="long"))
    assert (long_run.long_tp, long_run.long_base) == ("CAPS_001_tp1", "CAPS_001_base")
    # no '.long.' in the name: the tp and base of recon-all's own command line
    renamed = classify(make_subject(tmp_path, "tp1_long", variant="long"))
    assert (renamed.long_tp, renamed.long_base) == ("tp1_long", "tp1_long_base")
    base = make_subject(tmp_path, "CAPS_001_base", variant="base")
    (base / "base-tps").write_text("CAPS_001_tp1\nCAPS_001_tp2\n\n")
    assert classify(base).base_tps == ("CAPS_001_tp1", "CAPS_001_tp2")
    assert classify(make_subject(tmp_path, "cross")).base_tps == ()


# --- issue 10: undecodable names, a subject folder scanned as a SUBJECTS_DIR ------------------


def test_an_undecodable_subject_name_is_skipped_with_a_clear_reason(tmp_path: Path) -> None:
    root = tmp_path / "subjects"
    root.mkdir()
    make_subject(root, "sub-01")
    bad = os.fsdecode(b"sub-\xe902")
    (root / "sub-01").rename(root / bad)
    make_subject(root, "sub-03")
    entries = {s.name: s for s in scan(root)}
    assert not entries[bad].eligible
    assert "not valid UTF-8" in entries[bad].reason
    assert "sub-\ufffd02" in entries[bad].reason
    assert entries["sub-03"].eligible


def test_scanning_a_subject_folder_names_its_parent(tmp_path: Path) -> None:
    subject = make_subject(tmp_path, "bert")
    hint = scan_mod.subject_folder_hint(subject)
    assert hint is not None
    assert str(tmp_path) in hint
    entries = {s.name: s for s in scan(subject)}
    assert str(tmp_path) in entries["mri"].reason
    assert scan_mod.subject_folder_hint(tmp_path) is None
