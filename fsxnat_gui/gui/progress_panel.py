"""The transfer queue: an overall bar, one row per subject (phase, bytes, speed, ETA, result)
and, at the end, a summary with 'Retry failed', 'Open in XNAT' and 'Save report'.

Progress events are buffered and painted by a timer, at most 20 times a second.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QObject,
    QRect,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fsxnat_gui.core.model import Progress, ResultStatus, RunReport, Stage, SubjectResult
from fsxnat_gui.gui import units
from fsxnat_gui.gui.icons import icon, result_icon_name
from fsxnat_gui.gui.outcomes import STATUS_WORDS, reason
from fsxnat_gui.gui.table_model import Index, ListTableModel

REFRESH_MS = 50  # at most 20 repaints a second

# What the bytes of a phase count (the bar beside them is the whole subject's).
_PHASE_BYTES = {
    Stage.CHECKING: "checked",
    Stage.ZIPPING: "zipped",
    Stage.UPLOADING: "sent",
    Stage.PROCESSING: "sent",
}


class Column(IntEnum):
    SUBJECT = 0
    PHASE = 1
    PROGRESS = 2
    BYTES = 3
    SPEED = 4
    ETA = 5
    RESULT = 6


_HEADERS = ("Subject", "Phase", "Progress", "Bytes", "Speed", "ETA", "Result")


class Role(IntEnum):
    FRACTION = Qt.ItemDataRole.UserRole + 1  # 0..1 for the progress column
    STATUS = Qt.ItemDataRole.UserRole + 2  # the ResultStatus of a finished row, else None


# The bar and the words of a subject that did not make it (the palette's own for the others).
STATUS_COLOURS = {
    ResultStatus.FAILED: QColor(211, 47, 47),
    ResultStatus.CANCELLED: QColor(117, 117, 117),  # 4.6:1 against white, text and bar
    ResultStatus.NOT_IMPORTED: QColor(166, 90, 0),  # the amber of "choose", 4.9:1 on white
}


@dataclass(frozen=True)
class Row:
    """A subject's row: its latest Progress numbers, as the core computed them, or its result."""

    subject: str
    size: int  # local bytes, shown until the first event
    stage: Stage | None = None
    done: int = 0  # of the phase
    total: int = 0
    speed: float | None = None  # of the phase
    eta: float | None = None  # of the subject
    message: str = ""
    progress: float = 0.0  # the subject's fraction (Progress.fraction)
    result: SubjectResult | None = None

    @property
    def fraction(self) -> float:
        """The subject's share done: whole once on the server; where it stopped otherwise."""
        ended = self.result is not None and self.result.status in _WHOLE
        return 1.0 if ended else self.progress

    @property
    def phase(self) -> str:
        if self.result is not None:
            return STATUS_WORDS[self.result.status]
        if self.stage is None:
            return "waiting"
        return self.stage.value

    @property
    def outcome(self) -> str:
        """The Result column: why it ended so, never restating the status (the Phase's)."""
        result = self.result
        if result is None:
            return ""
        if result.status is ResultStatus.CANCELLED:  # the core's text only says "cancelled"
            if self.stage is None:
                return "not started"
            if self.stage is Stage.PROCESSING:
                return "stopped while the server processed it"
            return f"stopped while {self.stage.value}"
        why = reason(result)
        if result.status is ResultStatus.IMPORTED:
            return f"verified: {result.files} files" + (f"; {why}" if why else "")
        if result.status is ResultStatus.SKIPPED:
            return why or "identical on the server"
        return why


_WHOLE = (ResultStatus.IMPORTED, ResultStatus.SKIPPED)


