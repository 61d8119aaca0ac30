"""Selection -> ImportPlan, and the plan compared with the server -> a PlanNode tree.

`make_plan` is pure and fast: the GUI rebuilds it on every selection change. `compare` asks the
server about each collection once (subjects and experiments once per project, resources once per
existing experiment) and marks every node NEW, EXISTS, CONFLICT or INVALID.

The rules both front ends apply live here, once: the resource label for a selection
(`resource_label`), why a plan cannot run (`blocking_reasons`: the CLI refuses with these, the
window disables Import and shows them) and what "retry failed" imports again (`retry_plan`).
"""

from __future__ import annotations

import dataclasses
import logging
import string
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from fsxnat_gui.core.errors import (
    Cancelled,
    FsXnatError,
    LabelError,
    NotFound,
    PermissionDenied,
)
from fsxnat_gui.core.labels import label_problem, sanitize
from fsxnat_gui.core.model import (
    ImportPlan,
    NodeKind,
    NodeStatus,
    OnExisting,
    PlanItem,
    PlanNode,
    RemoteExperiment,
    RemoteResource,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.units import human_bytes

log = logging.getLogger(__name__)

PLACEHOLDERS = frozenset({"subject"})

Mark = tuple[NodeStatus, str]  # status and detail of one node
_UNKNOWN: Mark = (NodeStatus.UNKNOWN, "")


class PlanClient(Protocol):
    """The part of `xnat.XnatClient` that `compare` uses (a fake in tests is fine)."""

    def project_exists(self, project: str) -> bool: ...
    def list_subjects(self, project: str) -> dict[str, str]: ...
    def list_experiments(self, project: str) -> dict[str, RemoteExperiment]: ...
    def list_resources(self, project: str, experiment: str) -> list[RemoteResource]: ...


# --- building the plan -----------------------------------------------------------------------


def check_template(template: str) -> None:
    """Raise LabelError unless `template` is well formed and only uses {subject}."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise LabelError(f"experiment label template '{template}': {exc}") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            shown = "{" + name + "}"
            raise LabelError(
                f"experiment label template '{template}' uses {shown}; only {{subject}} is known"
            )


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
    subjects: Iterable[Subject], target: Target, overrides: Mapping[str, str] | None = None
) -> ImportPlan:
    """Resolve the labels of each selected subject and record what stops it from running.

    The subject label is `overrides[folder name]` when given (used as typed, only validated),
    otherwise `sanitize(folder name)`. Raises LabelError for a malformed experiment template.
    """
    check_template(target.experiment_template)
    overrides = overrides or {}
    common = _target_problems(target)
    items = []
    for subject in subjects:
        subject_label = overrides.get(subject.name) or sanitize(subject.name)
        exp_label = target.experiment_template.format(subject=subject_label)
        problems = list(common)
        if not subject.eligible:
            problems.append(
                f"{subject.name}: {subject.reason or 'not a finished recon-all subject'}"
            )
        for what, label in (("subject label", subject_label), ("experiment label", exp_label)):
            if problem := label_problem(label):
                problems.append(f"{what}: {problem}")
        items.append(PlanItem(subject, subject_label, exp_label, target.resource, tuple(problems)))
    return ImportPlan(target, tuple(_with_collisions(items)))


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
    """Add a problem to every eligible item whose subject or experiment label is shared."""
    by_subject: dict[str, list[PlanItem]] = defaultdict(list)
    by_experiment: dict[str, list[PlanItem]] = defaultdict(list)
    for item in items:
        if item.subject.eligible:
            by_subject[item.subject_label].append(item)
            by_experiment[item.experiment_label].append(item)
    extra: dict[int, str] = {}
    for kind, groups in (("experiment", by_experiment), ("subject", by_subject)):
        for label, group in groups.items():
            if len(group) > 1:
                folders = " and ".join(f"'{i.subject.name}'" for i in group)
                message = (
                    f"folders {folders} would all become {kind} '{label}'; "
                    "give one of them another label"
                )
                for item in group:
                    extra[id(item)] = message  # the subject clash, when both, explains more
    return [
        dataclasses.replace(i, problems=(*i.problems, extra[id(i)])) if id(i) in extra else i
        for i in items
    ]


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


# --- trees --------------------------------------------------------------------------------------


def offline_tree(plan: ImportPlan) -> PlanNode:
    """The preview without a server: UNKNOWN everywhere except labels that are INVALID."""
    project_problem = label_problem(plan.target.project)
    children = tuple(
        _item_node(item, NodeStatus.UNKNOWN, _UNKNOWN, _UNKNOWN) for item in plan.items
    )
    return PlanNode(
        NodeKind.PROJECT,
        plan.target.project,
        NodeStatus.INVALID if project_problem else NodeStatus.UNKNOWN,
        project_problem or "",
        children=children,
    )


def compare(
    plan: ImportPlan, client: PlanClient, cancel: threading.Event | None = None
) -> ImportPlan:
    """The plan with `tree` set from what the server holds. XnatError other than
    PermissionDenied propagates (network, auth); Cancelled when `cancel` is set."""
    target = plan.target
    project = target.project
    if label_problem(project):
        return dataclasses.replace(plan, tree=offline_tree(plan))
    try:
        exists = client.project_exists(project)
        subjects = client.list_subjects(project) if exists else {}
        experiments = client.list_experiments(project) if exists else {}
    except PermissionDenied as exc:
        children = offline_tree(plan).children
        node = PlanNode(NodeKind.PROJECT, project, NodeStatus.CONFLICT, str(exc), None, children)
        return dataclasses.replace(plan, tree=node)
    if exists:
        status, detail = (
            NodeStatus.EXISTS,
            f"{len(subjects)} subjects, {len(experiments)} experiments",
        )
    elif target.create_project:
        status, detail = NodeStatus.NEW, "will be created"
    else:
        status = NodeStatus.CONFLICT
        detail = f"project {project} does not exist; tick 'create project' (--create-project)"
    labels_by_id = {sid: label for label, sid in subjects.items()}
    children = []
    for item in plan.items:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        children.append(_compare_item(item, target, client, subjects, experiments, labels_by_id))
    tree = PlanNode(NodeKind.PROJECT, project, status, detail, children=tuple(children))
    return dataclasses.replace(plan, tree=tree)


def _compare_item(
    item: PlanItem,
    target: Target,
    client: PlanClient,
    subjects: Mapping[str, str],
    experiments: Mapping[str, RemoteExperiment],
    labels_by_id: Mapping[str, str],
) -> PlanNode:
    if not item.ok:
        return _item_node(item, NodeStatus.UNKNOWN, _UNKNOWN, _UNKNOWN)
    subject_id = subjects.get(item.subject_label)
    subject_status = NodeStatus.EXISTS if subject_id else NodeStatus.NEW
    remote = experiments.get(item.experiment_label)
    if remote is None:
        new = (NodeStatus.NEW, _local_size(item.subject))
        return _item_node(item, subject_status, (NodeStatus.NEW, ""), new)
    if remote.subject_id != subject_id:
        owner = labels_by_id.get(remote.subject_id, remote.subject_id)
        detail = (
            f"experiment {remote.label} belongs to subject {owner} on the server; "
            "importing would move it: choose another experiment label"
        )
        return _item_node(item, subject_status, (NodeStatus.CONFLICT, detail), _UNKNOWN)
    try:
        resources = client.list_resources(target.project, remote.label)
    except NotFound:
        resources = []
    found = next((r for r in resources if r.label == item.resource_label), None)
    resource = _resource_mark(found, item.subject, target.on_existing)
    return _item_node(item, subject_status, (NodeStatus.EXISTS, ""), resource)


def _resource_mark(remote: RemoteResource | None, subject: Subject, policy: OnExisting) -> Mark:
    if remote is None:
        return NodeStatus.NEW, _local_size(subject)
    there = _remote_size(remote)
    if policy is OnExisting.FAIL:
        return NodeStatus.CONFLICT, f"{there}; the policy for existing resources is to stop"
    if policy is OnExisting.REPLACE:
        return NodeStatus.EXISTS, f"{there}; will be replaced"
    if _differs(remote, subject):
        return NodeStatus.CONFLICT, (
            f"{there} but the local folder has {subject.files} files, "
            f"{human_bytes(subject.bytes or 0)}; choose replace to overwrite"
        )
    return NodeStatus.EXISTS, f"{there}; will be checked file by file and skipped if identical"


def _differs(remote: RemoteResource, subject: Subject) -> bool:
    """True only when the server's statistics prove a difference (unknown counts prove none)."""
    pairs = ((remote.file_count, subject.files), (remote.file_size, subject.bytes))
    return any(a is not None and b is not None and a != b for a, b in pairs)


def _remote_size(remote: RemoteResource) -> str:
    if remote.file_count is None:
        return "exists (size not known yet)"
    return f"exists: {remote.file_count} files, {human_bytes(remote.file_size or 0)}"


def _local_size(subject: Subject) -> str:
    if subject.files is None:
        return ""
    return f"{subject.files} files, {human_bytes(subject.bytes or 0)}"


def _item_node(
    item: PlanItem, subject_status: NodeStatus, experiment: Mark, resource: Mark
) -> PlanNode:
    """Subject -> experiment -> resource for one item; an item with problems is INVALID."""
    name = item.subject.name
    subject_detail = f"from folder '{name}'" if item.subject_label != name else ""
    if not item.ok:
        invalid = (NodeStatus.INVALID, "")
        subject_status, subject_detail = NodeStatus.INVALID, "; ".join(item.problems)
        experiment = resource = invalid
    experiment_status, experiment_detail = experiment
    resource_status, resource_detail = resource
    resource_node = PlanNode(
        NodeKind.RESOURCE, item.resource_label, resource_status, resource_detail, name
    )
    experiment_node = PlanNode(
        NodeKind.EXPERIMENT,
        item.experiment_label,
        experiment_status,
        experiment_detail,
        name,
        (resource_node,),
    )
    return PlanNode(
        NodeKind.SUBJECT,
        item.subject_label,
        subject_status,
        subject_detail,
        name,
        (experiment_node,),
    )
