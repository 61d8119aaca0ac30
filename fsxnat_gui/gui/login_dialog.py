"""Log in to an XNAT server: URL, user, password, 'remember', CA bundle, 'Test connection'.

The network calls run in the window's worker thread; keyring calls stay in the GUI thread
(STYLE §3.6). With 'remember' on, the app asks XNAT for an alias token and stores the token,
not the password, in the system keyring.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fsxnat_gui.core import credentials
from fsxnat_gui.core.errors import TLSError
from fsxnat_gui.core.login import (
    ClientFactory,
    Credentials,
    LoginResult,
    saved_credentials,
    strip_userinfo,
)
from fsxnat_gui.core.pyxnat_config import ConfigError, read_config
from fsxnat_gui.gui import tasks
from fsxnat_gui.gui.icons import icon
from fsxnat_gui.gui.runner import Job, JobQueue
from fsxnat_gui.gui.session import URL_CREDENTIALS_HELP, Session
from fsxnat_gui.gui.settings import ServerProfile

log = logging.getLogger(__name__)

TLS_HELP = (
    "The server's certificate is not trusted by this computer. This is usual for servers with a "
    "certificate from an in-house authority or a self-signed one. If your XNAT administrator "
    "gave you a CA certificate file (.pem or .crt), choose it under 'Trust CA file' and try "
    "again. The app checks the certificate unless an imported pyxnat config says verify: false."
)
NO_KEYRING = (
    "No system keyring is available on this computer ({backend}), so the password cannot be "
    "remembered. It is kept in memory until you quit; it is never written to a file."
)


class LoginDialog(QDialog):
    """Asks for a server and an account; `session` is set when the dialog is accepted."""

    def __init__(
        self,
        jobs: JobQueue,
        client_factory: ClientFactory,
        *,
        profiles: list[ServerProfile] | None = None,
        profile: ServerProfile | None = None,
        remember: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("loginDialog")
        self.setWindowTitle("Log in to XNAT")
        self.setAccessibleName("Log in to XNAT")
        self._jobs = jobs
        self._factory = client_factory
        self._open = True
        self._saved: Credentials | None = None  # the keyring's login for url+user
        self._imported_from: Path | None = None
        self._insecure_url = ""  # no certificate check for this URL (a pyxnat config said so)
        self.session: Session | None = None
        self.message = ""  # what the window should tell the user after login

        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("serverUrlEdit")
        self.url_edit.setAccessibleName("Server URL")
        self.url_edit.setPlaceholderText("https://xnat.example.org")
        self.url_edit.setCompleter(QCompleter(sorted({p.url for p in profiles or []}), self))
        self._profiles = list(profiles or [])
        self.profile_combo = QComboBox()
        self.profile_combo.setObjectName("profileCombo")
        self.profile_combo.setAccessibleName("Remembered servers")
        self.profile_combo.addItem("New server…", None)
        for known in self._profiles:
            self.profile_combo.addItem(known.title, known)
        self.user_edit = QLineEdit()
        self.user_edit.setObjectName("userEdit")
        self.user_edit.setAccessibleName("User name")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setAccessibleName("Password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember_check = QCheckBox("&Remember on this computer (system keyring)")
        self.remember_check.setObjectName("rememberCheck")
        self.remember_check.setAccessibleName("Remember the login in the system keyring")
        self.remember_check.setToolTip(
            "Stores an XNAT alias token (not your password) in the system keyring, so you are "
            "logged in next time. Off: nothing is stored, the password is kept in memory only."
        )
        self.ca_edit = QLineEdit()
        self.ca_edit.setObjectName("caBundleEdit")
        self.ca_edit.setAccessibleName("CA certificate file to trust")
        self.ca_edit.setPlaceholderText("the system's certificates")
        self.ca_button = QPushButton("Choose…")
        self.ca_button.setObjectName("caBundleButton")
        self.ca_button.setAccessibleName("Choose a CA certificate file")
        self.status = QLabel()
        self.status.setObjectName("loginStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setMinimumHeight(48)

        self.test_button = QPushButton(icon("server"), "&Test connection")
        self.test_button.setObjectName("testConnectionButton")
        self.test_button.setAccessibleName("Test connection")
        self.import_button = QPushButton("&Import pyxnat config…")
        self.import_button.setObjectName("importConfigButton")
        self.import_button.setAccessibleName("Import a pyxnat configuration file")
        self.import_button.setToolTip(
            "Read server, user and password from a pyxnat .cfg file (like ~/.xnat_*.cfg) and "
            "move the password into the system keyring."
        )
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.login_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.login_button.setText("&Log in")
        self.login_button.setObjectName("dialogLoginButton")

        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(self.ca_button)
        form = QFormLayout()
        if self._profiles:
            form.addRow("Re&membered:", self.profile_combo)
        form.addRow("&Server URL:", self.url_edit)
        form.addRow("&User:", self.user_edit)
        form.addRow("&Password:", self.password_edit)
        form.addRow("", self.remember_check)
        ca_label = QLabel("Trust CA &file:")
        ca_label.setBuddy(self.ca_edit)
        form.addRow(ca_label, ca_row)
        tools = QHBoxLayout()
        tools.addWidget(self.test_button)
        tools.addWidget(self.import_button)
        tools.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(tools)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)

        self.buttons.accepted.connect(self._on_login_clicked)
        self.buttons.rejected.connect(self.reject)
        self.test_button.clicked.connect(self._on_test_clicked)
        self.import_button.clicked.connect(self._on_import_clicked)
        self.ca_button.clicked.connect(self._on_ca_clicked)
        self.profile_combo.currentIndexChanged.connect(self._on_profile_chosen)
        self.url_edit.editingFinished.connect(self._on_account_edited)
        self.user_edit.editingFinished.connect(self._on_account_edited)

        self._can_remember = credentials.can_remember()
        if self._can_remember:
            self.remember_check.setChecked(remember)
        else:
            reason = NO_KEYRING.format(backend=credentials.backend_name())
            self.remember_check.setChecked(False)
            self.remember_check.setEnabled(False)
            self.remember_check.setToolTip(reason)
            self.status.setText(reason)
        if profile is not None:
            if profile in self._profiles:
                self.profile_combo.setCurrentIndex(1 + self._profiles.index(profile))
            self.fill(profile)
        (self.password_edit if profile else self.url_edit).setFocus()

    # --- inputs --------------------------------------------------------------------------

    @property
    def profile(self) -> ServerProfile:
        """The typed server and user (a `user:password@` in the URL is never part of it: the
        login refuses such a URL, see `_check_inputs`)."""
        url, _ = strip_userinfo(self.url_edit.text().strip())
        url = url.rstrip("/")
        return ServerProfile(
            url,
            self.user_edit.text().strip(),
            self.ca_edit.text().strip(),
            insecure=bool(url) and url == self._insecure_url,
        )

    def _set_busy(self, busy: bool, text: str = "") -> None:
        # The inputs are read when the login starts; editing them while it runs would only
        # mislead (the result belongs to the server and user it started with).
        for widget in (
            self.test_button,
            self.import_button,
            self.login_button,
            self.ca_button,
            self.profile_combo,
            self.url_edit,
            self.user_edit,
            self.password_edit,
            self.ca_edit,
        ):
            widget.setEnabled(not busy)
        self.remember_check.setEnabled(self._can_remember and not busy)
        if text:
            self.status.setText(text)

    def _check_inputs(self) -> bool:
        p = self.profile
        if not p.url.startswith(("http://", "https://")):
            self.status.setText("Enter the server's address, starting with https://")
            self.url_edit.setFocus()
            return False
        if strip_userinfo(self.url_edit.text().strip())[1]:
            self.status.setText(URL_CREDENTIALS_HELP)
            self.url_edit.setFocus()
            return False
        if not p.user:
            self.status.setText("Enter your XNAT user name.")
            self.user_edit.setFocus()
            return False
        if not self.password_edit.text() and self._saved is None:
            self.status.setText("Enter your password.")
            self.password_edit.setFocus()
            return False
        if p.ca_bundle and not Path(p.ca_bundle).is_file():
            self.status.setText(f"The CA file {p.ca_bundle} does not exist.")
            return False
        return True

    # --- actions -------------------------------------------------------------------------

    def import_config(self, path: Path) -> None:
        """Fill the fields from a pyxnat config file and log in, storing its password in the
        keyring (as a token when the server issues one)."""
        try:
            config = read_config(path)
        except ConfigError as exc:
            self.status.setText(str(exc))
            return
        insecure = config.verify is False
        self.fill(ServerProfile(config.server, config.user, config.ca_bundle, insecure))
        self.password_edit.setText(config.password)
        self._saved = None
        self._imported_from = path
        if self._can_remember:
            self.remember_check.setChecked(True)
        self._on_login_clicked()

    def fill(self, profile: ServerProfile) -> None:
        """Show this server, user and CA bundle (and its saved login, if any)."""
        self.url_edit.setText(profile.url)
        self.user_edit.setText(profile.user)
        self.ca_edit.setText(profile.ca_bundle)
        self._insecure_url = profile.url if profile.insecure else ""
        self.password_edit.clear()
        self._on_account_edited()

    @Slot(int)
    def _on_profile_chosen(self, index: int) -> None:
        chosen = self.profile_combo.itemData(index)
        if isinstance(chosen, ServerProfile):
            self.fill(chosen)
            self.password_edit.setFocus()

    @Slot()
    def _on_account_edited(self) -> None:
        p = self.profile
        self._saved = saved_credentials(p.url, p.user) if p.url and p.user else None
        if self._saved is not None:
            self.password_edit.setPlaceholderText("saved in the system keyring")
        else:
            self.password_edit.setPlaceholderText("")

    @Slot()
    def _on_ca_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Trust a CA certificate file",
            str(Path.home()),
            "Certificates (*.pem *.crt *.cer);;All files (*)",
        )
        if path:
            self.ca_edit.setText(path)

    @Slot()
    def _on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import pyxnat config", str(Path.home()), "pyxnat config (*.cfg *.json);;All (*)"
        )
        if path:
            self.import_config(Path(path))

    @Slot()
    def _on_test_clicked(self) -> None:
        if not self._check_inputs():
            return
        self._run(want_token=False, on_result=self._on_tested)

    @Slot()
    def _on_login_clicked(self) -> None:
        if not self._check_inputs():
            return
        want_token = self.remember_check.isChecked() and bool(self.password_edit.text())
        self._run(want_token=want_token, on_result=self._on_logged_in)

    def _run(
        self,
        *,
        want_token: bool,
        on_result: Callable[[LoginResult, ServerProfile, bool], None],
    ) -> None:
        p = self.profile  # captured: the result is handled for this server and user
        typed = self.password_edit.text()
        saved = None if typed else self._saved
        given = saved or Credentials(p.user, typed)
        self._set_busy(True, f"Connecting to {p.url}…")
        steps = functools.partial(tasks.login, self._factory, p.url, given, p.verify, want_token)

        def on_login(result: LoginResult) -> None:
            if self._open:
                on_result(result, p, saved is not None)

        def on_failure(exc: BaseException) -> None:
            log.warning("Login to %s as %s failed: %s", p.url, p.user, exc)
            if self._open:
                self._show_error(exc)

        def on_finish() -> None:
            if self._open:
                self._set_busy(False)

        self._jobs.submit(
            Job(
                "login",
                steps,
                on_result=on_login,
                on_failure=on_failure,
                on_finish=on_finish,
            )
        )

    def _show_error(self, exc: BaseException) -> None:
        if isinstance(exc, TLSError):
            self.status.setText(f"{exc}\n\n{TLS_HELP}")
            self.ca_edit.setFocus()
        else:
            self.status.setText(str(exc))

    def _on_tested(self, result: LoginResult, _profile: ServerProfile, _stored: bool) -> None:
        version = result.info.version or "version not reported"
        self.status.setText(
            f"Connected to XNAT {version} at {result.info.url} as {result.info.user}."
        )

    def _on_logged_in(self, result: LoginResult, p: ServerProfile, stored: bool) -> None:
        notes = []
        remembered = False
        if self.remember_check.isChecked() and stored:
            # Logged in with the saved login: the keyring already holds it as it should be (a
            # marked token stays a token; re-encoding `result` would save it as a password).
            remembered = True
        elif self.remember_check.isChecked():
            login = result.credentials
            value = credentials.encode_secret(login.auth_user, login.secret, login.token)
            remembered = credentials.save_secret(p.url, p.user, value)
            if not remembered:
                self.remember_check.setChecked(False)
                notes.append(
                    "The login could not be saved in the system keyring; it is kept in memory "
                    "until you quit."
                )
            elif result.credentials.token:
                notes.append("An XNAT alias token (not your password) is saved in the keyring.")
        elif self.password_edit.text():
            credentials.forget_secret(p.url, p.user)
        if self._imported_from is not None and remembered:
            notes.append(
                f"The password from {self._imported_from} is now in the system keyring. That "
                "file still holds it in plain text: delete it when no script needs it any more."
            )
        self.session = Session(
            profile=p,
            auth_user=result.credentials.auth_user,
            secret=result.credentials.secret,
            server_version=result.info.version,
            remembered=remembered,
        )
        self.message = " ".join(notes)
        self.accept()

    def done(self, result: int) -> None:
        self._open = False
        self._jobs.cancel("login")
        super().done(result)
