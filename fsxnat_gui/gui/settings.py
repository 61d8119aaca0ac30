"""Typed settings over QSettings (STYLE.md §3.5). Keys live here and nowhere else.

Never a secret: passwords and tokens go to the OS keyring (core.credentials).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter

from fsxnat_gui import APP_NAME, ORG_NAME
from fsxnat_gui.core.model import OnExisting

log = logging.getLogger(__name__)

VERSION = 1
PARALLEL_UPLOADS = range(1, 7)  # the choices of the Options menu
DEFAULT_PARALLEL_UPLOADS = 2


class Key:
    VERSION = "settings/version"
    PROFILES = "servers/profiles"  # array of {url, user, ca_bundle, insecure}
    CURRENT_PROFILE = "servers/current"  # index into PROFILES, -1 for none
    SUBJECTS_DIR = "subjects/last_dir"
    PROJECT = "target/project"
    EXPERIMENT_TEMPLATE = "target/experiment_template"
    ON_EXISTING = "target/on_existing"
    REMEMBER = "login/remember"
    TEMP_DIR = "import/temp_dir"  # where the zips are written, "" for the app's data folder
    PARALLEL_UPLOADS = "import/parallel_uploads"
    FOLDER_PATTERN = "import/folder_pattern"  # regex with groups subject (and session); "" none
    GEOMETRY = "window/geometry"
    WINDOW_STATE = "window/state"
    MAIN_SPLITTER = "window/main_splitter"
    TOP_SPLITTER = "window/top_splitter"


DEFAULT_EXPERIMENT_TEMPLATE = "{subject}_MR1"


@dataclass(frozen=True)
class ServerProfile:
    """A remembered server and user. The secret is in the keyring, keyed by user and URL."""

    url: str
    user: str
    ca_bundle: str = ""  # a CA bundle file to trust for this server, "" for the system store
    insecure: bool = False  # no certificate check (only from a pyxnat config's verify: false)

    @property
    def verify(self) -> bool | str:
        return False if self.insecure else self.ca_bundle or True

    @property
    def title(self) -> str:
        return f"{self.user} @ {self.url}"


class Settings:
    """The application's settings. Construct with a QSettings to isolate (tests)."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self._qs = qsettings or QSettings(
            QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG_NAME, APP_NAME
        )
        self._migrate()

    def _migrate(self) -> None:
        version = self._qs.value(Key.VERSION, 0, type=int)
        if version < VERSION:
            self._qs.setValue(Key.VERSION, VERSION)

    def sync(self) -> None:
        self._qs.sync()

    # --- servers -------------------------------------------------------------------------

    @property
    def profiles(self) -> list[ServerProfile]:
        result = []
        n = self._qs.beginReadArray(Key.PROFILES)
        for i in range(n):
            self._qs.setArrayIndex(i)
            url = self._qs.value("url", "", type=str)
            user = self._qs.value("user", "", type=str)
            if url and user:
                ca_bundle = self._qs.value("ca_bundle", "", type=str)
                insecure = self._qs.value("insecure", False, type=bool)
                result.append(ServerProfile(url, user, ca_bundle, insecure))
        self._qs.endArray()
        return result

    @profiles.setter
    def profiles(self, profiles: list[ServerProfile]) -> None:
        self._qs.remove(Key.PROFILES)
        self._qs.beginWriteArray(Key.PROFILES, len(profiles))
        for i, p in enumerate(profiles):
            self._qs.setArrayIndex(i)
            self._qs.setValue("url", p.url)
            self._qs.setValue("user", p.user)
            self._qs.setValue("ca_bundle", p.ca_bundle)
            self._qs.setValue("insecure", p.insecure)
        self._qs.endArray()

    @property
    def current_profile(self) -> ServerProfile | None:
        index = self._qs.value(Key.CURRENT_PROFILE, -1, type=int)
        profiles = self.profiles
        return profiles[index] if 0 <= index < len(profiles) else None

    def remember_profile(self, profile: ServerProfile) -> None:
        """Add or update a profile (same URL and user) and make it the current one."""
        profiles = [p for p in self.profiles if (p.url, p.user) != (profile.url, profile.user)]
        profiles.insert(0, profile)
        self.profiles = profiles
        self._qs.setValue(Key.CURRENT_PROFILE, 0)

    def forget_current_profile(self) -> None:
        self._qs.setValue(Key.CURRENT_PROFILE, -1)

    # --- last choices --------------------------------------------------------------------

    @property
    def subjects_dir(self) -> str:
        return self._qs.value(Key.SUBJECTS_DIR, "", type=str)

    @subjects_dir.setter
    def subjects_dir(self, path: str) -> None:
        self._qs.setValue(Key.SUBJECTS_DIR, path)

    @property
    def project(self) -> str:
        return self._qs.value(Key.PROJECT, "", type=str)

    @project.setter
    def project(self, project: str) -> None:
        self._qs.setValue(Key.PROJECT, project)

    @property
    def experiment_template(self) -> str:
        value = self._qs.value(Key.EXPERIMENT_TEMPLATE, DEFAULT_EXPERIMENT_TEMPLATE, type=str)
        return value or DEFAULT_EXPERIMENT_TEMPLATE

    @experiment_template.setter
    def experiment_template(self, template: str) -> None:
        self._qs.setValue(Key.EXPERIMENT_TEMPLATE, template)

    @property
    def on_existing(self) -> OnExisting:
        value = self._qs.value(Key.ON_EXISTING, OnExisting.SKIP.value, type=str)
        try:
            return OnExisting(value)
        except ValueError:
            return OnExisting.SKIP

    @on_existing.setter
    def on_existing(self, policy: OnExisting) -> None:
        self._qs.setValue(Key.ON_EXISTING, policy.value)

    @property
    def remember_secret(self) -> bool:
        return self._qs.value(Key.REMEMBER, True, type=bool)

    @remember_secret.setter
    def remember_secret(self, remember: bool) -> None:
        self._qs.setValue(Key.REMEMBER, remember)

    # --- import options ------------------------------------------------------------------

    @property
    def temp_dir(self) -> str:
        return self._qs.value(Key.TEMP_DIR, "", type=str)

    @temp_dir.setter
    def temp_dir(self, path: str) -> None:
        self._qs.setValue(Key.TEMP_DIR, path)

    def temp_folder(self, default: Path) -> Path:
        """Where an import writes its zips: the folder chosen, else `default`."""
        return Path(self.temp_dir) if self.temp_dir else default

    @property
    def parallel_uploads(self) -> int:
        """How many subjects upload at once, within PARALLEL_UPLOADS."""
        value = self._qs.value(Key.PARALLEL_UPLOADS, DEFAULT_PARALLEL_UPLOADS, type=int)
        return min(max(value, PARALLEL_UPLOADS.start), PARALLEL_UPLOADS.stop - 1)

    @parallel_uploads.setter
    def parallel_uploads(self, n: int) -> None:
        self._qs.setValue(Key.PARALLEL_UPLOADS, n)

    @property
    def folder_pattern(self) -> str:
        """How folder names say their subject (and session): `fsxnat import --folder-pattern`."""
        return self._qs.value(Key.FOLDER_PATTERN, "", type=str)

    @folder_pattern.setter
    def folder_pattern(self, pattern: str) -> None:
        self._qs.setValue(Key.FOLDER_PATTERN, pattern)

    # --- window --------------------------------------------------------------------------

    def _bytes(self, key: str) -> QByteArray:
        return self._qs.value(key, QByteArray(), type=QByteArray)

    @property
    def geometry(self) -> QByteArray:
        return self._bytes(Key.GEOMETRY)

    @geometry.setter
    def geometry(self, data: QByteArray) -> None:
        self._qs.setValue(Key.GEOMETRY, data)

    @property
    def window_state(self) -> QByteArray:
        return self._bytes(Key.WINDOW_STATE)

    @window_state.setter
    def window_state(self, data: QByteArray) -> None:
        self._qs.setValue(Key.WINDOW_STATE, data)

    def splitter_state(self, name: str) -> QByteArray:
        return self._bytes(name)

    def set_splitter_state(self, name: str, data: QByteArray) -> None:
        self._qs.setValue(name, data)

    def restore_window(self, window: QMainWindow, splitters: dict[str, QSplitter]) -> None:
        """Put back the window's geometry, toolbars and splitters (by key) as they were left."""
        if not self.geometry.isEmpty():
            window.restoreGeometry(self.geometry)
        else:
            window.resize(1280, 820)
        if not self.window_state.isEmpty():
            window.restoreState(self.window_state)
        for key, splitter in splitters.items():
            if not self.splitter_state(key).isEmpty():
                splitter.restoreState(self.splitter_state(key))

    def save_window(self, window: QMainWindow, splitters: dict[str, QSplitter]) -> None:
        self.geometry = window.saveGeometry()
        self.window_state = window.saveState()
        for key, splitter in splitters.items():
            self.set_splitter_state(key, splitter.saveState())
