"""The window's central area: the subjects and target panels side by side above the Transfers
and Log tabs, under the demo and message bars (the splitters' sizes are kept in Settings)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from fsxnat_gui.gui.icons import icon
from fsxnat_gui.gui.settings import Key


class CentralArea(QWidget):
    """Lays the window's panels out; it owns no behaviour."""

    def __init__(
        self,
        subjects: QWidget,
        target: QWidget,
        transfers: QWidget,
        log_view: QWidget,
        bars: tuple[QWidget, ...],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.top_splitter.setObjectName("topSplitter")
        self.top_splitter.addWidget(subjects)
        self.top_splitter.addWidget(target)
        self.top_splitter.setStretchFactor(0, 5)
        self.top_splitter.setStretchFactor(1, 4)
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setObjectName("bottomTabs")
        self.bottom_tabs.addTab(transfers, icon("running"), "&Transfers")
        self.bottom_tabs.addTab(log_view, "&Log")
        self.main_splitter = QSplitter(Qt.Orientation.Vertical)
        self.main_splitter.setObjectName("mainSplitter")
        self.main_splitter.addWidget(self.top_splitter)
        self.main_splitter.addWidget(self.bottom_tabs)
        self.main_splitter.setStretchFactor(0, 3)
        self.main_splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        for bar in bars:
            layout.addWidget(bar)
        layout.addWidget(self.main_splitter, 1)

    def splitters(self) -> dict[str, QSplitter]:
        """The splitters by their Settings key."""
        return {Key.MAIN_SPLITTER: self.main_splitter, Key.TOP_SPLITTER: self.top_splitter}
