"""The application's exception hook: always logged; at most one box, only in the GUI thread."""

from __future__ import annotations

import logging
import sys
import threading

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from fsxnat_gui import app as app_module


def _raise(text: str) -> tuple[type[BaseException], BaseException, object]:
    try:
        raise RuntimeError(text)
    except RuntimeError as exc:
        return type(exc), exc, exc.__traceback__


def test_excepthook_logs_always_and_shows_one_box_from_the_gui_thread_only(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    app_module._install_excepthook()
    hook = sys.excepthook
    shown: list[str] = []

    def fake_exec(box: QMessageBox) -> int:
        shown.append(box.informativeText())
        if len(shown) == 1:  # more errors while the box is open: logged, no second box
            hook(*_raise("second"))
            hook(*_raise("third"))
        return 0

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    with caplog.at_level(logging.CRITICAL, logger="fsxnat_gui"):
        hook(*_raise("first"))
        assert len(shown) == 1
        assert "first" in shown[0]

        worker = threading.Thread(target=lambda: hook(*_raise("in a worker")))
        worker.start()
        worker.join(5)
        assert len(shown) == 1  # no widget from another thread

        hook(*_raise("later"))  # the first box was closed: a new one may open
    assert len(shown) == 2
    assert "later" in shown[1]
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [str(e) for e in logged] == ["first", "second", "third", "in a worker", "later"]
