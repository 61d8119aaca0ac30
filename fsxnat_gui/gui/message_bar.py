"""An inline message strip at the top of the window (no modal box for routine news)."""

from __future__ import annotations

import logging
from enum import Enum

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from fsxnat_gui.core.errors import FsXnatError
from fsxnat_gui.gui.icons import icon

log = logging.getLogger(__name__)


class Level(Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class MessageBar(QFrame):
    """Shows one message with an icon, optional action buttons and a close button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setAccessibleName("Message")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self._icon = QLabel()
        self.text = QLabel()
        self.text.setObjectName("messageText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._close = QToolButton()
        self._close.setObjectName("messageCloseButton")
        self._close.setIcon(icon("close"))
        self._close.setAutoRaise(True)
        self._close.setAccessibleName("Close the message")
        self._close.clicked.connect(self._on_close_clicked)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 4, 4)
        self._layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        self._layout.addWidget(self.text, 1)
        self._actions: list[QPushButton] = []
        self._layout.addWidget(self._close, 0, Qt.AlignmentFlag.AlignTop)
        self.level: Level | None = None
        self.setVisible(False)

    def show_message(self, level: Level, text: str, buttons: tuple[QPushButton, ...] = ()) -> None:
        for old in self._actions:
            self._layout.removeWidget(old)
            old.setParent(None)  # type: ignore[call-overload]
            old.deleteLater()
        self._actions = list(buttons)
        for i, button in enumerate(buttons):
            self._layout.insertWidget(2 + i, button)
        self.level = level
        self._icon.setPixmap(icon(level.value).pixmap(20, 20))
        self.text.setText(text)
        self.setVisible(True)

    def tell(self, level: Level, text: str, buttons: tuple[QPushButton, ...] = ()) -> None:
        """Show `text` and log it."""
        {Level.INFO: log.info, Level.WARNING: log.warning, Level.ERROR: log.error}[level](
            "%s", text
        )
        self.show_message(level, text, buttons)

    def tell_failure(self, what: str, exc: BaseException) -> None:
        """Say what failed: the sentence of a core error; for anything else, its type and
        where the details are (the traceback goes to the log, never to the user)."""
        if isinstance(exc, FsXnatError):
            log.error("%s: %s", what, exc)
            self.show_message(Level.ERROR, f"{what}: {exc}")
        else:
            log.error("%s", what, exc_info=exc)
            self.show_message(
                Level.ERROR,
                f"{what}: an unexpected error ({type(exc).__name__}: {exc}). "
                "The details are in the log.",
            )

    def clear(self) -> None:
        self.level = None
        self.text.clear()
        self.setVisible(False)

    @Slot()
    def _on_close_clicked(self) -> None:
        self.clear()
