"""A plan compared with the server: matched against the project, and every node of its tree
marked NEW, EXISTS, CONFLICT, INVALID or UNRESOLVED.

The server is asked about each collection once: the project, one listing of its subjects and
one of its experiments (with each experiment's subject and type), then the resources of each
existing experiment or subject a folder goes to. Never a round trip per folder for matching.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Protocol

from fsxnat_gui.core.errors import Cancelled, NotFound, PermissionDenied
from fsxnat_gui.core.labels import label_problem
from fsxnat_gui.core.matching import ArchiveIndex
from fsxnat_gui.core.model import (
    ImportPlan,
    Level,
    NodeKind,
    NodeStatus,
    OnExisting,
    Owner,
    PlanItem,
    PlanNode,
    RemoteExperiment,
    RemoteResource,
    Subject,
    Target,
)
from fsxnat_gui.core.plan import make_plan
from fsxnat_gui.core.tree import UNKNOWN, Mark, item_node, local_size, offline_tree
from fsxnat_gui.core.units import human_bytes


class PlanClient(Protocol):
    """The part of `xnat.XnatClient` that `compare` uses."""

    def project_exists(self, project: str) -> bool: ...
    def list_subjects(self, project: str) -> dict[str, str]: ...
    def list_experiments(self, project: str) -> dict[str, RemoteExperiment]: ...
    def list_resources(self, project: str, owner: Owner | str) -> list[RemoteResource]: ...


def fetch_index(client: PlanClient, project: str) -> ArchiveIndex:
    """The project's subjects and experiments, in one listing each (empty when it is missing)."""
    if not client.project_exists(project):
        return ArchiveIndex(exists=False)
    subjects = client.list_subjects(project)
    experiments = tuple(client.list_experiments(project).values())
    return ArchiveIndex(True, subjects, experiments)


def compare(
    plan: ImportPlan,
    client: PlanClient,
    cancel: threading.Event | None = None,
    *,
    index: ArchiveIndex | None = None,
) -> ImportPlan:
    """The plan matched against the project (its folders, target and assignments kept) with
    `tree` set from what the server holds; `index` when the caller already listed the project.
    XnatError other than PermissionDenied propagates (network, auth); Cancelled when `cancel`
    is set."""
    target = plan.target
    project = target.project
    if label_problem(project):
        return dataclasses.replace(plan, tree=offline_tree(plan))
    try:
        index = index or fetch_index(client, project)
    except PermissionDenied as exc:
        children = offline_tree(plan).children
        node = PlanNode(NodeKind.PROJECT, project, NodeStatus.CONFLICT, str(exc), None, children)
        return dataclasses.replace(plan, tree=node)
    plan = make_plan([i.subject for i in plan.items], target, plan.assignments, index=index)
    if index.exists:
        subjects, experiments = len(index.subjects), len(index.experiments)
        status, detail = NodeStatus.EXISTS, f"{subjects} subjects, {experiments} experiments"
    elif target.create_project:
        status, detail = NodeStatus.NEW, "will be created"
    else:
        status = NodeStatus.CONFLICT
        detail = f"project {project} does not exist; tick 'create project' (--create-project)"
    children = []
    for item in plan.items:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        children.append(_compare_item(item, target, client, index))
    tree = PlanNode(NodeKind.PROJECT, project, status, detail, children=tuple(children))
    return dataclasses.replace(plan, tree=tree)


def _compare_item(
    item: PlanItem, target: Target, client: PlanClient, index: ArchiveIndex
) -> PlanNode:
    if not item.ok:
        exists = item.subject_label in index.subjects
        return item_node(
            item, NodeStatus.EXISTS if exists else NodeStatus.UNKNOWN, UNKNOWN, UNKNOWN
        )
    policy = item.on_existing or target.on_existing
    subject_exists = item.subject_label in index.subjects
    subject_status = NodeStatus.EXISTS if subject_exists else NodeStatus.NEW
    if item.level is Level.SUBJECT:
        resources = _resources(client, target.project, item.owner) if subject_exists else []
        resource = _resource_mark(_find(resources, item.resource_label), item.subject, policy)
        return item_node(item, subject_status, UNKNOWN, resource)
    remote = index.experiment(item.experiment_label)
    if remote is None:
        new = (NodeStatus.NEW, local_size(item.subject))
        return item_node(item, subject_status, (NodeStatus.NEW, ""), new)  # detail: item.match
    owner = index.subject_label(remote.subject_id)
    if owner != item.subject_label:
        detail = (
            f"experiment {remote.label} belongs to subject {owner} on the server; importing "
            f"would move it: give '{item.subject.name}' subject {owner}, or another session"
        )
        return item_node(item, subject_status, (NodeStatus.CONFLICT, detail), UNKNOWN)
    resources = _resources(client, target.project, item.owner)
    resource = _resource_mark(_find(resources, item.resource_label), item.subject, policy)
    return item_node(item, subject_status, (NodeStatus.EXISTS, ""), resource)


def _resources(client: PlanClient, project: str, owner: Owner) -> list[RemoteResource]:
    try:
        return client.list_resources(project, owner)
    except NotFound:
        return []


def _find(resources: list[RemoteResource], label: str) -> RemoteResource | None:
    return next((r for r in resources if r.label == label), None)


def _resource_mark(remote: RemoteResource | None, subject: Subject, policy: OnExisting) -> Mark:
    if remote is None:
        return NodeStatus.NEW, local_size(subject)
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
