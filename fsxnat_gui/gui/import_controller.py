"""The preview, the import, cancel, retry and the report, over the job queue.

The rules come from the core (`core.plan`): the resource label for the checked subjects, why a
plan cannot run (the same reasons `fsxnat import` refuses with), what "retry failed" imports.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from fsxnat_gui.core import plan, report
from fsxnat_gui.core.errors import LabelError
from fsxnat_gui.core.login import ClientFactory
from fsxnat_gui.core.model import (
    Assignment,
    ImportPlan,
    OnExisting,
    PlanItem,
    PlanNode,
    RunReport,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.tree import offline_tree
from fsxnat_gui.core.xnat import experiment_web_url
from fsxnat_gui.gui import outcomes, tasks
from fsxnat_gui.gui.message_bar import Level
from fsxnat_gui.gui.preview import NEW_SESSION
from fsxnat_gui.gui.runner import Job, JobQueue
from fsxnat_gui.gui.session import Session
from fsxnat_gui.gui.settings import Settings

log = logging.getLogger(__name__)

PREVIEW_DELAY_MS = 150


class ImportController(QObject):
    """Turns the checked subjects and the target into a plan, compares it with the server
    (debounced), runs the import and keeps its report.

    Signals:
        resource_suggested(str, str): the resource label for the checked subjects, or "" and
            the reason there is none (mixed FreeSurfer versions: the user types one)
        rows_changed(object): the plan's rows by folder (dict of PlanItem) that the next
            preview_changed shows: what each row can choose
        preview_changed(object, str): show this tree (a PlanNode, or None) with this note
        preview_note(str): keep the tree shown, with this note
        preview_updated(): the preview reflects the inputs (compared if logged in)
        blocked(str): why Import cannot run, the reasons `fsxnat import` refuses with ("" if
            it can)
        import_started(object): an import of this ImportPlan began
        import_step(object): a Progress or SubjectResult of the running import
        import_finished(object): it ended, with its RunReport (None if it failed or was
            cancelled before it started)
        failed(str, object): what failed, and the exception
        notice(object, str): a Level and a sentence for the message bar
    """

    resource_suggested = Signal(str, str)
    rows_changed = Signal(object)
    preview_changed = Signal(object, str)
    preview_note = Signal(str)
    preview_updated = Signal()
    blocked = Signal(str)
    import_started = Signal(object)
    import_step = Signal(object)
    import_finished = Signal(object)
    failed = Signal(str, object)
    notice = Signal(object, str)

    def __init__(
        self,
        jobs: JobQueue,
        settings: Settings,
        factory: ClientFactory,
        workdir: Path,
        retries: int,
        retry_backoff: float,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._jobs, self._settings, self._factory = jobs, settings, factory
        self._workdir = workdir  # the zips' folder unless the Options menu chose another
        self._retries, self._retry_backoff = retries, retry_backoff
        self._subjects: list[Subject] = []
        self._target = Target(project="")
        self._resource_typed: str | None = None
        self._session: Session | None = None
        self._assignments: dict[str, Assignment] = {}  # by folder: the user's choices
        self._plan: ImportPlan | None = None
        self._compared = False  # `_plan` was compared with the server
        self._tree_shown = False  # the preview shows a tree (kept while a comparison runs)
        self._last: tuple[ImportPlan, Session] | None = None  # the last import's plan, login
        self._results: list[SubjectResult] = []
        self._report: RunReport | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

    # --- inputs ----------------------------------------------------------------------------

    @property
    def report(self) -> RunReport | None:
        return self._report

    def set_inputs(
        self,
        subjects: list[Subject],
        target: Target,
        resource_typed: str | None,
        session: Session | None,
    ) -> None:
        """The checked subjects, the target as typed (`resource_typed`: None while the field
        shows the suggestion), the login; the preview follows shortly."""
        self._subjects, self._target, self._session = list(subjects), target, session
        self._resource_typed = resource_typed
        self._timer.start()

    def suggest_resource(self, subjects: list[Subject]) -> None:
        """Suggest the resource label for these subjects (resource_suggested)."""
        try:
            self.resource_suggested.emit(plan.resource_label(subjects), "")
        except LabelError as exc:
            self.resource_suggested.emit("", str(exc))

    def set_label(self, folder: str, label: str) -> None:
        """The subject label of `folder` edited in the preview ("" to match it again); a session
        chosen for the old subject no longer applies."""
        row = self._assignments.get(folder, Assignment())
        self._choose(folder, dataclasses.replace(row, subject=label, experiment=""))
        log.info("Subject label of %s set to %s", folder, label or "(matched)")

    def set_session(self, folder: str, choice: str) -> None:
        """The MR session chosen for `folder` in the preview: an existing label, or
        "new:<label>" for a new session under the row's subject."""
        label = choice.removeprefix(NEW_SESSION)
        row = self._assignments.get(folder, Assignment())
        subject = row.subject or self._subject_of(folder)
        self._choose(folder, dataclasses.replace(row, subject=subject, experiment=label))
        log.info("Session of %s set to %s", folder, label)

    def set_policy(self, folder: str, value: str) -> None:
        """What to do if the resource of `folder` exists ("" for the batch's policy)."""
        row = self._assignments.get(folder, Assignment())
        policy = OnExisting(value) if value else None
        self._choose(folder, dataclasses.replace(row, on_existing=policy))

    def set_assignments(self, rows: dict[str, Assignment]) -> None:
        """A loaded mapping: these rows replace every choice made so far."""
        self._assignments = dict(rows)
        self._timer.start()

    def clear_labels(self) -> None:
        self._assignments.clear()

    def _choose(self, folder: str, row: Assignment) -> None:
        if row == Assignment():
            self._assignments.pop(folder, None)
        else:
            self._assignments[folder] = row
        self._timer.start()

    def _subject_of(self, folder: str) -> str:
        shown = self._plan.items if self._plan is not None else ()
        return next((i.subject_label for i in shown if i.subject.name == folder), "")

    # --- preview ---------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        """Rebuild the preview now: offline at once, then compared with the server."""
        self._timer.stop()
        self._on_timer_timeout()

    def stop(self) -> None:
        self._timer.stop()

    def _make_plan(self, subjects: list[Subject]) -> ImportPlan:
        """LabelError for a malformed template, or mixed versions and no resource label."""
        resource = plan.resource_label(subjects, self._resource_typed)
        pattern = self._settings.folder_pattern or None
        target = dataclasses.replace(self._target, resource=resource, folder_pattern=pattern)
        return plan.make_plan(subjects, target, self._assignments)

    @Slot()
    def _on_timer_timeout(self) -> None:
        self._plan, self._compared = None, False
        if not self._subjects:
            self._jobs.cancel("preview")
            self._show(None, None, "", [])
            return
        try:
            the_plan = self._make_plan(self._subjects)
        except LabelError as exc:
            self._jobs.cancel("preview")
            self._show(None, None, "", [str(exc)])
            return
        self._plan = the_plan
        offline = offline_tree(the_plan)
        reasons = plan.blocking_reasons(the_plan)
        session = self._session
        if session is None:
            self._show(the_plan, offline, "Log in to compare with the server.", reasons)
            return
        if not self._tree_shown:
            self.rows_changed.emit(_rows(the_plan))
            self.preview_changed.emit(offline, "Checking the server…")
        else:  # keep the last comparison on screen until the new one arrives (no flicker)
            self.preview_note.emit("Checking the server…")
        self.blocked.emit("\n".join(reasons))

        def on_result(compared: ImportPlan) -> None:
            self._plan, self._compared = compared, True
            self._show(compared, compared.tree, "", plan.blocking_reasons(compared))

        def on_failure(exc: BaseException) -> None:
            log.warning("Comparing with the server failed: %s", exc)
            self._show(the_plan, offline, f"Could not compare with the server: {exc}", reasons)

        steps = functools.partial(tasks.compare_plan, self._factory, session, the_plan)
        self._jobs.submit(Job("preview", steps, on_result=on_result, on_failure=on_failure))

    def _show(
        self, shown: ImportPlan | None, tree: PlanNode | None, note: str, reasons: list[str]
    ) -> None:
        self._tree_shown = tree is not None
        self.rows_changed.emit(_rows(shown) if shown is not None else {})
        if reasons:
            more = f" (and {len(reasons) - 1} more: see the Import button's tip)"
            why = f"Cannot import: {reasons[0]}{more if len(reasons) > 1 else ''}."
            note = f"{note} {why}" if note else why
        self.preview_changed.emit(tree, note)
        self.blocked.emit("\n".join(reasons))
        self.preview_updated.emit()

    # --- import ----------------------------------------------------------------------------

    def start_import(self, session: Session) -> bool:
        """Import the checked subjects, unless the plan cannot run (then say why)."""
        if not self._subjects:
            self.notice.emit(Level.WARNING, "Check the subjects to import first.")
            return False
        try:
            the_plan = self._make_plan(self._subjects)
        except LabelError as exc:
            self.notice.emit(Level.ERROR, str(exc))
            return False
        current = self._compared and not self._timer.isActive() and self._plan is not None
        reasons = plan.blocking_reasons(self._plan if current and self._plan else the_plan)
        if reasons:
            self.notice.emit(Level.ERROR, str(plan.PlanRefusedError(reasons)))
            return False
        return self._start(the_plan, session)

    def retry_failed(self, session: Session | None) -> bool:
        """Import again the subjects of the last run that failed or were cancelled, with that
        run's plan (same project, labels and policy, whatever the fields say now)."""
        if self._last is None:
            return False
        last_plan, was = self._last
        if session is None or (session.url, session.user) != (was.url, was.user):
            self.notice.emit(
                Level.WARNING, f"Log in to {was.url} as {was.user} again to retry the last import."
            )
            return False
        again, gone = plan.retry_plan(last_plan, self._results)
        started = False
        if again is not None:
            log.info("Retrying %d subjects", len(again.items))
            started = self._start(again, session)
        if gone:  # after the start, which clears the message bar
            self.notice.emit(
                Level.WARNING,
                f"Not retried: the folder of {', '.join(gone)} is no longer there.",
            )
        return started

    def cancel_import(self) -> None:
        self._jobs.cancel("import")  # a queued import ends at once (its on_finish runs here)

    def _start(self, the_plan: ImportPlan, session: Session) -> bool:
        self._jobs.cancel("preview")
        self._last, self._results, self._report = (the_plan, session), [], None
        self.import_started.emit(the_plan)
        log.info(
            "Importing %d subjects into %s on %s",
            len(the_plan.items),
            the_plan.target.project,
            session.url,
        )
        steps = functools.partial(
            tasks.run_import,
            self._factory,
            session,
            the_plan,
            self._settings.temp_folder(self._workdir),
            self._retries,
            self._retry_backoff,
            self._settings.parallel_uploads,
        )
        self._jobs.submit(
            Job(
                "import",
                steps,
                on_step=self._on_import_step,
                on_result=self._on_import_result,
                on_failure=self._on_import_failure,
                on_finish=self._on_import_finish,
                supersede=False,
            )
        )
        return True

    def _on_import_step(self, step: object) -> None:
        if isinstance(step, SubjectResult):
            self._results.append(step)
            level = logging.WARNING if step.error else logging.INFO
            log.log(level, "%s: %s", step.subject, outcomes.describe(step))
        self.import_step.emit(step)

    def _on_import_result(self, run_report: RunReport | None) -> None:
        self._report = run_report

    def _on_import_failure(self, exc: BaseException) -> None:
        if isinstance(exc, plan.PlanRefusedError):
            self.notice.emit(Level.ERROR, str(exc))
        else:
            self.failed.emit("The import stopped", exc)

    def _on_import_finish(self) -> None:
        if self._report is not None:
            ok = sum(1 for r in self._report.results if r.on_server)
            log.info("Import finished: %d of %d subjects in XNAT", ok, len(self._report.results))
        self.import_finished.emit(self._report)

    # --- after the import ------------------------------------------------------------------

    def experiment_url(self, subject: str, session: Session | None) -> str:
        """The web page of the experiment this subject was last imported to, "" if unknown."""
        if session is None or self._last is None:
            return ""
        last_plan = self._last[0]
        item = next((i for i in last_plan.items if i.subject.name == subject), None)
        if item is None:
            return ""
        return experiment_web_url(session.url, last_plan.target.project, item.owner)

    def save_report(self, path: Path) -> None:
        if self._report is None:
            return
        try:
            if path.suffix.lower() == ".csv":
                report.write_csv(self._report, path)
            else:
                report.write_json(self._report, path)
        except OSError as exc:
            self.notice.emit(Level.ERROR, f"Could not save the report to {path}: {exc}")
            return
        self.notice.emit(Level.INFO, f"Report saved to {path}.")

    # --- the mapping file ------------------------------------------------------------------

    def load_mapping(self, path: Path, session: Session | None) -> None:
        """Read a mapping file (checked against the checked folders and, when logged in, the
        project's subjects and sessions) and use its rows in place of every choice."""
        folders = [s.name for s in self._subjects]
        project = self._target.project

        def on_result(rows: dict[str, Assignment]) -> None:
            self.set_assignments(rows)
            n = len(rows)
            self.notice.emit(
                Level.INFO, f"Mapping loaded from {path.name}: {n} row{'s' * (n != 1)}."
            )

        def on_failure(exc: BaseException) -> None:
            self.notice.emit(Level.ERROR, f"The mapping was not loaded: {exc}")

        steps = functools.partial(
            tasks.load_mapping, self._factory, session, path, folders, project
        )
        self._jobs.submit(Job("mapping", steps, on_result=on_result, on_failure=on_failure))

    def save_mapping(self, path: Path) -> None:
        """Write where each checked folder goes and why (the preview as shown), to review or
        edit and load again, or to pass to `fsxnat import --map`."""
        if self._plan is None or not self._plan.items:
            self.notice.emit(Level.WARNING, "Check the subjects to map first.")
            return
        items = self._plan.items

        def on_result(_: object) -> None:
            self.notice.emit(Level.INFO, f"Mapping saved to {path}.")

        def on_failure(exc: BaseException) -> None:
            self.notice.emit(Level.ERROR, f"The mapping was not saved: {exc}")

        steps = functools.partial(tasks.save_mapping, items, path)
        self._jobs.submit(Job("mapping", steps, on_result=on_result, on_failure=on_failure))


def _rows(the_plan: ImportPlan) -> dict[str, PlanItem]:
    return {i.subject.name: i for i in the_plan.items}
