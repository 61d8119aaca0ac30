"""One request and its answer: the types every route module shares.

`Call` is the per-request context a route works with: the server state, the parsed request,
the caller's session and the cookie to set, plus the checks every route repeats (allowed
methods, a visible project, edit rights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import pages
from .store import Experiment, Project, Store, Subject
from .uploads import BodyReader

if TYPE_CHECKING:
    from .accounts import Accounts, Session
    from .server import LocalXnat

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "html": "text/html;charset=UTF-8",
    "xml": "text/xml",
    "text": "text/plain",
}


class HttpError(Exception):
    """A Restlet-style error response."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: list[tuple[str, str]] = field(default_factory=list)
    file: Path | None = None


def restlet_error(status: int, message: str | None = None) -> Response:
    return Response(status, pages.restlet_page(status, message), CONTENT_TYPES["html"])


def text(value: str, status: int = 200) -> Response:
    return Response(status, value.encode(), "text/plain")


@dataclass
class Request:
    method: str
    path: str
    query_string: str
    query: dict[str, str]
    headers: dict[str, str]
    body: BodyReader
    chunked: bool
    length: int | None
    user: str | None = None

    def flag(self, name: str, default: bool = False) -> bool:
        """XNAT's rule: a present value other than `false`/`0` is true."""
        if name not in self.query:
            return default
        return self.query[name].lower() not in ("false", "0")

    def fmt(self, default: str) -> str:
        return self.query.get("format", default).lower() or default

    def small_body(self) -> str:
        """A form body (at most ~64 KiB is read), decoded."""
        data = b""
        while not self.body.done and len(data) < 65536:
            data += self.body.read(65536)
        return data.decode("utf-8", "replace")


@dataclass
class Call:
    """A request being answered: what the routes read, and the session cookie to set."""

    app: LocalXnat
    req: Request
    partial: float | None = None  # the partial_store fault's share of archive entries
    session: Session | None = None
    cookie: str | None = None  # a session id to send in Set-Cookie

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def accounts(self) -> Accounts:
        return self.app.accounts

    def methods(self, *allowed: str) -> None:
        if self.req.method not in allowed:
            raise HttpError(405)

    def start_session(self, user: str | None) -> Session:
        """A new session for `user`, sent back in Set-Cookie."""
        self.session = self.accounts.new_session(user)
        self.cookie = self.session.id
        return self.session

    def ensure_session(self) -> Session:
        return self.session if self.session is not None else self.start_session(self.req.user)

    def csrf_suffix(self) -> str:
        if self.req.flag("CSRF"):
            return f"; XNAT_CSRF={self.ensure_session().csrf}"
        return ""

    def visible_project(self, pid: str, message: str | None = None) -> Project:
        project = self.store.project(pid)
        if project is None:
            raise HttpError(404, message)
        return project

    def can_edit(self, project: Project) -> bool:
        return self.accounts.can_edit(self.req.user, project)

    def require_edit(self, item: Experiment | Subject, message: str) -> Project:
        """The item's project, if the caller may change it; else 403 with `message`."""
        project = self.store.project(item.project)
        assert project is not None
        if not self.can_edit(project):
            raise HttpError(403, message)
        return project
