"""The subjects table: a checkable model over `list[Subject]` and its filter proxy (STYLE §3.4)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from fsxnat_gui.core.model import EntryKind, RunState, Subject
from fsxnat_gui.gui import units
from fsxnat_gui.gui.icons import icon, subject_icon_name
from fsxnat_gui.gui.table_model import Index, ListTableModel


class Column(IntEnum):
    SUBJECT = 0
    STATE = 1
    VERSION = 2
    FILES = 3
    SIZE = 4
    ROLE = 5


class Role(IntEnum):
    SUBJECT = Qt.ItemDataRole.UserRole + 1  # the Subject dataclass
    SORT = Qt.ItemDataRole.UserRole + 2  # a value that sorts naturally


_HEADERS = ("Subject", "State", "FreeSurfer", "Files", "Size", "Role")  # in Column order

_KIND_WORDS = {
    EntryKind.TEMPLATE: "template",
    EntryKind.LINKED: "linked",
    EntryKind.FASTSURFER: "FastSurfer",
    EntryKind.NOT_SUBJECT: "not a subject",
}

_STATE_WORDS = {
    RunState.DONE: "finished",
    RunState.DONE_PARTIAL: "finished, outputs missing",
    RunState.FAILED: "failed",
    RunState.RUNNING: "running or crashed",
    RunState.INCOMPLETE: "incomplete",
    RunState.NOT_APPLICABLE: "",
}


def state_words(subject: Subject) -> str:
    if subject.kind is not EntryKind.SUBJECT:
        return _KIND_WORDS.get(subject.kind, subject.kind.value)
    return _STATE_WORDS.get(subject.state, subject.state.value)


def why_not(subject: Subject) -> str:
    """The tooltip of a subject that cannot be imported."""
    reason = subject.reason or f"It is {state_words(subject)}."
    return f"Cannot be imported: {reason}"


class SubjectTableModel(ListTableModel):
    """Subjects of a SUBJECTS_DIR (or dropped folders), with a check box on importable ones.

    Signals:
        selection_changed(): the set of checked subjects changed
    """

    HEADERS = _HEADERS
    selection_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._subjects: list[Subject] = []
        self._checked: set[str] = set()
        self._locked = False

    # --- Qt model API --------------------------------------------------------------------

    def _count(self) -> int:
        return len(self._subjects)

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if not index.isValid():
            return base
        subject = self._subjects[index.row()]
        if index.column() == Column.SUBJECT and subject.eligible and not self._locked:
            return base | Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        subject = self._subjects[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(subject, column)
        if role == Qt.ItemDataRole.CheckStateRole and column is Column.SUBJECT:
            checked = subject.name in self._checked
            return Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DecorationRole and column is Column.STATE:
            return icon(subject_icon_name(subject))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(subject)
        if role == Qt.ItemDataRole.ForegroundRole and not subject.eligible:
            return QApplication.palette().brush(
                QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (Column.FILES, Column.SIZE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{subject.name}, {state_words(subject)}"
        if role == Role.SUBJECT:
            return subject
        if role == Role.SORT:
            return self._sort_key(subject, column)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if (
            not index.isValid()
            or role != Qt.ItemDataRole.CheckStateRole
            or index.column() != Column.SUBJECT
        ):
            return False
        subject = self._subjects[index.row()]
        if not subject.eligible or self._locked:
            return False
        if Qt.CheckState(value) == Qt.CheckState.Checked:
            self._checked.add(subject.name)
        else:
            self._checked.discard(subject.name)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.selection_changed.emit()
        return True

    def set_locked(self, locked: bool) -> None:
        """While locked (an import runs) no check box can be changed by the user."""
        if locked != self._locked:
            self._locked = locked
            if self._subjects:
                self.dataChanged.emit(
                    self.index(0, Column.SUBJECT),
                    self.index(len(self._subjects) - 1, Column.SUBJECT),
                    [],
                )

    # --- contents ------------------------------------------------------------------------

    @property
    def subjects(self) -> list[Subject]:
        return list(self._subjects)

    def subject(self, name: str) -> Subject | None:
        row = self._row(name)
        return self._subjects[row] if row is not None else None

    def set_subjects(self, subjects: Iterable[Subject]) -> None:
        """Replace everything; checks survive for subjects that are still importable."""
        self.beginResetModel()
        self._subjects = sorted(subjects, key=lambda s: s.name)
        names = {s.name for s in self._subjects if s.eligible}
        before = set(self._checked)
        self._checked &= names
        self.endResetModel()
        if self._checked != before:
            self.selection_changed.emit()

    def clear(self) -> None:
        self.set_subjects([])

    def upsert(self, subject: Subject) -> None:
        """Add a subject, or update the one with the same name (progressive scanning)."""
        row = self._row(subject.name)
        if row is not None:
            self._subjects[row] = subject
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1), [])
            if not subject.eligible and subject.name in self._checked:
                self._checked.discard(subject.name)
                self.selection_changed.emit()
            return
        names = [s.name for s in self._subjects]
        row = bisect.bisect(names, subject.name)
        self.beginInsertRows(QModelIndex(), row, row)
        self._subjects.insert(row, subject)
        self.endInsertRows()

    # --- checks --------------------------------------------------------------------------

    def checked(self) -> list[Subject]:
        return [s for s in self._subjects if s.name in self._checked]

    def checked_names(self) -> set[str]:
        return set(self._checked)

    def set_checked(self, names: Iterable[str]) -> None:
        """Check exactly these subjects (those that can be imported)."""
        wanted = {n for n in names if (s := self.subject(n)) is not None and s.eligible}
        if wanted == self._checked:
            return
        self._checked = wanted
        if self._subjects:
            self.dataChanged.emit(
                self.index(0, Column.SUBJECT),
                self.index(len(self._subjects) - 1, Column.SUBJECT),
                [Qt.ItemDataRole.CheckStateRole],
            )
        self.selection_changed.emit()

    def importable_names(self) -> list[str]:
        return [s.name for s in self._subjects if s.eligible]

    # --- helpers -------------------------------------------------------------------------

    def _row(self, name: str) -> int | None:
        names = [s.name for s in self._subjects]
        row = bisect.bisect_left(names, name)
        return row if row < len(names) and names[row] == name else None

    @staticmethod
    def _display(subject: Subject, column: Column) -> str:
        if column is Column.SUBJECT:
            return subject.name
        if column is Column.STATE:
            return state_words(subject)
        if column is Column.VERSION:
            if not subject.version:
                return ""
            return f"{subject.version} (mixed)" if subject.mixed_version else subject.version
        if column is Column.FILES:
            return "" if subject.files is None else f"{subject.files:,}"
        if column is Column.ROLE:
            return subject.role_text
        return units.size(subject.bytes)

    @staticmethod
    def _tooltip(subject: Subject) -> str:
        lines = [str(subject.path)]
        if subject.eligible:
            lines.append("Can be imported." + (f" {subject.reason}" if subject.reason else ""))
        else:
            lines.append(why_not(subject))
        if subject.version_stamp:
            lines.append(f"Build stamp: {subject.version_stamp}")
        lines.extend(subject.warnings)
        return "\n".join(lines)

    @staticmethod
    def _sort_key(subject: Subject, column: Column) -> Any:
        if column is Column.SUBJECT:  # recon-all subjects first, then templates and the rest
            return f"{0 if subject.kind is EntryKind.SUBJECT else 1}{subject.name.lower()}"
        if column is Column.FILES:
            return subject.files or 0
        if column is Column.SIZE:
            return subject.bytes or 0
        return SubjectTableModel._display(subject, column).lower()


class SubjectFilterModel(QSortFilterProxyModel):
    """Case-insensitive filter on every column, numeric sorting on sizes."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setSortRole(Role.SORT)

    def visible_names(self) -> list[str]:
        rows = range(self.rowCount())
        return [self.index(r, Column.SUBJECT).data(Role.SUBJECT).name for r in rows]
