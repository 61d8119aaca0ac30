"""JobRunner (STYLE §3.3) and the JobQueue in front of it."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from pathlib import Path

from pytestqt.qtbot import QtBot

from fsxnat_gui.core.errors import Cancelled, ScanError
from fsxnat_gui.core.login import Credentials, LoginResult, make_client
from fsxnat_gui.core.model import ServerInfo
from fsxnat_gui.gui import tasks
from fsxnat_gui.gui.runner import Job, JobQueue, JobRunner


def counting(n: int, cancel: threading.Event) -> Iterator[object]:
    for i in range(n):
        if cancel.is_set():
            raise Cancelled()
        yield i


def blocking(started: threading.Event, cancel: threading.Event) -> Iterator[object]:
    started.set()
    yield "started"
    while not cancel.wait(0.01):
        pass
    raise Cancelled()


def test_runner_relays_progress_then_succeeds(qtbot: QtBot, runner: JobRunner) -> None:
    seen: list[object] = []
    runner.progress.connect(seen.append)
    with qtbot.waitSignals([runner.returned, runner.finished], order="strict", timeout=5000):
        runner.start(lambda cancel: counting(5, cancel))
    assert seen == [0, 1, 2, 3, 4]
    assert not runner.running


def test_a_jobs_result_is_its_return_value(qtbot: QtBot, runner: JobRunner) -> None:
    """A generator's `return` value (not a last yield), or a plain function's, is the result."""

    def steps(cancel: threading.Event) -> Iterator[object]:
        yield "working"
        return {"answer": 42}

    seen: list[object] = []
    runner.progress.connect(seen.append)
    with qtbot.waitSignal(runner.returned, timeout=5000) as blocker:
        runner.start(steps)
    assert blocker.args == [{"answer": 42}]
    assert seen == ["working"]
    qtbot.waitUntil(lambda: not runner.running)

    jobs = JobQueue(runner)
    results: list[object] = []
    jobs.submit(Job("plain", lambda cancel: ["a", "list"], on_result=results.append))
    qtbot.waitUntil(lambda: not jobs.busy(), timeout=5000)
    assert results == [["a", "list"]]


def test_runner_reports_failure_with_the_exception(qtbot: QtBot, runner: JobRunner) -> None:
    def failing(cancel: threading.Event) -> Iterator[object]:
        yield 1
        raise ScanError("The folder cannot be read.")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(failing)
    assert isinstance(blocker.args[0], ScanError)
    qtbot.waitUntil(lambda: not runner.running)


def test_runner_cancel_stops_a_running_job(qtbot: QtBot, runner: JobRunner) -> None:
    started = threading.Event()
    runner.start(lambda cancel: blocking(started, cancel))
    assert started.wait(5)
    with qtbot.waitSignals([runner.cancelled, runner.finished], order="strict", timeout=2000):
        runner.cancel()


def test_queue_runs_jobs_in_order_and_supersedes_older_ones(
    qtbot: QtBot, runner: JobRunner
) -> None:
    jobs = JobQueue(runner)
    started = threading.Event()
    outcome: list[str] = []
    runner.cancelled.connect(lambda: outcome.append("scan-1 cancelled"))
    jobs.submit(Job("scan", lambda c: blocking(started, c)))
    assert started.wait(5)
    # queued behind the scan: the first preview is replaced by the second before it runs
    jobs.submit(
        Job(
            "preview",
            lambda c: counting(1, c),
            supersede=True,
            on_result=lambda _: outcome.append("preview-1"),
        )
    )
    jobs.submit(
        Job("preview", lambda c: counting(1, c), on_result=lambda _: outcome.append("preview-2"))
    )
    assert jobs.busy("preview")
    assert jobs.current == "scan"
    # a new scan cancels the running one and runs after it
    jobs.submit(Job("scan", lambda c: counting(2, c), on_result=lambda _: outcome.append("scan-2")))
    qtbot.waitUntil(lambda: not jobs.busy(), timeout=5000)
    assert outcome == ["scan-1 cancelled", "preview-2", "scan-2"]


def test_queue_close_refuses_new_jobs(qtbot: QtBot, runner: JobRunner) -> None:
    jobs = JobQueue(runner)
    jobs.close()
    jobs.submit(Job("scan", lambda c: counting(1, c)))
    assert not jobs.busy()


def test_cancel_ends_a_queued_job_with_its_callbacks(qtbot: QtBot, runner: JobRunner) -> None:
    jobs = JobQueue(runner)
    started = threading.Event()
    jobs.submit(Job("scan", lambda cancel: blocking(started, cancel)))
    assert started.wait(5)
    calls: list[str] = []
    jobs.submit(
        Job(
            "import",
            lambda cancel: counting(3, cancel),
            on_start=lambda: calls.append("start"),
            on_result=lambda _: calls.append("result"),
            on_finish=lambda: calls.append("finish"),
        )
    )
    with qtbot.waitSignal(jobs.job_finished, timeout=1000) as blocker:
        jobs.cancel("import")
    assert blocker.args == ["import"]
    assert calls == ["finish"]  # it never started, and ended
    assert jobs.busy("scan")
    assert not jobs.busy("import")
    jobs.cancel()
    qtbot.waitUntil(lambda: not jobs.busy(), timeout=2000)


def test_no_secret_in_the_repr_of_jobs_and_results(tmp_path: Path) -> None:
    secret = "s3cret-Pw-Zq9"
    info = ServerInfo("http://xnat.example.org", "alice", "1.8.10")
    steps = functools.partial(
        tasks.login, make_client, info.url, Credentials("alice", secret), True, False
    )
    job = Job("login", steps, on_result=lambda _: None)
    result = LoginResult(info, Credentials("alias-1", secret, token=True))
    with contextlib.ExitStack() as stack:
        demo = tasks.DemoReady(info.url, secret, tmp_path, info, stack, tmp_path)
        for thing in (job, result, demo):
            assert secret not in repr(thing)
            assert secret not in str(thing)
    assert "login" in repr(job)
    assert "alias-1" in repr(result)
