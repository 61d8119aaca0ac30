"""A log panel: records from any thread reach a QPlainTextEdit through a queued signal."""

from __future__ import annotations

import contextlib
import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

MAX_LINES = 5000


class _Emitter(QObject):
    line = Signal(str)


class QtLogHandler(logging.Handler):
    """Formats a record and emits it; safe from any thread (the receiver lives in the GUI)."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.emitter = _Emitter()
        self.setFormatter(logging.Formatter("%(asctime)s  %(levelname)-7s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(RuntimeError):  # the window is gone: nothing to show it in
            self.emitter.line.emit(self.format(record))


class LogView(QPlainTextEdit):
    """Read-only, bounded, monospaced; attaches a handler to the `fsxnat_gui` logger."""

    def __init__(self, logger_name: str = "fsxnat_gui", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logView")
        self.setAccessibleName("Log")
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._logger = logging.getLogger(logger_name)
        self.handler = QtLogHandler()
        self.handler.emitter.line.connect(self.appendPlainText)
        self._logger.addHandler(self.handler)
        if self._logger.getEffectiveLevel() > logging.INFO:
            self._logger.setLevel(logging.INFO)

    def detach(self) -> None:
        """Stop receiving records (call before the widget goes away)."""
        self._logger.removeHandler(self.handler)
