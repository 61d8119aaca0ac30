"""The keyring wrapper: round trip, failing backends, no plain-text fallback, the real keyring."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail, null

from fsxnat_gui.core import credentials

URL = "https://xnat.example.org/"
SECRET = "s3cr3t-Passw0rd!"


class BrokenKeyring(keyring.backend.KeyringBackend):
    """A recommended backend whose every operation fails, like a locked or vanished wallet."""

    priority = 5  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringError("the wallet is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringError(f"cannot store {password}")  # a backend echoing it

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringError("the wallet is locked")


@pytest.fixture
def broken() -> BrokenKeyring:
    kr = BrokenKeyring()
    keyring.set_keyring(kr)  # the autouse memory_keyring fixture restores the previous one
    return kr


def test_round_trip_with_one_entry_per_user_and_server(memory_keyring: Any) -> None:
    assert credentials.SERVICE == "org.fsxnat.FsXnat"
    assert credentials.can_remember()
    assert credentials.load_secret(URL, "alice") is None

    assert credentials.save_secret(URL, "alice", SECRET)
    assert credentials.save_secret("https://other.example.org", "alice", "other")
    # the trailing "/" does not make a second entry
    assert credentials.load_secret(URL.rstrip("/"), "alice") == SECRET
    assert credentials.load_secret(URL, "bob") is None
    assert memory_keyring.store == {
        (credentials.SERVICE, "alice@https://xnat.example.org"): SECRET,
        (credentials.SERVICE, "alice@https://other.example.org"): "other",
    }

    credentials.forget_secret(URL, "alice")
    assert credentials.load_secret(URL, "alice") is None
    credentials.forget_secret(URL, "alice")  # nothing saved: still fine


def test_failing_backend_turns_into_false_and_none_without_logging_the_secret(
    broken: BrokenKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert credentials.can_remember()
    assert credentials.save_secret(URL, "alice", SECRET) is False
    assert credentials.load_secret(URL, "alice") is None
    credentials.forget_secret(URL, "alice")
    assert "KeyringError" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_no_plain_text_fallback_with_unusable_backends(
    backend: type[keyring.backend.KeyringBackend],
) -> None:
    keyring.set_keyring(backend())
    assert not credentials.can_remember()
    assert credentials.save_secret(URL, "alice", SECRET) is False
    assert credentials.load_secret(URL, "alice") is None
    credentials.forget_secret(URL, "alice")
    assert credentials.backend_name()


def test_plain_text_backends_are_not_recommended() -> None:
    class PlaintextKeyring(keyring.backend.KeyringBackend):
        priority = 0.5  # type: ignore[assignment]  # what keyrings.alt gives its file backends

        def get_password(self, service: str, username: str) -> str | None:
            return None

        def set_password(self, service: str, username: str, password: str) -> None:
            raise AssertionError("must never be called")

        def delete_password(self, service: str, username: str) -> None:
            return None

    keyring.set_keyring(PlaintextKeyring())
    assert not credentials.can_remember()
    assert credentials.save_secret(URL, "alice", SECRET) is False


def test_backend_that_cannot_even_say_its_priority() -> None:
    class Exploding(keyring.backend.KeyringBackend):
        priority = 5  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            raise RuntimeError("D-Bus is gone")

        def set_password(self, service: str, username: str, password: str) -> None:
            raise RuntimeError("D-Bus is gone")

        def delete_password(self, service: str, username: str) -> None:
            raise RuntimeError("D-Bus is gone")

    keyring.set_keyring(Exploding())
    assert credentials.load_secret(URL, "alice") is None
    assert credentials.save_secret(URL, "alice", SECRET) is False
    credentials.forget_secret(URL, "alice")


@pytest.mark.real_keyring
def test_real_secret_service_round_trip() -> None:
    if not os.environ.get("FSXNAT_SECRET_SERVICE"):
        pytest.skip("no private Secret Service (run through ./dev.sh test)")
    url = f"https://{uuid.uuid4().hex}.test"  # the fixture installed the Secret Service
    assert credentials.can_remember()
    assert "SecretService" in credentials.backend_name()
    assert credentials.save_secret(url, "alice", SECRET)
    assert credentials.load_secret(url, "alice") == SECRET
    credentials.forget_secret(url, "alice")
    assert credentials.load_secret(url, "alice") is None


# --- the login saved for a server (core.login.saved_credentials, used by the window and CLI) ----


def test_saved_credentials_read_a_password_or_a_token() -> None:
    from fsxnat_gui.core.login import Credentials, saved_credentials

    assert saved_credentials(URL, "alice") is None
    assert credentials.save_secret(URL, "alice", SECRET)
    assert saved_credentials(URL, "alice") == Credentials("alice", SECRET, token=False)
    stored = credentials.encode_secret("alias-7", "token-secret", token=True)
    assert credentials.save_secret(URL, "alice", stored)
    saved = saved_credentials(URL, "alice")
    assert saved == Credentials("alias-7", "token-secret", token=True)
    assert "token-secret" not in repr(saved)
