"""`fsxnat scan` and `fsxnat import` end to end against the local XNAT."""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui import cli
from fsxnat_gui.core import credentials, jobs
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.samples import make_subject

NAMES = ("sub-01", "sub-02")
REPORT_KEYS = {"subject", "status", "verified", "files", "bytes", "experiment_uri", "error"}

Main = Callable[..., tuple[int, str, str]]


@pytest.fixture
def subjects_dir(tmp_path: Path) -> Path:
    root = tmp_path / "subjects"
    root.mkdir()
    for seed, name in enumerate(NAMES):
        make_subject(root, name, seed=seed)
    make_subject(root, "busy", variant="running")
    return root


@pytest.fixture
def fsxnat(capsys: pytest.CaptureFixture[str]) -> Main:
    """Run `fsxnat ARGS...` in this process; (exit code, stdout, stderr)."""

    def main(*args: str | Path) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return main


@pytest.fixture
def login(xnat: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("XNAT_PASS", xnat.password)
    return ["--server", xnat.url, "--user", xnat.user, "--project", "CLI"]


def writes(xnat: Any) -> list[Any]:
    """Requests that change something in the archive (ending the session is not one)."""
    changes = ("PUT", "POST", "DELETE")
    return [r for r in xnat.faults.requests if r.method in changes and r.path != "/data/JSESSION"]


def assert_one_line_error(err: str, text: str) -> None:
    assert err.startswith("fsxnat: error: ")
    assert text in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


# --- scan -----------------------------------------------------------------------------------------


def test_scan_table(subjects_dir: Path, fsxnat: Main) -> None:
    code, out, _ = fsxnat("scan", subjects_dir)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME", "KIND", "STATE", "IMPORT", "VERSION", "FILES", "SIZE", "REASON"
    ]  # fmt: skip
    busy = next(line for line in lines if line.startswith("busy"))
    assert busy.split()[1:4] == ["subject", "running", "no"]
    sub = next(line for line in lines if line.startswith("sub-01"))
    assert sub.split()[1:6] == ["subject", "done", "yes", "7.4.1", "74"]
    assert lines[1].index("subject") == lines[0].index("KIND"), "aligned columns"
    assert lines[-1].startswith("2 of 3 entries can be imported (")


