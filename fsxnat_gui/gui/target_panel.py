"""The Target panel: server and login button, project, labels, policy; the preview; Import and
Cancel. It shows what it is given and says what the user did (no business rule here)."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fsxnat_gui.core.model import OnExisting, Target
from fsxnat_gui.gui.icons import icon
from fsxnat_gui.gui.preview import PreviewPanel
from fsxnat_gui.gui.settings import Settings
from fsxnat_gui.gui.subjects_panel import named

POLICY_WORDS = {
    OnExisting.SKIP: "Skip if identical",
    OnExisting.REPLACE: "Replace",
    OnExisting.FAIL: "Stop (report a conflict)",
}
RESOURCE_TIP = "The resource the subject folder is stored in, suggested from the FreeSurfer version"


class TargetPanel(QWidget):
    """Where the checked subjects go, what that would create, and the Import button.

    Signals:
        login_clicked(): the Log in / Log out button was clicked
        target_changed(): the project, create-project, labels or policy changed
        import_clicked(): Import was clicked
        cancel_clicked(): Cancel was clicked
    """

    login_clicked = Signal()
    target_changed = Signal()
    import_clicked = Signal()
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._resource_typed = False  # the user typed a resource label: no more suggestions
        self.server_label = QLabel("Not logged in")
        named(self.server_label, "serverLabel", "Server and login state")
        self.server_label.setWordWrap(True)
        self.login_button = QPushButton(icon("login"), "Log in…")
        named(self.login_button, "loginButton", "Log in or out")
        self.project_combo = QComboBox()
        named(self.project_combo, "projectCombo", "XNAT project")
        self.project_combo.setEditable(True)
        self.project_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.project_combo.setMinimumContentsLength(16)
        self.project_combo.lineEdit().setPlaceholderText("project ID")
        self.create_project_check = QCheckBox("Create project")
        named(
            self.create_project_check,
            "createProjectCheck",
            "Create the project if it does not exist",
        )
        self.create_project_check.setToolTip("Create the project on the server if it is new")
        self.existing_only_check = QCheckBox("Only attach to existing sessions")
        named(
            self.existing_only_check,
            "existingOnlyCheck",
            "Only attach to subjects and MR sessions that already exist",
        )
        self.existing_only_check.setToolTip(
            "Never create a subject or an MR session: folders that match none on the server "
            "are not imported (and the preview says why)"
        )
        self.experiment_edit = QLineEdit()
        named(self.experiment_edit, "experimentTemplateEdit", "Experiment label template")
        self.experiment_edit.setToolTip(
            "The label of a NEW MR session: {subject} is the subject label, {folder} the folder "
            "name. Folders are first matched with the sessions that already exist."
        )
        self.resource_edit = QLineEdit("FREESURFER7")
        named(self.resource_edit, "resourceEdit", "Resource label")
        self.resource_edit.setToolTip(RESOURCE_TIP)
        self.policy_combo = QComboBox()
        named(self.policy_combo, "policyCombo", "What to do when the resource exists")
        for policy, words in POLICY_WORDS.items():
            self.policy_combo.addItem(words, policy)
        self.policy_combo.setToolTip(
            "When the resource is already on the server: skip it if it holds the same files, "
            "replace it, or stop and report a conflict"
        )
        self.preview = PreviewPanel()
        self.import_button = QPushButton(icon("import"), "Import")
        named(self.import_button, "importButton", "Import the checked subjects")
        self.import_button.setDefault(True)
        self.import_button.setMinimumHeight(32)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        named(self.cancel_button, "cancelButton", "Cancel the import")
        self.cancel_button.setMinimumHeight(32)
        self._layout()

        self.login_button.clicked.connect(self.login_clicked)
        self.import_button.clicked.connect(self.import_clicked)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.project_combo.currentTextChanged.connect(self._on_edited)
        self.create_project_check.toggled.connect(self._on_edited)
        self.existing_only_check.toggled.connect(self._on_edited)
        self.experiment_edit.textChanged.connect(self._on_edited)
        self.resource_edit.textChanged.connect(self._on_edited)
        self.resource_edit.textEdited.connect(self._on_resource_edited)
        self.policy_combo.currentIndexChanged.connect(self._on_edited)

    def _layout(self) -> None:
        server_row = QHBoxLayout()
        server_row.addWidget(self.server_label, 1)
        server_row.addWidget(self.login_button)
        project_row = QHBoxLayout()
        project_row.addWidget(self.project_combo, 1)
        project_row.addWidget(self.create_project_check)
        experiment_row = QHBoxLayout()
        experiment_row.addWidget(self.experiment_edit, 1)
        experiment_row.addWidget(self.existing_only_check)
        form = QFormLayout()
        form.addRow("Server:", server_row)
        for text, buddy, row in (
            ("&Project:", self.project_combo, project_row),
            ("&Experiment label:", self.experiment_edit, experiment_row),
            ("&Resource:", self.resource_edit, self.resource_edit),
            ("If it e&xists:", self.policy_combo, self.policy_combo),
        ):
            label = QLabel(text)
            label.setBuddy(buddy)
            form.addRow(label, row)
        target = QGroupBox("Target")
        target.setObjectName("targetBox")
        target.setLayout(form)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.import_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(target)
        layout.addWidget(self.preview, 1)
        layout.addLayout(buttons)

    # --- what the user chose ---------------------------------------------------------------

    def target(self) -> Target:
        """The target as typed (the resource label as shown, suggested or typed)."""
        policy = self.policy_combo.currentData()
        return Target(
            project=self.project_combo.currentText().strip(),
            experiment_template=self.experiment_edit.text().strip(),
            resource=self.resource_edit.text().strip(),
            on_existing=policy if isinstance(policy, OnExisting) else OnExisting.SKIP,
            create_project=self.create_project_check.isChecked(),
            existing_only=self.existing_only_check.isChecked(),
        )

    def resource_typed(self) -> str | None:
        """The resource label the user typed, None while the field shows the suggestion."""
        return self.resource_edit.text().strip() if self._resource_typed else None

    def restore(self, settings: Settings) -> None:
        """The last project, experiment label template and policy."""
        self.experiment_edit.setText(settings.experiment_template)
        self.policy_combo.setCurrentIndex(list(POLICY_WORDS).index(settings.on_existing))
        self.project_combo.setEditText(settings.project)

    def save(self, settings: Settings, *, project: bool) -> None:
        target = self.target()
        if project:
            settings.project = target.project
        settings.experiment_template = target.experiment_template
        settings.on_existing = target.on_existing

    # --- what the window shows -------------------------------------------------------------

    def show_resource_suggestion(self, label: str, problem: str) -> None:
        """The suggested resource label, or (label "") why there is none: then the user types
        one. Nothing changes once the user has typed a label."""
        if self._resource_typed:
            return
        self.resource_edit.setText(label)
        self.resource_edit.setPlaceholderText("" if label else "type a resource label")
        self.resource_edit.setToolTip(problem or RESOURCE_TIP)

    def set_projects(self, projects: list[str]) -> None:
        """The projects the user can see (the typed project stays as it is)."""
        current = self.project_combo.currentText()
        self.project_combo.blockSignals(True)
        self.project_combo.clear()
        self.project_combo.addItems(projects)
        self.project_combo.setEditText(current)
        self.project_combo.blockSignals(False)

    def set_server(self, text: str, logged_in: bool) -> None:
        self.server_label.setText(text)
        self.login_button.setText("Log out" if logged_in else "Log in…")
        self.login_button.setIcon(icon("logout" if logged_in else "login"))

    def set_locked(self, locked: bool) -> None:
        """During an import the fields stay readable but not editable."""
        for widget in (
            self.project_combo,
            self.create_project_check,
            self.existing_only_check,
            self.experiment_edit,
            self.resource_edit,
            self.policy_combo,
            self.login_button,
        ):
            widget.setEnabled(not locked)
        self.preview.set_locked(locked)

    def set_import(self, enabled: bool, text: str, tip: str) -> None:
        self.import_button.setEnabled(enabled)
        self.import_button.setText(text)
        self.import_button.setToolTip(tip)

    @Slot()
    def _on_edited(self) -> None:
        self.target_changed.emit()

    @Slot(str)
    def _on_resource_edited(self, _text: str) -> None:
        self._resource_typed = True
