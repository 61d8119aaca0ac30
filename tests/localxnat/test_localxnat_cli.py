"""The fsxnat-localxnat command: URL line, default account, clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from fsxnat_gui.localxnat import cli

SCRIPT = Path(sys.executable).with_name("fsxnat-localxnat")


def start(args: list[str]) -> subprocess.Popen[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "fsxnat_gui.localxnat"]
    return subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signal(tmp_path: Path, sig: signal.Signals) -> None:
    process = start(["--root", str(tmp_path / "root")])
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("URL http://127.0.0.1:")
        url = first.split(" ", 1)[1]
        assert "admin" in process.stdout.readline()
        response = requests.get(f"{url}/data/auth", auth=("admin", "admin"), timeout=10)
        assert response.text == "User 'admin' is logged in"
        process.send_signal(sig)
        _out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "admin:admin" not in err


def test_cli_users_and_module_entry_point(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fsxnat_gui.localxnat",
            "--root",
            str(tmp_path),
            "--user",
            "alice:s3cret-pw",
            "--readonly-user",
            "bob:pw2",
            "--session-timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" ", 1)[1].strip()
        assert (
            requests.get(f"{url}/data/auth", auth=("admin", "admin"), timeout=10).status_code == 401
        )
        assert requests.get(f"{url}/data/auth", auth=("alice", "s3cret-pw"), timeout=10).ok
        assert (
            requests.put(f"{url}/data/projects/P", auth=("bob", "pw2"), timeout=10).status_code
            == 403
        )
        process.terminate()
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "s3cret-pw" not in out + err


def test_loopback_detection() -> None:
    assert cli._is_loopback("127.0.0.1")
    assert cli._is_loopback("::1")
    assert cli._is_loopback("localhost")
    assert not cli._is_loopback("0.0.0.0")


def test_bad_account_syntax(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--root", str(tmp_path), "--user", "nopassword"])
