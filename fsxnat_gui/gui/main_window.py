"""The main window: composes the panels and the controllers, wires their signals in one place
(`_wire`) and keeps the one `UiState`, from which `_apply_state` sets every flag. No business
rule lives here: the rules are the core's, the work is the controllers'."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QStandardPaths, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QPushButton,
    QWidget,
)

from fsxnat_gui.core.login import ClientFactory, make_client
from fsxnat_gui.core.model import ImportPlan, RunReport
from fsxnat_gui.gui import file_dialogs, questions, tasks
from fsxnat_gui.gui.actions import Actions
from fsxnat_gui.gui.central import CentralArea
from fsxnat_gui.gui.demo_bar import DemoBar
from fsxnat_gui.gui.icons import app_icon, icon
from fsxnat_gui.gui.import_controller import ImportController
from fsxnat_gui.gui.log_view import LogView
from fsxnat_gui.gui.message_bar import Level, MessageBar
from fsxnat_gui.gui.options_menu import OptionsMenu
from fsxnat_gui.gui.progress_panel import ProgressPanel
from fsxnat_gui.gui.runner import JobQueue, JobRunner
from fsxnat_gui.gui.scan_controller import ScanController
from fsxnat_gui.gui.session import Session
from fsxnat_gui.gui.session_controller import SessionController
from fsxnat_gui.gui.settings import Settings
from fsxnat_gui.gui.subjects_panel import SubjectsPanel, named
from fsxnat_gui.gui.target_panel import TargetPanel
from fsxnat_gui.gui.ui_state import DEMO_LABEL, Phase, UiState
from fsxnat_gui.gui.watch_controller import WatchController

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    location = QStandardPaths.StandardLocation.AppLocalDataLocation
    return Path(QStandardPaths.writableLocation(location))


class MainWindow(QMainWindow):
    """The application window. Every dependency has a default, so `MainWindow()` works.

    Parts: `subjects_panel` (SubjectsPanel), `target_panel` (TargetPanel), `progress`
    (ProgressPanel), `scans` (ScanController), `sessions` (SessionController), `imports`
    (ImportController), `actions` (menus and toolbar), `state` (the one UiState).

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
        self.state = UiState(known_servers=bool(self.settings.profiles))
        self._shut_down = False
        factory = client_factory or make_client
        data_dir = data_dir or default_data_dir()

        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setMinimumSize(900, 600)
        self.options = OptionsMenu(self.settings, data_dir / "work", self)
        self.actions = Actions(self, self.options)
        self.subjects_panel = SubjectsPanel()
        self.target_panel = TargetPanel()
        self.progress = ProgressPanel()
        self.log_view = LogView()
        self.message_bar = MessageBar()
        self.demo_bar = DemoBar()
        self._build_central()
        self.scans = ScanController(self.jobs, self.subjects_panel.model, self.settings, self)
        self.sessions = SessionController(self.jobs, self.settings, factory, data_dir, self)
        self.imports = ImportController(
            self.jobs, self.settings, factory, data_dir / "work", retries, retry_backoff, self
        )
        self.files = file_dialogs.FileCommands(
            self, self.sessions, self.imports, lambda: self.state.session, lambda: self.scans.root
        )
        self.watcher = WatchController(factory, self)
        self._wire()
        self._restore()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_about_to_quit)
        self._apply_state()
        self.sessions.auto_login()

    def _build_central(self) -> None:
        self.central = CentralArea(
            self.subjects_panel,
            self.target_panel,
            self.progress,
            self.log_view,
            (self.demo_bar, self.message_bar),
        )
        self.setCentralWidget(self.central)
        self.activity_label = QLabel()
        named(self.activity_label, "activityLabel", "Background activity")
        self.login_state_label = QLabel()
        named(self.login_state_label, "loginStateLabel", "Login state")
        self.statusBar().addWidget(self.activity_label, 1)
        self.statusBar().addPermanentWidget(self.login_state_label)

    def _wire(self) -> None:
        """Every connection between the window's parts, in one place."""
        a, subjects, target = self.actions, self.subjects_panel, self.target_panel
        a.open.triggered.connect(self._on_open_triggered)
        a.rescan.triggered.connect(self._on_rescan_triggered)
        a.import_config.triggered.connect(self.files.import_config)
        a.save_report.triggered.connect(self.files.save_report)
        a.load_mapping.triggered.connect(self.files.load_mapping)
        a.save_mapping.triggered.connect(self.files.save_mapping)
        a.quit.triggered.connect(self.close)
        a.login.triggered.connect(self._on_login_triggered)
        a.logout.triggered.connect(self.sessions.log_out)
        a.account.triggered.connect(self._on_login_button_clicked)
        a.demo.triggered.connect(self.sessions.start_demo)
        a.import_.triggered.connect(target.import_clicked)
        a.cancel.triggered.connect(target.cancel_clicked)
        self.demo_bar.demo_clicked.connect(self.sessions.start_demo)
        self.demo_bar.login_clicked.connect(self._on_login_triggered)
        subjects.choose_requested.connect(self._on_open_triggered)
        subjects.checked_changed.connect(self._on_checked_changed)
        target.login_clicked.connect(self._on_login_button_clicked)
        target.target_changed.connect(self._on_inputs_changed)
        self.options.matching_changed.connect(self._on_inputs_changed)
        target.import_clicked.connect(self.start_import)
        target.cancel_clicked.connect(self.cancel_import)
        target.preview.label_edited.connect(self.imports.set_label)
        target.preview.session_chosen.connect(self.imports.set_session)
        target.preview.policy_chosen.connect(self.imports.set_policy)
        self.imports.rows_changed.connect(target.preview.set_items)
        self.progress.retry_requested.connect(self.retry_failed)
        self.progress.open_requested.connect(self._on_open_requested)
        self.progress.save_requested.connect(self.files.save_report)
        a.watch.toggled.connect(self._on_watch_toggled)
        self.watcher.stopped.connect(self._on_watch_stopped)
        self.jobs.job_started.connect(self._on_job_started)
        self.jobs.job_finished.connect(self._on_job_finished)

        self.scans.scan_started.connect(self._on_scan_started)
        self.scans.root_changed.connect(self._on_root_changed)
        self.scans.scan_completed.connect(self.scan_completed)
        self.scans.scan_finished.connect(self._on_scan_finished)
        self.sessions.session_changed.connect(self._on_session_changed)
        self.sessions.projects_listed.connect(target.set_projects)
        self.sessions.demo_starting.connect(self._on_demo_starting)
        self.sessions.demo_ready.connect(self._on_demo_ready)
        self.sessions.auto_login_failed.connect(self._on_auto_login_failed)
        self.imports.resource_suggested.connect(target.show_resource_suggestion)
        self.imports.preview_changed.connect(target.preview.set_tree)
        self.imports.preview_note.connect(target.preview.set_note)
        self.imports.preview_updated.connect(self.preview_updated)
        self.imports.blocked.connect(self._on_blocked)
        self.imports.import_started.connect(self._on_import_started)
        self.imports.import_step.connect(self.progress.feed)
        self.imports.import_finished.connect(self._on_import_finished)
        for part in (self.scans, self.sessions, self.imports):
            part.notice.connect(self.notify)
            part.failed.connect(self.message_bar.tell_failure)

    def _restore(self) -> None:
        self.settings.restore_window(self, self.central.splitters())
        self.target_panel.restore(self.settings)

    def _save(self) -> None:
        self.settings.save_window(self, self.central.splitters())
        demo = self.state.session is not None and self.state.session.demo
        self.target_panel.save(self.settings, project=not demo)  # the demo's is never kept
        self.settings.sync()

    # --- state ---------------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        return self.state.session

    def _set_phase(self, phase: Phase) -> None:
        self.state.phase = phase
        self._apply_state()

    def _apply_state(self) -> None:
        """Every enabled, visible and text flag of the window, from `self.state` alone."""
        st, a = self.state, self.actions
        importing, logged_in = st.importing, st.session is not None
        self.subjects_panel.set_scanning(st.phase is Phase.SCANNING)
        self.subjects_panel.set_locked(importing)
        self.target_panel.set_locked(importing)
        for action in (a.open, a.rescan, a.import_config, a.login, a.account, a.demo):
            action.setEnabled(not importing)
        self.setAcceptDrops(not importing)
        a.logout.setEnabled(logged_in and not importing)
        a.watch.setEnabled(logged_in or a.watch.isChecked())
        can_import, text, tip = st.import_button()
        a.import_.setEnabled(can_import)
        a.cancel.setEnabled(st.phase is Phase.IMPORTING)
        self.target_panel.cancel_button.setEnabled(st.phase is Phase.IMPORTING)
        a.save_report.setEnabled(st.has_report and not importing)
        self.target_panel.set_import(can_import, text, tip)
        self.demo_bar.setVisible(st.offer_demo)
        self.demo_bar.demo_button.setEnabled(not st.demo_starting)
        self.activity_label.setText(st.activity)
        self._show_session()

    def _show_session(self) -> None:
        text = self.state.session_words()[1]
        self.setWindowTitle(self.state.title)
        self.target_panel.set_server(text, self.state.session is not None)
        self.actions.set_logged_in(self.state.session is not None)
        self.login_state_label.setText(text)

    def notify(self, level: Level, text: str, buttons: tuple[QPushButton, ...] = ()) -> None:
        """Show `text` in the message bar and log it."""
        self.message_bar.tell(level, text, buttons)

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question (tests replace this method)."""
        return questions.ask(self, title, text)

    # --- what the parts report -------------------------------------------------------------

    @Slot(bool)
    def _on_watch_toggled(self, on: bool) -> None:
        target, root = self.target_panel.target(), self.scans.root
        resource = self.target_panel.resource_typed()
        if why := self.watcher.toggle(on, self.session, root, target, resource):
            self.notify(Level.WARNING, why)
            self.actions.watch.setChecked(False)
        elif on:
            self.notify(
                Level.INFO,
                f"Watching {root}: each subject is imported into "
                f"{target.project} when its recon-all finishes (see the Log tab).",
            )

    @Slot(str)
    def _on_watch_stopped(self, why: str) -> None:
        if why:
            self.notify(Level.ERROR, f"The watch stopped: {why}")
        self.actions.watch.setChecked(False)

    @Slot(str)
    def _on_job_started(self, name: str) -> None:
        self.state.job = name
        self._apply_state()

    @Slot(str)
    def _on_job_finished(self, name: str) -> None:
        if self.state.job == name:
            self.state.job = ""
            self._apply_state()

    @Slot(object, bool)
    def _on_scan_started(self, root: Path | None, rescan: bool) -> None:
        if not rescan:
            self.imports.clear_labels()
        self.state.root = root
        self.subjects_panel.set_root(root)
        self._set_phase(Phase.SCANNING)

    @Slot(object)
    def _on_root_changed(self, root: Path) -> None:
        self.state.root = root
        self.subjects_panel.set_root(root)
        self._apply_state()

    @Slot()
    def _on_scan_finished(self) -> None:
        if self.state.phase is Phase.SCANNING:
            self._set_phase(Phase.IDLE)
        self._on_inputs_changed()

    @Slot()
    def _on_checked_changed(self) -> None:
        model = self.subjects_panel.model
        self.imports.suggest_resource(model.checked() or [s for s in model.subjects if s.eligible])
        self._on_inputs_changed()

    @Slot()
    def _on_inputs_changed(self) -> None:
        panel, target = self.target_panel, self.target_panel.target()
        self.state.checked = tuple(self.subjects_panel.model.checked())
        self.state.project = target.project
        self.imports.set_inputs(
            list(self.state.checked), target, panel.resource_typed(), self.session
        )
        self._apply_state()

    @Slot(str)
    def _on_blocked(self, reasons: str) -> None:
        self.state.blocked = reasons
        self._apply_state()

    @Slot(object)
    def _on_session_changed(self, session: Session | None) -> None:
        self.state.session = session
        self.state.known_servers = bool(self.settings.profiles)
        if session is not None:
            self.message_bar.clear()
        else:
            self.actions.watch.setChecked(False)  # the watch used that login
        self._on_inputs_changed()
        self.login_changed.emit()

    @Slot(bool)
    def _on_demo_starting(self, starting: bool) -> None:
        self.state.demo_starting = starting
        self._apply_state()

    @Slot(object)
    def _on_demo_ready(self, ready: tasks.DemoReady) -> None:
        self.target_panel.project_combo.setEditText(tasks.DEMO_PROJECT)
        self.target_panel.create_project_check.setChecked(False)
        self.scans.scan_dir(ready.subjects_dir, remember=False, check_all=True)
        self.notify(
            Level.INFO,
            f"{DEMO_LABEL} at {ready.url}: sample subjects are in {ready.subjects_dir}. "
            f"To see folders matched with sessions that already exist, open "
            f"{ready.existing_dir} and choose project {tasks.EXISTING_PROJECT}. "
            "Nothing here touches a real archive.",
        )
        self.demo_ready.emit()

    @Slot(str)
    def _on_auto_login_failed(self, text: str) -> None:
        button = QPushButton(icon("login"), "Log in…")
        button.clicked.connect(self._on_login_triggered)
        self.notify(Level.WARNING, text, (button,))

    @Slot(object)
    def _on_import_started(self, the_plan: ImportPlan) -> None:
        self.state.has_report = False
        self.message_bar.clear()
        self.progress.start([(i.subject.name, i.subject.bytes or 0) for i in the_plan.items])
        self.central.bottom_tabs.setCurrentWidget(self.progress)
        self._set_phase(Phase.IMPORTING)

    @Slot(object)
    def _on_import_finished(self, run_report: RunReport | None) -> None:
        self.progress.finish(run_report, cancelled=self.state.phase is Phase.CANCELLING)
        self.state.has_report = run_report is not None
        self._set_phase(Phase.IDLE)
        self.import_finished.emit(run_report)
        if self.state.closing:  # closed during the import: close now that it stopped
            QTimer.singleShot(0, self, self.close)
            return
        self.sessions.refresh_projects()
        self._on_inputs_changed()

    # --- what the user asks --------------------------------------------------------------

    def set_subjects_dir(
        self, path: Path, *, remember: bool = True, check_all: bool = False
    ) -> None:
        """Scan this SUBJECTS_DIR in the background (`check_all`: tick every importable one)."""
        self.scans.scan_dir(path, remember=remember, check_all=check_all)

    def refresh_preview(self) -> None:
        """Rebuild the preview now: offline at once, then compared with the server."""
        self._on_inputs_changed()
        self.imports.refresh_preview()

    def start_import(self) -> bool:
        """Import the checked subjects. False when it could not start (and the reason shown)."""
        if self.state.phase not in (Phase.IDLE, Phase.SCANNING):
            return False
        if self.session is None:
            self.notify(Level.WARNING, "Log in to an XNAT server first.")
            return False
        return self.imports.start_import(self.session)

    def cancel_import(self, *, ask: bool = True) -> None:
        if self.state.phase is not Phase.IMPORTING:
            return
        if ask and not self.ask(*questions.CANCEL_IMPORT):
            return
        if self.state.phase is not Phase.IMPORTING:  # it ended while the question was open
            return
        log.info("Cancelling the import")
        self._set_phase(Phase.CANCELLING)
        self.imports.cancel_import()

    @Slot()
    def retry_failed(self) -> bool:
        """Import again what the last run did not put on the server (ImportController)."""
        if self.state.phase not in (Phase.IDLE, Phase.SCANNING):
            return False
        return self.imports.retry_failed(self.session)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            self.notify(Level.WARNING, "Only folders from this computer can be dropped here.")
            event.ignore()
            return
        event.acceptProposedAction()
        self.scans.scan_dropped(paths)

    @Slot()
    def _on_login_button_clicked(self) -> None:
        if self.session is None:
            self.sessions.open_login_dialog()
        else:
            self.sessions.log_out()

    @Slot()
    def _on_login_triggered(self) -> None:
        self.sessions.open_login_dialog()

    @Slot(str)
    def _on_open_requested(self, subject: str) -> None:
        if url := self.imports.experiment_url(subject, self.session):
            QDesktopServices.openUrl(QUrl(url))

    @Slot()
    def _on_open_triggered(self) -> None:
        start = str(self.state.root or self.settings.subjects_dir or Path.home())
        if path := file_dialogs.choose_subjects_dir(self, start):
            self.set_subjects_dir(path)

    @Slot()
    def _on_rescan_triggered(self) -> None:
        self.scans.rescan()
        self.sessions.refresh_projects()
        self._on_inputs_changed()

    # --- closing -------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.state.importing and not self._stop_importing_to_close():
            event.ignore()
            return
        self._save()
        self.shutdown()
        event.accept()

    def _stop_importing_to_close(self) -> bool:
        """Closing during an import: ask, then cancel it and close once it has stopped (never
        wait for the worker here: it may be in the middle of a slow request). True when the
        window can close now: the import ended while the question was open."""
        if not self.state.closing and not self.ask(*questions.QUIT_DURING_IMPORT):
            return False
        if not self.state.importing:
            return True
        self.state.closing = True
        log.info("Closing when the import has stopped")
        self.cancel_import(ask=False)  # a queued import ends (and closes) at once
        self._apply_state()
        return False

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    def shutdown(self) -> None:
        """Cancel every job, stop the worker thread and the demo server (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.imports.stop()
        self.watcher.stop()
        self.jobs.close()
        if not self.runner.shutdown():
            log.error("The worker thread did not stop in time")
        self.log_view.detach()
        self.sessions.close_demo()

    @Slot()
    def _on_about_to_quit(self) -> None:
        self.shutdown()
