"""The window's actions, menus and toolbar (the window connects what they do)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox, QToolBar

from fsxnat_gui import APP_DISPLAY_NAME, __version__
from fsxnat_gui.core import credentials
from fsxnat_gui.gui.icons import icon
from fsxnat_gui.gui.watch_controller import WATCH_TEXT


class Actions(QObject):
    """The actions of a main window, its menu bar and its toolbar (built on `window`, with
    the `options` menu before Help). 'About' is handled here; the window connects every other
    action's `triggered`."""

    def __init__(self, window: QMainWindow, options: QMenu) -> None:
        super().__init__(window)
        self._window = window
        self._options = options
        self.open = self._action(
            "&Open SUBJECTS_DIR…",
            "open",
            QKeySequence.StandardKey.Open,
            "openAction",
            "Choose the FreeSurfer SUBJECTS_DIR to import from",
        )
        self.rescan = self._action(
            "&Rescan and refresh",
            "refresh",
            QKeySequence("F5"),
            "rescanAction",
            "Scan the SUBJECTS_DIR again and refresh the preview from the server",
        )
        self.import_config = self._action(
            "Import pyxnat &config…",
            "login",
            None,
            "importConfigAction",
            "Log in with a pyxnat config file and move its password into the system keyring",
        )
        self.load_mapping = self._action(
            "&Load mapping…",
            "open",
            None,
            "loadMappingAction",
            "Say where each folder goes with a mapping file (folder,subject,experiment,resource)",
        )
        self.save_mapping = self._action(
            "Sa&ve mapping…",
            "save",
            None,
            "saveMappingAction",
            "Save where each checked folder goes and why, to review, edit and load again",
        )
        self.save_report = self._action(
            "&Save report…",
            "save",
            QKeySequence.StandardKey.Save,
            "saveReportAction",
            "Save the last import's report as JSON or CSV",
        )
        self.quit = self._action(
            "&Quit", "quit", QKeySequence.StandardKey.Quit, "quitAction", "Quit"
        )
        self.login = self._action(
            "&Log in…", "login", QKeySequence("Ctrl+L"), "loginAction", "Log in to an XNAT server"
        )
        self.logout = self._action(
            "Log &out",
            "logout",
            None,
            "logoutAction",
            "Log out and forget the login saved in the system keyring",
        )
        self.account = self._action(  # the toolbar's: "Log out" once logged in
            "&Log in…", "login", None, "accountAction", "Log in to an XNAT server"
        )
        self.demo = self._action(
            "&Demo server",
            "server",
            None,
            "demoAction",
            "Start a local demo XNAT server with sample subjects (nothing leaves this computer)",
        )
        self.import_ = self._action(
            "&Import",
            "import",
            QKeySequence("Ctrl+I"),
            "importAction",
            "Import the checked subjects into XNAT",
        )
        self.cancel = self._action(
            "&Cancel import",
            "cancel",
            QKeySequence(Qt.Key.Key_Escape),
            "cancelAction",
            "Stop the running import",
        )
        self.watch = self._action("&Watch this folder", "running", None, "watchAction", WATCH_TEXT)
        self.watch.setCheckable(True)
        self.about = self._action("&About", "about", None, "aboutAction", "About")
        self.about.triggered.connect(self._on_about_triggered)
        self._build_menus()
        self._build_toolbar()

    def _action(
        self, text: str, icon_name: str, shortcut: QKeySequence | str | None, name: str, tip: str
    ) -> QAction:
        action = QAction(icon(icon_name), text, self._window)
        action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(
            f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
            if shortcut is not None
            else tip
        )
        return action

    def _build_menus(self) -> None:
        bar = self._window.menuBar()
        for title, actions in (
            (
                "&File",
                (
                    self.open,
                    self.rescan,
                    None,
                    self.import_config,
                    None,
                    self.load_mapping,
                    self.save_mapping,
                    None,
                    self.save_report,
                    None,
                    self.quit,
                ),
            ),
            (
                "&Server",
                (
                    self.login,
                    self.logout,
                    None,
                    self.demo,
                    None,
                    self.import_,
                    self.cancel,
                    self.watch,
                ),
            ),
        ):
            menu = bar.addMenu(title)
            for action in actions:
                if action is None:
                    menu.addSeparator()
                else:
                    menu.addAction(action)
        bar.addMenu(self._options)
        bar.addMenu("&Help").addAction(self.about)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setMovable(False)
        for action in (self.open, self.rescan, None, self.account, None, self.import_, self.cancel):
            if action is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(action)
        self._window.addToolBar(toolbar)

    def set_logged_in(self, logged_in: bool) -> None:
        """The toolbar's login button follows the session, as the target panel's does."""
        source = self.logout if logged_in else self.login
        self.account.setText(source.text())
        self.account.setIcon(source.icon())
        self.account.setToolTip(source.statusTip())
        self.account.setStatusTip(source.statusTip())

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self._window,
            f"About {APP_DISPLAY_NAME}",
            f"<b>{APP_DISPLAY_NAME}</b> {__version__}<br>Imports FreeSurfer recon-all subjects "
            "into XNAT and checks each one against what the server stored.<br><br>"
            f"Keyring: {credentials.backend_name()}",
        )
