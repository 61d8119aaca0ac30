"""Selection -> ImportPlan: where each folder goes and what stops it.

`make_plan` is pure and fast: the GUI rebuilds it on every selection change (offline), and
core.compare rebuilds it against the project's listing before marking the tree.

Where each folder goes in an existing archive is core.matching's; the comparison with the
server (statuses, the preview tree) is core.compare's. The rules both front ends apply live here,
once: the resource label for a selection
(`resource_label`), why a plan cannot run (`blocking_reasons`: the CLI refuses with these, the
window disables Import and shows them) and what "retry failed" imports again (`retry_plan`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from fsxnat_gui.core.errors import FsXnatError, LabelError
from fsxnat_gui.core.labels import label_problem, sanitize
from fsxnat_gui.core.matching import (
    EMPTY_INDEX,
    ArchiveIndex,
    Rules,
    check_template,
    compile_pattern,
    label_problems,
    new_session_label,
    resolve,
)
from fsxnat_gui.core.model import (
    Assignment,
    How,
    ImportPlan,
    Level,
    LongRole,
    NodeStatus,
    PlanItem,
    PlanNode,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.tree import offline_tree

log = logging.getLogger(__name__)


# --- building the plan -----------------------------------------------------------------------


def resource_label(subjects: Iterable[Subject], typed: str | None = None) -> str:
    """The resource label for these subjects: `typed` when the user gave one, else
    FREESURFER<major version> of the subjects. LabelError, with the reason, when nothing was
    typed and the subjects span several versions (one import goes to one resource label)."""
    if typed is not None:
        return typed
    suggested = sorted({s.suggested_resource for s in subjects})
    if len(suggested) > 1:
        raise LabelError(
            f"the selected subjects were made with different FreeSurfer versions and would go "
            f"to {' and '.join(suggested)}: choose one resource label for all of them (the "
            "Resource field, --resource), or import them separately"
        )
    return suggested[0] if suggested else "FREESURFER"


def make_plan(
    subjects: Iterable[Subject],
    target: Target,
    assignments: Mapping[str, Assignment | str] | None = None,
    *,
    index: ArchiveIndex | None = None,
) -> ImportPlan:
    """Where each selected folder goes, and what stops it from running.

    Each eligible folder is matched against `index` (the project's subjects and experiments;
    none: today's labels from the template, as for a new project) by core.matching, with the
    `assignments` (a mapping file's rows, the window's choices; a plain string is a subject
    label) winning over matching. Raises LabelError for a malformed template or folder pattern.
    """
    rows = {
        k: Assignment(subject=v) if isinstance(v, str) else v
        for k, v in (assignments or {}).items()
    }
    pattern = compile_pattern(target.folder_pattern) if target.folder_pattern else None
    rules = Rules(target.resource, target.experiment_template, target.existing_only, pattern)
    check_template(target.experiment_template, pattern)
    subjects = list(subjects)
    found = resolve([s for s in subjects if s.eligible], index or EMPTY_INDEX, rules, rows)
    common = _target_problems(target)
    items = []
    for subject in subjects:
        if not subject.eligible:
            label = sanitize(subject.name)
            why = f"{subject.name}: {subject.reason or 'not a finished recon-all subject'}"
            items.append(
                PlanItem(subject, label, _default_experiment(target, label), target.resource,
                         (*common, why))
            )  # fmt: skip
            continue
        d = found[subject.name]
        key = (
            subject.long_tp
            if subject.long_role is LongRole.LONG and subject.long_tp
            else subject.name
        )
        sessions = (index or EMPTY_INDEX).sessions_of(d.subject) if d.subject else []
        own = [p for p in (label_problems(d) if d.ok else []) if p not in common]
        problems = [*common, *own]
        items.append(
            PlanItem(
                subject,
                d.subject,
                d.experiment,
                d.resource,
                tuple(problems),
                level=d.level,
                how=d.how,
                match=d.reason,
                candidates=d.candidates,
                sessions=tuple(e.label for e in sessions),
                new_session=new_session_label(key, d.subject, rules) if d.subject else "",
                held=d.problem,
                on_existing=rows[subject.name].on_existing if subject.name in rows else None,
            )
        )
    return ImportPlan(target, tuple(_with_collisions(items)), assignments=rows)


def _default_experiment(target: Target, subject_label: str) -> str:
    try:
        return target.experiment_template.format(
            subject=subject_label, folder=subject_label, session=""
        )
    except (KeyError, IndexError, ValueError):
        return ""


def _target_problems(target: Target) -> list[str]:
    problems = []
    if problem := label_problem(target.project):
        problems.append(f"project: {problem}")
    if problem := label_problem(target.resource):
        problems.append(f"resource label: {problem}")
    elif target.resource.isdigit():
        # XNAT reads an all-digit resource identifier in a URL as a numeric resource id, so
        # every call would address some other resource (xnat-rest.md §3.1).
        problems.append(
            f"resource label: '{target.resource}' is all digits, which XNAT reads as the id of "
            "another resource; add a letter (e.g. FREESURFER7)"
        )
    return problems


def _with_collisions(items: list[PlanItem]) -> list[PlanItem]:
    """Add a problem to every runnable item whose destination another item also has: the same
    experiment label under another subject (labels are unique per project), or the same
    resource of the same experiment or subject."""
    by_experiment: dict[str, list[PlanItem]] = defaultdict(list)
    by_resource: dict[tuple[str, str, str], list[PlanItem]] = defaultdict(list)
    for item in items:
        if not item.ok:
            continue
        if item.level is Level.EXPERIMENT:
            by_experiment[item.experiment_label].append(item)
        owner = item.experiment_label if item.level is Level.EXPERIMENT else ""
        by_resource[(item.subject_label, owner, item.resource_label)].append(item)
    extra: dict[int, str] = {}
    for (subject, owner, resource), group in by_resource.items():
        if len(group) > 1:
            if all(i.how is How.NEW_SUBJECT for i in group):
                kind, label = "subject", subject  # two folder names sanitised alike
            else:
                kind, label = "resource", f"{resource} of {owner or subject}"
            extra.update((id(i), _clash(group, kind, label)) for i in group)
    for label, group in by_experiment.items():
        if len({i.subject_label for i in group}) > 1:
            extra.update((id(i), _clash(group, "experiment", label)) for i in group)
    return [
        dataclasses.replace(i, problems=(*i.problems, extra[id(i)])) if id(i) in extra else i
        for i in items
    ]


def _clash(group: list[PlanItem], kind: str, label: str) -> str:
    folders = " and ".join(f"'{i.subject.name}'" for i in group)
    return f"folders {folders} would all become {kind} '{label}'; give one of them another label"


class PlanRefusedError(FsXnatError):
    """The plan cannot run: `reasons` are `blocking_reasons(plan)`."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"The plan cannot run: {'; '.join(reasons)}.")
        self.reasons = reasons


def blocking_reasons(plan: ImportPlan) -> list[str]:
    """Why the plan cannot run, one sentence per INVALID or CONFLICT node of its tree (the
    offline tree when it was not compared): empty when it can run."""
    return _blocking(plan.tree if plan.tree is not None else offline_tree(plan))


def _blocking(node: PlanNode) -> list[str]:
    reasons = []
    if node.status in (NodeStatus.INVALID, NodeStatus.CONFLICT):
        where = f"{node.source}: " if node.source else ""
        reasons.append(f"{where}{node.kind.value} {node.label}: {node.detail or node.status.value}")
    for child in node.children:
        reasons += _blocking(child)
    return reasons


def retry_plan(
    last: ImportPlan, results: Sequence[SubjectResult]
) -> tuple[ImportPlan | None, list[str]]:
    """What "retry failed" imports: the items of `last` that are not on the server (failed,
    cancelled, or never ended), with that run's labels and target, whatever the inputs say now;
    and the folder names left out because their folder is gone. None when nothing is left."""
    done = {r.subject for r in results if r.on_server}
    items = [i for i in last.items if i.subject.name not in done]
    gone = [i.subject.name for i in items if not i.subject.path.is_dir()]
    items = [i for i in items if i.subject.name not in gone]
    if not items:
        return None, gone
    return dataclasses.replace(last, items=tuple(items), tree=None), gone
