"""Projects, subjects and experiments: create, read, list, delete (xnat-rest.md §2).

Each route takes the `Call` and the path's identifiers; what lies below an experiment
(resources and files) is answered by `resources.below`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
from collections.abc import Iterator

from . import pages, resources
from .exchange import Call, HttpError, Response, text
from .render import html_response, item, json_response, listing, xml_item
from .store import Experiment, Project, Subject

log = logging.getLogger(__name__)

ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_LABEL = 255


def _check_label(label: str, field_name: str) -> None:
    if len(label) > _MAX_LABEL:
        raise HttpError(400, f"{field_name} : Must Be Less Than {_MAX_LABEL} Characters")
    if not ID_RE.match(label):
        raise HttpError(500)


def _clash_message(value: str) -> str:
    return (
        "Requested new project conflicts with existing projects: Invalid Project Id: "
        f"'{value}' is already being used."
    )


# Projects


def project_list(call: Call) -> Response:
    call.methods("GET")
    rows = [
        {
            "ID": p.id,
            "secondary_ID": p.secondary_id,
            "name": p.name,
            "description": p.description,
            "pi_firstname": "",
            "pi_lastname": "",
            "URI": f"/data/projects/{p.id}",
        }
        for p in call.store.projects()
    ]
    return listing(call.req, rows, title="Projects", total=True)


def project(call: Call, pid: str) -> Response:
    req, user, store = call.req, call.req.user, call.store
    if req.method == "GET":
        return _project_item(
            call, call.visible_project(pid, "Unable to find the specified experiment.")
        )
    if req.method == "DELETE":
        found = call.visible_project(pid)
        if not call.can_edit(found):
            raise HttpError(403, f"User {user} doesn't have permission to delete this project.")
        store.delete_project(found.id, remove_files=req.flag("removeFiles"))
        return Response(200)
    call.methods("PUT")
    if not ID_RE.match(pid):
        raise HttpError(417, "Invalid character in project ID.")
    fields = {
        key: req.query[name]
        for key, name in (
            ("name", "name"),
            ("secondary_id", "secondary_ID"),
            ("description", "description"),
        )
        if req.query.get(name)
    }
    existing = store.project(pid)
    if existing is not None:
        if not call.can_edit(existing):
            raise HttpError(403, f"User {user} doesn't have permission to edit the project {pid}")
        clash = store.project_clash(pid, [fields.get("name", ""), fields.get("secondary_id", "")])
        if clash:
            raise HttpError(409, _clash_message(clash))
        if fields:
            store.update_project(pid, **fields)
        return Response(200)
    if call.accounts.is_readonly(user):
        raise HttpError(
            403, f"User {user} doesn't have permission to create projects on this system"
        )
    if store.was_deleted(pid):
        raise HttpError(
            403, f"Project '{pid}' was used in a previously deleted project and cannot be reused."
        )
    name = fields.get("name", pid)
    secondary = fields.get("secondary_id", pid)
    clash = store.project_clash(pid, [pid, name, secondary])
    if clash:
        raise HttpError(409, _clash_message(clash))
    assert user is not None
    with _created_meanwhile(f"The project {pid}"):
        store.create_project(
            pid,
            name=name,
            secondary_id=secondary,
            description=fields.get("description", ""),
            owner=user,
        )
    log.info("project %s created by %s", pid, user)
    return Response(200)


def _project_item(call: Call, found: Project) -> Response:
    fmt = call.req.fmt("html")
    data = {
        "ID": found.id,
        "secondary_ID": found.secondary_id,
        "name": found.name,
        "description": found.description,
        "active": "true",
    }
    if fmt == "json":
        return json_response(item("xnat:projectData", data, found.insert_date, []))
    if fmt == "xml":
        return xml_item("xnat:Project", data)
    subjects = [["Subject", "ID"]] + [[s.label, s.id] for s in call.store.subjects(found.id)]
    experiments = [["Experiment", "ID", "Subject"]] + [
        [e.label, e.id, _subject_label(call, e)] for e in call.store.experiments(project=found.id)
    ]
    body = pages.item_page(
        f"Project {found.id}",
        [("ID", found.id), ("Name", found.name), ("Owner", found.owner)],
        [("Subjects", subjects), ("Experiments", experiments)],
    )
    return html_response(body)


# Subjects


def _subject_label(call: Call, experiment: Experiment) -> str:
    found = call.store.subject_by_id(experiment.subject_id)
    return found.label if found else ""


def subject_list(call: Call, pid: str) -> Response:
    call.methods("GET")
    found = call.visible_project(pid)
    rows = [
        {
            "ID": s.id,
            "project": s.project,
            "label": s.label,
            "insert_date": s.insert_date,
            "insert_user": s.insert_user,
            "URI": f"/data/subjects/{s.id}",
        }
        for s in call.store.subjects(found.id)
    ]
    return listing(call.req, rows, title="Subjects", total=True)


def subject_resources(call: Call, pid: str, label: str, tail: list[str]) -> Response:
    """Subject-level resources: `.../subjects/{S}/resources[/{R}[/files[/{path}]]]`.

    `{S}` is a label or an accession id, as for experiments (xnat-rest.md §3, §5).
    """
    found = find_subject(call, pid, label)
    base = f"/data/projects/{found.project}/subjects/{found.id}"
    return resources.below(call, found, tail, base)


def find_subject(call: Call, pid: str, label: str) -> Subject:
    """A subject below a project URL (label or accession id), or 404 as XNAT words it."""
    found = call.store.subject(call.visible_project(pid).id, label)
    if found is None:
        raise HttpError(404, "Unable to identify subject")
    return found


def subject(call: Call, pid: str, label: str) -> Response:
    req, user, store = call.req, call.req.user, call.store
    if req.method == "GET":
        found_project = call.visible_project(pid, "Unable to find the specified subject.")
        found = store.subject(found_project.id, label)
        if found is None:
            raise HttpError(
                404,
                f"Unable to find the specified subject. The project {pid} does not contain "
                f"a subject identifiable by the ID or label {label}.",
            )
        return subject_item(call, found)
    if req.method == "DELETE":
        found = find_subject(call, pid, label)
        call.require_edit(
            found,
            "Specified user account has insufficient delete privileges for subjects "
            "in this project.",
        )
        store.delete_subject(found, remove_files=req.flag("removeFiles"))
        return Response(200)
    call.methods("PUT")
    found_project = store.project(pid)
    if found_project is None:
        raise HttpError(422, "Submitted subject record must include the project attribute.")
    if not call.can_edit(found_project):
        raise HttpError(
            403,
            "Specified user account has insufficient create privileges for subjects in this "
            "project.",
        )
    existing = store.subject(found_project.id, label)
    if existing is not None:
        return text(existing.id)
    _check_label(label, "xnat:subjectData/label")
    assert user is not None
    with _created_meanwhile(f"The subject {label}"):
        return text(store.create_subject(found_project.id, label, user).id, 201)


@contextlib.contextmanager
def _created_meanwhile(what: str) -> Iterator[None]:
    """Two requests creating the same thing at the same moment: the second one's insert fails;
    XNAT answers 409 then (a clash found at save: xnat-rest.md §2.3 "Uniqueness", §4)."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise HttpError(409, f"{what} was created by another request at the same time.") from None


