"""The logged-in session the window keeps in memory, and how a login is put in the keyring.

A remembered login is stored as one keyring entry per user and server (core.credentials). Its
value is either the password, or, when XNAT issued one, an alias token marked as such, so the
password itself need not be stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.gui.settings import ServerProfile

ClientFactory = Callable[[str, str, str, bool | str], XnatClient]

URL_CREDENTIALS_HELP = (
    "Put the user name in the User field and the password in the Password field, not in the URL."
)


def strip_userinfo(url: str) -> tuple[str, bool]:
    """The URL without a `user:password@` part, and whether it had one (such a URL must never
    reach the settings, the window title or the log)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, False
    if "@" not in parts.netloc:
        return url, False
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), True


def default_client_factory(url: str, user: str, secret: str, verify: bool | str) -> XnatClient:
    """A new client (called in the worker thread: one client per thread)."""
    return XnatClient(url, user, secret, verify=verify)


@dataclass(frozen=True)
class Session:
    """Who the window is logged in as. The secret lives here, in memory, and in jobs' inputs."""

    profile: ServerProfile
    auth_user: str  # the user name, or the alias of a token
    secret: str = ""
    server_version: str = ""
    remembered: bool = False
    demo: bool = False

    @property
    def url(self) -> str:
        return self.profile.url

    @property
    def user(self) -> str:
        return self.profile.user

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"Session({self.user}@{self.url}, demo={self.demo})"


def read_pyxnat_config(path: Path) -> ServerProfile:
    """The server, user and CA bundle of a pyxnat JSON config file, and its password;
    ValueError if it is not one. (pyxnat's `verify` may name a CA bundle file.)"""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    keys = ("server", "user", "password")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
        raise ValueError("it is not a pyxnat configuration (server, user and password)")
    verify = data.get("verify")
    ca_bundle = str(Path(verify).expanduser()) if isinstance(verify, str) else ""
    server, _ = strip_userinfo(data["server"].strip())  # the config's user/password are used
    return ServerProfile(server.rstrip("/"), data["user"], ca_bundle)


def read_pyxnat_password(path: Path) -> str:
    """The password of a pyxnat JSON config file (checked by `read_pyxnat_config` first)."""
    return str(json.loads(Path(path).read_text(encoding="utf-8"))["password"])
