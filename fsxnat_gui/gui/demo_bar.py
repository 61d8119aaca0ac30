"""The bar offering the local demo server when no XNAT server is set up yet."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from fsxnat_gui.gui.icons import icon
from fsxnat_gui.gui.subjects_panel import named


class DemoBar(QFrame):
    """Signals:
    demo_clicked(): 'Try with a local demo server' was clicked
    login_clicked(): 'Log in…' was clicked
    """

    demo_clicked = Signal()
    login_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("demoBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel(
            "<b>No XNAT server is set up yet.</b> Log in to your XNAT, or try the app first with "
            "a local demo server and generated sample subjects: nothing leaves this computer."
        )
        self.text.setWordWrap(True)
        self.demo_button = QPushButton(icon("server"), "Try with a local demo server")
        named(self.demo_button, "demoButton", "Try with a local demo server")
        self.login_button = QPushButton(icon("login"), "Log in…")
        named(self.login_button, "demoLoginButton", "Log in to your XNAT")
        layout = QHBoxLayout(self)
        layout.addWidget(QLabel(pixmap=icon("info").pixmap(24, 24)))
        layout.addWidget(self.text, 1)
        layout.addWidget(self.demo_button)
        layout.addWidget(self.login_button)
        self.demo_button.clicked.connect(self.demo_clicked)
        self.login_button.clicked.connect(self.login_clicked)
