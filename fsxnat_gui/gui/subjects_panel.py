"""The Subjects panel: the SUBJECTS_DIR, a filter, the check buttons and the checkable table.

It shows what it is given and says what the user did; scanning is the ScanController's and
what the checked subjects become is the ImportController's.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fsxnat_gui.gui import units
from fsxnat_gui.gui.icons import icon
from fsxnat_gui.gui.subject_model import Column, SubjectFilterModel, SubjectTableModel

NO_ROOT = "No SUBJECTS_DIR chosen: choose one, or drop folders here."


def named(widget: QWidget, name: str, accessible: str) -> QWidget:
    """Give a widget its object name (tests, styling) and accessible name (screen readers)."""
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    return widget


class SubjectsPanel(QGroupBox):
    """The subjects to import from.

    Signals:
        choose_requested(): 'Choose SUBJECTS_DIR…' was clicked
        checked_changed(): the checked subjects changed (by the user or by a scan)
    """

    choose_requested = Signal()
    checked_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Subjects", parent)
        self.setObjectName("subjectsBox")
        self._scanning = False
        self.dir_button = QPushButton(icon("open"), "Choose SUBJECTS_DIR…")
        named(self.dir_button, "subjectsDirButton", "Choose SUBJECTS_DIR")
        self.dir_button.setToolTip(
            "Choose the FreeSurfer SUBJECTS_DIR, or drop it (or subject folders) on the window"
        )
        self.root_label = QLabel(NO_ROOT)
        named(self.root_label, "subjectsDirLabel", "Current SUBJECTS_DIR")
        self.root_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.filter_edit = QLineEdit()
        named(self.filter_edit, "filterEdit", "Filter subjects")
        self.filter_edit.setPlaceholderText("Filter subjects…")
        self.filter_edit.setClearButtonEnabled(True)
        self.select_all_button = QPushButton("All")
        named(self.select_all_button, "selectAllButton", "Check all shown subjects")
        self.select_all_button.setToolTip("Check every importable subject the filter shows")
        self.select_none_button = QPushButton("None")
        named(self.select_none_button, "selectNoneButton", "Uncheck all shown subjects")
        self.select_none_button.setToolTip("Uncheck every subject the filter shows")
        self.select_importable_button = QPushButton("All importable")
        named(
            self.select_importable_button, "selectImportableButton", "Check all importable subjects"
        )
        self.select_importable_button.setToolTip(
            "Check every finished recon-all subject, whatever the filter, and nothing else"
        )
        self.model = SubjectTableModel(self)
        self.proxy = SubjectFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        named(self.table, "subjectTable", "Subjects")
        self._build_table()
        self.summary = QLabel()
        named(self.summary, "subjectsSummary", "Subjects summary")

        root_row = QHBoxLayout()
        root_row.addWidget(self.dir_button)
        root_row.addWidget(self.root_label, 1)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(QLabel("Check:"))
        filter_row.addWidget(self.select_all_button)
        filter_row.addWidget(self.select_none_button)
        filter_row.addWidget(self.select_importable_button)
        layout = QVBoxLayout(self)
        layout.addLayout(root_row)
        layout.addLayout(filter_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)

        self.dir_button.clicked.connect(self.choose_requested)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.select_all_button.clicked.connect(self._on_select_all_clicked)
        self.select_none_button.clicked.connect(self._on_select_none_clicked)
        self.select_importable_button.clicked.connect(self._on_select_importable_clicked)
        self.model.selection_changed.connect(self._on_model_selection_changed)
        self.model.rowsInserted.connect(self._on_rows_changed)
        self.model.modelReset.connect(self._on_rows_changed)
        self.model.dataChanged.connect(self._on_rows_changed)
        self.update_summary()

    def _build_table(self) -> None:
        table = self.table
        table.setModel(self.proxy)
        table.setSortingEnabled(True)
        table.sortByColumn(Column.SUBJECT, Qt.SortOrder.AscendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.verticalHeader().setVisible(False)
        table.setWordWrap(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.STATE, QHeaderView.ResizeMode.Stretch)
        for column, width in (
            (Column.SUBJECT, 170),
            (Column.STATE, 170),
            (Column.VERSION, 80),
            (Column.FILES, 60),
            (Column.SIZE, 80),
            (Column.ROLE, 150),
        ):
            header.resizeSection(column, width)

    def set_root(self, root: Path | None) -> None:
        """The SUBJECTS_DIR shown; None for dropped subject folders."""
        self.root_label.setText(str(root) if root is not None else "Dropped folders")
        self.root_label.setToolTip(str(root) if root is not None else "")

    def set_scanning(self, scanning: bool) -> None:
        self._scanning = scanning
        self.update_summary()

    def set_locked(self, locked: bool) -> None:
        """During an import the list stays readable but not editable."""
        for widget in (
            self.dir_button,
            self.filter_edit,
            self.select_all_button,
            self.select_none_button,
            self.select_importable_button,
        ):
            widget.setEnabled(not locked)
        self.model.set_locked(locked)

    def update_summary(self) -> None:
        subjects = self.model.subjects
        importable = sum(1 for s in subjects if s.eligible)
        checked = self.model.checked()
        size = units.size(sum(s.bytes or 0 for s in checked))
        text = (
            f"{len(subjects)} entries · {importable} importable · {len(checked)} checked ({size})"
        )
        if self._scanning:
            text += " · scanning…"
        self.summary.setText(text)

    @Slot()
    def _on_rows_changed(self) -> None:
        self.update_summary()

    @Slot(str)
    def _on_filter_changed(self, _text: str) -> None:
        self.update_summary()

    @Slot()
    def _on_model_selection_changed(self) -> None:
        self.update_summary()
        self.checked_changed.emit()

    @Slot()
    def _on_select_all_clicked(self) -> None:
        shown = set(self.proxy.visible_names())
        self.model.set_checked(self.model.checked_names() | shown)

    @Slot()
    def _on_select_none_clicked(self) -> None:
        shown = set(self.proxy.visible_names())
        self.model.set_checked(self.model.checked_names() - shown)

    @Slot()
    def _on_select_importable_clicked(self) -> None:
        self.model.set_checked(self.model.importable_names())
