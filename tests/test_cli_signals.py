"""Ctrl-C on a real `fsxnat import` process while the server hangs (issue 10): exit 130 in
seconds, the report written, the subjects cancelled, cleanup never stuck on the hung server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui.samples import make_subject

SUBJECT_PUT = r"/data/projects/[^/]+/subjects/[^/]+$"
EXIT_WITHIN_S = 2.0


@pytest.fixture
def subjects_dir(tmp_path: Path) -> Path:
    root = tmp_path / "subjects"
    root.mkdir()
    for seed, name in enumerate(("sub-01", "sub-02")):
        make_subject(root, name, seed=seed)
    return root


def start(subjects_dir: Path, xnat: Any, report: Path) -> subprocess.Popen[str]:
    env = dict(
        os.environ, XNAT_PASS=xnat.password, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"
    )
    args = ["--server", xnat.url, "--user", xnat.user, "--project", "SIG", "--create-project"]
    args += ["--parallel", "1"]  # one subject at a time: the second waits behind the hung call
    return subprocess.Popen(
        [sys.executable, "-m", "fsxnat_gui.cli", "import", str(subjects_dir), *args, "--yes",
         "--report", str(report)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def interrupt(
    subjects_dir: Path, xnat: Any, report: Path, *, hang_all: bool = False, signals: int = 1
) -> tuple[int, float, str, str]:
    """Run an import whose subject PUT hangs; once it waits, Ctrl-C `signals` times (0.3 s
    apart), every later call hanging too with `hang_all`. (exit code, seconds from the first
    Ctrl-C to the exit, stdout, stderr)."""
    rule = xnat.faults.add("hang", method="PUT", path_regex=SUBJECT_PUT)
    with start(subjects_dir, xnat, report) as proc:
        deadline = time.monotonic() + 30
        while rule.fired == 0:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the hung call never came"
            time.sleep(0.02)
        time.sleep(0.2)  # the client is waiting on the hung answer
        if hang_all:
            xnat.faults.add("hang", count=0)  # the cleanup's calls hang too
        started = time.monotonic()
        for n in range(signals):
            if n:
                time.sleep(0.3)  # the first cancel's cleanup is waiting on the hung server
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    return proc.returncode, time.monotonic() - started, out, err


def statuses(report: Path) -> list[str]:
    return [s["status"] for s in json.loads(report.read_text())["subjects"]]


def test_one_ctrl_c_during_a_hung_subject_put(
    subjects_dir: Path, xnat: Any, tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    code, seconds, out, err = interrupt(subjects_dir, xnat, report)
    assert code == 130, out + err
    assert seconds < EXIT_WITHIN_S, f"exit took {seconds:.1f} s"
    assert statuses(report) == ["cancelled", "cancelled"], "cancelled, not failed"
    assert "sub-01: CANCELLED" in out
    assert "run the same command again" in out
    assert "choose replace" not in out


def test_cleanup_after_ctrl_c_never_waits_long_on_a_hung_server(
    subjects_dir: Path, xnat: Any, tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    code, seconds, out, err = interrupt(subjects_dir, xnat, report, hang_all=True)
    assert code == 130, out + err
    assert seconds < 2 * EXIT_WITHIN_S, f"exit took {seconds:.1f} s"  # 2 s a cleanup call
    assert statuses(report) == ["cancelled", "cancelled"]


def test_a_second_ctrl_c_still_writes_the_report(
    subjects_dir: Path, xnat: Any, tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    code, seconds, out, err = interrupt(subjects_dir, xnat, report, hang_all=True, signals=2)
    assert code == 130, out + err
    assert seconds < EXIT_WITHIN_S, f"exit took {seconds:.1f} s"
    assert statuses(report) == ["cancelled", "cancelled"]
    assert report.with_suffix(".csv").is_file()
