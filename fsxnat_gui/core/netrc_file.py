"""Credentials in `~/.netrc`, for machines without a desktop keyring (cluster nodes).

`machine <host> login <user or token alias> password <secret>` (archive-conventions.md §4). A file
that group or others can read is refused, as dax refuses it: a secret there is not a secret. An
alias token saved by `fsxnat login --save-token` carries its expiry in a comment line right above
its entry (`# fsxnat: alias token, expires 2026-12-04T02:00:00Z`), so a task can warn before it
runs out; netrc itself has no field for it.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from fsxnat_gui.core.errors import FsXnatError
from fsxnat_gui.core.model import AliasToken

log = logging.getLogger(__name__)

_EXPIRY_RE = re.compile(r"^#\s*fsxnat: alias token, expires (\S+)\s*$")
_TOKEN_RE = re.compile(r"\S+")


class NetrcError(FsXnatError):
    """The netrc file cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class NetrcEntry:
    host: str
    login: str
    password: str = field(repr=False)
    expires: float | None = None  # epoch seconds, for alias tokens saved by fsxnat

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and self.expires <= (now or time.time())


def netrc_path() -> Path:
    """`$NETRC` when set (as curl and requests honour it), else `~/.netrc`."""
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc")


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def find(url: str, path: Path | None = None) -> NetrcEntry | None:
    """The entry for the server's host, None when there is no file or no such machine.
    Raises NetrcError for a file others can read or one that cannot be parsed."""
    path = path or netrc_path()
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NetrcError(f"cannot read {path}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NetrcError(
            f"{path} can be read by other users (mode {stat.S_IMODE(st.st_mode):03o}), so the "
            f"secrets in it are not secret; run: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NetrcError(f"cannot read {path}: {exc}") from None
    host = host_of(url)
    machines = _parse(text, path)
    found = machines.get(host) or machines.get("")  # "" is the `default` entry
    if not found or not found.get("login") or not found.get("password"):
        return None
    return NetrcEntry(host, found["login"], found["password"], _expiry(text, host))


_WORD_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')


def _parse(text: str, path: Path) -> dict[str, dict[str, str]]:
    """machine -> {login, password, account}; the first entry of a machine wins (as curl).
    Double-quoted values may hold spaces; `#` starts a comment; macdef bodies are skipped."""
    machines: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        words = [m.group() for m in _WORD_RE.finditer(lines[n])]
        n += 1
        i = 0
        while i < len(words):
            word = words[i]
            if word.startswith("#"):
                break
            value = words[i + 1] if i + 1 < len(words) else None
            if word == "default":
                current = machines.setdefault("", {})
                i += 1
            elif word == "macdef":
                while n < len(lines) and lines[n].strip():  # the macro runs to an empty line
                    n += 1
                break
            elif value is None:
                raise NetrcError(f"{path}, line {n}: '{word}' is not followed by a value")
            elif word == "machine":
                # the first entry of a machine wins; a repeat is read and ignored
                current = (
                    {} if value.lower() in machines else machines.setdefault(value.lower(), {})
                )
                i += 2
            elif word in ("login", "password", "account") and current is not None:
                current.setdefault(word, _unquote(value))
                i += 2
            else:
                raise NetrcError(f"{path}, line {n}: unexpected '{word}'")
    return machines


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return re.sub(r"\\(.)", r"\1", word[1:-1])
    return word


def _expiry(text: str, host: str) -> float | None:
    """The expiry comment right above `machine <host>`, if fsxnat wrote one."""
    previous = ""
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) >= 2 and tokens[0] == "machine" and tokens[1].lower() == host:
            if m := _EXPIRY_RE.match(previous.strip()):
                try:
                    return datetime.fromisoformat(m.group(1)).timestamp()
                except ValueError:
                    return None
            return None
        if line.strip():
            previous = line
    return None


def save_token(url: str, token: AliasToken, path: Path | None = None) -> Path:
    """Store an alias token as the host's entry (replacing any other for that host), keeping the
    rest of the file as it is. The file is written atomically with mode 0600."""
    path = path or netrc_path()
    host = host_of(url)
    if not host:
        raise NetrcError(f"'{url}' has no host name to store in {path}")
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise NetrcError(f"cannot read {path}: {exc.strerror}") from None
    expires = datetime.fromtimestamp(token.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kept = old
    while (shorter := _without_host(kept, host)) != kept:
        kept = shorter
    kept = kept.rstrip()
    entry = (
        f"# fsxnat: alias token, expires {expires}\n"
        f"machine {host} login {token.alias} password {token.secret}\n"
    )
    text = f"{kept}\n\n{entry}" if kept else entry
    fd, tmp = tempfile.mkstemp(prefix=".netrc-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise NetrcError(f"cannot write {path}: {exc.strerror}") from None
    log.info("alias token for %s saved in %s (expires %s)", host, path, expires)
    return path


def _without_host(text: str, host: str) -> str:
    """`text` without the `machine <host>` entry (and fsxnat's expiry comment above it)."""
    tokens = list(_TOKEN_RE.finditer(text))
    for i, tok in enumerate(tokens[:-1]):
        if tok.group() == "machine" and tokens[i + 1].group().lower() == host:
            end = len(text)
            for later in tokens[i + 2 :]:
                if later.group() in ("machine", "default", "macdef"):
                    end = later.start()
                    break
            start = tok.start()
            before = text[:start].rstrip("\n").rsplit("\n", 1)
            if len(before) == 2 and _EXPIRY_RE.match(before[1].strip()):
                start = len(before[0]) + 1
            elif len(before) == 1 and _EXPIRY_RE.match(before[0].strip()):
                start = 0
            return text[:start] + text[end:]
    return text
