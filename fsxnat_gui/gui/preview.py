"""The preview tree: project -> subject -> experiment -> resource (or subject -> resource for a
longitudinal base), each marked new, exists, conflict, invalid or "choose", with why (STYLE §3.4:
rebuilt whole as a QStandardItemModel).

Each folder's row can be changed in place: the subject label (typed), the MR session (chosen
among that subject's sessions, or a new one) and what to do if its resource exists. The panel
only says what the user chose (signals); the import controller turns it into the plan."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt, Signal, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from fsxnat_gui.core.model import Level, NodeKind, NodeStatus, OnExisting, PlanItem, PlanNode
from fsxnat_gui.gui.icons import icon, node_icon_name


class Role(IntEnum):
    SOURCE = Qt.ItemDataRole.UserRole + 1  # local subject folder name
    KIND = Qt.ItemDataRole.UserRole + 2  # NodeKind
    CHOICES = Qt.ItemDataRole.UserRole + 3  # [(text, value)] offered in place
    CHOICE = Qt.ItemDataRole.UserRole + 4  # the value chosen ("" = as matched / the default)


class Column(IntEnum):
    XNAT = 0
    TYPE = 1
    STATUS = 2
    IF_EXISTS = 3
    DETAIL = 4


HEADERS = ("XNAT", "Type", "Status", "If it exists", "Detail")
NEW_SESSION = "new:"  # a session choice's value prefix for "a new session <label>"
POLICY_CHOICES = [
    ("default", ""),  # the batch policy ("If it exists" above)
    ("skip if identical", OnExisting.SKIP.value),
    ("replace", OnExisting.REPLACE.value),
    ("stop (conflict)", OnExisting.FAIL.value),
]

KIND_WORDS = {
    NodeKind.PROJECT: "project",
    NodeKind.SUBJECT: "subject",
    NodeKind.EXPERIMENT: "MR session",
    NodeKind.RESOURCE: "resource",
}

STATUS_WORDS = {
    NodeStatus.NEW: "new",
    NodeStatus.EXISTS: "exists",
    NodeStatus.CONFLICT: "conflict",
    NodeStatus.INVALID: "invalid",
    NodeStatus.UNKNOWN: "not checked",
    NodeStatus.UNRESOLVED: "choose",
}

EDIT_HINT = "Double-click or press F2 to change the XNAT subject label."
SESSION_HINT = "Double-click or press F2 to choose the MR session this folder goes to."
POLICY_HINT = "Double-click or press F2 to choose what happens if this resource exists."


def _session_choices(item: PlanItem) -> list[tuple[str, str]]:
    """The MR sessions a folder can go to: its subject's, and a new one (unless refused)."""
    choices = [(label, label) for label in item.sessions]
    if item.new_session and item.new_session not in item.sessions:
        choices.append((f"new session {item.new_session}", NEW_SESSION + item.new_session))
    return choices


def _row(node: PlanNode, items: Mapping[str, PlanItem]) -> list[QStandardItem]:
    label = QStandardItem(node.label or "(empty)")
    label.setIcon(icon(node_icon_name(node.status)))
    label.setData(node.source, Role.SOURCE)
    label.setData(node.kind, Role.KIND)
    item = items.get(node.source or "")
    label.setEditable(False)
    if node.kind is NodeKind.SUBJECT and node.source is not None:
        label.setEditable(True)
    if node.kind is NodeKind.EXPERIMENT and item is not None and not item.problems:
        choices = _session_choices(item)
        if choices:
            label.setData(choices, Role.CHOICES)
            label.setEditable(True)
    tip = [f"{KIND_WORDS[node.kind]} {node.label}: {STATUS_WORDS[node.status]}"]
    if node.detail:
        tip.append(node.detail)
    if node.source:
        tip.append(f"Local folder: {node.source}")
    if label.isEditable():
        tip.append(SESSION_HINT if node.kind is NodeKind.EXPERIMENT else EDIT_HINT)
    kind = QStandardItem(KIND_WORDS[node.kind])
    if node.kind is NodeKind.SUBJECT and item is not None and item.level is Level.SUBJECT:
        kind.setText("subject (base)")
    status = QStandardItem(STATUS_WORDS[node.status])
    policy = QStandardItem("")
    if node.kind is NodeKind.RESOURCE and item is not None and not item.problems:
        value = item.on_existing.value if item.on_existing else ""
        policy.setText(dict((v, t) for t, v in POLICY_CHOICES)[value])
        policy.setData(POLICY_CHOICES, Role.CHOICES)
        policy.setData(value, Role.CHOICE)
        policy.setData(node.source, Role.SOURCE)
        policy.setToolTip(POLICY_HINT)
    policy.setEditable(policy.data(Role.CHOICES) is not None)
    detail = QStandardItem(node.detail)
    for cell in (kind, status, detail):
        cell.setEditable(False)
    for cell in (label, kind, status, detail):
        cell.setToolTip("\n".join(tip))
    return [label, kind, status, policy, detail]


