"""pyxnat JSON configuration files (`~/.xnat_*.cfg`): read once, the same way by the window
and the CLI.

A file holds `server`, `user` and `password` (text) and an optional `verify`: JSON true/false
switch certificate checking on or off; a string is the path of a CA bundle file (pyxnat itself
turns a string into True and silently ignores the file). A `user:password@` in `server` is
dropped: the file's `user` and `password` are the ones used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fsxnat_gui.core.errors import XnatError
from fsxnat_gui.core.login import strip_userinfo

REQUIRED = ("server", "user", "password")


class ConfigError(XnatError):
    """The file is missing, unreadable, or not a valid pyxnat configuration."""


@dataclass(frozen=True)
class PyxnatConfig:
    path: Path
    server: str  # base URL, without a trailing '/' or a user:password@ part
    user: str
    password: str = field(repr=False)
    verify: bool | str = True  # True, False (no certificate check) or a CA bundle file

    @property
    def ca_bundle(self) -> str:
        """The CA bundle file to trust, "" for the system's certificates (or no check)."""
        return self.verify if isinstance(self.verify, str) else ""


def read_config(path: Path) -> PyxnatConfig:
    """The configuration in `path`; ConfigError (a sentence naming the file) if it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"The configuration file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "it is not UTF-8 text"
        raise ConfigError(f"The configuration file {path} cannot be read ({reason}).") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The configuration file {path} is not valid JSON (line {exc.lineno}, "
            f"column {exc.colno})."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"The configuration file {path} must hold a JSON object.")
    missing = [k for k in REQUIRED if not isinstance(data.get(k), str)]
    if missing:
        raise ConfigError(
            f"The configuration file {path} lacks {', '.join(missing)} "
            "(server, user and password are required, as text)."
        )
    verify = data.get("verify", True)
    if not isinstance(verify, bool | str):
        raise ConfigError(f"In {path}, verify must be true, false or the path of a CA bundle file.")
    if isinstance(verify, str):
        ca = Path(verify).expanduser()
        if not ca.is_file():
            raise ConfigError(
                f"In {path}, verify names the CA bundle file {verify}, which does not exist."
            )
        verify = str(ca)
    server, _ = strip_userinfo(data["server"].strip())
    return PyxnatConfig(path, server.rstrip("/"), data["user"], data["password"], verify)
