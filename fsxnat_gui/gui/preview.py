"""The preview tree: project -> subject -> experiment -> resource, each marked new, exists,
conflict or invalid (STYLE §3.4: rebuilt whole as a QStandardItemModel)."""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from fsxnat_gui.core.model import NodeKind, NodeStatus, PlanNode
from fsxnat_gui.gui.icons import icon, node_icon_name


class Role(IntEnum):
    SOURCE = Qt.ItemDataRole.UserRole + 1  # local subject folder name
    KIND = Qt.ItemDataRole.UserRole + 2  # NodeKind


HEADERS = ("XNAT", "Type", "Status", "Detail")

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
}

EDIT_HINT = "Double-click or press F2 to change the XNAT subject label."


def _row(node: PlanNode) -> list[QStandardItem]:
    label = QStandardItem(node.label or "(empty)")
    label.setIcon(icon(node_icon_name(node.status)))
    label.setData(node.source, Role.SOURCE)
    label.setData(node.kind, Role.KIND)
    label.setEditable(node.kind is NodeKind.SUBJECT and node.source is not None)
    tip = [f"{KIND_WORDS[node.kind]} {node.label}: {STATUS_WORDS[node.status]}"]
    if node.detail:
        tip.append(node.detail)
    if node.source:
        tip.append(f"Local folder: {node.source}")
    if label.isEditable():
        tip.append(EDIT_HINT)
    kind = QStandardItem(KIND_WORDS[node.kind])
    status = QStandardItem(STATUS_WORDS[node.status])
    detail = QStandardItem(node.detail)
    for item in (kind, status, detail):
        item.setEditable(False)
    for item in (label, kind, status, detail):
        item.setToolTip("\n".join(tip))
    return [label, kind, status, detail]


def _add(parent: QStandardItem, node: PlanNode) -> None:
    row = _row(node)
    parent.appendRow(row)
    for child in node.children:
        _add(row[0], child)


def build_preview_model(root: PlanNode | None, parent: QObject | None = None) -> QStandardItemModel:
    """The preview as a model; only subject labels are editable (an edit is an override)."""
    model = QStandardItemModel(parent)
    model.setHorizontalHeaderLabels(list(HEADERS))
    if root is not None:
        _add(model.invisibleRootItem(), root)
    return model


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
    """

    label_edited = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._root: PlanNode | None = None
        self.summary = QLabel("Check subjects on the left to see what will be created in XNAT.")
        self.summary.setObjectName("previewSummary")
        self.summary.setWordWrap(True)
        self.tree = QTreeView()
        self.tree.setObjectName("previewTree")
        self.tree.setAccessibleName("Preview of what will be created in XNAT")
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
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

    def set_tree(self, root: PlanNode | None, note: str = "") -> None:
        self._root = root
        old = self.tree.model()
        self.tree.setModel(build_preview_model(root, self))
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

    @Slot(QStandardItem)
    def _on_item_changed(self, item: QStandardItem) -> None:
        source = item.data(Role.SOURCE)
        if item.column() == 0 and item.data(Role.KIND) is NodeKind.SUBJECT and source:
            self.label_edited.emit(source, item.text().strip())

    @staticmethod
    def _summary_text(root: PlanNode | None, note: str) -> str:
        if root is None:
            return note or "Check subjects on the left to see what will be created in XNAT."
        subjects = [c for c in root.children if c.kind is NodeKind.SUBJECT]
        invalid = sum(1 for c in subjects if c.status is NodeStatus.INVALID)
        resources = count_statuses(root, NodeKind.RESOURCE)
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
        text = " · ".join(parts)
        return f"{text}. {note}" if note else f"{text}."
