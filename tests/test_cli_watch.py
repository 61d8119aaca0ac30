"""`fsxnat watch` as a user runs it (a subprocess against the local XNAT): a subject imported
within 30 s of its recon-all finishing, nothing imported twice across a restart, and Ctrl-C
stopping it within 5 s, also in the middle of an upload that hangs."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui.samples import finish_subject, make_subject

pytestmark = pytest.mark.slow


class Watch:
    """`fsxnat watch ...` in a subprocess, its output read line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fsxnat_gui.cli", "watch", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds until a line containing `text` appears."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if any(text in line for line in self.lines):
                return time.monotonic() - start
            try:
                self.lines.append(self._queue.get(timeout=0.2))
            except queue.Empty:
                if self.proc.poll() is not None and self._queue.empty():
                    break
        raise AssertionError(f"no line with {text!r} in {timeout} s:\n" + "\n".join(self.lines))

    def interrupt(self) -> tuple[int, float]:
        """SIGINT (Ctrl-C); the exit code and the seconds it took to exit."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=30)
        took = time.monotonic() - start
        time.sleep(0.2)
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return code, took


@pytest.fixture
def env(xnat: Any, tmp_path: Path, isolated_netrc: Path) -> dict[str, str]:
    return dict(
        os.environ,
        XNAT_PASS=xnat.password,
        XDG_STATE_HOME=str(tmp_path / "state"),
        NETRC=str(isolated_netrc),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for w in started:
        w.close()


def writes(xnat: Any) -> int:
    return sum(r.method in ("PUT", "POST", "DELETE") and r.path != "/data/JSESSION"
               for r in xnat.faults.requests)  # fmt: skip


def test_a_subject_is_imported_when_it_finishes_and_never_twice(
    xnat: Any, tmp_path: Path, env: dict[str, str], watches: list[Watch]
) -> None:
    sd = tmp_path / "subjects"
    make_subject(sd, "early")
    late = make_subject(sd, "late", variant="running", seed=1)
    args = [str(sd), "--server", xnat.url, "--user", xnat.user, "--project", "W",
            "--create-project", "--interval", "1", "--settle", "2"]  # fmt: skip
    watches.append(w := Watch(args, env))
    w.wait_for("early: imported and verified", timeout=60)
    finish_subject(late)
    took = w.wait_for("late: imported and verified", timeout=30)
    assert took < 30
    code, took = w.interrupt()
    assert code == 130
    assert took < 5
    assert w.lines[-1].endswith("stopped")
    assert "Traceback" not in "\n".join(w.lines)
    assert xnat.password not in "\n".join(w.lines)
    before = writes(xnat)
    # the restart: both recorded as imported; nothing sent again
    out = watch_once(args, env)
    assert "early: imported by an earlier run" in out
    assert "late: imported by an earlier run" in out
    assert writes(xnat) == before
    # a new state file (another machine, the state lost): the server's own check skips them
    out = watch_once(args, dict(env, XDG_STATE_HOME=str(tmp_path / "state2")))
    assert "early: skipped, identical on the server" in out
    assert writes(xnat) == before


def watch_once(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "fsxnat_gui.cli", "watch", *args, "--once"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_ctrl_c_during_a_hung_upload_stops_within_5_s(
    xnat: Any, tmp_path: Path, env: dict[str, str], watches: list[Watch]
) -> None:
    sd = tmp_path / "subjects"
    make_subject(sd, "s1")
    hang = xnat.faults.add("hang", method="POST", path_regex="/files")
    args = [str(sd), "--server", xnat.url, "--user", xnat.user, "--project", "H",
            "--create-project", "--interval", "1", "--settle", "0"]  # fmt: skip
    watches.append(w := Watch(args, env))
    w.wait_for("s1: recon-all finished: importing", timeout=60)
    deadline = time.monotonic() + 30
    while not hang.fired and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hang.fired
    code, took = w.interrupt()
    xnat.faults.release()
    assert code == 130
    assert took < 5, "\n".join(w.lines)
    assert "Traceback" not in "\n".join(w.lines)