class ProgressTableModel(ListTableModel):
    """One row per subject of the running import."""

    HEADERS = _HEADERS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []

    def _count(self) -> int:
        return len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Role.FRACTION:
            return row.fraction
        status = row.result.status if row.result is not None else None
        if role == Role.STATUS:
            return status
        if role == Qt.ItemDataRole.DecorationRole and column is Column.PHASE and status:
            return icon(result_icon_name(status))
        if role == Qt.ItemDataRole.ForegroundRole and column in (Column.PHASE, Column.RESULT):
            return STATUS_COLOURS.get(status)
        if role == Qt.ItemDataRole.DecorationRole and column is Column.SUBJECT:
            return icon("running") if row.stage and not row.result else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if row.result is not None:
                return row.result.error or row.result.detail or None
            return row.message or None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            Column.BYTES,
            Column.SPEED,
            Column.ETA,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(row: Row, column: Column) -> str:
        if column is Column.SUBJECT:
            return row.subject
        if column is Column.PHASE:
            return row.phase
        if column is Column.PROGRESS:
            return f"{round(100 * row.fraction)} %"
        if column is Column.BYTES:
            if row.result is not None:
                return units.size(row.result.bytes or row.size)
            if row.total and row.stage is Stage.VERIFYING:  # counts files, not bytes
                return f"{row.done} / {row.total} files"
            if row.total and row.stage in _PHASE_BYTES:
                done, total = units.size(row.done), units.size(row.total)
                return f"{done} / {total} {_PHASE_BYTES[row.stage]}"
            return units.size(row.size) if row.size else ""
        if column is Column.SPEED:
            return "" if row.result else units.speed(row.speed)
        if column is Column.ETA:
            return "" if row.result else units.duration(row.eta)
        return row.outcome

    # --- contents ------------------------------------------------------------------------

    @property
    def rows(self) -> list[Row]:
        return list(self._rows)

    def reset(self, subjects: list[tuple[str, int]]) -> None:
        self.beginResetModel()
        self._rows = [Row(name, size) for name, size in subjects]
        self.endResetModel()

    def update(self, subject: str, **changes: Any) -> None:
        for i, row in enumerate(self._rows):
            if row.subject == subject:
                self._rows[i] = dataclasses.replace(row, **changes)
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(Column) - 1), [])
                return

    def results(self) -> list[SubjectResult]:
        return [r.result for r in self._rows if r.result is not None]


