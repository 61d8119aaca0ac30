"""Through the window against the local XNAT-compatible server: preview statuses, a full
import, cancelling mid-upload, 'Retry failed' after an injected fault, closing while importing."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import WindowFactory, answer_folder_dialog, log_in, scan, wait_preview
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from fsxnat_gui.core.model import NodeKind, NodeStatus, OnExisting, Progress, ResultStatus, Stage
from fsxnat_gui.gui import MainWindow, units
from fsxnat_gui.gui.preview import Role
from fsxnat_gui.gui.progress_panel import Column
from fsxnat_gui.gui.runner import Job
from fsxnat_gui.gui.ui_state import Phase

PROJECT = "P1"


def ready(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path, check: list[str]
) -> MainWindow:
    window = make_window()
    scan(window, qtbot, subjects_dir)
    log_in(window, qtbot, xnat.url, xnat.user, xnat.password)
    window.target_panel.project_combo.setEditText(PROJECT)
    window.target_panel.create_project_check.setChecked(True)
    window.subjects_panel.model.set_checked(check)
    return window


def import_now(window: MainWindow, qtbot: QtBot, timeout: int = 30_000) -> Any:
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(window.import_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(window.target_panel.import_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def statuses(window: MainWindow, label: str) -> dict[NodeKind, NodeStatus | None]:
    return {
        kind: window.target_panel.preview.status_of(
            label
            if kind is NodeKind.SUBJECT
            else f"{label}_MR1"
            if kind is NodeKind.EXPERIMENT
            else "FREESURFER7",
            kind,
        )
        for kind in (NodeKind.SUBJECT, NodeKind.EXPERIMENT)
    }


def resource_status(window: MainWindow, subject_label: str) -> NodeStatus:
    root = window.target_panel.preview.root
    assert root is not None
    node = next(c for c in root.children if c.label == subject_label)
    return node.children[0].children[0].status


def test_preview_marks_new_exists_conflict_invalid(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01"])
    wait_preview(window, qtbot)
    assert window.target_panel.preview.status_of(PROJECT, NodeKind.PROJECT) is NodeStatus.NEW
    assert resource_status(window, "sub-01") is NodeStatus.NEW

    report = import_now(window, qtbot)
    assert [r.status for r in report.results] == [ResultStatus.IMPORTED]

    window.subjects_panel.model.set_checked(["sub-01", "sub-02"])
    wait_preview(window, qtbot)
    assert window.target_panel.preview.status_of(PROJECT, NodeKind.PROJECT) is NodeStatus.EXISTS
    assert statuses(window, "sub-01") == {
        NodeKind.SUBJECT: NodeStatus.EXISTS,
        NodeKind.EXPERIMENT: NodeStatus.EXISTS,
    }
    assert resource_status(window, "sub-01") is NodeStatus.EXISTS
    assert resource_status(window, "sub-02") is NodeStatus.NEW

    window.target_panel.policy_combo.setCurrentIndex(
        window.target_panel.policy_combo.findData(OnExisting.FAIL)
    )
    wait_preview(window, qtbot)
    assert resource_status(window, "sub-01") is NodeStatus.CONFLICT

    # an invalid label typed in place in the tree, then fixed in place
    model = window.target_panel.preview.model
    sub02 = next(
        model.item(0).child(r)
        for r in range(model.item(0).rowCount())
        if model.item(0).child(r).data(Role.SOURCE) == "sub-02"
    )
    sub02.setText("sub 02!")
    wait_preview(window, qtbot)
    assert window.target_panel.preview.status_of("sub 02!", NodeKind.SUBJECT) is NodeStatus.INVALID
    assert "invalid" in window.target_panel.preview.summary.text()
    assert not window.start_import()  # refused until the label is fixed
    sub02 = next(
        model2.item(0).child(r)
        for model2 in [window.target_panel.preview.model]
        for r in range(model2.item(0).rowCount())
        if model2.item(0).child(r).data(Role.SOURCE) == "sub-02"
    )
    sub02.setText("S02")
    wait_preview(window, qtbot)
    assert window.target_panel.preview.status_of("S02", NodeKind.SUBJECT) is NodeStatus.NEW


def test_full_import_then_report_and_web_page(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path, tmp_path: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01", "sub-02", "sub-03"])
    seen: list[object] = []
    window.runner.progress.connect(seen.append)
    report = import_now(window, qtbot)
    assert [r.status for r in report.results] == [ResultStatus.IMPORTED] * 3
    assert all(r.verified for r in report.results)
    assert {e.item for e in seen if isinstance(e, Progress)} >= {"sub-01", "sub-02", "sub-03"}
    assert window.progress.overall.value() == 1000
    assert "3 imported" in window.progress.summary.text()
    assert window.progress.summary_bar.isVisibleTo(window)
    assert not window.progress.retry_button.isEnabled()
    assert window.progress.open_button.isEnabled()
    assert window.imports.experiment_url("sub-02", window.session).startswith(
        f"{xnat.url}/data/projects/{PROJECT}/"
    )
    assert (xnat.root / PROJECT).exists() or any(xnat.root.iterdir())
    out = tmp_path / "report.json"
    window.imports.save_report(out)
    data = json.loads(out.read_text())
    assert [r["status"] for r in data["subjects"]] == ["imported"] * 3
    window.imports.save_report(tmp_path / "report.csv")
    assert "sub-03" in (tmp_path / "report.csv").read_text()
    assert window.state.phase is Phase.IDLE


def test_panel_shows_the_cores_progress_numbers(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    """Whenever the panel paints a subject's row, the row and the overall bar show the numbers
    of the core's latest events (the subject's and the run's), and the server's processing is
    not 100 %."""
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01", "sub-02"])
    xnat.faults.add("slow", method="POST", path_regex=r"/files", delay=0.5, count=0)
    panel = window.progress
    latest: dict[str, Progress] = {}
    feed = panel.feed

    def record(event: object) -> None:  # what the core sent, in the order the panel gets it
        if isinstance(event, Progress):
            latest[event.item] = event
        feed(event)

    panel.feed = record  # type: ignore[method-assign]
    mismatches: list[str] = []
    compared: list[Stage] = []

    def on_painted(top: Any, bottom: Any, roles: Any) -> None:
        row = panel.model.rows[top.row()]
        if row.result is not None or row.stage is None:
            return
        event, run = latest[row.subject], latest[""]

        def cell(column: Column) -> str:
            return str(panel.model.data(panel.model.index(top.row(), column)))

        shown = {
            "subject %": cell(Column.PROGRESS),
            "subject ETA": cell(Column.ETA),
            "subject speed": cell(Column.SPEED),
            "run bar": panel.overall.value(),
        }
        core = {
            "subject %": f"{round(100 * event.fraction)} %",
            "subject ETA": units.duration(event.eta),
            "subject speed": units.speed(event.speed),
            "run bar": round(1000 * run.fraction),
        }
        label = panel.overall_label.text()
        expected_label = [f"{units.size(run.done)} of {units.size(run.total)}"]
        if run.eta is not None:
            expected_label.append(f"about {units.duration(run.eta)} left")
        if shown != core or not all(part in label for part in expected_label):
            mismatches.append(f"{shown} {label!r} vs the core's {core} {expected_label}")
        full = shown["subject %"] == "100 %" or panel.overall.value() == 1000
        if event.stage is Stage.PROCESSING and full:
            mismatches.append(f"100 % while the server processes: {shown}")
        compared.append(event.stage)

    panel.model.dataChanged.connect(on_painted)
    report = import_now(window, qtbot)
    assert all(r.on_server for r in report.results)
    assert not mismatches
    assert Stage.PROCESSING in compared
    assert panel.overall.value() == 1000


def test_cancel_mid_upload_stops_within_a_second(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01", "sub-02", "sub-03"])
    xnat.faults.add("slow", method="PUT", path_regex=r"/files", delay=2.0, count=0)
    xnat.faults.add("slow", method="POST", path_regex=r"/files", delay=2.0, count=0)
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)
    uploading = lambda e: isinstance(e, Progress) and e.stage is Stage.UPLOADING  # noqa: E731
    with qtbot.waitSignal(window.runner.progress, check_params_cb=uploading, timeout=20_000):
        qtbot.mouseClick(window.target_panel.import_button, Qt.MouseButton.LeftButton)
    asked: list[str] = []
    window.ask = lambda title, text: asked.append(title) or True  # type: ignore[method-assign]
    started = time.monotonic()
    with qtbot.waitSignal(window.import_finished, timeout=5000) as blocker:
        qtbot.mouseClick(window.target_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert time.monotonic() - started < 1.5
    assert asked == ["Cancel the import?"]
    report = blocker.args[0]
    assert report.results[0].status is ResultStatus.CANCELLED
    assert {r.status for r in report.results} == {ResultStatus.CANCELLED}
    assert "cancelled" in window.progress.summary.text()
    assert window.progress.retry_button.isEnabled()
    assert window.state.phase is Phase.IDLE


def test_cancel_during_a_hung_server_call_is_idle_within_two_seconds(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    """The server never answers the subject's creation: Cancel still ends the import in under
    2 s (the hung call is abandoned, not waited for), and what the run made is not left."""
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01"])
    wait_preview(window, qtbot)
    hang = xnat.faults.add("hang", method="PUT", path_regex=r"/subjects/sub-01$", delay=60)
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)
    qtbot.mouseClick(window.target_panel.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: hang.fired > 0, timeout=10_000)
    started = time.monotonic()
    with qtbot.waitSignal(window.import_finished, timeout=5000) as blocker:
        qtbot.mouseClick(window.target_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert time.monotonic() - started < 2.0
    assert [r.status for r in blocker.args[0].results] == [ResultStatus.CANCELLED]
    assert window.state.phase is Phase.IDLE
    assert window.target_panel.import_button.isEnabled()
    xnat.faults.release()


@pytest.mark.parametrize("streams", [1, 2])
def test_the_parallel_uploads_setting_reaches_the_import(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path, streams: int
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01", "sub-02"])
    choices = window.findChild(QMenu, "parallelUploadsMenu").actions()
    next(a for a in choices if a.data() == streams).trigger()
    xnat.faults.add("slow", method="POST", path_regex=r"/files", delay=0.8, count=0)
    report = import_now(window, qtbot)
    assert [r.status for r in report.results] == [ResultStatus.IMPORTED] * 2
    first, second = sorted(
        (r for r in xnat.faults.requests if r.method == "POST" and "/files" in r.path),
        key=lambda r: r.started,
    )
    overlap = second.started < first.finished
    assert overlap is (streams == 2)


def test_retry_failed_after_an_injected_fault(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01", "sub-02", "sub-03"])
    for method in ("PUT", "POST"):
        xnat.faults.add(
            "error_500_after_body", method=method, path_regex=r"sub-02_MR1/.*files", count=0
        )
    report = import_now(window, qtbot)
    by_name = {r.subject: r for r in report.results}
    assert by_name["sub-01"].status is ResultStatus.IMPORTED
    assert by_name["sub-02"].status is ResultStatus.FAILED
    assert by_name["sub-02"].error
    assert by_name["sub-03"].status is ResultStatus.IMPORTED
    assert "1 failed" in window.progress.summary.text()
    assert window.progress.failed_subjects() == ["sub-02"]

    xnat.faults.clear()
    with qtbot.waitSignal(window.import_finished, timeout=30_000) as blocker:
        qtbot.mouseClick(window.progress.retry_button, Qt.MouseButton.LeftButton)
    retried = blocker.args[0]
    assert [(r.subject, r.status) for r in retried.results] == [("sub-02", ResultStatus.IMPORTED)]


def test_closing_during_an_import_asks_then_cancels(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01", "sub-02"])
    xnat.faults.add("slow", path_regex=r"/files", delay=1.0, count=0)
    assert window.start_import()
    first = window.subjects_panel.model.index(0, 0)
    assert not window.subjects_panel.model.flags(first) & Qt.ItemFlag.ItemIsUserCheckable  # locked
    answers = [False, True]
    window.ask = lambda title, text: answers.pop(0)  # type: ignore[method-assign]
    window.show()
    assert not window.close()  # "no": the import goes on
    assert window.state.phase is Phase.IMPORTING
    started = time.monotonic()
    # "yes": cancelled; the GUI thread never waits for the worker, the window stays open...
    assert not window.close()
    assert time.monotonic() - started < 0.5
    assert window.isVisible()
    assert window.activity_label.text() == "Stopping the import…"
    assert not window.close()  # closing again neither asks again nor blocks
    assert answers == []
    # ...and closes by itself once the import has stopped, with the worker thread stopped
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert window.state.phase is Phase.IDLE
    assert window.runner.shutdown(0)


def test_status_bar_says_importing_while_a_queued_import_runs(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    """The import waits behind a preview refresh; once it runs, the status bar says so."""
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01"])
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)
    window.refresh_preview()
    with qtbot.waitSignal(window.import_finished, timeout=30_000):
        qtbot.mouseClick(window.target_panel.import_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.jobs.current == "import", timeout=10_000)
        qtbot.waitUntil(lambda: window.activity_label.text() == "Importing…", timeout=1000)


def test_cancelling_a_queued_import_returns_to_idle(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    """An import waiting behind another job is dropped on Cancel and the window is idle again
    (not stuck in "Cancelling…"); the job queue reports it finished."""
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01"])
    qtbot.waitUntil(lambda: not window.jobs.busy(), timeout=10_000)
    release, started = threading.Event(), threading.Event()

    def hold(cancel: threading.Event) -> Iterator[object]:
        started.set()
        while not (release.wait(0.01) or cancel.is_set()):
            pass
        yield "released"

    window.jobs.submit(Job("scan", hold))
    assert started.wait(5)
    assert window.start_import()
    assert window.jobs.current == "scan"
    assert window.jobs.busy("import")
    finished: list[object] = []
    window.import_finished.connect(finished.append)
    with qtbot.waitSignal(
        window.jobs.job_finished, check_params_cb=lambda name: name == "import", timeout=2000
    ):
        window.cancel_import(ask=False)
    assert window.state.phase is Phase.IDLE
    assert window.activity_label.text() != "Cancelling…"
    assert finished == [None]
    assert "Cancelled" in window.progress.summary.text()
    assert not window.jobs.busy("import")
    release.set()
    qtbot.waitUntil(lambda: not window.jobs.busy(), timeout=5000)
    assert window.state.phase is Phase.IDLE


def test_retry_uses_the_last_runs_plan_not_the_current_fields(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01", "sub-02", "sub-03"])
    window.target_panel.preview.label_edited.emit("sub-02", "S02")
    for method in ("PUT", "POST"):
        xnat.faults.add("error_500_after_body", method=method, path_regex=r"_MR1/.*files", count=0)
    report = import_now(window, qtbot)
    assert {r.status for r in report.results} == {ResultStatus.FAILED}

    # the user moves on: another project, another label, F5, a folder removed
    window.target_panel.project_combo.setEditText("OTHER")
    window.target_panel.preview.label_edited.emit("sub-02", "ELSEWHERE")
    shutil.rmtree(subjects_dir / "sub-03")
    with qtbot.waitSignal(window.scan_completed, timeout=10_000):
        window.actions.rescan.trigger()
    xnat.faults.clear()
    with qtbot.waitSignal(window.import_finished, timeout=30_000) as blocker:
        qtbot.mouseClick(window.progress.retry_button, Qt.MouseButton.LeftButton)
    retried = blocker.args[0]
    assert [(r.subject, r.status) for r in retried.results] == [
        ("sub-01", ResultStatus.IMPORTED),
        ("sub-02", ResultStatus.IMPORTED),
    ]
    uris = [r.experiment_uri for r in retried.results]
    assert uris[0].endswith(f"/projects/{PROJECT}/experiments/sub-01_MR1")
    assert uris[1].endswith(f"/projects/{PROJECT}/experiments/S02_MR1")
    assert "sub-03" in window.message_bar.text.text()
    assert "no longer there" in window.message_bar.text.text()


def test_an_unknown_project_is_never_created_by_itself(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    window = make_window()
    scan(window, qtbot, subjects_dir)
    window.target_panel.project_combo.setEditText("TYPO_PROJECT")
    log_in(window, qtbot, xnat.url, xnat.user, xnat.password)
    assert not window.target_panel.create_project_check.isChecked()
    window.subjects_panel.model.set_checked(["sub-01"])
    wait_preview(window, qtbot)
    assert not window.target_panel.create_project_check.isChecked()
    # the preview says the project does not exist (and how to create it on purpose)
    assert (
        window.target_panel.preview.status_of("TYPO_PROJECT", NodeKind.PROJECT)
        is NodeStatus.CONFLICT
    )


def answer_yes_once_the_import_ended(window: MainWindow, qtbot: QtBot) -> list[str]:
    """`window.ask` as a question box the user answers "Yes" only after the import has ended
    (the box's own event loop runs meanwhile, as QMessageBox.question's does)."""
    asked: list[str] = []

    def ask(title: str, text: str) -> bool:
        asked.append(title)
        qtbot.waitUntil(lambda: window.state.phase is Phase.IDLE, timeout=30_000)
        return True

    window.ask = ask  # type: ignore[method-assign]
    return asked


def test_cancel_answered_after_the_import_ended_leaves_the_window_idle(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01"])
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)
    asked = answer_yes_once_the_import_ended(window, qtbot)
    with qtbot.waitSignal(window.import_finished, timeout=30_000) as blocker:
        assert window.start_import()
        qtbot.mouseClick(window.target_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert asked == ["Cancel the import?"]
    assert blocker.args[0].results[0].status is ResultStatus.IMPORTED
    assert window.state.phase is Phase.IDLE  # nothing was left to cancel
    assert window.activity_label.text() not in ("Cancelling…", "Stopping the import…")
    assert window.target_panel.project_combo.isEnabled()
    assert window.actions.open.isEnabled()
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)


def test_quit_answered_after_the_import_ended_quits(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01"])
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)
    window.show()
    asked = answer_yes_once_the_import_ended(window, qtbot)
    assert window.start_import()
    window.close()
    assert asked == ["Cancel the import and quit?"]
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert window.is_shut_down


def cell(window: MainWindow, subject: str, column: Column, role: int = 0) -> Any:
    model = window.progress.model
    row = [r.subject for r in model.rows].index(subject)
    return model.data(model.index(row, column), role or Qt.ItemDataRole.DisplayRole)


def bar_pixels(window: MainWindow, subject: str) -> set[tuple[int, int, int]]:
    """The colours the progress column of this subject's row is painted with."""
    table = window.progress.table
    row = [r.subject for r in window.progress.model.rows].index(subject)
    rect = table.visualRect(window.progress.model.index(row, Column.PROGRESS))
    image = table.viewport().grab(rect).toImage()
    return {
        (c.red(), c.green(), c.blue())
        for x in range(image.width())
        for y in range(image.height())
        for c in [image.pixelColor(x, y)]
    }