def subject_by_id(call: Call, sid: str) -> Response:
    call.methods("GET")
    found = call.store.subject_by_id(sid)
    if found is None:
        raise HttpError(404, "Unable to find the specified subject.")
    return subject_item(call, found)


def subject_item(call: Call, found: Subject) -> Response:
    fmt = call.req.fmt("html")
    data = {"ID": found.id, "label": found.label, "project": found.project}
    held = call.store.resources(found.id)
    if fmt == "json":
        children = resources.item_children(held, found.insert_date)
        return json_response(item("xnat:subjectData", data, found.insert_date, children))
    if fmt == "xml":
        return xml_item("xnat:Subject", data)
    experiments = [["Experiment", "ID"]] + [
        [e.label, e.id] for e in call.store.experiments(subject_id=found.id)
    ]
    body = pages.item_page(
        f"Subject {found.label}",
        [("ID", found.id), ("Label", found.label), ("Project", found.project)],
        [("Experiments", experiments), ("Resources", resources.html_table(held))],
    )
    return html_response(body)


# Experiments


def experiment_list(call: Call, experiments: list[Experiment]) -> Response:
    rows = [
        {
            "ID": e.id,
            "project": e.project,
            "date": e.date,
            "xsiType": e.xsi_type,
            "label": e.label,
            "insert_date": e.insert_date,
            "URI": f"/data/experiments/{e.id}",
            "xnat:subjectassessordata/id": e.id,
        }
        for e in experiments
    ]
    extras = {
        e.id: {"subject_ID": e.subject_id, "subject_label": _subject_label(call, e)}
        for e in experiments
    }
    return listing(
        call.req, rows, title="Experiments", total=True, extras=lambda r: extras[r["ID"]]
    )


