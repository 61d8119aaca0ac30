"""The preview tree of a plan: project -> subject -> experiment -> resource, or subject ->
resource for a subject-level resource (a longitudinal base). Pure: core.compare decides the
statuses against the server; `offline_tree` is the tree without one."""

from __future__ import annotations

from fsxnat_gui.core.labels import label_problem
from fsxnat_gui.core.model import (
    ImportPlan,
    Level,
    NodeKind,
    NodeStatus,
    PlanItem,
    PlanNode,
    Subject,
)
from fsxnat_gui.core.units import human_bytes

Mark = tuple[NodeStatus, str]  # status and detail of one node
UNKNOWN: Mark = (NodeStatus.UNKNOWN, "")
UNDECIDED = "(not decided)"  # the experiment label shown while a row has no destination


def offline_tree(plan: ImportPlan) -> PlanNode:
    """The preview without a server: UNKNOWN everywhere except labels that are INVALID and rows
    with no destination."""
    project_problem = label_problem(plan.target.project)
    children = tuple(item_node(item, NodeStatus.UNKNOWN, UNKNOWN, UNKNOWN) for item in plan.items)
    return PlanNode(
        NodeKind.PROJECT,
        plan.target.project,
        NodeStatus.INVALID if project_problem else NodeStatus.UNKNOWN,
        project_problem or "",
        children=children,
    )


def local_size(subject: Subject) -> str:
    if subject.files is None:
        return ""
    return f"{subject.files} files, {human_bytes(subject.bytes or 0)}"


def item_node(
    item: PlanItem, subject_status: NodeStatus, experiment: Mark, resource: Mark
) -> PlanNode:
    """One folder's branch. An item with problems is INVALID throughout; one with no destination
    (ambiguous, refused) is UNRESOLVED where the destination is missing, with the reason."""
    name = item.subject.name
    subject_detail = f"from folder '{name}'" if item.subject_label != name else ""
    if item.problems:
        invalid = (NodeStatus.INVALID, "")
        subject_status, subject_detail = NodeStatus.INVALID, "; ".join(item.problems)
        experiment = resource = invalid
    elif item.held:
        held = (NodeStatus.UNRESOLVED, item.held)
        experiment, resource = held, (NodeStatus.UNRESOLVED, "")
        if item.level is Level.SUBJECT or subject_status is not NodeStatus.EXISTS:
            subject_status, subject_detail = held  # no subject to go to: the reason is here
            experiment = (NodeStatus.UNRESOLVED, "")
    elif experiment[0] is not NodeStatus.CONFLICT and item.match:
        experiment = (experiment[0], item.match)
    resource_node = PlanNode(NodeKind.RESOURCE, item.resource_label, *resource, name)
    if item.level is Level.SUBJECT:
        below: tuple[PlanNode, ...] = (resource_node,)
        if item.match and not item.problems and not item.held:
            subject_detail = item.match
    else:
        label = item.experiment_label or UNDECIDED
        below = (PlanNode(NodeKind.EXPERIMENT, label, *experiment, name, (resource_node,)),)
    return PlanNode(
        NodeKind.SUBJECT, item.subject_label or name, subject_status, subject_detail, name, below
    )