def test_failed_and_cancelled_rows_look_failed_and_cancelled(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path
) -> None:
    """sub-01 imported, sub-02 failed (the server answers 500), sub-03 cancelled while it
    uploads: each row says so once, in its phase, bar and colour; then sub-01 again: skipped."""
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01", "sub-02", "sub-03"])
    window.show()
    for method in ("PUT", "POST"):
        xnat.faults.add("error_500_after_body", method=method, path_regex=r"sub-02_MR1/.*files")
        xnat.faults.add("slow", method=method, path_regex=r"sub-03_MR1/.*files", delay=3.0)
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)

    def sub03_uploads(event: object) -> bool:
        sending = (Stage.UPLOADING, Stage.PROCESSING)
        return isinstance(event, Progress) and event.item == "sub-03" and event.stage in sending

    with qtbot.waitSignal(window.runner.progress, check_params_cb=sub03_uploads, timeout=30_000):
        qtbot.mouseClick(window.target_panel.import_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.import_finished, timeout=10_000) as blocker:
        qtbot.mouseClick(window.target_panel.cancel_button, Qt.MouseButton.LeftButton)
    statuses = {r.subject: r.status for r in blocker.args[0].results}
    assert statuses == {
        "sub-01": ResultStatus.IMPORTED,
        "sub-02": ResultStatus.FAILED,
        "sub-03": ResultStatus.CANCELLED,
    }
    phases = {s: cell(window, s, Column.PHASE) for s in statuses}
    assert phases == {"sub-01": "imported", "sub-02": "failed", "sub-03": "cancelled"}
    assert cell(window, "sub-01", Column.PROGRESS) == "100 %"
    for subject in ("sub-02", "sub-03"):
        assert cell(window, subject, Column.PROGRESS) != "100 %"
        result = cell(window, subject, Column.RESULT)
        assert result
        assert not result.lower().startswith(phases[subject])  # the phase says it once
    assert cell(window, "sub-03", Column.RESULT).startswith("stopped while")
    icons = {s: cell(window, s, Column.PHASE, Qt.ItemDataRole.DecorationRole) for s in statuses}
    assert len({i.cacheKey() for i in icons.values()}) == 3  # done, failed, cancelled
    # the bar: the palette's highlight when imported, red when failed, grey when cancelled
    reddish = lambda c: c[0] - max(c[1], c[2]) > 60  # noqa: E731
    highlight = window.palette().highlight().color()
    hue = lambda c: abs(c[0] - highlight.red()) + abs(c[2] - highlight.blue()) < 60  # noqa: E731

    def tints(subject: str) -> set[str]:
        pixels = bar_pixels(window, subject)
        kinds = (("red", reddish), ("highlight", hue))
        return {name for name, is_it in kinds if any(map(is_it, pixels))}

    assert {s: tints(s) for s in statuses} == {
        "sub-01": {"highlight"},
        "sub-02": {"red"},
        "sub-03": set(),
    }
    foreground = cell(window, "sub-02", Column.PHASE, Qt.ItemDataRole.ForegroundRole)
    assert reddish(foreground.getRgb())
    summary = window.progress.summary.text()
    assert "1 imported, 1 failed, 1 cancelled" in summary
    assert "Finished" not in window.progress.overall_label.text()
    lines = window.log_view.toPlainText()
    assert "sub-03: cancelled" in lines
    assert "sub-02: failed: " in lines

    xnat.faults.clear()
    window.subjects_panel.model.set_checked(["sub-01"])
    report = import_now(window, qtbot)
    assert [r.status for r in report.results] == [ResultStatus.SKIPPED]
    assert cell(window, "sub-01", Column.PHASE) == "skipped"
    assert cell(window, "sub-01", Column.PROGRESS) == "100 %"
    assert not cell(window, "sub-01", Column.RESULT).startswith("skipped")
    assert "skipped: skipped" not in window.log_view.toPlainText()
    assert "<b>Finished.</b> 1 skipped." in window.progress.summary.text()