def _add(parent: QStandardItem, node: PlanNode, items: Mapping[str, PlanItem]) -> None:
    row = _row(node, items)
    parent.appendRow(row)
    for child in node.children:
        _add(row[0], child, items)


def build_preview_model(
    root: PlanNode | None,
    parent: QObject | None = None,
    items: Mapping[str, PlanItem] | None = None,
) -> QStandardItemModel:
    """The preview as a model: subject labels are typed in place, sessions and policies chosen
    in place (`items`, the plan's rows by folder, say what can be chosen)."""
    model = QStandardItemModel(parent)
    model.setHorizontalHeaderLabels(list(HEADERS))
    if root is not None:
        _add(model.invisibleRootItem(), root, items or {})
    return model


class ChoiceDelegate(QStyledItemDelegate):
    """A combo box for cells that offer choices (Role.CHOICES); plain editing otherwise."""

    def createEditor(
        self, parent: QWidget, option: QStyleOptionViewItem, index: QModelIndex
    ) -> QWidget:
        choices = index.data(Role.CHOICES)
        if not choices:
            return super().createEditor(parent, option, index)
        combo = QComboBox(parent)
        combo.setObjectName("previewChoice")
        for text, value in choices:
            combo.addItem(text, value)
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        if isinstance(editor, QComboBox):
            current = index.data(Role.CHOICE)
            found = editor.findData(current) if current is not None else -1
            if found < 0:
                found = editor.findText(str(index.data(Qt.ItemDataRole.DisplayRole)))
            editor.setCurrentIndex(max(found, 0))
            return
        super().setEditorData(editor, index)

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: QModelIndex) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentData(), Role.CHOICE)
            model.setData(index, editor.currentText(), Qt.ItemDataRole.DisplayRole)
            return
        super().setModelData(editor, model, index)


def count_statuses(root: PlanNode | None, kind: NodeKind) -> dict[NodeStatus, int]:
    """How many nodes of this kind have each status."""
    counts = dict.fromkeys(NodeStatus, 0)
    stack = [root] if root else []
    while stack:
        node = stack.pop()
        if node.kind is kind:
            counts[node.status] += 1
        stack.extend(node.children)
    return counts