class _BarDelegate(QStyledItemDelegate):
    """Draws the progress column as a small progress bar."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        fraction = index.data(Role.FRACTION)
        if fraction is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        rect = QRect(option.rect)  # type: ignore[attr-defined]
        bar.rect = rect.adjusted(2, 3, -2, -3)  # type: ignore[attr-defined]
        bar.minimum, bar.maximum = 0, 1000  # type: ignore[attr-defined]
        bar.progress = round(1000 * fraction)  # type: ignore[attr-defined]
        bar.text = f"{round(100 * fraction)} %"  # type: ignore[attr-defined]
        bar.textVisible = True  # type: ignore[attr-defined]
        bar.state = option.state | QStyle.StateFlag.State_Horizontal  # type: ignore[attr-defined]
        if (colour := STATUS_COLOURS.get(index.data(Role.STATUS))) is not None:
            palette = QPalette(option.palette)  # type: ignore[attr-defined]
            palette.setColor(QPalette.ColorRole.Highlight, colour)
            bar.palette = palette  # type: ignore[attr-defined]
        style = option.widget.style() if option.widget else QApplication.style()  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class ProgressPanel(QWidget):
    """The import's progress and result.

    Signals:
        retry_requested(): 'Retry failed' was clicked
        open_requested(str): 'Open in XNAT' for this subject folder
        save_requested(): 'Save report' was clicked
    """

    retry_requested = Signal()
    open_requested = Signal(str)
    save_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pending: dict[str, Progress] = {}
        self._overall_event: Progress | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

        self.overall = QProgressBar()
        self.overall.setObjectName("overallProgress")
        self.overall.setAccessibleName("Overall import progress")
        self.overall.setRange(0, 1000)
        self.overall.setValue(0)
        self.overall.setFormat("%p %")
        self.overall_label = QLabel("No import yet.")
        self.overall_label.setObjectName("overallLabel")

        self.model = ProgressTableModel(self)
        self.table = QTableView()
        self.table.setObjectName("progressTable")
        self.table.setAccessibleName("Import progress per subject")
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(Column.PROGRESS, _BarDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)  # one line a subject; the full text is in the tooltips
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in (
            (Column.SUBJECT, 150),
            (Column.PHASE, 130),
            (Column.PROGRESS, 140),
            (Column.BYTES, 200),  # "214.6 MB / 350.6 MB sent" on one line
            (Column.SPEED, 90),
            (Column.ETA, 80),
        ):
            header.resizeSection(column, width)

        self.summary_icon = QLabel()
        self.summary = QLabel()
        self.summary.setObjectName("summaryLabel")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton(icon("retry"), "&Retry failed")
        self.retry_button.setObjectName("retryButton")
        self.retry_button.setAccessibleName("Retry failed subjects")
        self.open_button = QPushButton(icon("web"), "Open in &XNAT")
        self.open_button.setObjectName("openInXnatButton")
        self.open_button.setAccessibleName("Open the experiment in XNAT in the web browser")
        self.open_button.setToolTip("Open the selected (or first) imported experiment's page")
        self.save_button = QPushButton(icon("save"), "&Save report…")
        self.save_button.setObjectName("saveReportButton")
        self.save_button.setAccessibleName("Save the import report")
        self.retry_button.clicked.connect(self.retry_requested)
        self.save_button.clicked.connect(self.save_requested)
        self.open_button.clicked.connect(self._on_open_clicked)

        self.summary_bar = QWidget()
        self.summary_bar.setObjectName("summaryBar")
        bar = QHBoxLayout(self.summary_bar)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.summary_icon)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.retry_button)
        bar.addWidget(self.open_button)
        bar.addWidget(self.save_button)
        self.summary_bar.setVisible(False)

        top = QHBoxLayout()
        top.addWidget(self.overall, 1)
        top.addWidget(self.overall_label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary_bar)

    def start(self, subjects: list[tuple[str, int]]) -> None:
        """A new import of these (folder name, bytes) subjects."""
        self._pending.clear()
        self._overall_event = None
        self.model.reset(subjects)
        self.overall.setValue(0)
        self.overall_label.setText(f"Starting: {len(subjects)} subjects…")
        self.summary_bar.setVisible(False)
        self._timer.start()

    def feed(self, event: object) -> None:
        """A Progress (buffered) or a SubjectResult (shown at once)."""
        if isinstance(event, Progress):
            if event.item:
                self._pending[event.item] = event
            else:
                self._overall_event = event
        elif isinstance(event, SubjectResult):
            self._pending.pop(event.subject, None)
            self.model.update(event.subject, result=event, speed=None, eta=None)

    def finish(self, report: RunReport | None, *, cancelled: bool = False) -> None:
        """The import ended (`cancelled`: on the user's request): show each row's result and
        the summary. Rows the run never reported end cancelled, or failed if the run failed."""
        self._timer.stop()
        self._flush()
        if report is not None:
            for result in report.results:
                self.model.update(result.subject, result=result, speed=None, eta=None)
        unreported = ResultStatus.CANCELLED if cancelled else ResultStatus.FAILED
        for row in self.model.rows:
            if row.result is None:
                error = "" if cancelled else "the import stopped before this subject"
                result = SubjectResult(row.subject, unreported, False, error=error)
                self.model.update(row.subject, result=result, speed=None, eta=None)
        results = self.model.results()
        counts = {status: 0 for status in ResultStatus}
        for result in results:
            counts[result.status] += 1
        parts = [f"{n} {STATUS_WORDS[s]}" for s, n in counts.items() if n]
        text = ", ".join(parts) if parts else "nothing to import"
        outcome = "Cancelled" if cancelled else "Finished" if report is not None else "Stopped"
        failed = counts[ResultStatus.FAILED] + counts[ResultStatus.CANCELLED]
        self.summary.setText(f"<b>{outcome}.</b> {text}.")
        self.summary_icon.setPixmap(
            icon(
                "failed" if counts[ResultStatus.FAILED] else "done" if not failed else "cancelled"
            ).pixmap(24, 24)
        )
        self.retry_button.setEnabled(failed > 0)
        self.open_button.setEnabled(
            any(r.experiment_uri and r.status is not ResultStatus.FAILED for r in results)
        )
        self.save_button.setEnabled(report is not None)
        self.summary_bar.setVisible(True)
        done = sum(1 for r in results if r.on_server)
        self.overall_label.setText(f"{done} of {self.model.rowCount()} subjects in XNAT.")

    def failed_subjects(self) -> list[str]:
        return [r.subject for r in self.model.rows if r.result is None or not r.result.on_server]

    @Slot()
    def _on_timer_timeout(self) -> None:
        self._flush()

    def _flush(self) -> None:
        """Paint the latest events: the run's first, then the subjects' rows."""
        self._update_overall()
        for name, event in self._pending.items():
            self.model.update(
                name,
                stage=event.stage,
                done=event.done,
                total=event.total,
                speed=event.speed,
                eta=event.eta,
                message=event.message,
                progress=event.fraction,
            )
        self._pending.clear()

    def _update_overall(self) -> None:
        """The run's numbers from the core's latest run event (item "")."""
        rows = self.model.rows
        if not rows:
            return
        event = self._overall_event
        fraction = event.fraction if event is not None else 0.0
        self.overall.setValue(round(1000 * fraction))
        finished = sum(1 for r in rows if r.result is not None)
        parts = [f"{finished} of {len(rows)} subjects"]
        if event is not None and event.total:
            parts.append(f"{units.size(event.done)} of {units.size(event.total)}")
        if event is not None and event.speed:
            parts.append(units.speed(event.speed))
        if event is not None and event.eta is not None:
            parts.append(f"about {units.duration(event.eta)} left")
        self.overall_label.setText(" · ".join(parts))

    @Slot()
    def _on_open_clicked(self) -> None:
        rows = self.model.rows
        selected = self.table.selectionModel().selectedRows()
        order = [rows[i.row()] for i in selected] + rows
        for row in order:
            if (
                row.result
                and row.result.experiment_uri
                and row.result.status is not (ResultStatus.FAILED)
            ):
                self.open_requested.emit(row.subject)
                return
