"""`fsxnat scan` and `fsxnat import` end to end against the local XNAT."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui import cli
from fsxnat_gui.cli import run_view
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


@pytest.mark.parametrize("as_json", [False, True])
def test_scan_undecodable_name_on_a_strict_utf8_stdout(subjects_dir: Path, as_json: bool) -> None:
    make_subject(subjects_dir, "renamed").rename(subjects_dir / os.fsdecode(b"sub-\xff"))
    done = subprocess.run(
        [sys.executable, "-m", "fsxnat_gui.cli", "scan", str(subjects_dir),
         *(["--json"] if as_json else [])],
        env=dict(os.environ, PYTHONIOENCODING="utf-8:strict"),
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode("utf-8")  # strict: valid UTF-8 throughout
    assert "Traceback" not in done.stderr.decode()
    if as_json:
        names = [row["name"] for row in json.loads(out)]
        assert "sub-\ufffd" in names
    else:
        line = next(line for line in out.splitlines() if line.startswith("sub-\ufffd"))
        assert "not valid UTF-8" in line


def test_scan_of_one_subject_folder_names_its_parent(subjects_dir: Path, fsxnat: Main) -> None:
    code, out, _ = fsxnat("scan", subjects_dir / "sub-01")
    assert code == 0
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("sub-01 is itself a recon-all subject folder, not a SUBJECTS_DIR")
    assert str(subjects_dir) in last


def test_import_of_one_subject_folder_names_its_parent(
    subjects_dir: Path, fsxnat: Main, login: list[str]
) -> None:
    code, _, err = fsxnat("import", subjects_dir / "sub-01", *login, "--dry-run")
    assert code == 2
    assert_one_line_error(err, f"scan its parent folder {subjects_dir}")


# --- import -----------------------------------------------------------------------------------


def test_dry_run_sends_nothing(
    subjects_dir: Path, fsxnat: Main, login: list[str], xnat: Any
) -> None:
    code, out, _ = fsxnat("import", subjects_dir, *login, "--create-project", "--dry-run")
    assert code == 0
    assert "project CLI  [new]  will be created" in out
    assert "      resource FREESURFER7  [new]  74 files" in out
    assert "subject busy" not in out, "not in the plan (named among the folders left out)"
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
        run_view, "run_import", functools.partial(jobs.run_import, retries=1, sleep=lambda s: None)
    )
    xnat.faults.add("partial_store", method="POST", path_regex="/files", count=0)
    code, out, _ = fsxnat("import", subjects_dir, *login, "--create-project", "--yes")
    assert code == 1
    assert "sub-01: FAILED: gave up after 2 attempts: " in out
    assert "missing on the server" in out
    assert "2 failed." in out


def test_one_folder_not_verified_fails_the_import_with_its_reason(
    subjects_dir: Path, fsxnat: Main, login: list[str], xnat: Any
) -> None:
    xnat.faults.add("echo_headers", method="PUT", path_regex="/subjects/sub-02$", status=403)
    code, out, _ = fsxnat("import", subjects_dir, *login, "--create-project", "--yes")
    assert code == 1, "exit 0 only when every selected folder was verified"
    lines = {line.split(":")[0]: line for line in out.splitlines() if line.startswith("sub-")}
    assert "imported and verified" in lines["sub-01"]
    assert lines["sub-02"].startswith("sub-02: FAILED: XNAT refused permission to ")
    assert "1 imported, 1 failed." in out


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
        # issue 10: the empty experiment (and subject) this run created are deleted too
        assert "sub-01_MR1" not in client.list_experiments("SIG")


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


# --- issue 10: the CLI's own words ------------------------------------------------------------


class _Stub(http.server.BaseHTTPRequestHandler):
    """A web server answering every GET with `answer` (status, headers)."""

    answer: tuple[int, dict[str, str]] = (200, {})

    def do_GET(self) -> None:
        status, headers = self.answer
        self.send_response(status)
        for name, value in {**headers, "Content-Length": "0"}.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(
    answer: tuple[int, dict[str, str]] = (200, {}), tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """A real HTTP(S) server on 127.0.0.1 answering `answer`; its URL."""
    handler = type("Handler", (_Stub,), {"answer": answer})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def certificate(folder: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for `name` (openssl) and a server context with it."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


def test_tls_errors_advise_the_ca_bundle_flag(
    subjects_dir: Path, fsxnat: Main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XNAT_PASS", "pw")
    cert, context = certificate(tmp_path, "xnat.example.org")
    args = ["import", subjects_dir, "--user", "u", "--project", "P", "--dry-run"]
    with serving(tls=context) as url:
        code, _, err = fsxnat(*args, "--server", url)
        assert code == 1
        assert_one_line_error(err, "is not trusted")
        assert "--ca-bundle FILE" in err
        assert "connection settings" not in err
        code, _, err = fsxnat(*args, "--server", url, "--ca-bundle", cert)
        assert code == 1
        assert_one_line_error(err, "issued for another host name")
        assert "certificate is not valid for '127.0.0.1'" in err, "the host-mismatch text whole"
        assert "--server" in err
    code, _, err = fsxnat(*args, "--server", "https://x.invalid", "--ca-bundle", tmp_path)
    assert code == 2
    assert_one_line_error(err, f"--ca-bundle {tmp_path} is a folder")
    (tmp_path / "der.crt").write_bytes(b"\x30\x82\x01\x0a")
    code, _, err = fsxnat(
        *args, "--server", "https://x.invalid", "--ca-bundle", tmp_path / "der.crt"
    )
    assert code == 2
    assert_one_line_error(err, "holds no certificate in PEM format")


def test_a_redirect_to_a_sign_in_page(
    subjects_dir: Path, fsxnat: Main, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XNAT_PASS", "pw")
    sso = {"Location": "https://sso.example.org/idp/login?from=xnat"}
    with serving((302, sso)) as url:
        code, _, err = fsxnat(
            "import", subjects_dir, "--server", url, "--user", "u", "--project", "P", "--dry-run"
        )
    assert code == 1
    assert_one_line_error(err, "redirects to a sign-in page (https://sso.example.org/idp/login)")
    assert "Keep --server at the XNAT address" in err
    assert "alias token" in err
    assert "?from=xnat" not in err


@pytest.mark.parametrize("server", ["admin:PASSWORD@host:8080", "http://admin:PASSWORD@[::1",
                                    "admin:PASSWORD@"])  # fmt: skip
def test_server_with_credentials_is_refused_unquoted(
    subjects_dir: Path, fsxnat: Main, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XNAT_PASS", "pw")
    code, out, err = fsxnat(
        "import", subjects_dir, "--server", server, "--user", "u", "--project", "P"
    )
    assert code == 2
    assert_one_line_error(err, "--server takes the address alone")
    assert "PASSWORD" not in out + err


def test_error_pages_echoing_credentials_reach_no_output(
    subjects_dir: Path, fsxnat: Main, login: list[str], xnat: Any, tmp_path: Path
) -> None:
    """A proxy's 413 page quoting the Authorization header: the line names the proxy's limit
    and the zip's size; neither the password nor its Basic form is in any output."""
    xnat.faults.add("echo_headers", method="PUT", path_regex="/files/", status=413, count=0)
    xnat.faults.add("echo_headers", method="POST", path_regex="/files", status=413, count=0)
    report = tmp_path / "r.json"
    code, out, err = fsxnat(
        "-v", "import", subjects_dir, *login, "--create-project", "--yes", "--report", report
    )
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("sub-01: FAILED"))
    assert "too large (HTTP 413)" in line
    assert "client_max_body_size" in line
    assert " MB" in line
    basic = base64.b64encode(f"{xnat.user}:{xnat.password}".encode()).decode()
    texts = [out, err, report.read_text(), report.with_suffix(".csv").read_text()]
    for text in texts:
        assert xnat.password not in text
        assert basic not in text
        assert "JSESSIONID=" not in text or "JSESSIONID=***" in text