class PreviewPanel(QWidget):
    """The preview tree with a one-line summary above it.

    Signals:
        label_edited(str, str): the subject label of a local folder was changed (folder, label)
        session_chosen(str, str): the MR session of a folder was chosen (folder, label), a new
            one as "new:<label>"
        policy_chosen(str, str): what to do if a folder's resource exists (folder, an
            OnExisting value, or "" for the batch's)
    """

    label_edited = Signal(str, str)
    session_chosen = Signal(str, str)
    policy_chosen = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._root: PlanNode | None = None
        self._items: dict[str, PlanItem] = {}
        self.summary = QLabel("Check subjects on the left to see what will be created in XNAT.")
        self.summary.setObjectName("previewSummary")
        self.summary.setWordWrap(True)
        self.tree = QTreeView()
        self.tree.setObjectName("previewTree")
        self.tree.setAccessibleName("Preview of what will be created in XNAT")
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setItemDelegate(ChoiceDelegate(self.tree))
        self.set_locked(False)
        self.tree.setModel(build_preview_model(None, self))
        self._connect_model()
        self._size_columns()
        title = QLabel("<b>Preview</b>")
        title.setBuddy(self.tree)
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)

    @property
    def model(self) -> QStandardItemModel:
        model = self.tree.model()
        assert isinstance(model, QStandardItemModel)
        return model

    @property
    def root(self) -> PlanNode | None:
        return self._root

    def set_items(self, items: Mapping[str, PlanItem]) -> None:
        """The plan's rows by folder: what each row can choose (before `set_tree`)."""
        self._items = dict(items)

    def set_tree(self, root: PlanNode | None, note: str = "") -> None:
        self._root = root
        old = self.tree.model()
        self.tree.setModel(build_preview_model(root, self, self._items))
        old.deleteLater()
        self._connect_model()
        self.tree.expandAll()
        self._size_columns()
        self.summary.setText(self._summary_text(root, note))

    def set_locked(self, locked: bool) -> None:
        """No label editing while an import runs."""
        self.tree.setEditTriggers(
            QAbstractItemView.EditTrigger.NoEditTriggers
            if locked
            else QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )

    def set_note(self, note: str) -> None:
        self.summary.setText(self._summary_text(self._root, note))

    def status_of(self, label: str, kind: NodeKind) -> NodeStatus | None:
        """The status of the first node with this label and kind (tests, accessibility)."""
        stack = [self._root] if self._root else []
        while stack:
            node = stack.pop(0)
            if node.kind is kind and node.label == label:
                return node.status
            stack.extend(node.children)
        return None

    def _connect_model(self) -> None:
        self.model.itemChanged.connect(self._on_item_changed)

    def _size_columns(self) -> None:
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)

    @Slot(QStandardItem)
    def _on_item_changed(self, item: QStandardItem) -> None:
        source = item.data(Role.SOURCE)
        if not source:
            return
        kind, choice = item.data(Role.KIND), item.data(Role.CHOICE)
        if item.column() == Column.XNAT and kind is NodeKind.SUBJECT:
            self.label_edited.emit(source, item.text().strip())
        elif item.column() == Column.XNAT and kind is NodeKind.EXPERIMENT and choice is not None:
            self.session_chosen.emit(source, str(choice))
        elif item.column() == Column.IF_EXISTS and choice is not None:
            self.policy_chosen.emit(source, str(choice))

    @staticmethod
    def _summary_text(root: PlanNode | None, note: str) -> str:
        if root is None:
            return note or "Check subjects on the left to see what will be created in XNAT."
        subjects = [c for c in root.children if c.kind is NodeKind.SUBJECT]
        invalid = sum(1 for c in subjects if c.status is NodeStatus.INVALID)
        resources = count_statuses(root, NodeKind.RESOURCE)
        new_sessions = sum(
            1
            for subject in subjects
            if subject.status is NodeStatus.EXISTS
            for e in subject.children
            if e.kind is NodeKind.EXPERIMENT and e.status is NodeStatus.NEW
        )
        n = len(subjects)
        text = f"{n} subject{'s' if n != 1 else ''} into project {root.label}"
        if root.status is not NodeStatus.UNKNOWN:
            text += f" ({STATUS_WORDS[root.status]})"
        parts = [text]
        for status, words in (
            (NodeStatus.NEW, "new"),
            (NodeStatus.EXISTS, "already there"),
            (NodeStatus.CONFLICT, "in conflict"),
        ):
            if resources[status]:
                parts.append(f"{resources[status]} {words}")
        if invalid:
            parts.append(f"{invalid} with invalid labels")
        if new_sessions:
            plural = "s" if new_sessions != 1 else ""
            parts.append(f"⚠ {new_sessions} new MR session{plural} under an existing subject")
        if held := resources[NodeStatus.UNRESOLVED]:
            verb = "needs" if held == 1 else "need"
            parts.append(
                f"⚠ {held} folder{'s' if held != 1 else ''} {verb} a choice (double-click its "
                "session) and will not be imported until then"
            )
        text = " · ".join(parts)
        return f"{text}. {note}" if note else f"{text}."
