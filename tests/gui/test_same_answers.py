"""The window and `fsxnat import` apply the same rules (core.plan, core.login,
core.pyxnat_config): each test feeds both front ends the same input and checks they agree."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import WindowFactory, log_in, scan, wait_preview
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from tls_certs import Certs

from fsxnat_gui import cli, samples
from fsxnat_gui.core import credentials
from fsxnat_gui.core.model import NodeKind, NodeStatus
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.gui import MainWindow
from fsxnat_gui.gui.message_bar import Level
from fsxnat_gui.gui.settings import ServerProfile, Settings

# Showing a dialog on the offscreen platform makes Qt print this harmless notice (platform.md
# §1); it is not emitted under Xvfb/xcb, where CI runs.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")

INSECURE = "Certificate checking is off"


def fsxnat(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def cli_error(err: str) -> str:
    """The sentence of a one-line `fsxnat: error: ...`."""
    assert err.startswith("fsxnat: error: "), err
    return err.removeprefix("fsxnat: error: ").strip()


def writes(xnat: Any) -> list[Any]:
    changes = ("PUT", "POST", "DELETE")
    return [r for r in xnat.faults.requests if r.method in changes and r.path != "/data/JSESSION"]


def logged_in_window(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, root: Path, project: str, create: bool
) -> MainWindow:
    window = make_window()
    scan(window, qtbot, root)
    log_in(window, qtbot, xnat.url, xnat.user, xnat.password)
    window.target_panel.project_combo.setEditText(project)
    window.target_panel.create_project_check.setChecked(create)
    window.subjects_panel.select_importable_button.click()  # what the CLI selects by default
    wait_preview(window, qtbot)
    return window


# --- the reasons a plan cannot run ------------------------------------------------------------


def test_a_missing_project_is_refused_by_both_with_the_same_reasons(
    make_window: WindowFactory,
    qtbot: QtBot,
    xnat: Any,
    subjects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XNAT_PASS", xnat.password)
    login = ("--server", xnat.url, "--user", xnat.user, "--project", "NOPE")
    code, _, err = fsxnat(capsys, "import", subjects_dir, *login, "--yes")
    assert code == 2
    refused = [line.strip() for line in err.split("the plan cannot run:")[1].splitlines()]
    refused = [line for line in refused if line]
    missing = "project NOPE does not exist; tick 'create project' (--create-project)"
    assert refused == [f"project NOPE: {missing}"]

    window = logged_in_window(make_window, qtbot, xnat, subjects_dir, "NOPE", create=False)
    assert window.state.blocked.splitlines() == refused
    button = window.target_panel.import_button
    assert not button.isEnabled()
    assert not window.actions.import_.isEnabled()
    assert refused[0] in button.toolTip()
    assert refused[0] in window.target_panel.preview.summary.text()
    assert not window.start_import()  # nor by the menu's shortcut: nothing starts
    assert refused[0] in window.message_bar.text.text()
    assert writes(xnat) == []

    # ticking "create project" is --create-project: both accept the plan
    code, _, _ = fsxnat(capsys, "import", subjects_dir, *login, "--create-project", "--dry-run")
    assert code == 0
    window.target_panel.create_project_check.setChecked(True)
    wait_preview(window, qtbot)
    assert window.state.blocked == ""
    assert button.isEnabled()


def test_mixed_freesurfer_versions_need_a_resource_label_in_both(
    make_window: WindowFactory,
    qtbot: QtBot,
    xnat: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "mixed"
    samples.make_subject(root, "old", variant="fs6", seed=1)
    samples.make_subject(root, "new", seed=2)
    monkeypatch.setenv("XNAT_PASS", xnat.password)
    login = ("--server", xnat.url, "--user", xnat.user, "--project", "P", "--create-project")
    code, _, err = fsxnat(capsys, "import", root, *login, "--dry-run")
    assert code == 2
    reason = cli_error(err)
    assert "FREESURFER6 and FREESURFER7" in reason

    window = logged_in_window(make_window, qtbot, xnat, root, "P", create=True)
    resource = window.target_panel.resource_edit
    assert resource.text() == ""  # never a silent choice of one of the two
    assert resource.placeholderText() == "type a resource label"
    assert resource.toolTip() == reason
    assert window.state.blocked == reason
    assert not window.target_panel.import_button.isEnabled()
    assert reason in window.target_panel.preview.summary.text()

    # a label typed by the user is --resource: both accept it
    code, _, _ = fsxnat(capsys, "import", root, *login, "--resource", "FREESURFER", "--dry-run")
    assert code == 0
    QTest.keyClicks(resource, "FREESURFER")
    wait_preview(window, qtbot)
    assert window.state.blocked == ""
    assert window.target_panel.import_button.isEnabled()
    root = window.target_panel.preview.root
    assert root is not None
    assert {subject.children[0].children[0].label for subject in root.children} == {"FREESURFER"}


# --- pyxnat configuration files ----------------------------------------------------------------

PASSWORD = "cfg-Secret-9q"
BAD_CONFIGS = [
    None,  # no file
    '{"server": "https://x", "user": "alice", "password": "' + PASSWORD,
    '{"server": "https://x", "password": "' + PASSWORD + '"}',
    '{"server": "https://x", "user": "a", "password": "p", "verify": "/no/ca.pem"}',
    '{"server": "https://x", "user": "a", "password": "p", "verify": 1}',
]


@pytest.mark.parametrize("content", BAD_CONFIGS)
def test_the_same_config_files_are_refused_with_the_same_sentence(
    make_window: WindowFactory,
    qtbot: QtBot,
    subjects_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
) -> None:
    config = tmp_path / ".xnat_bad.cfg"
    if content is not None:
        config.write_text(content)
    code, _, err = fsxnat(capsys, "import", subjects_dir, "--config", config, "--project", "P")
    assert code == 1
    sentence = cli_error(err)
    assert str(config) in sentence
    window = make_window()
    dialog = window.sessions.open_login_dialog(config)
    assert dialog.status.text() == sentence
    assert window.session is None
    assert PASSWORD not in sentence


@pytest.fixture
def https_xnat(tmp_path: Path, certs: Certs, xnat: Any) -> Iterator[str]:
    """The local XNAT served over HTTPS with a certificate no system trusts (its URL)."""
    from fsxnat_gui.localxnat import make_server

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    server = make_server(tmp_path / "tls-archive", users={xnat.user: xnat.password})
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def write_config(path: Path, url: str, xnat: Any, verify: bool | str) -> Path:
    data = {"server": url, "user": xnat.user, "password": xnat.password, "verify": verify}
    path.write_text(json.dumps(data))
    return path


def test_verify_false_connects_both_and_warns_once(
    make_window: WindowFactory,
    qtbot: QtBot,
    xnat: Any,
    https_xnat: str,
    subjects_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
) -> None:
    config = write_config(tmp_path / ".xnat_insecure.cfg", https_xnat, xnat, verify=False)
    args = ("--config", config, "--project", "P", "--create-project", "--dry-run")
    code, out, err = fsxnat(capsys, "import", subjects_dir, *args)
    assert code == 0, err
    assert "logged in as owner" in out
    assert err.count(INSECURE) == 1  # once, not one InsecureRequestWarning per request
    assert "InsecureRequestWarning" not in err

    window = make_window()
    with qtbot.waitSignal(window.login_changed, timeout=10_000):
        window.sessions.open_login_dialog(config)
    assert window.session is not None
    assert window.message_bar.level is Level.WARNING
    assert window.message_bar.text.text().count(INSECURE) == 1
    assert settings.profiles == [ServerProfile(https_xnat, xnat.user, insecure=True)]
    # every later request goes through as well (a per-request warning is an error in tests)
    scan(window, qtbot, subjects_dir)
    window.target_panel.project_combo.setEditText("P")
    window.target_panel.create_project_check.setChecked(True)
    window.subjects_panel.select_importable_button.click()
    wait_preview(window, qtbot)
    assert window.target_panel.preview.status_of("P", NodeKind.PROJECT) is NodeStatus.NEW

    # the next start logs in by itself with the saved login, still without checking, warning once
    again = make_window()
    qtbot.waitUntil(lambda: again.session is not None, timeout=10_000)
    assert again.message_bar.text.text().count(INSECURE) == 1


def test_a_ca_bundle_in_the_config_is_trusted_by_both(
    make_window: WindowFactory,
    qtbot: QtBot,
    xnat: Any,
    https_xnat: str,
    subjects_dir: Path,
    certs: Certs,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path / ".xnat_ca.cfg", https_xnat, xnat, verify=str(certs.ca))
    args = ("--config", config, "--project", "P", "--create-project", "--dry-run")
    code, _, err = fsxnat(capsys, "import", subjects_dir, *args)
    assert code == 0, err
    assert INSECURE not in err
    window = make_window()
    with qtbot.waitSignal(window.login_changed, timeout=10_000):
        window.sessions.open_login_dialog(config)
    assert window.session is not None
    assert window.session.profile.ca_bundle == str(certs.ca)
    assert INSECURE not in window.message_bar.text.text()

    # without the CA (verify: true), both refuse the certificate
    plain = write_config(tmp_path / ".xnat_plain.cfg", https_xnat, xnat, verify=True)
    code, _, err = fsxnat(capsys, "import", subjects_dir, "--config", plain, "--project", "P")
    assert code == 1
    assert "not trusted" in err


# --- the login saved in the keyring ------------------------------------------------------------


@pytest.mark.parametrize("token", [True, False])
def test_the_saved_login_logs_in_both(
    make_window: WindowFactory,
    qtbot: QtBot,
    xnat: Any,
    subjects_dir: Path,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    token: bool,
) -> None:
    monkeypatch.delenv("XNAT_PASS", raising=False)
    auth_user, secret = xnat.user, xnat.password
    if token:
        with XnatClient(xnat.url, xnat.user, xnat.password) as client:
            issued = client.issue_token()
        auth_user, secret = issued.alias, issued.secret
    stored = credentials.encode_secret(auth_user, secret, token)
    assert credentials.save_secret(xnat.url, xnat.user, stored)
    settings.remember_profile(ServerProfile(xnat.url, xnat.user))

    args = ("--server", xnat.url, "--user", xnat.user, "--project", "P", "--create-project")
    code, _, err = fsxnat(capsys, "import", subjects_dir, *args, "--dry-run")
    assert code == 0, err
    window = make_window()
    qtbot.waitUntil(lambda: window.session is not None, timeout=10_000)
    assert window.session is not None
    assert window.session.auth_user == auth_user
    assert window.session.remembered

    # a saved login the server no longer accepts fails in both, with no prompt and no traceback
    wrong = credentials.encode_secret(auth_user, "not-the-secret", token)
    assert credentials.save_secret(xnat.url, xnat.user, wrong)
    code, _, err = fsxnat(capsys, "import", subjects_dir, *args, "--dry-run")
    assert code == 1
    assert "Traceback" not in err
    failing = make_window()
    qtbot.waitUntil(lambda: failing.message_bar.isVisibleTo(failing), timeout=10_000)
    assert failing.session is None
    assert f"Could not log in to {xnat.url} as {xnat.user}" in failing.message_bar.text.text()
