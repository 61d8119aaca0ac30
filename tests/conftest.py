"""Shared fixtures.

- Qt runs offscreen unless the environment chose a platform (./dev.sh test uses Xvfb/xcb).
- Every test gets an in-memory keyring unless it is marked `real_keyring` (those use the real
  Secret Service that ./dev.sh test starts in a private D-Bus session).
- QSettings write under tmp_path, never into the user's configuration; $NETRC is a temp file.
- `xnat` is a real XNAT-compatible server on 127.0.0.1 (fsxnat_gui.localxnat) with an owner and
  a read-only account, and a fault-injection handle.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import keyring.backend
import pytest
from tls_certs import Certs, make_certs

OWNER = ("owner", "owner-secret-pw")
READER = ("reader", "reader-secret-pw")


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A dict-backed keyring so no test touches the OS store by accident."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_keyring: uses the real Secret Service (./dev.sh test provides one)"
    )


@pytest.fixture(autouse=True)
def memory_keyring(request: pytest.FixtureRequest) -> Iterator[MemoryKeyring | None]:
    """The in-memory keyring; for `real_keyring` tests, the real Secret Service, installed by
    name: keyring's default chain collects every viable KeyringBackend subclass, the test
    doubles of this suite included, in an order that varies from run to run."""
    previous = keyring.get_keyring()
    kr: MemoryKeyring | None = None
    if not request.node.get_closest_marker("real_keyring"):
        kr = MemoryKeyring()
        keyring.set_keyring(kr)
    elif os.environ.get("FSXNAT_SECRET_SERVICE"):
        from keyring.backends import SecretService

        keyring.set_keyring(SecretService.Keyring())
    try:
        yield kr
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def isolated_netrc(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """$NETRC points at a file in a temp folder (absent until a test writes it): no test reads
    or writes the user's ~/.netrc."""
    path = tmp_path_factory.mktemp("netrc") / "netrc"
    monkeypatch.setenv("NETRC", str(path))
    monkeypatch.delenv("XNAT_USER", raising=False)
    return path


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point QSettings (INI, user scope) at a temp folder; a no-op for Qt-free tests."""
    import sys

    if "PySide6.QtCore" not in sys.modules:
        os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
        return
    from PySide6.QtCore import QSettings

    folder = str(tmp_path_factory.mktemp("settings"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)


@dataclass
class LocalServer:
    url: str
    root: Path
    faults: object  # fsxnat_gui.localxnat.Faults
    user: str = OWNER[0]
    password: str = OWNER[1]
    reader: str = READER[0]
    reader_password: str = READER[1]


@pytest.fixture
def xnat(tmp_path: Path) -> Iterator[LocalServer]:
    from fsxnat_gui.localxnat import Faults, serve

    faults = Faults()
    root = tmp_path / "xnat-archive"
    with serve(
        root, users={OWNER[0]: OWNER[1]}, readonly_users={READER[0]: READER[1]}, faults=faults
    ) as url:
        yield LocalServer(url=url, root=root, faults=faults)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA and a server certificate for 127.0.0.1 (tests/tls_certs.py)."""
    pytest.importorskip("cryptography.x509")
    return make_certs(tmp_path_factory.mktemp("tls"))
