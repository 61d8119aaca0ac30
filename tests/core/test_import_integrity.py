"""Issue 10, on the import's side: "imported" means the server holds the folder as it is on disk;
a cancelled run removes only the empty subject and experiment it created; files left out are
on the subject's result; a concurrent import never gets the advice to choose replace."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from import_helpers import PROJECT, RESOURCE, UPLOAD, local_files, plan_for, run, server_files

from fsxnat_gui.core import archive, scan, zipstream
from fsxnat_gui.core.jobs import Event
from fsxnat_gui.core.model import OnExisting, Progress, Stage, Subject, SubjectResult
from fsxnat_gui.core.xnat import XnatClient


def _rewrite(path: Path) -> None:
    """Same size, other bytes, a later modification time."""
    path.write_bytes(os.urandom(path.stat().st_size))
    later = time.time_ns() + 2_000_000_000
    os.utime(path, ns=(later, later))


def _first_file(subject: Subject) -> Path:
    """The file the zip starts with: read for its CRC before any byte of the zip is sent."""
    files, _warnings = archive.walk_subject(subject.path)
    return Path(files[0].path)


class _At:
    """An on_event hook rewriting `path` at the first `times` events of `stage`: ZIPPING ones
    that end it (every file read, the zip not yet closed), or any UPLOADING one."""

    def __init__(self, stage: Stage, times: int, path: Path) -> None:
        self.stage, self.times, self.path = stage, times, path
        self.done = 0

    def __call__(self, event: Event, cancel: threading.Event) -> None:
        if not isinstance(event, Progress) or event.stage is not self.stage or not event.item:
            return
        at_end = event.done >= event.total
        if self.done < self.times and (at_end or self.stage is not Stage.ZIPPING):
            _rewrite(self.path)
            self.done += 1


def test_a_file_modified_after_it_was_read_is_zipped_and_sent_again(
    subjects: list[Subject], client: XnatClient
) -> None:
    """The zip is streamed as its files are read: the first file, read for its CRC before the
    first byte is sent, is saved again while the zip is being sent: the server must get the
    new content."""
    first = _first_file(subjects[0])
    edited = _At(Stage.UPLOADING, 1, first)
    r = run(plan_for(subjects[:1], client), client, on_event=edited)
    assert edited.done == 1
    assert r.status() == {"sub-01": "imported"}
    assert server_files(client, "sub-01_MR1") == local_files(subjects[0])
    arcname = first.relative_to(subjects[0].path.parent).as_posix()
    assert f"{arcname} changed on disk after it was zipped" in r.results["sub-01"].detail


def test_a_file_modified_during_the_upload_is_sent_again(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    """Checked again before the subject is reported: the server's copy is replaced."""
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=0.5)  # events in flight
    edited = _At(Stage.UPLOADING, 1, subjects[0].path / "mri" / "aseg.mgz")
    r = run(plan_for(subjects[:1], client), client, on_event=edited)
    assert edited.done == 1
    assert r.status() == {"sub-01": "imported"}
    assert server_files(client, "sub-01_MR1") == local_files(subjects[0])


@pytest.mark.parametrize("stage", [Stage.UPLOADING, Stage.PROCESSING])
def test_a_large_file_modified_after_it_was_sent_is_sent_again(
    subjects: list[Subject], client: XnatClient, xnat: Any, stage: Stage
) -> None:
    """A file larger than zipstream.SMALL_FILE is read a third time for its MD5, while it is
    sent or while the server extracts it: saved again meanwhile, it is sent again, and the
    subject is reported only once the server holds the new content."""
    big = subjects[0].path / "mri" / "big.mgz"
    big.write_bytes(os.urandom(4 * zipstream.SMALL_FILE))
    subject = scan.measure(scan.classify(subjects[0].path))
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, nth=1, delay=0.5)
    edited = _At(stage, 1, big)
    r = run(plan_for([subject], client), client, on_event=edited)
    assert edited.done == 1
    assert r.status() == {"sub-01": "imported"}
    assert server_files(client, "sub-01_MR1") == local_files(subjects[0])
    assert "sub-01/mri/big.mgz changed on disk after it was zipped" in r.results["sub-01"].detail


def test_a_file_that_keeps_changing_fails_the_subject_naming_it(
    subjects: list[Subject], client: XnatClient
) -> None:
    first = _first_file(subjects[0])
    edited = _At(Stage.UPLOADING, 9, first)
    r = run(plan_for(subjects[:1], client), client, on_event=edited)
    result = r.results["sub-01"]
    assert r.status() == {"sub-01": "failed"}
    assert not result.verified
    arcname = first.relative_to(subjects[0].path.parent).as_posix()
    assert f"{arcname} kept changing on disk" in result.error
    assert not r.report.ok


def _cancel_mid_upload(event: Event, cancel: threading.Event) -> None:
    if isinstance(event, Progress) and event.stage is Stage.UPLOADING:
        cancel.set()


