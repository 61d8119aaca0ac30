"""Typed settings: profiles, last choices, window state; never a secret."""

from __future__ import annotations

from pathlib import Path

from gui_helpers import WindowFactory
from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMenu

from fsxnat_gui.core.model import OnExisting
from fsxnat_gui.gui.settings import DEFAULT_EXPERIMENT_TEMPLATE, Key, ServerProfile, Settings


def test_defaults(settings: Settings) -> None:
    assert settings.profiles == []
    assert settings.current_profile is None
    assert settings.experiment_template == DEFAULT_EXPERIMENT_TEMPLATE
    assert settings.on_existing is OnExisting.SKIP
    assert settings.geometry.isEmpty()


def test_profiles_are_remembered_most_recent_first(settings: Settings) -> None:
    a = ServerProfile("https://a.example.org", "alice")
    b = ServerProfile("https://b.example.org", "bob", "/etc/ssl/site-ca.pem")
    settings.remember_profile(a)
    settings.remember_profile(b)
    settings.remember_profile(ServerProfile("https://a.example.org", "alice", "/ca.pem"))
    assert [p.user for p in settings.profiles] == ["alice", "bob"]
    assert settings.current_profile == ServerProfile("https://a.example.org", "alice", "/ca.pem")
    assert settings.current_profile.verify == "/ca.pem"
    assert b.verify == "/etc/ssl/site-ca.pem"
    settings.forget_current_profile()
    assert settings.current_profile is None
    assert len(settings.profiles) == 2


def test_a_profile_without_certificate_checking_stays_so(settings: Settings) -> None:
    """Only a pyxnat config's `verify: false` makes one; the next start must not check."""
    insecure = ServerProfile("https://c.example.org", "carol", insecure=True)
    settings.remember_profile(insecure)
    assert settings.current_profile == insecure
    assert insecure.verify is False
    assert ServerProfile("https://c.example.org", "carol").verify is True


def test_values_round_trip(settings: Settings) -> None:
    settings.subjects_dir = "/data/subjects"
    settings.project = "P1"
    settings.on_existing = OnExisting.REPLACE
    settings.geometry = QByteArray(b"\x01\x02")
    settings.set_splitter_state(Key.MAIN_SPLITTER, QByteArray(b"\x03"))
    assert settings.subjects_dir == "/data/subjects"
    assert settings.project == "P1"
    assert settings.on_existing is OnExisting.REPLACE
    assert bytes(settings.geometry) == b"\x01\x02"
    assert bytes(settings.splitter_state(Key.MAIN_SPLITTER)) == b"\x03"


def test_parallel_uploads_are_chosen_in_the_options_menu_and_kept(
    make_window: WindowFactory, settings: Settings, tmp_path: Path
) -> None:
    window = make_window()
    menu = window.findChild(QMenu, "parallelUploadsMenu")
    choices = {action.data(): action for action in menu.actions()}
    assert list(choices) == [1, 2, 3, 4, 5, 6]
    assert [n for n, action in choices.items() if action.isChecked()] == [2]  # the default
    choices[4].trigger()
    assert [n for n, action in choices.items() if action.isChecked()] == [4]
    settings.sync()
    again = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert again.parallel_uploads == 4
    for stored, read in ((9, 6), (0, 1)):  # an edited file cannot ask for more, or none
        again.parallel_uploads = stored
        assert again.parallel_uploads == read
    # that the import uses it: tests/gui/test_import.py (uploads overlap with 2 streams)