def project_experiment(
    call: Call, pid: str, ident: str, tail: list[str], *, subject_label: str | None
) -> Response:
    """An experiment addressed below a project (and maybe a subject), or what lies below it."""
    if not tail and call.req.method == "PUT":
        return _put_experiment(call, pid, ident, subject_label)
    found_project = call.visible_project(pid, None if not tail else "Unable to identify project")
    if (
        subject_label is not None
        and call.store.subject(found_project.id, subject_label) is None
        and tail
    ):
        raise HttpError(404, "Unable to identify subject")
    found = call.store.experiment(found_project.id, ident)
    if found is None:
        if not tail:
            raise HttpError(404, "Unable to find the specified experiment.")
        raise HttpError(404, "Unable to identify experiment")
    base = f"/data/projects/{found_project.id}/subjects/{found.subject_id}/experiments/{found.id}"
    return experiment_or_below(call, found, tail, base)


def experiment_by_id(call: Call, eid: str, tail: list[str]) -> Response:
    found = call.store.experiment_by_id(eid)
    if found is None:
        if not tail:
            raise HttpError(404, "Unable to find the specified experiment.")
        raise HttpError(404, "Unable to identify experiment")
    return experiment_or_below(call, found, tail, f"/data/experiments/{found.id}")


def _put_experiment(call: Call, pid: str, label: str, subject_label: str | None) -> Response:
    req, user, store = call.req, call.req.user, call.store
    found_project = call.visible_project(pid)
    if not call.can_edit(found_project):
        raise HttpError(
            403,
            "Specified user account has insufficient create privileges for experiments in this "
            "project.",
        )
    subject_label = subject_label or req.query.get("subject_ID")
    found_subject = store.subject(found_project.id, subject_label) if subject_label else None
    existing = store.experiment(found_project.id, label)
    if existing is not None:
        if found_subject is not None and found_subject.id != existing.subject_id:
            store.move_experiment(existing, found_subject.id)
        return text(existing.id)
    if not req.query.get("xsiType"):
        raise HttpError(417, "Need PUT Contents")
    if subject_label is None:
        raise HttpError(404, "Unable to identify subject")
    _check_label(label, "xnat:experimentData/label")
    assert user is not None
    with _created_meanwhile(f"The experiment {label}"):
        if found_subject is None:
            _check_label(subject_label, "xnat:subjectData/label")
            found_subject = store.create_subject(found_project.id, subject_label, user)
        created = store.create_experiment(
            found_project.id,
            found_subject.id,
            label,
            xsi_type=req.query["xsiType"],
            date=req.query.get("date", ""),
            user=user,
        )
    log.info("experiment %s (%s) created in %s", label, created.id, found_project.id)
    return text(created.id, 201)


def experiment_or_below(call: Call, found: Experiment, tail: list[str], base: str) -> Response:
    if tail:
        return resources.below(call, found, tail, base)
    if call.req.method == "DELETE":
        call.require_edit(found, "User account doesn't have permission to delete this session.")
        call.store.delete_experiment(found, remove_files=call.req.flag("removeFiles"))
        return Response(200)
    call.methods("GET")
    return _experiment_item(call, found)


def _experiment_item(call: Call, found: Experiment) -> Response:
    fmt = call.req.fmt("html")
    held = call.store.resources(found.id)
    data = {
        "ID": found.id,
        "label": found.label,
        "project": found.project,
        "subject_ID": found.subject_id,
    }
    if found.date:
        data["date"] = found.date
    if found.xsi_type.lower() == "xnat:mrsessiondata":
        data["modality"] = "MR"
    if fmt == "json":
        children = resources.item_children(held, found.insert_date)
        return json_response(item(found.xsi_type, data, found.insert_date, children))
    if fmt == "xml":
        return xml_item("xnat:MRSession", data)
    body = pages.item_page(
        f"Experiment {found.label}",
        [
            ("Label", found.label),
            ("Accession ID", found.id),
            ("Project", found.project),
            ("Subject", _subject_label(call, found)),
            ("Type", found.xsi_type),
            ("Created", found.insert_date),
        ],
        [("Resources", resources.html_table(held))],
    )
    return html_response(body)
