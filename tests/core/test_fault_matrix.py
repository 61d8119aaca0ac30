"""The fault matrix of issue 10: real HTTP to the local XNAT, the real client and run_import.

A single fault (500, 503 with Retry-After, a dropped connection, a hang) on each kind of metadata
call and on the upload: the subject is imported and verified, in bounded time. A fault that
never clears: an honest failure, nothing reported imported. A cancel during a hung call: the
run ends within 2 s, the subject CANCELLED."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from import_helpers import PROJECT, UPLOAD, local_files, plan_for, run, server_files

from fsxnat_gui.core.model import Subject
from fsxnat_gui.core.transport import CallPolicy
from fsxnat_gui.core.xnat import XnatClient

READ = 0.5  # a metadata call's read timeout in these tests
UPLOAD_READ = 3.0  # an upload's
POLICY = CallPolicy(read=READ, attempts=3, backoff=0.01, max_pause=1.5, cleanup=0.5)
BOUND = 15.0  # seconds any single-fault scenario may take, all of it

CALLS = {  # the kinds of metadata calls of a run, and the upload: (method, path regex)
    "subject PUT": ("PUT", rf"^/data/projects/{PROJECT}/subjects/[^/]+$"),
    "experiment PUT": ("PUT", r"/subjects/[^/]+/experiments/[^/]+$"),
    "resource PUT": ("PUT", r"/resources/[^/]+$"),
    "subjects listing": ("GET", rf"^/data/projects/{PROJECT}/subjects$"),
    "experiments listing": ("GET", rf"^/data/projects/{PROJECT}/experiments$"),
    "files listing": ("GET", r"/files$"),
    "upload": ("POST", UPLOAD),
}
FAULTS = {  # one fault, as Faults.add's keywords
    "500": {"kind": "error_500_after_body"},
    "503 Retry-After": {"kind": "error_503", "retry_after": 1},
    "dropped": {"kind": "drop"},
    "hang": {"kind": "hang", "delay": READ + 1.5},
}


@pytest.fixture
def fast_client(xnat: Any) -> Iterator[XnatClient]:
    with XnatClient(
        xnat.url, xnat.user, xnat.password, timeout=(2.0, UPLOAD_READ), policy=POLICY
    ) as client:
        client.login()
        yield client


def _add(xnat: Any, call: str, fault: str, **extra: Any) -> Any:
    method, path = CALLS[call]
    keywords = dict(FAULTS[fault])
    kind = keywords.pop("kind")
    if kind == "hang" and call == "upload":
        keywords["delay"] = UPLOAD_READ + 1.0  # past the upload's own read timeout
    keywords.update(extra)
    return xnat.faults.add(kind, method=method, path_regex=path, **keywords)


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("call", list(CALLS))
def test_a_single_fault_is_recovered(
    subjects: list[Subject], fast_client: XnatClient, xnat: Any, call: str, fault: str
) -> None:
    plan = plan_for(subjects[:1], fast_client)
    rule = _add(xnat, call, fault)
    started = time.monotonic()
    r = run(plan, fast_client, sleep=time.sleep, backoff=0.05)
    elapsed = time.monotonic() - started
    assert rule.fired == 1, "the fault happened"
    assert r.status() == {"sub-01": "imported"}, r.results["sub-01"].error
    assert r.results["sub-01"].verified
    assert r.report.ok
    assert server_files(fast_client, "sub-01_MR1") == local_files(subjects[0])
    assert elapsed < BOUND


def test_503_waits_as_long_as_retry_after_says(
    subjects: list[Subject], fast_client: XnatClient, xnat: Any
) -> None:
    plan = plan_for(subjects[:1], fast_client)
    _add(xnat, "subject PUT", "503 Retry-After")
    r = run(plan, fast_client)
    assert r.status() == {"sub-01": "imported"}
    puts = [q for q in xnat.faults.requests if q.method == "PUT" and "/subjects/" in q.path]
    first, second = puts[0], puts[1]
    assert (first.status, second.status) == (503, 201)
    assert second.started - first.finished >= 0.9, "Retry-After: 1 honoured"


@pytest.mark.parametrize("call", [c for c in CALLS if c != "upload"])
def test_a_fault_that_never_clears_is_an_honest_failure(
    subjects: list[Subject], fast_client: XnatClient, xnat: Any, call: str
) -> None:
    plan = plan_for(subjects[:2], fast_client)
    _add(xnat, call, "500", count=0)
    started = time.monotonic()
    r = run(plan, fast_client, retries=1)
    assert time.monotonic() - started < BOUND
    assert set(r.status().values()) == {"failed"}
    assert not r.report.ok
    assert not any(result.verified for result in r.results.values())
    for result in r.results.values():
        assert "HTTP 500" in result.error


def test_an_upload_that_never_succeeds_is_an_honest_failure(
    subjects: list[Subject], fast_client: XnatClient, xnat: Any
) -> None:
    plan = plan_for(subjects[:1], fast_client)
    _add(xnat, "upload", "dropped", count=0)
    r = run(plan, fast_client, retries=1)
    assert r.status() == {"sub-01": "failed"}
    assert r.results["sub-01"].error.startswith("gave up after 2 attempts")
    assert not r.report.ok


@pytest.mark.parametrize("call", ["subject PUT", "experiment PUT", "resource PUT", "files listing"])
def test_cancel_during_a_hung_call_ends_the_run_within_2_s(
    subjects: list[Subject], fast_client: XnatClient, xnat: Any, call: str
) -> None:
    """The server never answers (no read timeout would end it soon: the client's is raised to a
    minute); the cancel abandons the call."""
    with XnatClient(
        xnat.url, xnat.user, xnat.password, timeout=(2.0, 60.0), policy=CallPolicy(read=60.0)
    ) as client:
        plan = plan_for(subjects[:2], client)
        rule = _add(xnat, call, "hang", delay=0.0)
        cancel = threading.Event()
        cancelled_at: list[float] = []

        def cancel_once_hung() -> None:
            while not rule.fired:
                time.sleep(0.02)
            time.sleep(0.3)
            cancelled_at.append(time.monotonic())
            cancel.set()

        threading.Thread(target=cancel_once_hung, daemon=True).start()
        r = run(plan, client, cancel=cancel)
        ended = time.monotonic()
        client.close()
        closed = time.monotonic()
    rule.release()
    assert ended - cancelled_at[0] < 2.0
    assert closed - ended < 2.0, "the end of the XNAT session has a short timeout"
    assert r.status() == {"sub-01": "cancelled", "sub-02": "cancelled"}
    assert not r.report.ok


def test_cancel_during_the_hung_project_listing(subjects: list[Subject], xnat: Any) -> None:
    with XnatClient(
        xnat.url, xnat.user, xnat.password, timeout=(2.0, 60.0), policy=CallPolicy(read=60.0)
    ) as client:
        plan = plan_for(subjects[:2], client)
        rule = _add(xnat, "subjects listing", "hang", delay=0.0)
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        r = run(plan, client, cancel=cancel)
        ended = time.monotonic()
    rule.release()
    assert ended - started < 2.5
    assert r.status() == {"sub-01": "cancelled", "sub-02": "cancelled"}


def test_a_resource_created_by_a_try_whose_answer_was_lost(
    subjects: list[Subject], fast_client: XnatClient, xnat: Any
) -> None:
    """The resource PUT is stored but its answer is lost: the next try is refused (it exists),
    the resource is looked at, and being empty, it is the first try's."""
    plan = plan_for(subjects[:1], fast_client)
    method, path = CALLS["resource PUT"]
    xnat.faults.add("drop_after_store", method=method, path_regex=path)
    r = run(plan, fast_client)
    assert r.status() == {"sub-01": "imported"}
    puts = [q.status for q in xnat.faults.requests if q.method == "PUT" and "/resources/" in q.path]
    assert puts == [None, 409]
    assert server_files(fast_client, "sub-01_MR1") == local_files(subjects[0])