def test_scan_json(subjects_dir: Path, fsxnat: Main) -> None:
    code, out, _ = fsxnat("scan", subjects_dir, "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"busy", *NAMES}
    for row in rows.values():
        assert {"name", "kind", "state", "eligible", "reason", "version", "files", "bytes"} <= set(
            row
        )
    assert rows["sub-01"]["eligible"] is True
    assert rows["sub-01"]["kind"] == "subject"
    assert rows["busy"]["eligible"] is False
    assert rows["busy"]["state"] == "running"
    assert isinstance(rows["sub-01"]["bytes"], int)


def test_scan_missing_folder(tmp_path: Path, fsxnat: Main) -> None:
    code, _, err = fsxnat("scan", tmp_path / "nope")
    assert code == 1
    assert_one_line_error(err, "does not exist")


# --- import -----------------------------------------------------------------------------------


def test_dry_run_sends_nothing(
    subjects_dir: Path, fsxnat: Main, login: list[str], xnat: Any
) -> None:
    code, out, _ = fsxnat("import", subjects_dir, *login, "--create-project", "--dry-run")
    assert code == 0
    assert "project CLI  [new]  will be created" in out
    assert "      resource FREESURFER7  [new]  74 files" in out
    assert "busy" not in out
    assert "dry run: nothing was sent." in out
    assert writes(xnat) == []


def test_import_with_report_then_again(
    subjects_dir: Path, fsxnat: Main, login: list[str], tmp_path: Path
) -> None:
    report = tmp_path / "out" / "run.json"
    report.parent.mkdir()
    code, out, _ = fsxnat(
        "import", subjects_dir, *login, "--create-project", "--yes", "--report", report
    )
    assert code == 0, out
    assert "sub-01: imported and verified (74 files" in out
    assert "2 imported." in out
    data = json.loads(report.read_text())
    assert data["ok"] is True
    assert data["project"] == "CLI"
    assert [s["subject"] for s in data["subjects"]] == list(NAMES)
    for row in data["subjects"]:
        assert set(row) >= REPORT_KEYS
        assert (row["status"], row["verified"], row["error"]) == ("imported", True, "")
        assert row["experiment_uri"] == f"/data/projects/CLI/experiments/{row['subject']}_MR1"
    assert report.with_suffix(".csv").read_text().count("\n") == 3

    code, out, _ = fsxnat("import", subjects_dir, *login, "--subject", "sub-02", "--yes")
    assert code == 0
    assert "sub-02: skipped, identical on the server" in out


def test_failed_subject_exits_non_zero_with_reason(
    subjects_dir: Path, fsxnat: Main, login: list[str], xnat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        cli, "run_import", functools.partial(jobs.run_import, retries=1, sleep=lambda s: None)
    )
    xnat.faults.add("partial_store", method="POST", path_regex="/files", count=0)
    code, out, _ = fsxnat("import", subjects_dir, *login, "--create-project", "--yes")
    assert code == 1
    assert "sub-01: FAILED: gave up after 2 attempts: " in out
    assert "missing on the server" in out
    assert "2 failed." in out


def test_ineligible_subject_is_refused(subjects_dir: Path, fsxnat: Main, login: list[str]) -> None:
    code, _, err = fsxnat("import", subjects_dir, *login, "--subject", "busy", "nobody", "--yes")
    assert code == 2
    assert_one_line_error(err, "cannot import busy: recon-all is running")
    assert "nobody: no such entry in" in err


def test_plan_conflict_stops_before_any_write(
    subjects_dir: Path, fsxnat: Main, login: list[str], xnat: Any
) -> None:
    code, out, err = fsxnat("import", subjects_dir, *login, "--yes")
    assert code == 2
    assert "project CLI  [conflict]" in out
    assert "the plan cannot run:" in err
    assert "project CLI: project CLI does not exist" in err
    assert writes(xnat) == []


def test_confirmation_needs_a_terminal_or_yes(
    subjects_dir: Path, fsxnat: Main, login: list[str]
) -> None:
    code, _, err = fsxnat("import", subjects_dir, *login, "--create-project")
    assert code == 2
    assert "add --yes" in err


def test_bad_server_is_one_line(
    subjects_dir: Path, fsxnat: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XNAT_PASS", "pw")
    code, _, err = fsxnat(
        "import", subjects_dir, "--server", "http://127.0.0.1:9", "--user", "u", "--project", "P"
    )
    assert code == 1
    assert_one_line_error(err, "127.0.0.1:9")


def test_no_password(
    subjects_dir: Path, fsxnat: Main, xnat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XNAT_PASS", raising=False)
    code, _, err = fsxnat(
        "import", subjects_dir, "--server", xnat.url, "--user", xnat.user, "--project", "P"
    )
    assert code == 2
    assert_one_line_error(
        err, "no password: set XNAT_PASS, store it in the keyring, or use --config"
    )


def test_password_from_keyring(
    subjects_dir: Path, fsxnat: Main, xnat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XNAT_PASS", raising=False)
    assert credentials.save_secret(xnat.url, xnat.user, xnat.password)
    args = ["--server", xnat.url, "--user", xnat.user, "--project", "P", "--create-project"]
    code, out, _ = fsxnat("import", subjects_dir, *args, "--dry-run")
    assert code == 0, out


def test_alias_token_stored_by_the_window(
    subjects_dir: Path, fsxnat: Main, xnat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window stores an alias token, not the password: the CLI logs in with it."""
    monkeypatch.delenv("XNAT_PASS", raising=False)
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        token = client.issue_token()
    stored = credentials.encode_secret(token.alias, token.secret, token=True)
    assert credentials.save_secret(xnat.url, xnat.user, stored)
    args = ["--server", xnat.url, "--user", xnat.user, "--project", "P", "--create-project"]
    code, out, _ = fsxnat("import", subjects_dir, *args, "--dry-run")
    assert code == 0, out


def test_config_file(subjects_dir: Path, fsxnat: Main, xnat: Any, tmp_path: Path) -> None:
    config = tmp_path / "xnat.cfg"
    config.write_text(
        json.dumps({"server": xnat.url, "user": xnat.user, "password": xnat.password})
    )
    code, out, _ = fsxnat(
        "import",
        subjects_dir,
        "--config",
        config,
        "--project",
        "P",
        "--create-project",
        "--dry-run",
    )
    assert code == 0
    assert "logged in as owner" in out
    code, _, err = fsxnat(
        "import", subjects_dir, "--config", config, "--user", "x", "--project", "P"
    )
    assert code == 2
    assert "do not combine it" in err


def test_console_script_in_a_subprocess(subjects_dir: Path, xnat: Any, tmp_path: Path) -> None:
    env = dict(
        os.environ, XNAT_PASS=xnat.password, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"
    )
    report = tmp_path / "r.json"
    args = ["--server", xnat.url, "--user", xnat.user, "--project", "SUB", "--create-project"]
    done = subprocess.run(
        [sys.executable, "-m", "fsxnat_gui.cli", "import", str(subjects_dir), *args, "--yes",
         "--subject", "sub-01", "--report", str(report)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())["subjects"][0]["verified"] is True
    bad = subprocess.run(
        [sys.executable, "-m", "fsxnat_gui.cli", "import", str(subjects_dir), "--server",
         "http://127.0.0.1:9", "--user", "u", "--project", "P"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert_one_line_error(bad.stderr, "127.0.0.1:9")


def test_ctrl_c_cancels_cleanly(subjects_dir: Path, xnat: Any, tmp_path: Path) -> None:
    """SIGINT mid-upload: exit 130, the report says cancelled, no resource is left behind."""
    (subjects_dir / "sub-01" / "mri" / "big.mgz").write_bytes(os.urandom(16_000_000))
    # every upload is slow: with several streams sub-02's may come first
    xnat.faults.add("slow", method="POST", path_regex="/files", delay=1.0, count=0)
    env = dict(
        os.environ, XNAT_PASS=xnat.password, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"
    )
    report = tmp_path / "r.json"
    args = ["--server", xnat.url, "--user", xnat.user, "--project", "SIG", "--create-project"]
    with subprocess.Popen(
        [sys.executable, "-m", "fsxnat_gui.cli", "import", str(subjects_dir), *args, "--yes",
         "--report", str(report)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        assert proc.stderr is not None
        for line in proc.stderr:
            if "sub-01: uploading" in line:
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    statuses = [s["status"] for s in json.loads(report.read_text())["subjects"]]
    assert statuses == ["cancelled", "cancelled"]
    assert "Traceback" not in err
    deadline = time.monotonic() + 5  # the server is still sleeping on the abandoned upload
    while time.monotonic() < deadline and not [
        r for r in xnat.faults.requests if r.method == "POST" and "/files" in r.path
    ]:
        time.sleep(0.05)
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        assert client.list_resources("SIG", "sub-01_MR1") == []


def test_csv_report_name_keeps_both_reports(
    subjects_dir: Path, fsxnat: Main, login: list[str], tmp_path: Path
) -> None:
    report = tmp_path / "run.csv"
    code, out, _ = fsxnat(
        "import", subjects_dir, *login, "--create-project", "--yes", "--report", report
    )
    assert code == 0, out
    assert json.loads(report.with_suffix(".json").read_text())["ok"] is True
    assert "subject,status,verified" in report.read_text().splitlines()[0]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_end_of_input_at_the_prompt_is_one_line(
    subjects_dir: Path, fsxnat: Main, login: list[str], monkeypatch: pytest.MonkeyPatch, xnat: Any
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal(""))  # Ctrl-D at "[y/N]"
    code, _, err = fsxnat("import", subjects_dir, *login, "--create-project")
    assert code == 2
    assert_one_line_error(err.lstrip("\n"), "no answer")
    assert writes(xnat) == [] or all(r.path.startswith("/data/projects/CLI") for r in writes(xnat))


def test_malformed_server_address_is_one_line(
    subjects_dir: Path, fsxnat: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XNAT_PASS", "pw")
    code, _, err = fsxnat(
        "import", subjects_dir, "--server", "http://[::1", "--user", "u", "--project", "P"
    )
    assert code == 1
    assert_one_line_error(err, "not a valid server address")
