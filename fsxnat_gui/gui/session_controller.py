"""The login: the login dialog, logging in at start-up with the saved login, logging out, the
project list, and the local demo server's lifecycle (it lives as long as its session)."""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from fsxnat_gui.core import credentials
from fsxnat_gui.core.login import ClientFactory, LoginResult, insecure_warning, saved_credentials
from fsxnat_gui.gui import tasks
from fsxnat_gui.gui.login_dialog import LoginDialog
from fsxnat_gui.gui.message_bar import Level
from fsxnat_gui.gui.runner import Job, JobQueue
from fsxnat_gui.gui.session import Session
from fsxnat_gui.gui.settings import ServerProfile, Settings
from fsxnat_gui.gui.ui_state import DEMO_LABEL

log = logging.getLogger(__name__)


class SessionController(QObject):
    """Who the window is logged in as. Keyring calls happen here, on the GUI thread.

    Signals:
        session_changed(object): logged in (a Session) or out (None)
        projects_listed(object): the list of project IDs the user can see
        demo_starting(bool): the demo server is being started (True), or that ended (False)
        demo_ready(object): the demo server runs (tasks.DemoReady); its session is set
        auto_login_failed(str): the saved login did not work (a sentence); offer the dialog
        failed(str, object): what failed, and the exception
        notice(object, str): a Level and a sentence for the message bar
    """

    session_changed = Signal(object)
    projects_listed = Signal(object)
    demo_starting = Signal(bool)
    demo_ready = Signal(object)
    auto_login_failed = Signal(str)
    failed = Signal(str, object)
    notice = Signal(object, str)

    def __init__(
        self,
        jobs: JobQueue,
        settings: Settings,
        factory: ClientFactory,
        data_dir: Path,
        dialog_parent: QWidget,
    ) -> None:
        super().__init__(dialog_parent)
        self._jobs, self._settings, self._factory = jobs, settings, factory
        self._data_dir, self._dialog_parent = data_dir, dialog_parent
        self._session: Session | None = None
        self._demo: contextlib.ExitStack | None = None  # keeps the demo server running
        self._demo_starting = False

    @property
    def session(self) -> Session | None:
        return self._session

    # --- login and logout ------------------------------------------------------------------

    def open_login_dialog(self, config: Path | None = None) -> LoginDialog:
        """Open the (window-modal) login dialog; with `config`, import that pyxnat file."""
        demo = self._session is not None and self._session.demo
        dialog = LoginDialog(
            self._jobs,
            self._factory,
            profiles=self._settings.profiles,
            profile=None if demo else self._settings.current_profile,
            remember=self._settings.remember_secret,
            parent=self._dialog_parent,
        )
        dialog.accepted.connect(self._on_login_dialog_accepted)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        if config is not None:
            dialog.import_config(config)
        return dialog

    @Slot()
    def _on_login_dialog_accepted(self) -> None:
        dialog = self.sender()
        if not isinstance(dialog, LoginDialog) or dialog.session is None:
            return
        session = dialog.session
        self._settings.remember_profile(session.profile)
        self._settings.remember_secret = dialog.remember_check.isChecked()
        self.set_session(session)
        if session.profile.insecure:  # said once, at login (never one warning per request)
            self.notice.emit(Level.WARNING, f"{insecure_warning(session.url)} {dialog.message}")
        elif dialog.message:
            self.notice.emit(Level.INFO, dialog.message)

    def use_server(self, url: str, user: str) -> None:
        """Start-up options --server/--user: log in with the saved login for them if there is
        one, else open the login dialog with them filled in."""
        wanted = ServerProfile(url.strip().rstrip("/"), user.strip())
        for profile in self._settings.profiles:
            if (profile.url, profile.user) == (wanted.url, wanted.user):
                self._settings.remember_profile(profile)
                if self.auto_login():
                    return
                wanted = profile
                break
        dialog = self.open_login_dialog()
        dialog.fill(wanted)
        (dialog.password_edit if wanted.user else dialog.user_edit).setFocus()

    def auto_login(self) -> bool:
        """Log in with the current profile's saved login, if there is one (False if not)."""
        profile = self._settings.current_profile
        saved = saved_credentials(profile.url, profile.user) if profile else None
        if profile is None or saved is None:
            return False
        steps = functools.partial(
            tasks.login, self._factory, profile.url, saved, profile.verify, False
        )

        def on_result(result: LoginResult) -> None:
            if self._session is None:
                login = result.credentials
                version = result.info.version
                self.set_session(
                    Session(profile, login.auth_user, login.secret, version, remembered=True)
                )
                if profile.insecure:
                    self.notice.emit(Level.WARNING, insecure_warning(profile.url))

        def on_failure(exc: BaseException) -> None:
            self.auto_login_failed.emit(
                f"Could not log in to {profile.url} as {profile.user}: {exc}"
            )

        self._jobs.submit(Job("login", steps, on_result=on_result, on_failure=on_failure))
        return True

    def log_out(self) -> None:
        """Log out, forgetting the saved login (the demo server stops with its session)."""
        session = self._session
        if session is None:
            return
        if not session.demo:
            credentials.forget_secret(session.url, session.user)
            self._settings.forget_current_profile()
        log.info("Logged out of %s", session.url)
        self.set_session(None)

    def set_session(self, session: Session | None) -> None:
        previous, self._session = self._session, session
        if previous is not None and previous.demo and (session is None or not session.demo):
            log.info("Stopping the demo server")
            self.close_demo()
        if session is not None:
            log.info("Logged in: %s", DEMO_LABEL if session.demo else session.profile.title)
            self.refresh_projects()
        self.session_changed.emit(session)

    def refresh_projects(self) -> None:
        session = self._session
        if session is None:
            return

        def on_failure(exc: BaseException) -> None:
            log.warning("Listing projects failed: %s", exc)

        steps = functools.partial(tasks.list_projects, self._factory, session)
        self._jobs.submit(
            Job("projects", steps, on_result=self.projects_listed.emit, on_failure=on_failure)
        )

    # --- the demo server -------------------------------------------------------------------

    def start_demo(self) -> None:
        """Start the local demo server with sample subjects (off the GUI thread)."""
        if self._demo_starting:
            return
        if self._session is not None and self._session.demo:
            self.notice.emit(Level.INFO, f"The {DEMO_LABEL} is already running.")
            return
        self._demo_starting = True
        password = secrets.token_urlsafe(16)  # for this run only, kept in memory

        def on_result(ready: tasks.DemoReady) -> None:
            self.close_demo()
            self._demo = ready.stack
            self._session = None  # the previous session ends without its own clean-up
            profile = ServerProfile(ready.url, tasks.DEMO_USER)
            version = ready.info.version
            self.set_session(Session(profile, tasks.DEMO_USER, ready.password, version, demo=True))
            self.demo_ready.emit(ready)

        def on_failure(exc: BaseException) -> None:
            self.failed.emit("The demo server could not start", exc)

        def on_finish() -> None:
            self._demo_starting = False
            self.demo_starting.emit(False)

        folder = self._data_dir / "demo"
        steps = functools.partial(tasks.start_demo, self._factory, folder, password)
        self._jobs.submit(
            Job("demo", steps, on_result=on_result, on_failure=on_failure, on_finish=on_finish)
        )
        self.demo_starting.emit(True)

    def close_demo(self) -> None:
        """Stop the demo server, if it runs (idempotent)."""
        stack, self._demo = self._demo, None
        if stack is not None:
            stack.close()
