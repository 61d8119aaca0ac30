"""The main window: composes the panels, wires them to the core through the job queue, and
keeps the UI state in one place (`UiState` + `_apply_state`). No business rule lives here."""

from __future__ import annotations

import functools
import logging
import secrets
from collections import Counter
from dataclasses import replace
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QStandardPaths, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from fsxnat_gui import APP_DISPLAY_NAME, __version__
from fsxnat_gui.core import credentials, plan, report
from fsxnat_gui.core.errors import FsXnatError, LabelError
from fsxnat_gui.core.model import (
    ImportPlan,
    OnExisting,
    Progress,
    RunReport,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.xnat import experiment_web_url
from fsxnat_gui.gui import tasks, units
from fsxnat_gui.gui.icons import app_icon, icon
from fsxnat_gui.gui.log_view import LogView
from fsxnat_gui.gui.login_dialog import LoginDialog
from fsxnat_gui.gui.message_bar import Level, MessageBar
from fsxnat_gui.gui.preview import PreviewPanel
from fsxnat_gui.gui.progress_panel import ProgressPanel
from fsxnat_gui.gui.runner import Job, JobQueue, JobRunner, StepsFactory
from fsxnat_gui.gui.session import ClientFactory, Session, default_client_factory
from fsxnat_gui.gui.settings import Key, ServerProfile, Settings
from fsxnat_gui.gui.subject_model import Column, SubjectFilterModel, SubjectTableModel

log = logging.getLogger(__name__)

DEMO_LABEL = "Demo server (local, sample data)"
PREVIEW_DELAY_MS = 150
POLICY_WORDS = {
    OnExisting.SKIP: "Skip if identical",
    OnExisting.REPLACE: "Replace",
    OnExisting.FAIL: "Stop (report a conflict)",
}


class UiState(Enum):
    IDLE = "idle"
    SCANNING = "scanning"
    IMPORTING = "importing"
    CANCELLING = "cancelling"


def default_data_dir() -> Path:
    location = QStandardPaths.StandardLocation.AppLocalDataLocation
    return Path(QStandardPaths.writableLocation(location))


class MainWindow(QMainWindow):
    """The application window. Every dependency has a default, so `MainWindow()` works.

    Signals (for tests and scripting):
        scan_completed(): a scan or a drop finished filling the subjects table
        preview_updated(): the preview tree was rebuilt (compared with the server if logged in)
        login_changed(): logged in or out
        import_finished(object): an import ended, with its RunReport (None if it failed)
        demo_ready(): the local demo server and the sample subjects are ready
    """

    scan_completed = Signal()
    preview_updated = Signal()
    login_changed = Signal()
    import_finished = Signal(object)
    demo_ready = Signal()

    def __init__(
        self,
        settings: Settings | None = None,
        runner: JobRunner | None = None,
        client_factory: ClientFactory | None = None,
        data_dir: Path | None = None,
        retries: int = 3,
        retry_backoff: float = 2.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = settings or Settings()
        self.runner = runner or JobRunner(self)
        self.jobs = JobQueue(self.runner, self)
        self._factory: ClientFactory = client_factory or default_client_factory
        self._data_dir = data_dir or default_data_dir()
        self._retries, self._retry_backoff = retries, retry_backoff
        self._state = UiState.IDLE
        self._session: Session | None = None
        self._root: Path | None = None
        self._overrides: dict[str, str] = {}
        self._plan: ImportPlan | None = None
        self._import_plan: ImportPlan | None = None
        self._import_session: Session | None = None  # the login the last import ran with
        self._report: RunReport | None = None
        self._resource_touched = False
        self._rescan_checks: set[str] | None = None  # ticks to put back after a rescan
        self._demo_stack: object | None = None
        self._demo_starting = False
        self._shut_down = False
        self._close_when_stopped = False  # the user closed the window during an import

        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setMinimumSize(900, 600)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._on_preview_timer_timeout)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_central()
        self._build_status_bar()
        self._wire()
        self._restore()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_about_to_quit)
        self._update_title()
        self._apply_state()
        self._auto_login()

    # --- construction --------------------------------------------------------------------

    def _action(
        self, text: str, icon_name: str, shortcut: QKeySequence | str | None, name: str, tip: str
    ) -> QAction:
        action = QAction(icon(icon_name), text, self)
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

    def _build_actions(self) -> None:
        self.open_action = self._action(
            "&Open SUBJECTS_DIR…",
            "open",
            QKeySequence.StandardKey.Open,
            "openAction",
            "Choose the FreeSurfer SUBJECTS_DIR to import from",
        )
        self.rescan_action = self._action(
            "&Rescan and refresh",
            "refresh",
            QKeySequence("F5"),
            "rescanAction",
            "Scan the SUBJECTS_DIR again and refresh the preview from the server",
        )
        self.import_config_action = self._action(
            "Import pyxnat &config…",
            "login",
            None,
            "importConfigAction",
            "Log in with a pyxnat config file and move its password into the system keyring",
        )
        self.save_report_action = self._action(
            "&Save report…",
            "save",
            QKeySequence.StandardKey.Save,
            "saveReportAction",
            "Save the last import's report as JSON or CSV",
        )
        self.quit_action = self._action(
            "&Quit", "quit", QKeySequence.StandardKey.Quit, "quitAction", "Quit"
        )
        self.login_action = self._action(
            "&Log in…", "login", QKeySequence("Ctrl+L"), "loginAction", "Log in to an XNAT server"
        )
        self.logout_action = self._action(
            "Log &out",
            "logout",
            None,
            "logoutAction",
            "Log out and forget the login saved in the system keyring",
        )
        self.demo_action = self._action(
            "&Demo server",
            "server",
            None,
            "demoAction",
            "Start a local demo XNAT server with sample subjects (nothing leaves this computer)",
        )
        self.import_action = self._action(
            "&Import",
            "import",
            QKeySequence("Ctrl+I"),
            "importAction",
            "Import the checked subjects into XNAT",
        )
        self.cancel_action = self._action(
            "&Cancel import",
            "cancel",
            QKeySequence(Qt.Key.Key_Escape),
            "cancelAction",
            "Stop the running import",
        )
        self.about_action = self._action("&About", "about", None, "aboutAction", "About")
        self.open_action.triggered.connect(self._on_open_triggered)
        self.rescan_action.triggered.connect(self._on_rescan_triggered)
        self.import_config_action.triggered.connect(self._on_import_config_triggered)
        self.save_report_action.triggered.connect(self._on_save_report_triggered)
        self.quit_action.triggered.connect(self.close)
        self.login_action.triggered.connect(self._on_login_triggered)
        self.logout_action.triggered.connect(self._on_logout_triggered)
        self.demo_action.triggered.connect(self._on_demo_triggered)
        self.import_action.triggered.connect(self._on_import_triggered)
        self.cancel_action.triggered.connect(self._on_cancel_triggered)
        self.about_action.triggered.connect(self._on_about_triggered)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.rescan_action)
        file_menu.addSeparator()
        file_menu.addAction(self.import_config_action)
        file_menu.addAction(self.save_report_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        server_menu = bar.addMenu("&Server")
        server_menu.addAction(self.login_action)
        server_menu.addAction(self.logout_action)
        server_menu.addSeparator()
        server_menu.addAction(self.demo_action)
        server_menu.addSeparator()
        server_menu.addAction(self.import_action)
        server_menu.addAction(self.cancel_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setMovable(False)
        for action in (
            self.open_action,
            self.rescan_action,
            None,
            self.login_action,
            None,
            self.import_action,
            self.cancel_action,
        ):
            if action is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(action)
        self.addToolBar(toolbar)

    def _named(self, widget: QWidget, name: str, accessible: str) -> QWidget:
        widget.setObjectName(name)
        widget.setAccessibleName(accessible)
        return widget

    def _build_subjects_panel(self) -> QWidget:
        self.subjects_dir_button = QPushButton(icon("open"), "Choose SUBJECTS_DIR…")
        self._named(self.subjects_dir_button, "subjectsDirButton", "Choose SUBJECTS_DIR")
        self.subjects_dir_button.setToolTip(
            "Choose the FreeSurfer SUBJECTS_DIR, or drop it (or subject folders) on the window"
        )
        self.root_label = QLabel("No SUBJECTS_DIR chosen: choose one, or drop folders here.")
        self._named(self.root_label, "subjectsDirLabel", "Current SUBJECTS_DIR")
        self.root_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.filter_edit = QLineEdit()
        self._named(self.filter_edit, "filterEdit", "Filter subjects")
        self.filter_edit.setPlaceholderText("Filter subjects…")
        self.filter_edit.setClearButtonEnabled(True)
        self.select_all_button = QPushButton("All")
        self._named(self.select_all_button, "selectAllButton", "Check all shown subjects")
        self.select_all_button.setToolTip("Check every importable subject the filter shows")
        self.select_none_button = QPushButton("None")
        self._named(self.select_none_button, "selectNoneButton", "Uncheck all shown subjects")
        self.select_none_button.setToolTip("Uncheck every subject the filter shows")
        self.select_importable_button = QPushButton("All importable")
        self._named(
            self.select_importable_button, "selectImportableButton", "Check all importable subjects"
        )
        self.select_importable_button.setToolTip(
            "Check every finished recon-all subject, whatever the filter, and nothing else"
        )

        self.subject_model = SubjectTableModel(self)
        self.subject_proxy = SubjectFilterModel(self)
        self.subject_proxy.setSourceModel(self.subject_model)
        self.subject_table = QTableView()
        self._named(self.subject_table, "subjectTable", "Subjects")
        self.subject_table.setModel(self.subject_proxy)
        self.subject_table.setSortingEnabled(True)
        self.subject_table.sortByColumn(Column.SUBJECT, Qt.SortOrder.AscendingOrder)
        self.subject_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.subject_table.setAlternatingRowColors(True)
        self.subject_table.setShowGrid(False)
        self.subject_table.verticalHeader().setVisible(False)
        self.subject_table.setWordWrap(False)
        header = self.subject_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.STATE, QHeaderView.ResizeMode.Stretch)
        for column, width in (
            (Column.SUBJECT, 170),
            (Column.STATE, 170),
            (Column.VERSION, 80),
            (Column.FILES, 60),
            (Column.SIZE, 80),
        ):
            header.resizeSection(column, width)
        self.subjects_summary = QLabel()
        self._named(self.subjects_summary, "subjectsSummary", "Subjects summary")

        root_row = QHBoxLayout()
        root_row.addWidget(self.subjects_dir_button)
        root_row.addWidget(self.root_label, 1)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(QLabel("Check:"))
        filter_row.addWidget(self.select_all_button)
        filter_row.addWidget(self.select_none_button)
        filter_row.addWidget(self.select_importable_button)
        box = QGroupBox("Subjects")
        box.setObjectName("subjectsBox")
        layout = QVBoxLayout(box)
        layout.addLayout(root_row)
        layout.addLayout(filter_row)
        layout.addWidget(self.subject_table, 1)
        layout.addWidget(self.subjects_summary)
        return box

    def _build_target_panel(self) -> QWidget:
        self.server_label = QLabel("Not logged in")
        self._named(self.server_label, "serverLabel", "Server and login state")
        self.server_label.setWordWrap(True)
        self.login_button = QPushButton(icon("login"), "Log in…")
        self._named(self.login_button, "loginButton", "Log in or out")
        self.project_combo = QComboBox()
        self._named(self.project_combo, "projectCombo", "XNAT project")
        self.project_combo.setEditable(True)
        self.project_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.project_combo.setMinimumContentsLength(16)
        self.project_combo.lineEdit().setPlaceholderText("project ID")
        self.create_project_check = QCheckBox("Create project")
        self._named(
            self.create_project_check,
            "createProjectCheck",
            "Create the project if it does not exist",
        )
        self.create_project_check.setToolTip("Create the project on the server if it is new")
        self.experiment_edit = QLineEdit()
        self._named(self.experiment_edit, "experimentTemplateEdit", "Experiment label template")
        self.experiment_edit.setToolTip(
            "The MR session label; {subject} is replaced by the subject label"
        )
        self.resource_edit = QLineEdit()
        self._named(self.resource_edit, "resourceEdit", "Resource label")
        self.resource_edit.setToolTip(
            "The resource the subject folder is stored in, suggested from the FreeSurfer version"
        )
        self.policy_combo = QComboBox()
        self._named(self.policy_combo, "policyCombo", "What to do when the resource exists")
        for policy, words in POLICY_WORDS.items():
            self.policy_combo.addItem(words, policy)
        self.policy_combo.setToolTip(
            "When the resource is already on the server: skip it if it holds the same files, "
            "replace it, or stop and report a conflict"
        )

        server_row = QHBoxLayout()
        server_row.addWidget(self.server_label, 1)
        server_row.addWidget(self.login_button)
        project_row = QHBoxLayout()
        project_row.addWidget(self.project_combo, 1)
        project_row.addWidget(self.create_project_check)
        form = QFormLayout()
        form.addRow("Server:", server_row)
        project_label = QLabel("&Project:")
        project_label.setBuddy(self.project_combo)
        form.addRow(project_label, project_row)
        exp_label = QLabel("&Experiment label:")
        exp_label.setBuddy(self.experiment_edit)
        form.addRow(exp_label, self.experiment_edit)
        res_label = QLabel("&Resource:")
        res_label.setBuddy(self.resource_edit)
        form.addRow(res_label, self.resource_edit)
        policy_label = QLabel("If it e&xists:")
        policy_label.setBuddy(self.policy_combo)
        form.addRow(policy_label, self.policy_combo)
        target = QGroupBox("Target")
        target.setObjectName("targetBox")
        target.setLayout(form)

        self.preview = PreviewPanel()
        self.import_button = QPushButton(icon("import"), "Import")
        self._named(self.import_button, "importButton", "Import the checked subjects")
        self.import_button.setDefault(True)
        self.import_button.setMinimumHeight(32)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        self._named(self.cancel_button, "cancelButton", "Cancel the import")
        self.cancel_button.setMinimumHeight(32)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.import_button)

        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(target)
        layout.addWidget(self.preview, 1)
        layout.addLayout(buttons)
        return panel

    def _build_demo_bar(self) -> QFrame:
        bar = QFrame()
        bar.setObjectName("demoBar")
        bar.setFrameShape(QFrame.Shape.StyledPanel)
        self.demo_text = QLabel(
            "<b>No XNAT server is set up yet.</b> Log in to your XNAT, or try the app first with "
            "a local demo server and generated sample subjects: nothing leaves this computer."
        )
        self.demo_text.setWordWrap(True)
        self.demo_button = QPushButton(icon("server"), "Try with a local demo server")
        self._named(self.demo_button, "demoButton", "Try with a local demo server")
        self.demo_login_button = QPushButton(icon("login"), "Log in…")
        self._named(self.demo_login_button, "demoLoginButton", "Log in to your XNAT")
        layout = QHBoxLayout(bar)
        layout.addWidget(QLabel(pixmap=icon("info").pixmap(24, 24)))
        layout.addWidget(self.demo_text, 1)
        layout.addWidget(self.demo_button)
        layout.addWidget(self.demo_login_button)
        return bar

    def _build_central(self) -> None:
        self.message_bar = MessageBar()
        self.demo_bar = self._build_demo_bar()
        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.top_splitter.setObjectName("topSplitter")
        self.top_splitter.addWidget(self._build_subjects_panel())
        self.top_splitter.addWidget(self._build_target_panel())
        self.top_splitter.setStretchFactor(0, 5)
        self.top_splitter.setStretchFactor(1, 4)
        self.progress = ProgressPanel()
        self.log_view = LogView()
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setObjectName("bottomTabs")
        self.bottom_tabs.addTab(self.progress, icon("running"), "&Transfers")
        self.bottom_tabs.addTab(self.log_view, "&Log")
        self.main_splitter = QSplitter(Qt.Orientation.Vertical)
        self.main_splitter.setObjectName("mainSplitter")
        self.main_splitter.addWidget(self.top_splitter)
        self.main_splitter.addWidget(self.bottom_tabs)
        self.main_splitter.setStretchFactor(0, 3)
        self.main_splitter.setStretchFactor(1, 2)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.demo_bar)
        layout.addWidget(self.message_bar)
        layout.addWidget(self.main_splitter, 1)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        self.activity_label = QLabel()
        self._named(self.activity_label, "activityLabel", "Background activity")
        self.login_state_label = QLabel()
        self._named(self.login_state_label, "loginStateLabel", "Login state")
        self.statusBar().addWidget(self.activity_label, 1)
        self.statusBar().addPermanentWidget(self.login_state_label)

    def _wire(self) -> None:
        self.subjects_dir_button.clicked.connect(self._on_open_triggered)
        self.filter_edit.textChanged.connect(self.subject_proxy.setFilterFixedString)
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.select_all_button.clicked.connect(self._on_select_all_clicked)
        self.select_none_button.clicked.connect(self._on_select_none_clicked)
        self.select_importable_button.clicked.connect(self._on_select_importable_clicked)
        self.subject_model.selection_changed.connect(self._on_subjects_selection_changed)
        self.subject_model.rowsInserted.connect(self._on_subjects_rows_changed)
        self.subject_model.modelReset.connect(self._on_subjects_rows_changed)
        self.subject_model.dataChanged.connect(self._on_subjects_rows_changed)
        self.login_button.clicked.connect(self._on_login_button_clicked)
        self.demo_button.clicked.connect(self._on_demo_triggered)
        self.demo_login_button.clicked.connect(self._on_login_triggered)
        self.project_combo.currentTextChanged.connect(self._on_target_edited)
        self.create_project_check.toggled.connect(self._on_target_edited)
        self.experiment_edit.textChanged.connect(self._on_target_edited)
        self.resource_edit.textChanged.connect(self._on_target_edited)
        self.resource_edit.textEdited.connect(self._on_resource_edited)
        self.policy_combo.currentIndexChanged.connect(self._on_target_edited)
        self.preview.label_edited.connect(self._on_label_edited)
        self.import_button.clicked.connect(self._on_import_triggered)
        self.cancel_button.clicked.connect(self._on_cancel_triggered)
        self.progress.retry_requested.connect(self._on_retry_requested)
        self.progress.open_requested.connect(self._on_open_requested)
        self.progress.save_requested.connect(self._on_save_report_triggered)
        self.jobs.job_started.connect(self._on_job_changed)
        self.jobs.job_finished.connect(self._on_job_changed)

    @Slot(str)
    def _on_job_changed(self, _name: str) -> None:
        self._update_activity()

    def _restore(self) -> None:
        s = self.settings
        if not s.geometry.isEmpty():
            self.restoreGeometry(s.geometry)
        else:
            self.resize(1280, 820)
        if not s.window_state.isEmpty():
            self.restoreState(s.window_state)
        for splitter, key in (
            (self.main_splitter, Key.MAIN_SPLITTER),
            (self.top_splitter, Key.TOP_SPLITTER),
        ):
            if not s.splitter_state(key).isEmpty():
                splitter.restoreState(s.splitter_state(key))
        self.experiment_edit.setText(s.experiment_template)
        self.resource_edit.setText("FREESURFER7")
        self.policy_combo.setCurrentIndex(list(POLICY_WORDS).index(s.on_existing))
        self.project_combo.setEditText(s.project)

    def _save(self) -> None:
        s = self.settings
        s.geometry = self.saveGeometry()
        s.window_state = self.saveState()
        s.set_splitter_state(Key.MAIN_SPLITTER, self.main_splitter.saveState())
        s.set_splitter_state(Key.TOP_SPLITTER, self.top_splitter.saveState())
        if self._session is None or not self._session.demo:
            s.project = self.project_combo.currentText().strip()
        s.experiment_template = self.experiment_edit.text()
        s.on_existing = self.target().on_existing
        s.sync()

    # --- state ---------------------------------------------------------------------------

    @property
    def state(self) -> UiState:
        return self._state

    @property
    def session(self) -> Session | None:
        return self._session

    def _set_state(self, state: UiState) -> None:
        self._state = state
        self._apply_state()

    def _apply_state(self) -> None:
        self._update_subjects_summary()  # its "scanning…" follows the state
        importing = self._state in (UiState.IMPORTING, UiState.CANCELLING)
        logged_in = self._session is not None
        checked = self.subject_model.checked()
        for widget in (
            self.subjects_dir_button,
            self.filter_edit,
            self.select_all_button,
            self.select_none_button,
            self.select_importable_button,
            self.project_combo,
            self.create_project_check,
            self.experiment_edit,
            self.resource_edit,
            self.policy_combo,
            self.login_button,
        ):
            widget.setEnabled(not importing)
        for action in (
            self.open_action,
            self.rescan_action,
            self.import_config_action,
            self.login_action,
            self.demo_action,
        ):
            action.setEnabled(not importing)
        self.setAcceptDrops(not importing)
        self.subject_model.set_locked(importing)  # the lists stay readable, not editable
        self.preview.set_locked(importing)
        self.logout_action.setEnabled(logged_in and not importing)
        can_import = (
            not importing
            and logged_in
            and bool(checked)
            and bool(self.project_combo.currentText().strip())
            and not self.jobs.busy("login")
        )
        self.import_action.setEnabled(can_import)
        self.import_button.setEnabled(can_import)
        self.cancel_action.setEnabled(self._state is UiState.IMPORTING)
        self.cancel_button.setEnabled(self._state is UiState.IMPORTING)
        self.save_report_action.setEnabled(self._report is not None and not importing)
        if checked:
            size = units.size(sum(s.bytes or 0 for s in checked))
            n = len(checked)
            self.import_button.setText(f"Import {n} subject{'s' if n != 1 else ''} ({size})")
        else:
            self.import_button.setText("Import")
        if not logged_in:
            self.import_button.setToolTip("Log in first (or try the demo server).")
        elif not checked:
            self.import_button.setToolTip("Check the subjects to import.")
        else:
            self.import_button.setToolTip("Zip and upload the checked subjects (Ctrl+I)")
        self.login_button.setText("Log out" if logged_in else "Log in…")
        self.login_button.setIcon(icon("logout" if logged_in else "login"))
        self.demo_bar.setVisible(
            not logged_in and not self.settings.profiles and not self._demo_starting
        )
        self.demo_button.setEnabled(not self._demo_starting)
        self._update_activity()

    def _update_activity(self) -> None:
        words = {
            "scan": "Scanning subjects…",
            "preview": "Checking the server…",
            "login": "Logging in…",
            "projects": "Listing projects…",
            "demo": "Starting the demo server and generating sample subjects…",
            "import": "Importing…",
        }
        if self._close_when_stopped:
            text = "Stopping the import…"
        elif self._state is UiState.CANCELLING:
            text = "Cancelling…"
        else:
            text = words.get(self.jobs.current or "", "Ready")
        self.activity_label.setText(text)

    def _update_title(self) -> None:
        title = APP_DISPLAY_NAME
        if self._session is not None and self._session.demo:
            title = f"{title} — {DEMO_LABEL}"
        elif self._session is not None:
            title = f"{title} — {self._session.user}@{self._session.url}"
        self.setWindowTitle(title)
        if self._session is None:
            text = "Not logged in"
        elif self._session.demo:
            text = f"{DEMO_LABEL}: {self._session.url}"
        else:
            version = (
                f" (XNAT {self._session.server_version})" if self._session.server_version else ""
            )
            text = f"{self._session.user} @ {self._session.url}{version}"
        self.server_label.setText(text)
        self.login_state_label.setText(text)

    def notify(self, level: Level, text: str, buttons: tuple[QPushButton, ...] = ()) -> None:
        """Show `text` in the message bar and log it."""
        {Level.INFO: log.info, Level.WARNING: log.warning, Level.ERROR: log.error}[level](
            "%s", text
        )
        self.message_bar.show_message(level, text, buttons)

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question (tests replace this method)."""
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    # --- subjects ------------------------------------------------------------------------

    def set_subjects_dir(
        self, path: Path, *, remember: bool = True, check_all: bool = False
    ) -> None:
        """Scan this SUBJECTS_DIR in the background, filling the table as entries come
        (`check_all`: then tick every importable subject)."""
        path = Path(path)
        if remember:
            self.settings.subjects_dir = str(path)
        self._start_scan(functools.partial(tasks.scan_dir, path), root=path, check_all=check_all)

    def add_paths(self, paths: list[Path]) -> None:
        """Dropped folders: a SUBJECTS_DIR, or any number of subject folders (then ticked,
        those that are importable)."""
        self._start_scan(
            functools.partial(tasks.scan_dropped, paths),
            root=None,
            check={p.name for p in paths},
        )

    def _start_scan(
        self,
        steps: StepsFactory,
        root: Path | None,
        *,
        rescan: bool = False,
        check: set[str] | None = None,
        check_all: bool = False,
    ) -> None:
        """Scan in the background. A `rescan` (F5, same folder) keeps the edited labels and
        ticks again the checked subjects that are still there and importable (STYLE §3.4).
        `check`: names to tick when the scan ends; `check_all`: tick every importable one.
        What to tick belongs to this scan alone (a scan superseded by another one never
        changes what the newer one ticks)."""
        to_check = set(check) if check is not None else None

        def on_start() -> None:
            if rescan:  # a rescan superseded before it ended left its ticks to keep
                self._rescan_checks = (self._rescan_checks or set()) | (
                    self.subject_model.checked_names()
                )
            else:
                self._rescan_checks = None
                self._overrides.clear()
            self.subject_model.clear()
            self._set_root(root)
            self._set_state(UiState.SCANNING)

        def on_step(step: object) -> None:
            nonlocal to_check
            if isinstance(step, Subject):
                self.subject_model.upsert(step)
            elif isinstance(step, tasks.ScanRoot):
                to_check = None  # a dropped SUBJECTS_DIR: nothing is ticked by itself
                self._set_root(step.path)
                self.settings.subjects_dir = str(step.path)
            elif isinstance(step, tasks.ScanNotes):
                self.notify(Level.WARNING, "\n".join(step.messages))

        def on_success() -> None:
            if check_all:
                self.subject_model.set_checked(self.subject_model.importable_names())
            elif to_check is not None:
                self.subject_model.set_checked(to_check)  # the importable ones among them
            elif rescan:
                self.subject_model.set_checked(self._rescan_checks or set())
                self._rescan_checks = None
            if not self.subject_model.subjects:
                self.notify(Level.WARNING, "No FreeSurfer subjects were found there.")
            self.scan_completed.emit()

        def on_failure(exc: BaseException) -> None:
            self._report_failure("Scanning failed", exc)

        def on_finish() -> None:
            self._update_subjects_summary()
            if self._state is UiState.SCANNING:
                self._set_state(UiState.IDLE)
            self._schedule_preview()

        self.jobs.submit(
            Job(
                "scan",
                steps,
                on_start=on_start,
                on_step=on_step,
                on_success=on_success,
                on_failure=on_failure,
                on_finish=on_finish,
            )
        )
        self._update_activity()

    def _set_root(self, root: Path | None) -> None:
        self._root = root
        if root is not None:
            self.root_label.setText(str(root))
            self.root_label.setToolTip(str(root))
        else:
            self.root_label.setText("Dropped folders")
            self.root_label.setToolTip("")

    def _update_subjects_summary(self) -> None:
        subjects = self.subject_model.subjects
        importable = sum(1 for s in subjects if s.eligible)
        checked = self.subject_model.checked()
        size = units.size(sum(s.bytes or 0 for s in checked))
        text = (
            f"{len(subjects)} entries · {importable} importable · {len(checked)} checked ({size})"
        )
        if self._state is UiState.SCANNING:
            text += " · scanning…"
        self.subjects_summary.setText(text)

    @Slot()
    def _on_subjects_rows_changed(self) -> None:
        self._update_subjects_summary()

    @Slot()
    def _on_subjects_selection_changed(self) -> None:
        self._suggest_resource()
        self._update_subjects_summary()
        self._apply_state()
        self._schedule_preview()

    @Slot(str)
    def _on_filter_changed(self, _text: str) -> None:
        self._update_subjects_summary()

    @Slot()
    def _on_select_all_clicked(self) -> None:
        shown = set(self.subject_proxy.visible_names())
        self.subject_model.set_checked(self.subject_model.checked_names() | shown)

    @Slot()
    def _on_select_none_clicked(self) -> None:
        shown = set(self.subject_proxy.visible_names())
        self.subject_model.set_checked(self.subject_model.checked_names() - shown)

    @Slot()
    def _on_select_importable_clicked(self) -> None:
        self.subject_model.set_checked(self.subject_model.importable_names())

    def _suggest_resource(self) -> None:
        if self._resource_touched:
            return
        checked = self.subject_model.checked() or [
            s for s in self.subject_model.subjects if s.eligible
        ]
        if checked:
            common = Counter(s.suggested_resource for s in checked).most_common(1)[0][0]
            self.resource_edit.setText(common)

    @Slot(str)
    def _on_resource_edited(self, _text: str) -> None:
        self._resource_touched = True

    # --- drag and drop -------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        paths = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        if not paths:
            self.notify(Level.WARNING, "Only folders from this computer can be dropped here.")
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(paths)

    # --- target and preview --------------------------------------------------------------

    def target(self) -> Target:
        policy = self.policy_combo.currentData()
        return Target(
            project=self.project_combo.currentText().strip(),
            experiment_template=self.experiment_edit.text().strip(),
            resource=self.resource_edit.text().strip(),
            on_existing=policy if isinstance(policy, OnExisting) else OnExisting.SKIP,
            create_project=self.create_project_check.isChecked(),
        )

    @Slot()
    def _on_target_edited(self) -> None:
        self._apply_state()
        self._schedule_preview()

    @Slot(str, str)
    def _on_label_edited(self, folder: str, label: str) -> None:
        if label:
            self._overrides[folder] = label
        else:
            self._overrides.pop(folder, None)
        log.info("Subject label of %s set to %s", folder, label or "(default)")
        self._schedule_preview()

    def _schedule_preview(self) -> None:
        self._preview_timer.start()

    def refresh_preview(self) -> None:
        """Rebuild the preview now: offline at once, then compared with the server."""
        self._preview_timer.stop()
        self._on_preview_timer_timeout()

    def _make_plan(self, subjects: list[Subject]) -> ImportPlan:
        return plan.make_plan(subjects, self.target(), self._overrides)

    @Slot()
    def _on_preview_timer_timeout(self) -> None:
        checked = self.subject_model.checked()
        if not checked:
            self._plan = None
            self.jobs.cancel("preview")
            self.preview.set_tree(None)
            self.preview_updated.emit()
            return
        try:
            the_plan = self._make_plan(checked)
        except LabelError as exc:
            self._plan = None
            self.jobs.cancel("preview")
            self.preview.set_tree(None, str(exc))
            self.preview_updated.emit()
            return
        self._plan = the_plan
        session = self._session
        if session is None:
            self.preview.set_tree(plan.offline_tree(the_plan), "Log in to compare with the server.")
            self.preview_updated.emit()
            return
        if self.preview.root is None:
            self.preview.set_tree(plan.offline_tree(the_plan), "Checking the server…")
        else:  # keep the last comparison on screen until the new one arrives (no flicker)
            self.preview.set_note("Checking the server…")
        result: list[ImportPlan] = []

        def on_step(step: object) -> None:
            if isinstance(step, tasks.Compared):
                result.append(step.plan)

        def on_success() -> None:
            if result and result[0].tree is not None:
                self.preview.set_tree(result[0].tree)
                self.preview_updated.emit()

        def on_failure(exc: BaseException) -> None:
            log.warning("Comparing with the server failed: %s", exc)
            self.preview.set_tree(
                plan.offline_tree(the_plan), f"Could not compare with the server: {exc}"
            )
            self.preview_updated.emit()

        steps = functools.partial(tasks.compare_plan, self._factory, session, the_plan)
        self.jobs.submit(
            Job(
                "preview",
                steps,
                on_step=on_step,
                on_success=on_success,
                on_failure=on_failure,
                on_finish=self._update_activity,
            )
        )
        self._update_activity()

    # --- login ---------------------------------------------------------------------------

    @Slot()
    def _on_login_button_clicked(self) -> None:
        if self._session is None:
            self.open_login_dialog()
        else:
            self.log_out()

    @Slot()
    def _on_login_triggered(self) -> None:
        self.open_login_dialog()

    def open_login_dialog(self, config: Path | None = None) -> LoginDialog:
        """Open the (window-modal) login dialog; with `config`, import that pyxnat file."""
        dialog = LoginDialog(
            self.jobs,
            self._factory,
            profiles=self.settings.profiles,
            profile=None if self._session and self._session.demo else self.settings.current_profile,
            remember=self.settings.remember_secret,
            parent=self,
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
        self.settings.remember_profile(dialog.session.profile)
        self.settings.remember_secret = dialog.remember_check.isChecked()
        self.set_session(dialog.session)
        if dialog.message:
            self.notify(Level.INFO, dialog.message)

    def use_server(self, url: str, user: str) -> None:
        """Start-up options --server/--user: log in with the saved login for them if there is
        one, else open the login dialog with them filled in."""
        wanted = ServerProfile(url.strip().rstrip("/"), user.strip())
        for profile in self.settings.profiles:
            if (profile.url, profile.user) == (wanted.url, wanted.user):
                self.settings.remember_profile(profile)
                if credentials.load_secret(profile.url, profile.user):
                    self._auto_login()
                    return
                wanted = profile
                break
        dialog = self.open_login_dialog()
        dialog.url_edit.setText(wanted.url)
        dialog.user_edit.setText(wanted.user)
        dialog.ca_edit.setText(wanted.ca_bundle)
        (dialog.password_edit if wanted.user else dialog.user_edit).setFocus()

    def log_out(self) -> None:
        session = self._session
        if session is None:
            return
        if not session.demo:
            credentials.forget_secret(session.url, session.user)
            self.settings.forget_current_profile()
        log.info("Logged out of %s", session.url)
        self.set_session(None)

    def set_session(self, session: Session | None) -> None:
        previous, self._session = self._session, session
        if previous is not None and previous.demo and (session is None or not session.demo):
            log.info("Stopping the demo server")
            self._close_demo()  # the demo ends with its session (log out, another server)
        if session is not None:
            who = DEMO_LABEL if session.demo else f"{session.user} @ {session.url}"
            log.info("Logged in: %s", who)
            self.message_bar.clear()
            self._refresh_projects()
        self._update_title()
        self._apply_state()
        self._schedule_preview()
        self.login_changed.emit()

    def _auto_login(self) -> None:
        """Log in at start-up with the login remembered in the keyring, if any."""
        profile = self.settings.current_profile
        if profile is None:
            return
        stored = credentials.load_secret(profile.url, profile.user)
        if not stored:
            return
        auth_user, secret = credentials.decode_secret(profile.user, stored)
        steps = functools.partial(
            tasks.login, self._factory, profile.url, auth_user, secret, profile.verify, False
        )
        found: list[tasks.LoginResult] = []

        def on_step(step: object) -> None:
            if isinstance(step, tasks.LoginResult):
                found.append(step)

        def on_success() -> None:
            if found and self._session is None:
                self.set_session(
                    Session(profile, auth_user, secret, found[0].info.version, remembered=True)
                )

        def on_failure(exc: BaseException) -> None:
            button = QPushButton(icon("login"), "Log in…")
            button.clicked.connect(self._on_login_triggered)
            self.notify(
                Level.WARNING,
                f"Could not log in to {profile.url} as {profile.user}: {exc}",
                (button,),
            )

        self.jobs.submit(
            Job(
                "login",
                steps,
                on_step=on_step,
                on_success=on_success,
                on_failure=on_failure,
                on_finish=self._apply_state,
            )
        )

    def _refresh_projects(self) -> None:
        session = self._session
        if session is None:
            return

        def on_step(step: object) -> None:
            if not isinstance(step, tasks.Projects):
                return
            current = self.project_combo.currentText()
            self.project_combo.blockSignals(True)
            self.project_combo.clear()
            self.project_combo.addItems(list(step.projects))
            self.project_combo.setEditText(current)
            self.project_combo.blockSignals(False)
            # "Create project" is never ticked for the user (a typo would create a project on
            # a shared server); the preview says when the project does not exist.

        def on_failure(exc: BaseException) -> None:
            log.warning("Listing projects failed: %s", exc)

        steps = functools.partial(tasks.list_projects, self._factory, session)
        self.jobs.submit(
            Job(
                "projects",
                steps,
                on_step=on_step,
                on_failure=on_failure,
                on_finish=self._update_activity,
            )
        )

    # --- demo ----------------------------------------------------------------------------

    @Slot()
    def _on_demo_triggered(self) -> None:
        self.start_demo()

    def start_demo(self) -> None:
        """Start the local demo server with sample subjects (off the GUI thread)."""
        if self._demo_starting:
            return
        if self._session is not None and self._session.demo:
            self.notify(Level.INFO, f"The {DEMO_LABEL} is already running.")
            return
        self._demo_starting = True
        password = secrets.token_urlsafe(16)  # for this run only, kept in memory
        folder = self._data_dir / "demo"

        def on_step(step: object) -> None:
            if not isinstance(step, tasks.DemoReady):
                return
            self._close_demo()
            self._demo_stack = step.stack
            profile = ServerProfile(step.url, tasks.DEMO_USER)
            self._session = None
            self.project_combo.setEditText(tasks.DEMO_PROJECT)
            self.create_project_check.setChecked(False)
            self.set_session(
                Session(profile, tasks.DEMO_USER, step.password, step.info.version, demo=True)
            )
            self.set_subjects_dir(step.subjects_dir, remember=False, check_all=True)
            self.notify(
                Level.INFO,
                f"{DEMO_LABEL} at {step.url}: sample subjects are in "
                f"{step.subjects_dir}. Nothing here touches a real archive.",
            )

        def on_failure(exc: BaseException) -> None:
            self._report_failure("The demo server could not start", exc)

        def on_finish() -> None:
            self._demo_starting = False
            self._apply_state()
            if self._session is not None and self._session.demo:
                self.demo_ready.emit()

        steps = functools.partial(tasks.start_demo, self._factory, folder, password)
        self.jobs.submit(
            Job("demo", steps, on_step=on_step, on_failure=on_failure, on_finish=on_finish)
        )
        self._apply_state()

    def _close_demo(self) -> None:
        stack, self._demo_stack = self._demo_stack, None
        if stack is not None:
            stack.close()  # type: ignore[attr-defined]

    # --- import --------------------------------------------------------------------------

    @Slot()
    def _on_import_triggered(self) -> None:
        self.start_import()

    def start_import(self, subjects: list[Subject] | None = None) -> bool:
        """Import the checked subjects (or these). False when it could not start."""
        if self._state is not UiState.IDLE and self._state is not UiState.SCANNING:
            return False
        session = self._session
        if session is None:
            self.notify(Level.WARNING, "Log in to an XNAT server first.")
            return False
        chosen = subjects if subjects is not None else self.subject_model.checked()
        if not chosen:
            self.notify(Level.WARNING, "Check the subjects to import first.")
            return False
        try:
            the_plan = self._make_plan(chosen)
        except LabelError as exc:
            self.notify(Level.ERROR, str(exc))
            return False
        return self._start_plan(the_plan, session)

    def _start_plan(self, the_plan: ImportPlan, session: Session) -> bool:
        bad = [i for i in the_plan.items if not i.ok]
        if bad:
            problems = "; ".join(f"{i.subject.name}: {i.problems[0]}" for i in bad[:3])
            self.notify(
                Level.ERROR,
                f"{len(bad)} subject(s) cannot be imported as they are ({problems}). "
                "Fix the labels in the preview (double-click a subject label) first.",
            )
            return False
        self.jobs.cancel("preview")
        self._import_plan, self._import_session = the_plan, session
        self._report = None
        self.message_bar.clear()
        self.progress.start([(i.subject.name, i.subject.bytes or 0) for i in the_plan.items])
        self.bottom_tabs.setCurrentWidget(self.progress)
        log.info(
            "Importing %d subjects into %s on %s",
            len(the_plan.items),
            the_plan.target.project,
            session.url,
        )
        workdir = self._data_dir / "work"
        steps = functools.partial(
            tasks.run_import,
            self._factory,
            session,
            the_plan,
            workdir,
            self._retries,
            self._retry_backoff,
        )
        self.jobs.submit(
            Job(
                "import",
                steps,
                on_step=self._on_import_step,
                on_failure=self._on_import_failure,
                on_finish=self._on_import_finish,
                supersede=False,
            )
        )
        self._set_state(UiState.IMPORTING)
        return True

    def _on_import_step(self, step: object) -> None:
        if isinstance(step, Progress | SubjectResult):
            self.progress.feed(step)
            if isinstance(step, SubjectResult):
                self._log_result(step)
        elif isinstance(step, RunReport):
            self._report = step

    def _on_import_failure(self, exc: BaseException) -> None:
        self._report_failure("The import stopped", exc)

    def _on_import_finish(self) -> None:
        cancelled = self._state is UiState.CANCELLING
        note = "Cancelled." if cancelled else ""
        self.progress.finish(self._report, note)
        self._set_state(UiState.IDLE)
        if self._report is not None:
            ok = sum(1 for r in self._report.results if r.status.value in ("imported", "skipped"))
            log.info("Import finished: %d of %d subjects in XNAT", ok, len(self._report.results))
        self.import_finished.emit(self._report)
        if self._close_when_stopped:  # closed during the import: close now that it stopped
            QTimer.singleShot(0, self, self.close)
            return
        self._refresh_projects()
        self._schedule_preview()

    def _log_result(self, result: SubjectResult) -> None:
        text = f"{result.subject}: {result.status.value}"
        if result.error:
            log.warning("%s: %s", text, result.error)
        else:
            log.info("%s%s", text, f" ({result.detail})" if result.detail else "")

    @Slot()
    def _on_cancel_triggered(self) -> None:
        self.cancel_import()

    def cancel_import(self, *, ask: bool = True) -> None:
        if self._state is not UiState.IMPORTING:
            return
        if ask and not self.ask(
            "Cancel the import?",
            "Stop the import now? The subject being uploaded is stopped and what was sent for "
            "it is removed; subjects already imported stay on the server.",
        ):
            return
        log.info("Cancelling the import")
        self._set_state(UiState.CANCELLING)
        self.jobs.cancel("import")  # a queued import ends at once (its on_finish runs here)

    @Slot()
    def _on_retry_requested(self) -> None:
        self.retry_failed()

    def retry_failed(self) -> bool:
        """Import again the subjects of the last run that failed or were cancelled, with that
        run's plan: same project, labels and policy, whatever the fields say now."""
        last, session = self._import_plan, self._session
        if self._state is not UiState.IDLE and self._state is not UiState.SCANNING:
            return False
        if last is None:
            return False
        if (
            session is None
            or self._import_session is None
            or (
                (session.url, session.user) != (self._import_session.url, self._import_session.user)
            )
        ):
            was = self._import_session
            where = f" to {was.url} as {was.user}" if was is not None else ""
            self.notify(Level.WARNING, f"Log in{where} again to retry the last import.")
            return False
        failed = set(self.progress.failed_subjects())
        items = [i for i in last.items if i.subject.name in failed]
        gone = [i.subject.name for i in items if not i.subject.path.is_dir()]
        items = [i for i in items if i.subject.name not in gone]
        started = bool(items)
        if started:
            log.info("Retrying %d subjects", len(items))
            started = self._start_plan(replace(last, items=tuple(items), tree=None), session)
        if gone:  # after the start, which clears the message bar
            self.notify(
                Level.WARNING,
                f"Not retried: the folder of {', '.join(gone)} is no longer there.",
            )
        return started

    @Slot(str)
    def _on_open_requested(self, subject: str) -> None:
        url = self.experiment_url(subject)
        if url:
            QDesktopServices.openUrl(QUrl(url))

    def experiment_url(self, subject: str) -> str:
        """The web page of the experiment this subject was imported to, "" if unknown."""
        session, the_plan = self._session, self._import_plan
        if session is None or the_plan is None:
            return ""
        item = next((i for i in the_plan.items if i.subject.name == subject), None)
        if item is None:
            return ""
        return experiment_web_url(session.url, the_plan.target.project, item.experiment_label)

    @Slot()
    def _on_save_report_triggered(self) -> None:
        if self._report is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save the import report",
            str(Path.home() / "fsxnat-import-report.json"),
            "JSON (*.json);;CSV (*.csv)",
        )
        if path:
            self.save_report(Path(path))

    def save_report(self, path: Path) -> None:
        if self._report is None:
            return
        try:
            if path.suffix.lower() == ".csv":
                report.write_csv(self._report, path)
            else:
                report.write_json(self._report, path)
        except OSError as exc:
            self.notify(Level.ERROR, f"Could not save the report to {path}: {exc}")
            return
        self.notify(Level.INFO, f"Report saved to {path}.")

    # --- other actions -------------------------------------------------------------------

    @Slot()
    def _on_open_triggered(self) -> None:
        start = self.settings.subjects_dir or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Choose the SUBJECTS_DIR", start)
        if path:
            self.set_subjects_dir(Path(path))

    @Slot()
    def _on_rescan_triggered(self) -> None:
        if self._root is not None:
            self._start_scan(
                functools.partial(tasks.scan_dir, self._root), root=self._root, rescan=True
            )
        if self._session is not None:
            self._refresh_projects()
        self._schedule_preview()

    @Slot()
    def _on_import_config_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import pyxnat config",
            str(Path.home()),
            "pyxnat config (*.cfg *.json);;All files (*)",
        )
        if path:
            self.open_login_dialog(Path(path))

    @Slot()
    def _on_logout_triggered(self) -> None:
        self.log_out()

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_DISPLAY_NAME}",
            f"<b>{APP_DISPLAY_NAME}</b> {__version__}<br>Imports FreeSurfer recon-all subjects "
            "into XNAT and checks each one against what the server stored.<br><br>"
            f"Keyring: {credentials.backend_name()}",
        )

    def _report_failure(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, FsXnatError):
            log.error("%s: %s", what, exc)
            self.notify(Level.ERROR, f"{what}: {exc}")
        else:
            log.error("%s", what, exc_info=exc)
            self.notify(
                Level.ERROR,
                f"{what}: an unexpected error ({type(exc).__name__}: {exc}). "
                "The details are in the log.",
            )

    # --- closing -------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._state in (UiState.IMPORTING, UiState.CANCELLING):
            # Never wait for the worker here (it may be in the middle of a slow request): cancel,
            # keep the window, and close it when the import job has ended.
            if not self._close_when_stopped and not self.ask(
                "Cancel the import and quit?",
                "An import is running. Cancel it and quit? Subjects already imported stay on "
                "the server; running the same import again later skips them.",
            ):
                event.ignore()
                return
            self._close_when_stopped = True
            log.info("Closing when the import has stopped")
            self.cancel_import(ask=False)  # a queued import ends (and closes) at once
            self._update_activity()
            event.ignore()
            return
        self._save()
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Cancel every job, stop the worker thread and the demo server (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self._preview_timer.stop()
        self.jobs.close()
        if not self.runner.shutdown():
            log.error("The worker thread did not stop in time")
        self.log_view.detach()
        self._close_demo()

    @Slot()
    def _on_about_to_quit(self) -> None:
        self.shutdown()