def test_the_zips_go_to_the_temporary_folder_chosen_in_the_options_menu(
    make_window: WindowFactory, qtbot: QtBot, xnat: Any, subjects_dir: Path, tmp_path: Path
) -> None:
    window = ready(make_window, qtbot, xnat, subjects_dir, ["sub-01"])
    chosen = tmp_path / "scratch"
    chosen.mkdir()
    menu = window.findChild(QMenu, "optionsMenu")
    temp_dir = next(a for a in menu.actions() if a.objectName() == "tempDirAction")
    opened_at = answer_folder_dialog(chosen)
    temp_dir.trigger()
    assert len(opened_at) == 1  # at the default folder, or its nearest parent until it exists
    assert (tmp_path / "data" / "work").is_relative_to(opened_at[0])
    assert window.settings.temp_dir == str(chosen)
    assert str(chosen) in temp_dir.statusTip()
    xnat.faults.add("slow", path_regex=r"/files", delay=1.0)
    qtbot.waitUntil(window.target_panel.import_button.isEnabled, timeout=5000)
    runs: list[Path] = []  # the run's folder (its zips, when one is written, go in it)
    with qtbot.waitSignal(window.import_finished, timeout=30_000) as blocker:
        assert window.start_import()
        qtbot.waitUntil(lambda: bool(runs.extend(chosen.glob("fsxnat-run-*")) or runs))
    assert blocker.args[0].results[0].status is ResultStatus.IMPORTED
    assert not list((tmp_path / "data").glob("**/*.zip"))  # not in the default folder
    assert list(chosen.iterdir()) == []  # the run removed its folder
