"""The import runner against the real local XNAT: verified imports, the policies for existing
resources, resume, cancel, and every injected fault (recovered, or that subject FAILED, never
"verified" while files are missing)."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from import_helpers import (
    PROJECT,
    RESOURCE,
    UPLOAD,
    local_files,
    plan_for,
    run,
    server_files,
    uploads,
)

from fsxnat_gui.core import errors, scan
from fsxnat_gui.core.jobs import Event
from fsxnat_gui.core.model import (
    OnExisting,
    Progress,
    RemoteFile,
    Stage,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.plan import make_plan
from fsxnat_gui.core.subject_import import file_differences
from fsxnat_gui.core.transfer import _Zipper
from fsxnat_gui.core.transport import CallPolicy
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.samples import make_subject

# --- comparing file lists (pure) ---------------------------------------------------------------


def test_file_differences_names_every_kind() -> None:
    local = {"s/a": (1, "m1"), "s/b": (2, "m2"), "s/c": (3, "m3"), "s/d": (4, "")}
    remote = [
        RemoteFile("s/b", 20, "m2"),
        RemoteFile("s/c", 3, "other"),
        RemoteFile("s/d", 4, "whatever"),
        RemoteFile("s/x", 1, ""),
    ]
    assert file_differences(local, remote) == (
        "1 file missing on the server: s/a; 1 file with another size: s/b; "
        "1 file with another MD5: s/c; 1 file on the server only: s/x"
    )
    assert file_differences(local, [RemoteFile(p, s, "") for p, (s, _) in local.items()]) == ""


def test_file_differences_shortens_long_lists() -> None:
    local = {f"s/{i:02d}": (1, "") for i in range(8)}
    assert file_differences(local, []) == (
        "8 files missing on the server: s/00, s/01, s/02, s/03, s/04, ... (3 more)"
    )


# --- imports ---------------------------------------------------------------------------------


def test_import_verified_file_by_file(
    subjects: list[Subject], client: XnatClient, xnat: Any, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    r = run(plan_for(subjects, client), client, workdir=workdir)
    assert r.status() == dict.fromkeys(("sub-01", "sub-02", "sub-03"), "imported")
    assert r.report.ok
    for s in subjects:
        result = r.results[s.name]
        assert result.verified
        assert server_files(client, f"{s.name}_MR1") == local_files(s)
        assert (result.files, result.bytes) == (s.files, s.bytes)
        assert 0 < result.uploaded_bytes <= s.bytes * 1.02, "deflated, or stored: headers only"
        assert result.experiment_uri == f"/data/projects/{PROJECT}/experiments/{s.name}_MR1"
        assert result.resource_uri == f"{result.experiment_uri}/resources/{RESOURCE}"
    assert list(workdir.iterdir()) == [], "the run's temp folder is removed"
    assert len(uploads(xnat)) == 3


def test_progress_events(subjects: list[Subject], client: XnatClient) -> None:
    r = run(plan_for(subjects[:2], client), client)
    mine = [p for p in r.progress if p.item == "sub-01"]
    stages = [p.stage for p in mine]
    # a stored zip is made while it is sent (core/zipstream.py): its first event is the upload's
    assert stages[0] in (Stage.ZIPPING, Stage.UPLOADING)
    assert Stage.VERIFYING in stages
    assert stages.index(Stage.UPLOADING) < stages.index(Stage.VERIFYING)
    overall = [p for p in r.progress if p.item == ""]
    assert overall, "overall events have item ''"
    assert [p.done for p in overall] == sorted(p.done for p in overall)
    assert overall[-1].done == overall[-1].total == sum(s.bytes or 0 for s in subjects[:2])
    assert len(mine) < 60, "throttled"


def test_progress_numbers_agree_and_server_processing_is_not_done(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    """Each subject event is followed by the run's; while the server processes an upload
    neither the subject nor the run is at 100 %, and the run needs at least the subject's time."""
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=0.6, count=0)
    r = run(plan_for(subjects[:2], client), client)
    progress = [e for e in r.events if isinstance(e, Progress | SubjectResult)]
    pairs = [
        (e, progress[i + 1]) for i, e in enumerate(progress) if isinstance(e, Progress) and e.item
    ]
    assert all(isinstance(run_event, Progress) and not run_event.item for _, run_event in pairs)
    processing = [(s, o) for s, o in pairs if s.stage is Stage.PROCESSING]
    assert {s.item for s, _ in processing} == {"sub-01", "sub-02"}
    for subject_event, run_event in processing:
        assert 0 < subject_event.fraction < 1
        assert subject_event.eta is not None
        assert subject_event.eta > 0
        assert isinstance(run_event, Progress)
        assert 0 < run_event.fraction < 1
        assert run_event.done < run_event.total
        assert run_event.eta is not None
        assert run_event.eta >= subject_event.eta
    for name in ("sub-01", "sub-02"):
        fractions = [s.fraction for s, _ in pairs if s.item == name]
        assert fractions == sorted(fractions), "a subject's bar never goes back"
    overall = [p for p in r.progress if not p.item]
    assert [p.fraction for p in overall] == sorted(p.fraction for p in overall)
    assert all(p.fraction < 1 for p in overall[:-1])
    assert overall[-1].fraction == 1.0
    assert overall[-1].done == overall[-1].total