def test_a_cancel_keeps_what_existed_before_the_run(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    client.create_project(PROJECT)
    client.ensure_experiment(PROJECT, "sub-01", "sub-01_MR1")  # the subject and its session
    (subjects[0].path / "mri" / "big.mgz").write_bytes(os.urandom(8_000_000))
    subject = scan.measure(scan.classify(subjects[0].path))
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=1.0)
    r = run(plan_for([subject], client), client, on_event=_cancel_mid_upload)
    assert r.status() == {"sub-01": "cancelled"}
    assert "sub-01_MR1" in client.list_experiments(PROJECT)
    assert "sub-01" in client.list_subjects(PROJECT)
    assert "created by this run was deleted" in r.results["sub-01"].detail  # the resource
    assert "experiment sub-01_MR1 created" not in r.results["sub-01"].detail


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_files_left_out_are_on_the_subjects_result(
    subjects: list[Subject], client: XnatClient
) -> None:
    os.mkfifo(subjects[0].path / "scripts" / "pipe")
    (subjects[0].path / "surf" / "loop").symlink_to("loop")
    r = run(plan_for(subjects[:1], client), client)
    result = r.results["sub-01"]
    assert result.status.value == "imported"
    assert sorted(result.left_out) == [
        "scripts/pipe is a named pipe: not included",
        "surf/loop is a link loop (loop leads back to itself): not included",
    ]


def test_a_concurrent_import_never_advises_replace(
    subjects: list[Subject], client: XnatClient, xnat: Any, tmp_path: Path
) -> None:
    """Another import fills the resource while this one (policy replace) is about to upload:
    this one loses, and is told why, not to choose replace (it did)."""
    other_zip = tmp_path / "other.zip"
    steps = archive.zip_subject(subjects[0].path, other_zip, threading.Event())
    for _ in steps:
        pass
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=1.0)  # this run's upload
    sent: list[bool] = []

    def other_import(event: Event, cancel: threading.Event) -> None:
        if isinstance(event, Progress) and event.stage is Stage.UPLOADING and not sent:
            sent.append(True)
            with XnatClient(xnat.url, xnat.user, xnat.password) as other:
                other.upload_zip(PROJECT, "sub-01_MR1", RESOURCE, other_zip)

    plan = plan_for(subjects[:1], client, on_existing=OnExisting.REPLACE)
    r = run(plan, client, on_event=other_import)
    result = r.results["sub-01"]
    assert isinstance(result, SubjectResult)
    assert result.status.value == "failed"
    assert "another import" in result.error
    assert "choose replace" not in result.error.lower()


def test_a_run_that_meets_another_writer_leaves_the_others_files(
    subjects: list[Subject], client: XnatClient, xnat: Any, tmp_path: Path
) -> None:
    """This run created the resource, but another import stored the same files while this
    run's upload waited: XNAT answers with duplicates and this run fails. The resource is not
    deleted as "created by this run": the files in it are the other import's, which it may
    already have reported verified."""
    held = xnat.faults.add("hang", method="POST", path_regex=UPLOAD, count=1)
    other_zip = tmp_path / "other.zip"
    zipping = archive.zip_subject(subjects[0].path, other_zip, threading.Event(), deflate=False)
    for _progress in zipping:
        pass

    def other_import(event: Event, cancel: threading.Event) -> None:
        if held.fired == 1 and not held_done:
            held_done.append(True)
            with XnatClient(xnat.url, xnat.user, xnat.password) as other:
                other.upload_zip(PROJECT, "sub-01_MR1", RESOURCE, other_zip)
            xnat.faults.release()

    held_done: list[bool] = []
    r = run(plan_for(subjects[:1], client), client, on_event=other_import)
    assert held_done, "the other import stored its files while this run's upload was held"
    assert r.status() == {"sub-01": "failed"}
    assert "another import" in r.results["sub-01"].error
    assert server_files(client, "sub-01_MR1") == local_files(subjects[0])


@pytest.mark.parametrize(
    ("read_pass", "new_file", "size"),
    [
        ("_crc_entry", "stats/new.stats", 26),  # every file's first read
        ("_md5_entry", "mri/big.mgz", 4 * zipstream.SMALL_FILE),  # a large file's MD5 read
    ],
)
def test_replace_keeps_the_old_copy_when_the_folder_cannot_be_read(
    subjects: list[Subject],
    client: XnatClient,
    monkeypatch: pytest.MonkeyPatch,
    read_pass: str,
    new_file: str,
    size: int,
) -> None:
    """The new zip is streamed, but the previous resource is deleted only once every file has
    been read to the end (a large file twice: for its CRC, then for its MD5): a file that
    cannot be read fails the subject and leaves the server's copy. (A mock: tests run as
    root, who can read any file.)"""
    first = run(plan_for(subjects[:1], client), client)
    assert first.status() == {"sub-01": "imported"}
    before = server_files(client, "sub-01_MR1")
    (subjects[0].path / new_file).write_bytes(os.urandom(size))  # the old copy lacks it
    read = getattr(zipstream, read_pass)

    def unreadable(entry: Any, *args: Any) -> Any:
        if entry.local.arcname.endswith(new_file):
            raise archive.ArchiveError(f"Cannot read {entry.local.arcname}: input/output error.")
        return read(entry, *args)

    monkeypatch.setattr(zipstream, read_pass, unreadable)
    plan = plan_for(subjects[:1], client, on_existing=OnExisting.REPLACE)
    r = run(plan, client)
    assert r.status() == {"sub-01": "failed"}
    assert "input/output error" in r.results["sub-01"].error
    assert server_files(client, "sub-01_MR1") == before
