"""The login dialog: secrets in the keyring (a token, not the password), 'remember' off, pyxnat
config import, no keyring backend, TLS problems; and the real Secret Service."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest
from gui_helpers import WindowFactory
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from fsxnat_gui import APP_ID
from fsxnat_gui.core.errors import TLSError
from fsxnat_gui.gui import MainWindow
from fsxnat_gui.gui.login_dialog import TLS_HELP, LoginDialog
from fsxnat_gui.gui.session import URL_CREDENTIALS_HELP
from fsxnat_gui.gui.settings import ServerProfile, Settings

# Showing a dialog on the offscreen platform makes Qt print this harmless notice (platform.md
# §1); it is not emitted under Xvfb/xcb, where CI runs.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")


def fill(dialog: LoginDialog, url: str, user: str, password: str, remember: bool) -> None:
    dialog.url_edit.setText(url)
    dialog.user_edit.setText(user)
    dialog.url_edit.editingFinished.emit()
    dialog.password_edit.setText(password)
    dialog.remember_check.setChecked(remember)


def log_in_through_dialog(window: MainWindow, qtbot: QtBot, xnat: Any, remember: bool) -> None:
    dialog = window.sessions.open_login_dialog()
    fill(dialog, xnat.url, xnat.user, xnat.password, remember)
    with qtbot.waitSignal(window.login_changed, timeout=10_000):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)


def settings_text(settings: Settings, tmp_path: Path) -> str:
    """The settings file as written on disk (the `settings` fixture's INI in tmp_path)."""
    settings.sync()
    return (tmp_path / "settings.ini").read_text()


def test_remember_stores_a_token_not_the_password(
    make_window: WindowFactory,
    qtbot: QtBot,
    xnat: Any,
    memory_keyring: Any,
    settings: Settings,
    tmp_path: Path,
) -> None:
    window = make_window()
    log_in_through_dialog(window, qtbot, xnat, remember=True)
    assert window.session is not None
    assert window.session.user == xnat.user
    assert "owner @" in window.login_state_label.text()
    stored = memory_keyring.store[(APP_ID, f"{xnat.user}@{xnat.url}")]
    assert xnat.password not in stored
    token = json.loads(stored)
    assert token["alias"] != xnat.user
    assert settings.profiles == [ServerProfile(xnat.url, xnat.user)]
    text = settings_text(settings, tmp_path)
    assert xnat.password not in text
    assert token["secret"] not in text
    assert "token (not your password)" in window.message_bar.text.text()

    # next start: logged in by itself with the token
    again = make_window()
    qtbot.waitUntil(lambda: again.session is not None, timeout=10_000)
    assert again.session is not None
    assert again.session.auth_user == token["alias"]

    with qtbot.waitSignal(again.login_changed):
        qtbot.mouseClick(again.target_panel.login_button, Qt.MouseButton.LeftButton)  # log out
    assert again.session is None
    assert memory_keyring.store == {}


def test_logging_in_again_with_the_saved_login_keeps_the_token(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, memory_keyring: Any
) -> None:
    window = make_window()
    log_in_through_dialog(window, qtbot, xnat, remember=True)
    key = (APP_ID, f"{xnat.user}@{xnat.url}")
    token = json.loads(memory_keyring.store[key])
    assert token["type"] == "xnat-alias-token"

    dialog = window.sessions.open_login_dialog()  # filled with the saved profile, no password typed
    assert dialog.url_edit.text() == xnat.url
    assert dialog.password_edit.text() == ""
    assert dialog.password_edit.placeholderText() == "saved in the system keyring"
    assert dialog.remember_check.isChecked()
    with qtbot.waitSignal(window.login_changed, timeout=10_000):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert window.session is not None
    assert window.session.auth_user == token["alias"]
    assert window.session.remembered
    assert json.loads(memory_keyring.store[key]) == token  # still the marked token

    again = make_window()  # next start: logged in by itself with the token
    qtbot.waitUntil(lambda: again.session is not None, timeout=10_000)
    assert again.session is not None
    assert again.session.auth_user == token["alias"]


def test_inputs_are_locked_while_connecting_and_the_result_keeps_its_server(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, memory_keyring: Any, settings: Settings
) -> None:
    window = make_window()
    dialog = window.sessions.open_login_dialog()
    fill(dialog, xnat.url, xnat.user, xnat.password, remember=True)
    inputs = (dialog.url_edit, dialog.user_edit, dialog.password_edit, dialog.ca_edit)
    with qtbot.waitSignal(window.login_changed, timeout=10_000):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
        assert "Connecting" in dialog.status.text()
        assert not any(w.isEnabled() for w in inputs)
        assert not dialog.remember_check.isEnabled()
        # even a programmatic change must not move the result to another server or user
        dialog.url_edit.setText("https://other.example.org")
        dialog.user_edit.setText("mallory")
    assert window.session is not None
    assert (window.session.url, window.session.user) == (xnat.url, xnat.user)
    assert list(memory_keyring.store) == [(APP_ID, f"{xnat.user}@{xnat.url}")]
    assert settings.profiles == [ServerProfile(xnat.url, xnat.user)]


def test_remember_off_keeps_the_secret_in_memory_only(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, memory_keyring: Any
) -> None:
    window = make_window()
    log_in_through_dialog(window, qtbot, xnat, remember=False)
    assert window.session is not None
    assert window.session.secret == xnat.password
    assert memory_keyring.store == {}


def test_test_connection_and_wrong_password(
    qtbot: QtBot, make_window: WindowFactory, xnat: Any
) -> None:
    window = make_window()
    dialog = window.sessions.open_login_dialog()
    fill(dialog, xnat.url, xnat.user, xnat.password, remember=False)
    with qtbot.waitSignal(window.jobs.job_finished, timeout=10_000):
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert "Connected to XNAT" in dialog.status.text()
    assert f"as {xnat.user}" in dialog.status.text()
    dialog.password_edit.setText("wrong")
    with qtbot.waitSignal(window.jobs.job_finished, timeout=10_000):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.status.text()
    assert window.session is None


def test_import_pyxnat_config_moves_the_password_to_the_keyring(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, memory_keyring: Any, tmp_path: Path
) -> None:
    config = tmp_path / ".xnat_p1.cfg"
    config.write_text(
        json.dumps({"server": xnat.url, "user": xnat.user, "password": xnat.password})
    )
    window = make_window()
    with qtbot.waitSignal(window.login_changed, timeout=10_000):
        window.sessions.open_login_dialog(config)
    assert window.session is not None
    assert list(memory_keyring.store) == [(APP_ID, f"{xnat.user}@{xnat.url}")]
    message = window.message_bar.text.text()
    assert str(config) in message
    assert "keyring" in message


def test_a_password_in_the_url_is_refused_and_never_stored(
    make_window: WindowFactory,
    qtbot: QtBot,
    xnat: Any,
    memory_keyring: Any,
    settings: Settings,
    tmp_path: Path,
) -> None:
    window = make_window()
    dialog = window.sessions.open_login_dialog()
    host = xnat.url.split("://", 1)[1]
    with_password = f"http://{xnat.user}:{xnat.password}@{host}"
    fill(dialog, with_password, xnat.user, xnat.password, remember=True)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert dialog.status.text() == URL_CREDENTIALS_HELP
    assert not window.jobs.busy("login")  # nothing was sent
    assert dialog.isVisible()
    assert window.session is None
    assert xnat.password not in dialog.profile.url
    assert xnat.password not in settings_text(settings, tmp_path)
    assert memory_keyring.store == {}


def test_a_password_in_the_config_url_is_dropped(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, settings: Settings, tmp_path: Path
) -> None:
    host = xnat.url.split("://", 1)[1]
    config = tmp_path / ".xnat_url.cfg"
    config.write_text(
        json.dumps(
            {
                "server": f"http://{xnat.user}:{xnat.password}@{host}",
                "user": xnat.user,
                "password": xnat.password,
            }
        )
    )
    window = make_window()
    with qtbot.waitSignal(window.login_changed, timeout=10_000):
        window.sessions.open_login_dialog(config)
    assert window.session is not None
    assert window.session.url == xnat.url
    assert xnat.password not in window.windowTitle()
    assert xnat.password not in settings_text(settings, tmp_path)
    assert settings.profiles == [ServerProfile(xnat.url, xnat.user)]


def test_without_a_keyring_backend_nothing_is_remembered(
    qtbot: QtBot, make_window: WindowFactory, xnat: Any
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())  # memory_keyring restores it
    window = make_window()
    dialog = window.sessions.open_login_dialog()
    assert not dialog.remember_check.isEnabled()
    assert not dialog.remember_check.isChecked()
    assert "No system keyring" in dialog.remember_check.toolTip()
    fill(dialog, xnat.url, xnat.user, xnat.password, remember=False)
    with qtbot.waitSignal(window.login_changed, timeout=10_000):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert window.session is not None  # works for this run


def test_tls_problems_are_explained(qtbot: QtBot, make_window: WindowFactory) -> None:
    def untrusted(url: str, user: str, secret: str, verify: bool | str) -> Any:
        raise TLSError("The certificate of xnat.example.org is not trusted (self-signed).")

    window = make_window(client_factory=untrusted)
    dialog = window.sessions.open_login_dialog()
    fill(dialog, "https://xnat.example.org", "alice", "pw", remember=False)
    with qtbot.waitSignal(window.jobs.job_finished, timeout=10_000):
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert TLS_HELP in dialog.status.text()
    assert "self-signed" in dialog.status.text()


@pytest.mark.real_keyring
@pytest.mark.skipif(
    not os.environ.get("FSXNAT_SECRET_SERVICE"),
    reason="needs the private Secret Service of tools/with_secret_service.sh",
)
def test_login_dialog_with_the_real_secret_service(
    qtbot: QtBot, make_window: WindowFactory, xnat: Any
) -> None:
    from fsxnat_gui.core import credentials

    backend = keyring.get_keyring()
    parts = getattr(backend, "backends", [backend])  # usually a ChainerBackend
    assert any("SecretService" in type(b).__module__ for b in parts)
    assert credentials.can_remember()
    window = make_window()
    try:
        log_in_through_dialog(window, qtbot, xnat, remember=True)
        stored = credentials.load_secret(xnat.url, xnat.user)
        assert stored is not None
        assert json.loads(stored)["alias"]
        again = make_window()
        qtbot.waitUntil(lambda: again.session is not None, timeout=10_000)
    finally:
        credentials.forget_secret(xnat.url, xnat.user)
    assert credentials.load_secret(xnat.url, xnat.user) is None


def test_remembered_servers_can_be_chosen(
    qtbot: QtBot, make_window: WindowFactory, settings: Settings
) -> None:
    a = ServerProfile("https://a.example.org", "alice")
    b = ServerProfile("https://b.example.org", "bob", "/etc/site-ca.pem")
    settings.remember_profile(a)
    settings.remember_profile(b)
    window = make_window()
    dialog = window.sessions.open_login_dialog()
    assert dialog.url_edit.text() == b.url  # the current profile
    dialog.profile_combo.setCurrentIndex(dialog.profile_combo.findText(a.title))
    assert dialog.profile == a


def test_server_and_user_options_fill_the_dialog(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window()
    window.sessions.use_server("https://xnat.example.org/", "carol")
    dialog = window.findChild(LoginDialog)
    assert dialog is not None
    assert dialog.profile == ServerProfile("https://xnat.example.org", "carol")