def test_report_that_cannot_be_written_keeps_the_exit_code(
    subjects_dir: Path, fsxnat: Main, login: list[str], tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    (folder / "run.json").mkdir(parents=True)  # a folder where the report file should go
    code, out, err = fsxnat(
        "import", subjects_dir, *login, "--create-project", "--yes", "--report", folder / "run.json"
    )
    assert code == 0, "the import succeeded"
    assert out.rstrip().endswith("2 imported."), "the import's own lines come first"
    said = err.splitlines()[-1]  # after the progress lines
    assert said.startswith("fsxnat: error: The report ")
    assert "could not be written (is a directory)" in said
    assert "the import itself is not affected" in said
    assert sorted(p.name for p in folder.iterdir()) == ["run.json"], "no partial or empty file"
    assert list((folder / "run.json").iterdir()) == []


def test_line_names_the_files_left_out(subjects_dir: Path, fsxnat: Main, login: list[str]) -> None:
    mri = subjects_dir / "sub-01" / "mri"
    os.mkfifo(mri / "pipe")
    (mri / "loop").symlink_to("loop")
    (mri / os.fsdecode(b"bad-\xff.txt")).write_text("x")
    code, out, _ = fsxnat(
        "import", subjects_dir, *login, "--create-project", "--yes", "--subject", "sub-01"
    )
    assert code == 0, out
    line = next(line for line in out.splitlines() if line.startswith("sub-01:"))
    assert "imported and verified" in line
    assert "3 files left out: " in line
    assert "mri/pipe is a named pipe" in line
    assert "a link loop" in line
    assert "bad-\ufffd.txt" in line


def test_import_names_the_folders_it_leaves_out(
    subjects_dir: Path, fsxnat: Main, login: list[str]
) -> None:
    make_subject(subjects_dir, "crashed", variant="failed")
    code, out, _ = fsxnat("import", subjects_dir, *login, "--create-project", "--dry-run")
    assert code == 0
    head, plan = out.split("\nhttp", 1)
    assert head.startswith("2 subject folders left out")
    assert "  busy: recon-all is running" in head
    assert "  crashed: " in head
    assert "subject busy" not in plan


def test_temp_dir_is_checked_and_used(
    subjects_dir: Path, fsxnat: Main, login: list[str], tmp_path: Path
) -> None:
    args = ["import", subjects_dir, *login, "--create-project", "--yes", "--subject", "sub-01"]
    code, _, err = fsxnat(*args, "--temp-dir", tmp_path / "nope")
    assert code == 2
    assert_one_line_error(err, f"--temp-dir {tmp_path / 'nope'} does not exist")
    (tmp_path / "file").write_text("")
    code, _, err = fsxnat(*args, "--temp-dir", tmp_path / "file")
    assert code == 2
    assert_one_line_error(err, "is not a folder")
    zips = tmp_path / "zips"
    zips.mkdir()
    code, out, _ = fsxnat(*args, "--temp-dir", zips)
    assert code == 0, out
    assert list(zips.iterdir()) == [], "the run's own folder in it, removed at the end"


def test_no_room_for_the_zips_names_temp_dir(
    subjects_dir: Path, fsxnat: Main, login: list[str], xnat: Any, tmp_path: Path
) -> None:
    huge = subjects_dir / "sub-01" / "mri" / "huge.mgz"  # stored as it is: counted by its size
    with huge.open("wb") as f:
        f.truncate(shutil.disk_usage(tmp_path).free + 2**30)  # sparse: takes no space
    code, _, err = fsxnat(
        "import", subjects_dir, *login, "--create-project", "--yes", "--temp-dir", tmp_path
    )
    assert code == 1
    assert_one_line_error(err, f"not enough disk space in {tmp_path} for the zip")
    assert "--temp-dir DIR" in err
    assert writes(xnat) == [], "nothing sent"
