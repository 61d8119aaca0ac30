"""Typed settings: profiles, last choices, window state; never a secret."""

from __future__ import annotations

from PySide6.QtCore import QByteArray

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
