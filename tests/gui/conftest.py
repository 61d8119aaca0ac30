"""Fixtures for the window tests: a runner that must shut down, isolated settings, a window
factory, subject folders made by fsxnat_gui.samples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import WindowFactory
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from fsxnat_gui import samples
from fsxnat_gui.gui import MainWindow
from fsxnat_gui.gui.runner import JobRunner
from fsxnat_gui.gui.settings import Settings


@pytest.fixture
def runner(qapp: QApplication) -> Iterator[JobRunner]:
    r = JobRunner()
    yield r
    assert r.shutdown(), "the worker thread did not stop"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from PySide6.QtCore import QSettings

    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(
    qtbot: QtBot, runner: JobRunner, settings: Settings, tmp_path: Path
) -> Iterator[WindowFactory]:
    """Windows made here are closed (which stops their worker) at teardown; pytest-qt only
    holds weak references, and a window collected with its thread running aborts."""
    windows: list[MainWindow] = []

    def make(**kwargs: Any) -> MainWindow:
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("runner", runner)
        kwargs.setdefault("data_dir", tmp_path / "data")
        kwargs.setdefault("retries", 0)
        kwargs.setdefault("retry_backoff", 0.05)
        window = MainWindow(**kwargs)
        window.ask = lambda title, text: True  # type: ignore[method-assign]
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()  # during an import, it closes once the import job has ended
        qtbot.waitUntil(lambda w=window: w.is_shut_down, timeout=15_000)


@pytest.fixture
def subjects_dir(tmp_path: Path) -> Path:
    """sub-01..sub-03 finished, sub-04 failed, sub-05 running, plus templates."""
    root = tmp_path / "subjects"
    for i in (1, 2, 3):
        samples.make_subject(root, f"sub-{i:02d}", seed=i)
    samples.make_subject(root, "sub-04", variant="failed", seed=4)
    samples.make_subject(root, "sub-05", variant="running", seed=5)
    samples.make_templates(root)
    return root
