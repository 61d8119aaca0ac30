"""The secret (password or alias-token secret) of a user on a server, kept in the OS keyring.

Only the secret goes to the keyring; the server URL and the user name live in the settings.
There is one entry per user per server (`user@url`). Without a recommended backend (the `fail`
and `null` backends, plain-text or file-based ones) nothing is remembered: there is no plain-text
fallback, ever. Keyring failures are logged, without the secret, and turned into None/False.

Call these from the GUI thread only: unlocking a wallet may show an OS prompt, and backends are
not meant to be used from several threads.
"""

from __future__ import annotations

import json
import logging

import keyring
import keyring.backend
import keyring.core
import keyring.errors
from keyring.backends.chainer import ChainerBackend

from fsxnat_gui import APP_ID

log = logging.getLogger(__name__)

SERVICE = APP_ID


def _account(url: str, user: str) -> str:
    return f"{user}@{url.rstrip('/')}"


def _describe(exc: Exception, secret: str | None = None) -> str:
    """An exception as text for the log, with the secret masked should a backend echo it."""
    text = f"{type(exc).__name__}: {exc}"
    return text.replace(secret, "***") if secret else text


def _recommended(backend: keyring.backend.KeyringBackend) -> bool:
    if isinstance(backend, ChainerBackend):
        parts = list(backend.backends)
        return bool(parts) and all(keyring.core.recommended(b) for b in parts)
    return bool(keyring.core.recommended(backend))


def can_remember() -> bool:
    """True when the keyring backend is one worth storing a secret in."""
    try:
        return _recommended(keyring.get_keyring())
    except Exception as exc:  # noqa: BLE001 - backends fail with their own errors (D-Bus, OS APIs)
        log.warning("The keyring cannot be used: %s", _describe(exc))
        return False


def backend_name() -> str:
    """A readable name of the keyring backend, for the log and the login dialog's tooltip."""
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - see can_remember
        return f"unavailable ({type(exc).__name__})"
    return str(getattr(type(backend), "name", type(backend).__name__))


def load_secret(url: str, user: str) -> str | None:
    """The remembered secret, or None when there is none or the keyring fails."""
    if not can_remember():
        return None
    try:
        return keyring.get_password(SERVICE, _account(url, user))
    except Exception as exc:  # noqa: BLE001 - see can_remember
        log.warning("Could not read the saved password from the keyring: %s", _describe(exc))
        return None


def save_secret(url: str, user: str, secret: str) -> bool:
    """Remember the secret; False (and nothing stored) when the keyring cannot take it."""
    if not can_remember():
        log.info("Not saving the password: the keyring backend %s is not secure", backend_name())
        return False
    try:
        keyring.set_password(SERVICE, _account(url, user), secret)
    except Exception as exc:  # noqa: BLE001 - see can_remember
        log.warning("Could not save the password in the keyring: %s", _describe(exc, secret))
        return False
    return True


def forget_secret(url: str, user: str) -> None:
    """Remove the remembered secret; nothing happens when there is none or the keyring fails."""
    try:
        keyring.delete_password(SERVICE, _account(url, user))
    except keyring.errors.PasswordDeleteError:
        return
    except Exception as exc:  # noqa: BLE001 - see can_remember
        log.warning("Could not remove the saved password from the keyring: %s", _describe(exc))


_TOKEN_MARK = "xnat-alias-token"


def encode_secret(auth_user: str, secret: str, token: bool) -> str:
    """The value kept in the keyring: the password, or a marked alias token."""
    if not token:
        return secret
    return json.dumps({"type": _TOKEN_MARK, "alias": auth_user, "secret": secret})


def decode_secret(user: str, stored: str) -> tuple[str, str]:
    """(user to authenticate as, secret) from a keyring value written by `encode_secret`."""
    if stored.startswith("{"):
        try:
            data = json.loads(stored)
        except ValueError:
            return user, stored
        if isinstance(data, dict) and data.get("type") == _TOKEN_MARK:
            return str(data["alias"]), str(data["secret"])
    return user, stored
