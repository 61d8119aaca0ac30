"""The URL table: authenticate a request, find the route that answers it, turn errors into
Restlet pages (xnat-rest.md §0).

`/data/archive/...` and `/REST/...` are the same as `/data/...`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import unquote

from . import accounts, hierarchy
from .exchange import Call, HttpError, Request, Response, restlet_error, text
from .render import build_info, json_response
from .uploads import UploadError

if TYPE_CHECKING:
    from .server import LocalXnat

log = logging.getLogger(__name__)


def dispatch(app: LocalXnat, req: Request, partial: float | None = None) -> Response:
    """The answer to `req` (never raises but for a lost connection)."""
    call = Call(app, req, partial)
    path = _normalise(req.path)
    refusal = accounts.authenticate(call, path)
    if refusal is not None:
        return refusal
    try:
        response = _route(call, path)
    except HttpError as exc:
        response = restlet_error(exc.status, exc.message)
    except UploadError as exc:
        response = restlet_error(exc.status, str(exc))
    except (ConnectionError, TimeoutError):
        raise
    except Exception:
        log.exception("internal error on %s %s", req.method, req.path)
        response = restlet_error(500)
    if call.cookie:
        response.headers.append(("Set-Cookie", accounts.session_cookie(call.cookie)))
    return response


def _normalise(path: str) -> str:
    """Map `/data/archive/...` and `/REST/...` onto `/data/...`."""
    if path.startswith("/REST/") or path == "/REST":
        path = "/data" + path[len("/REST") :]
    if path.startswith("/data/archive/"):
        path = "/data/" + path[len("/data/archive/") :]
    return path


def _route(call: Call, path: str) -> Response:
    segments = [unquote(s) for s in path.split("/")[1:]]
    if path == accounts.LOGIN_PAGE:
        return accounts.login_page(call)
    if segments[:2] == ["xapi", "siteConfig"]:
        return _site_config(call, segments[2:])
    if segments[:1] != ["data"]:
        raise HttpError(404)
    store = call.store
    match segments[1:]:
        case ["JSESSION"]:
            return accounts.jsession(call)
        case ["auth"]:
            return accounts.whoami(call)
        case ["services", "auth"]:
            return accounts.services_auth(call)
        case ["services", "tokens", "issue"]:
            return accounts.issue_token(call)
        case ["projects"]:
            return hierarchy.project_list(call)
        case ["projects", pid]:
            return hierarchy.project(call, pid)
        case ["projects", pid, "subjects"]:
            return hierarchy.subject_list(call, pid)
        case ["projects", pid, "subjects", label]:
            return hierarchy.subject(call, pid, label)
        case ["projects", pid, "subjects", label, "experiments"]:
            call.methods("GET")
            subject = hierarchy.find_subject(call, pid, label)
            return hierarchy.experiment_list(call, store.experiments(subject_id=subject.id))
        case ["projects", pid, "subjects", label, "resources", *rest]:
            return hierarchy.subject_resources(call, pid, label, ["resources", *rest])
        case ["projects", pid, "subjects", label, "experiments", exp, *tail]:
            return hierarchy.project_experiment(call, pid, exp, tail, subject_label=label)
        case ["projects", pid, "experiments"]:
            call.methods("GET")
            project = call.visible_project(pid)
            return hierarchy.experiment_list(call, store.experiments(project=project.id))
        case ["projects", pid, "experiments", exp, *tail]:
            return hierarchy.project_experiment(call, pid, exp, tail, subject_label=None)
        case ["experiments"]:
            call.methods("GET")
            experiments = store.experiments(project=call.req.query.get("project"))
            return hierarchy.experiment_list(call, experiments)
        case ["experiments", eid, *tail]:
            return hierarchy.experiment_by_id(call, eid, tail)
        case ["subjects", sid]:
            return hierarchy.subject_by_id(call, sid)
    raise HttpError(404)


def _site_config(call: Call, rest: list[str]) -> Response:
    call.methods("GET")
    match rest:
        case ["buildInfo"]:
            return json_response(build_info())
        case ["siteId"]:
            return text(accounts.REALM)
        case ["siteUrl"]:
            return text(call.app.base_url)
    raise HttpError(404)
