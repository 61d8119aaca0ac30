"""The window's yes/no questions: their words, and the box that asks them."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

CANCEL_IMPORT = (
    "Cancel the import?",
    "Stop the import now? The subject being uploaded is stopped and what was sent for it is "
    "removed; subjects already imported stay on the server.",
)
QUIT_DURING_IMPORT = (
    "Cancel the import and quit?",
    "An import is running. Cancel it and quit? Subjects already imported stay on the server; "
    "running the same import again later skips them.",
)


def ask(parent: QWidget, title: str, text: str) -> bool:
    """A window-modal yes/no question, "No" by default. Its event loop runs while it is open:
    what it asks about may have ended by the time it returns."""
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, yes | no, no) == yes