def test_problem_items_fail_without_touching_the_server(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    plan = make_plan(subjects[:2], Target(PROJECT, create_project=True), {"sub-02": "bad label"})
    r = run(plan, client)
    assert r.status() == {"sub-01": "imported", "sub-02": "failed"}
    assert "'bad label' has characters XNAT does not allow" in r.results["sub-02"].error
    assert not any("bad" in q.path for q in xnat.faults.requests)


def test_missing_project_fails_every_subject(subjects: list[Subject], client: XnatClient) -> None:
    r = run(plan_for(subjects[:2], client, create_project=False), client)
    assert r.status() == {"sub-01": "failed", "sub-02": "failed"}
    assert r.results["sub-01"].error == f"project {PROJECT} does not exist on {client.url}"
    assert not client.project_exists(PROJECT)


def test_bad_password_fails_all_without_hammering(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    plan = plan_for(subjects, client)
    xnat.faults.clear_requests()
    with XnatClient(xnat.url, xnat.user, "wrong") as bad:
        r = run(plan, bad)
    assert set(r.status().values()) == {"failed"}
    errors = {res.error for res in r.results.values()}
    assert len(errors) == 1
    assert len(xnat.faults.requests) <= 2


def test_subject_changed_since_scan(subjects: list[Subject], client: XnatClient) -> None:
    plan = plan_for(subjects[:2], client)
    (subjects[0].path / "scripts" / "IsRunning.lh+rh").write_text("recon-all again\n")
    r = run(plan, client)
    assert r.status() == {"sub-01": "failed", "sub-02": "imported"}
    assert "sub-01 changed since the scan" in r.results["sub-01"].error
    assert "sub-01_MR1" not in client.list_experiments(PROJECT), "checked before any write"


# --- existing resources --------------------------------------------------------------------------


def change_content(subject: Subject, same_size: bool) -> None:
    stats = subject.path / "stats" / "aseg.stats"
    data = stats.read_bytes()
    stats.write_bytes(data[:-2] + b"X\n" if same_size else data + b"# edited\n")


def test_skip_identical_then_skip_but_different(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    run(plan_for(subjects[:2], client), client)
    xnat.faults.clear_requests()
    change_content(subjects[1], same_size=True)  # only the MD5 can tell
    again = run(plan_for(subjects[:2], client), client)
    assert again.status() == {"sub-01": "skipped", "sub-02": "failed"}
    assert again.results["sub-01"].verified
    assert again.results["sub-01"].uploaded_bytes == 0
    error = again.results["sub-02"].error
    assert "differs: 1 file with another MD5: sub-02/stats/aseg.stats" in error
    assert "choose replace" in error
    assert not again.results["sub-02"].verified
    assert uploads(xnat) == []
    assert server_files(client, "sub-02_MR1") != local_files(subjects[1])


def test_replace(subjects: list[Subject], client: XnatClient) -> None:
    run(plan_for(subjects[:1], client), client)
    change_content(subjects[0], same_size=False)
    subject = scan.measure(scan.classify(subjects[0].path))
    r = run(plan_for([subject], client, on_existing=OnExisting.REPLACE), client)
    assert r.status() == {"sub-01": "imported"}
    assert "replaced the previous FREESURFER7" in r.results["sub-01"].detail
    assert server_files(client, "sub-01_MR1") == local_files(subject)


def test_fail_policy(subjects: list[Subject], client: XnatClient, xnat: Any) -> None:
    run(plan_for(subjects[:1], client), client)
    before = server_files(client, "sub-01_MR1")
    xnat.faults.clear_requests()
    r = run(plan_for(subjects[:1], client, on_existing=OnExisting.FAIL), client)
    assert r.status() == {"sub-01": "failed"}
    assert "already exists on sub-01_MR1" in r.results["sub-01"].error
    assert "stop" in r.results["sub-01"].error
    assert uploads(xnat) == []
    assert server_files(client, "sub-01_MR1") == before


def test_empty_resource_is_reused(subjects: list[Subject], client: XnatClient) -> None:
    client.create_project(PROJECT)
    client.ensure_experiment(PROJECT, "sub-01", "sub-01_MR1")
    client.create_resource(PROJECT, "sub-01_MR1", RESOURCE)
    r = run(plan_for(subjects[:1], client), client)
    assert r.status() == {"sub-01": "imported"}
    assert server_files(client, "sub-01_MR1") == local_files(subjects[0])


def test_experiment_of_another_subject_is_never_moved(
    subjects: list[Subject], client: XnatClient
) -> None:
    client.create_project(PROJECT)
    client.ensure_experiment(PROJECT, "someone-else", "sub-01_MR1")
    r = run(plan_for(subjects[:1], client), client)
    assert r.status() == {"sub-01": "failed"}
    assert "belongs to subject someone-else" in r.results["sub-01"].error
    assert (
        client.list_experiments(PROJECT)["sub-01_MR1"].subject_id
        == (client.list_subjects(PROJECT)["someone-else"])
    )


# --- resume and cancel ----------------------------------------------------------------------


def test_resume_after_interruption(subjects: list[Subject], client: XnatClient) -> None:
    def stop_after_first(event: Event, cancel: threading.Event) -> None:
        if isinstance(event, SubjectResult):
            cancel.set()

    first = run(plan_for(subjects, client), client, parallel=1, on_event=stop_after_first)
    assert first.status() == {"sub-01": "imported", "sub-02": "cancelled", "sub-03": "cancelled"}
    assert not first.report.ok
    second = run(plan_for(subjects, client), client)
    assert second.status() == {"sub-01": "skipped", "sub-02": "imported", "sub-03": "imported"}
    assert second.report.ok


def test_cancel_mid_upload(
    subjects: list[Subject], client: XnatClient, xnat: Any, tmp_path: Path
) -> None:
    """A big, incompressible file and a server that is slow to read keep the upload going."""
    (subjects[0].path / "mri" / "big.mgz").write_bytes(os.urandom(24_000_000))
    subject = scan.measure(scan.classify(subjects[0].path))
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=1.5)
    cancelled_at: list[float] = []

    def cancel_while_uploading(event: Event, cancel: threading.Event) -> None:
        if isinstance(event, Progress) and event.stage is Stage.UPLOADING and not cancel.is_set():
            cancel.set()
            cancelled_at.append(time.monotonic())

    workdir = tmp_path / "work"
    r = run(
        plan_for([subject, *subjects[1:2]], client),
        client,
        workdir=workdir,
        parallel=1,
        on_event=cancel_while_uploading,
    )
    assert time.monotonic() - cancelled_at[0] < 2.0, "cancel honoured quickly"
    assert r.status() == {"sub-01": "cancelled", "sub-02": "cancelled"}
    assert "created by this run was deleted" in r.results["sub-01"].detail
    assert list(workdir.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("fsxnat-zip-")]
    deadline = time.monotonic() + 5  # let the server finish with the abandoned request
    while time.monotonic() < deadline and not uploads(xnat):
        time.sleep(0.05)
    assert "sub-01_MR1" not in client.list_experiments(PROJECT), "nothing left by this run"
    assert "sub-01" not in client.list_subjects(PROJECT)
    detail = r.results["sub-01"].detail
    assert "the experiment sub-01_MR1 created by this run was deleted" in detail
    assert "the subject sub-01 created by this run was deleted" in detail


# --- zipping the next subject during an upload ---------------------------------------------------


def test_next_subject_is_zipped_while_the_current_one_uploads(
    subjects: list[Subject],
    client: XnatClient,
    xnat: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """sub-02's zip is made (stored: read, described, ready to stream) by the zip-ahead thread
    while sub-01 is on the server."""
    caplog.set_level(logging.INFO, logger="fsxnat_gui.core")
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=0.5)  # sub-01's upload
    workdir = tmp_path / "work"
    seen_ahead: list[str] = []

    def during_sub01_upload(event: Event, cancel: threading.Event) -> None:
        processing = isinstance(event, Progress) and event.stage is Stage.PROCESSING
        if processing and event.item == "sub-01" and not seen_ahead:
            seen_ahead.extend(
                r.getMessage().split(":")[0]
                for r in caplog.records
                if r.threadName == "fsxnat-zip-sub-02"
                and r.getMessage().startswith(("ready to stream", "zipped"))
            )

    r = run(
        plan_for(subjects, client),
        client,
        workdir=workdir,
        parallel=1,
        on_event=during_sub01_upload,
    )
    assert set(r.status().values()) == {"imported"}
    assert seen_ahead == ["ready to stream sub-02"], "zipped while sub-01 was on the server"
    for subject in subjects:
        assert server_files(client, f"{subject.name}_MR1") == local_files(subject)
    assert list(workdir.iterdir()) == []


def test_subject_changed_after_being_zipped_ahead(
    subjects: list[Subject], client: XnatClient, xnat: Any, tmp_path: Path
) -> None:
    """recon-all starts on sub-02 after its zip was made ahead: sub-02 fails, its zip is
    discarded, sub-03 is still imported."""
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=0.5)
    running = subjects[1].path / "scripts" / "IsRunning.lh+rh"

    def start_recon_all(event: Event, cancel: threading.Event) -> None:
        if isinstance(event, Progress) and event.stage is Stage.PROCESSING and not running.exists():
            running.write_text("recon-all again\n")

    workdir = tmp_path / "work"
    r = run(
        plan_for(subjects, client), client, workdir=workdir, parallel=1, on_event=start_recon_all
    )
    assert r.status() == {"sub-01": "imported", "sub-02": "failed", "sub-03": "imported"}
    assert "sub-02 changed since the scan" in r.results["sub-02"].error
    assert list(workdir.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("fsxnat-zip-")]


# --- injected faults --------------------------------------------------------------------------


def test_500_after_body_is_retried(subjects: list[Subject], client: XnatClient, xnat: Any) -> None:
    xnat.faults.add("error_500_after_body", method="POST", path_regex=UPLOAD)
    pauses: list[float] = []
    r = run(plan_for(subjects[:1], client), client, sleep=pauses.append, backoff=0.5)
    assert r.status() == {"sub-01": "imported"}
    assert pauses == [0.5]
    assert [u.status for u in uploads(xnat)] == [500, 200]
    retrying = [p for p in r.progress if p.stage is Stage.RETRYING]
    assert "attempt 2 of 4" in retrying[0].message
    assert server_files(client, "sub-01_MR1") == local_files(subjects[0])


def test_dropped_connection_is_retried(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    xnat.faults.add("drop_mid_upload", method="POST", path_regex=UPLOAD, fraction=0.3)
    r = run(plan_for(subjects[:1], client), client)
    assert r.status() == {"sub-01": "imported"}
    assert [u.status for u in uploads(xnat)] == [None, 200]
    assert server_files(client, "sub-01_MR1") == local_files(subjects[0])


def test_504_after_store_is_not_uploaded_again(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    xnat.faults.add("timeout_504_after_store", method="POST", path_regex=UPLOAD)
    r = run(plan_for(subjects[:1], client), client)
    assert r.status() == {"sub-01": "imported"}
    assert len(uploads(xnat)) == 1
    assert "the server finished storing the files despite" in r.results["sub-01"].detail
    assert not [p for p in r.progress if p.stage is Stage.RETRYING]


def test_partial_store_is_never_verified(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    xnat.faults.add("partial_store", method="POST", path_regex=UPLOAD, count=0, fraction=0.5)
    r = run(plan_for(subjects[:2], client), client, retries=1)
    assert r.status() == {"sub-01": "failed", "sub-02": "failed"}
    result = r.results["sub-01"]
    assert not result.verified
    assert result.error.startswith("gave up after 2 attempts: ")
    assert "files missing on the server: sub-01/" in result.error
    assert "created by this run was deleted" in result.detail
    assert RESOURCE not in [x.label for x in client.list_resources(PROJECT, "sub-01_MR1")]


def test_partial_store_once_then_clean_retry(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    xnat.faults.add("partial_store", method="POST", path_regex=UPLOAD, fraction=0.5)
    r = run(plan_for(subjects[:1], client), client)
    assert r.status() == {"sub-01": "imported"}
    assert len(uploads(xnat)) == 2
    assert server_files(client, "sub-01_MR1") == local_files(subjects[0])


@pytest.mark.parametrize("nth", [1, 3])
def test_sessions_expire_mid_batch(
    subjects: list[Subject], client: XnatClient, xnat: Any, nth: int
) -> None:
    """Every session is dropped before the nth upload: the client logs in again by itself."""
    xnat.faults.add("expire_sessions", method="POST", path_regex=UPLOAD, nth=nth)
    r = run(plan_for(subjects, client), client)
    assert set(r.status().values()) == {"imported"}
    assert len(uploads(xnat)) == 3


def test_slow_listing_fails_that_subject_clearly(
    subjects: list[Subject], xnat: Any, fast: CallPolicy
) -> None:
    """A listing that stays too slow for every try (issue 10: one slow answer is tried again):
    the listing of the uploaded files, which verification needs."""
    with XnatClient(xnat.url, xnat.user, xnat.password, timeout=(5.0, 0.3), policy=fast) as client:
        plan = plan_for(subjects[:2], client)
        xnat.faults.add(
            "slow",
            method="GET",
            path_regex=r"sub-01_MR1/resources/[^/]+/files$",
            delay=1.0,
            count=0,
        )
        r = run(plan, client)
    assert r.status() == {"sub-01": "failed", "sub-02": "imported"}
    assert "did not answer within 0.3 s" in r.results["sub-01"].error


def test_slow_upload_found_complete_after_the_pause(subjects: list[Subject], xnat: Any) -> None:
    """The answer times out, the server finishes later: the retry finds the files and sends
    nothing again."""
    with XnatClient(xnat.url, xnat.user, xnat.password, timeout=(5.0, 0.4)) as client:
        plan = plan_for(subjects[:1], client)
        xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=0.8)
        r = run(plan, client, sleep=time.sleep, backoff=1.5)
        assert r.status() == {"sub-01": "imported"}
        assert len(uploads(xnat)) == 1
        assert "earlier attempt" in r.results["sub-01"].detail
        assert server_files(client, "sub-01_MR1") == local_files(subjects[0])


def test_retry_racing_the_first_upload_is_verified_not_deleted(
    subjects: list[Subject], xnat: Any
) -> None:
    """The first upload times out while the server is still storing it; the retry (sent before
    the server finished) gets the duplicates answer: the files are checked, the subject is
    imported, and nothing is deleted (xnat-rest.md §3.3, proxy timeouts)."""
    with XnatClient(xnat.url, xnat.user, xnat.password, timeout=(5.0, 2.0)) as client:
        plan = plan_for(subjects[:1], client)
        xnat.faults.add("slow", method="POST", path_regex=UPLOAD, nth=1, delay=3.0)
        xnat.faults.add("slow", method="POST", path_regex=UPLOAD, nth=2, delay=1.5)
        r = run(plan, client)
        assert r.status() == {"sub-01": "imported"}
        assert r.results["sub-01"].verified
        assert "deleted" not in r.results["sub-01"].detail
        assert server_files(client, "sub-01_MR1") == local_files(subjects[0])


def test_edit_saved_after_the_zip_ahead_is_uploaded_not_the_old_file(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    """A same-size edit of sub-02 saved while sub-01 uploads (after sub-02 was zipped ahead):
    the zip is made again, so the server gets the edited file."""
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, nth=1, delay=0.5)
    edited = subjects[1].path / "mri" / "aseg.mgz"
    done: list[bool] = []

    def read_ahead() -> bool:  # sub-02's zip made ahead has read its files
        ahead = [t for t in threading.enumerate() if t.name == "fsxnat-zip-sub-02"]
        return any(t.read.is_set() for t in ahead if isinstance(t, _Zipper))

    def edit_during_sub01(event: Event, cancel: threading.Event) -> None:
        processing = isinstance(event, Progress) and event.stage is Stage.PROCESSING
        if processing and event.item == "sub-01" and not done and read_ahead():
            edited.write_bytes(os.urandom(edited.stat().st_size))
            done.append(True)

    r = run(plan_for(subjects[:2], client), client, parallel=1, on_event=edit_during_sub01)
    assert done, "the edit was made while sub-01 was on the server"
    assert r.status() == {"sub-01": "imported", "sub-02": "imported"}
    assert server_files(client, "sub-02_MR1") == local_files(subjects[1])


# --- several subjects in flight ---------------------------------------------------------------

IN_FLIGHT = (Stage.UPLOADING, Stage.PROCESSING)


def more_subjects(subjects: list[Subject], n: int) -> list[Subject]:
    """The fixture's subjects and more of the same size, up to n."""
    root = subjects[0].path.parent
    for i in range(len(subjects), n):
        make_subject(root, f"sub-{i + 1:02d}", seed=i)
    return [s for s in scan.scan(root) if s.eligible][:n]


def test_several_streams_import_every_subject_at_once(
    subjects: list[Subject], client: XnatClient, xnat: Any, tmp_path: Path
) -> None:
    """3 streams, 5 subjects: uploads overlap, at most 4 zips exist at any time, every subject
    is verified, the report is in plan order, nothing is left behind."""
    five = more_subjects(subjects, 5)
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=0.3, count=0)
    workdir = tmp_path / "work"
    stage: dict[str, Stage] = {}
    most_in_flight, most_zips = [0], [0]

    def watch(event: Event, cancel: threading.Event) -> None:
        if isinstance(event, Progress) and event.item:
            stage[event.item] = event.stage
        elif isinstance(event, SubjectResult):
            stage.pop(event.subject, None)
        most_in_flight[0] = max(most_in_flight[0], sum(s in IN_FLIGHT for s in stage.values()))
        most_zips[0] = max(most_zips[0], len(list(workdir.glob("*/*.zip"))))

    r = run(plan_for(five, client), client, workdir=workdir, parallel=3, on_event=watch)
    names = [s.name for s in five]
    assert r.status() == dict.fromkeys(names, "imported")
    assert [res.subject for res in r.report.results] == names, "the report in plan order"
    assert r.report.ok
    for s in five:
        assert server_files(client, f"{s.name}_MR1") == local_files(s)
    assert most_in_flight[0] >= 2, "uploads were in flight together"
    assert most_zips[0] <= 4, "at most N + 1 zips on disk"
    assert len(uploads(xnat)) == 5
    assert list(workdir.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("fsxnat-stream-")]
    overall = [p for p in r.progress if not p.item]
    assert [p.fraction for p in overall] == sorted(p.fraction for p in overall)
    assert overall[-1].fraction == 1.0


def test_cancel_with_several_streams(
    subjects: list[Subject], client: XnatClient, xnat: Any, tmp_path: Path
) -> None:
    """Cancelled while three uploads are in flight: the run ends within 2 s, every subject is
    cancelled, no partial resource and no zip is left behind."""
    for s in subjects:
        (s.path / "mri" / "big.mgz").write_bytes(os.urandom(12_000_000))
    measured = [scan.measure(scan.classify(s.path)) for s in subjects]
    xnat.faults.add("slow", method="POST", path_regex=UPLOAD, delay=1.5, count=0)
    cancelled_at: list[float] = []
    sending: set[str] = set()

    def cancel_while_uploading(event: Event, cancel: threading.Event) -> None:
        if isinstance(event, Progress) and event.stage is Stage.UPLOADING:
            sending.add(event.item)
            if not cancel.is_set():
                cancel.set()
                cancelled_at.append(time.monotonic())

    workdir = tmp_path / "work"
    r = run(
        plan_for(measured, client),
        client,
        workdir=workdir,
        parallel=3,
        on_event=cancel_while_uploading,
    )
    assert time.monotonic() - cancelled_at[0] < 2.0, "cancel honoured quickly"
    assert set(r.status().values()) == {"cancelled"}
    assert list(workdir.iterdir()) == []
    alive = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(("fsxnat-zip-", "fsxnat-stream-"))
    ]
    assert alive == []
    deadline = time.monotonic() + 5  # let the server finish with the abandoned requests
    while time.monotonic() < deadline and len(uploads(xnat)) < len(sending):
        time.sleep(0.05)
    for s in measured:
        result = r.results[s.name]
        try:
            labels = [x.label for x in client.list_resources(PROJECT, f"{s.name}_MR1")]
        except errors.NotFound:
            continue  # the run deleted the empty session it had created: nothing partial
        if RESOURCE in labels:
            # only when every byte was sent and the server stored them: complete, and said so
            assert "still processing the upload when it was cancelled" in result.detail
            assert server_files(client, f"{s.name}_MR1") == local_files(s)


def test_resume_with_several_streams(subjects: list[Subject], client: XnatClient) -> None:
    def stop_after_first(event: Event, cancel: threading.Event) -> None:
        if isinstance(event, SubjectResult):
            cancel.set()

    first = run(plan_for(subjects, client), client, parallel=2, on_event=stop_after_first)
    assert "imported" in first.status().values()
    assert not first.report.ok
    second = run(plan_for(subjects, client), client, parallel=2)
    assert second.report.ok
    for name, status in first.status().items():
        assert second.results[name].status.value == (
            "skipped" if status == "imported" else "imported"
        )
    for s in subjects:
        assert server_files(client, f"{s.name}_MR1") == local_files(s)


def test_retries_and_expired_sessions_with_several_streams(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    """One session shared by the streams: it expires mid-batch and is renewed; an upload
    answered 500 and one stored in part are each retried; all verified."""
    xnat.faults.add("error_500_after_body", method="POST", path_regex=UPLOAD, nth=1)
    xnat.faults.add("partial_store", method="POST", path_regex=UPLOAD, nth=2, fraction=0.5)
    xnat.faults.add("expire_sessions", method="POST", path_regex=UPLOAD, nth=3)
    r = run(plan_for(subjects, client), client, parallel=3)
    assert r.status() == dict.fromkeys((s.name for s in subjects), "imported")
    assert len(uploads(xnat)) == 5
    for s in subjects:
        assert server_files(client, f"{s.name}_MR1") == local_files(s)


def test_policies_with_several_streams(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    run(plan_for(subjects, client), client, parallel=3)
    change_content(subjects[1], same_size=True)
    xnat.faults.clear_requests()
    skip = run(plan_for(subjects, client), client, parallel=3)
    assert skip.status() == {"sub-01": "skipped", "sub-02": "failed", "sub-03": "skipped"}
    assert uploads(xnat) == []
    fail = run(plan_for(subjects, client, on_existing=OnExisting.FAIL), client, parallel=3)
    assert set(fail.status().values()) == {"failed"}
    assert uploads(xnat) == []
    replace = run(plan_for(subjects, client, on_existing=OnExisting.REPLACE), client, parallel=3)
    assert set(replace.status().values()) == {"imported"}
    for s in subjects:
        assert server_files(client, f"{s.name}_MR1") == local_files(s)


def test_a_session_xnat_just_created_is_not_listed(
    subjects: list[Subject], client: XnatClient, xnat: Any
) -> None:
    """XNAT answered 201 for the new session: it holds nothing, so its resources are not
    listed (one round trip less a subject); a session that was there is listed first."""
    client.create_project(PROJECT)
    client.ensure_experiment(PROJECT, "sub-02", "sub-02_MR1")  # there before the run
    r = run(plan_for(subjects[:2], client), client)
    assert r.status() == {"sub-01": "imported", "sub-02": "imported"}
    listed = [q.path for q in xnat.faults.requests if q.method == "GET"]
    assert not [p for p in listed if p.endswith("/sub-01_MR1/resources")]
    assert [p for p in listed if p.endswith("/sub-02_MR1/resources")]
