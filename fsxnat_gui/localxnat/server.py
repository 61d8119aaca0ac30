"""HTTP layer of the local XNAT server: authentication, sessions, routing and the REST resources.

The behaviour follows shared/reference/xnat-rest.md (XNAT 1.8): Basic auth on every request,
JSESSIONID sessions with an idle timeout, alias tokens, Restlet-style error pages, and the
project / subject / experiment / resource / file routes under `/data` and `/data/archive`.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hmac
import io
import json
import logging
import re
import secrets
import shutil
import socket
import string
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import quoteattr

from . import pages
from .faults import Faults, RequestRecord
from .store import Experiment, Project, Resource, StagedFile, Store, Subject
from .uploads import (
    CHUNK,
    BodyReader,
    UploadError,
    archive_kind,
    copy_hashed,
    extract,
    parse_multipart,
    safe_relpath,
)

log = logging.getLogger(__name__)

XNAT_VERSION = "1.8.10"
REALM = "XNAT"
DEFAULT_SESSION_TIMEOUT = 15 * 60
DEFAULT_TOKEN_LIFETIME = 2 * 24 * 3600
LOGIN_PAGE = "/app/template/Login.vm"
OPEN_PATHS = frozenset(
    {
        "/data/JSESSION",
        "/data/services/auth",
        "/xapi/siteConfig/buildInfo",
        "/xapi/siteConfig/siteId",
        "/xapi/siteConfig/siteUrl",
        LOGIN_PAGE,
    }
)
_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_BROWSER_RE = re.compile(r"MSIE|Mozilla|AppleWebKit|Opera")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAX_LABEL = 255
_RAW_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/zip",
        "application/x-gzip",
        "application/x-gtar",
        "application/x-tar",
        "text/plain",
        "text/xml",
        "text/csv",
        "application/dicom",
        "application/xar",
        "application/pdf",
    }
)
_UPLOAD_SUFFIX = {
    "application/zip": ".zip",
    "application/x-gzip": ".gz",
    "application/x-gtar": ".tar.gz",
    "application/x-tar": ".tar",
    "text/plain": ".txt",
    "text/xml": ".xml",
    "text/csv": ".csv",
    "application/pdf": ".pdf",
}
_CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "html": "text/html;charset=UTF-8",
    "xml": "text/xml",
    "text": "text/plain",
}


def _same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII passwords (UTF-8)."""
    return hmac.compare_digest(expected.encode(), given.encode())


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
    return Response(status, pages.restlet_page(status, message), _CONTENT_TYPES["html"])


@dataclass
class Session:
    id: str
    user: str | None  # None for a guest session
    csrf: str
    last_used: float
    saved_url: str = ""  # where a browser goes after logging in (Spring's saved request)


@dataclass(frozen=True)
class AliasToken:
    alias: str
    secret: str = field(repr=False)
    user: str
    number: int
    created_ms: int
    expires_ms: int


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


class LocalXnat:
    """Server state shared by the request handlers: store, accounts, sessions, tokens."""

    def __init__(
        self,
        root: Path,
        *,
        users: dict[str, str],
        readonly_users: dict[str, str],
        session_timeout: float,
        token_lifetime: float,
        faults: Faults | None,
    ) -> None:
        self.store = Store(root)
        self.users = dict(users)
        self.readonly_users = dict(readonly_users)
        self.session_timeout = session_timeout
        self.token_lifetime = token_lifetime
        self.faults = faults
        self.base_url = ""
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._tokens: dict[str, AliasToken] = {}

    # Accounts, sessions, tokens

    def check_password(self, user: str, password: str) -> str | None:
        """The account name if `user:password` is valid (an alias token counts), else None."""
        user = user.rsplit("/", 1)[-1]  # "provider/user"
        for accounts in (self.users, self.readonly_users):
            expected = accounts.get(user)
            if expected is not None and _same_secret(expected, password):
                return user
        if _UUID_RE.match(user):
            with self._lock:
                token = self._tokens.get(user)
            if (
                token is not None
                and _same_secret(token.secret, password)
                and time.time() * 1000 < token.expires_ms
            ):
                return token.user
        return None

    def is_readonly(self, user: str | None) -> bool:
        return user is None or user not in self.users

    def can_edit(self, user: str | None, project: Project) -> bool:
        return not self.is_readonly(user) and project.owner == user

    def new_session(self, user: str | None) -> Session:
        session = Session(secrets.token_hex(16).upper(), user, str(uuid.uuid4()), time.monotonic())
        with self._lock:
            now = time.monotonic()
            for sid in [s.id for s in self._sessions.values() if self._expired(s, now)]:
                del self._sessions[sid]
            self._sessions[session.id] = session
        return session

    def session(self, sid: str | None) -> Session | None:
        """The live session `sid`, touched; None if unknown or idle for too long."""
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            now = time.monotonic()
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[sid]
                return None
            session.last_used = now
            return session

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_used > self.session_timeout

    def end_session(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def expire_all_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    def issue_token(self, user: str) -> AliasToken:
        now_ms = int(time.time() * 1000)
        alphabet = string.ascii_letters + string.digits
        with self._lock:
            token = AliasToken(
                alias=str(uuid.uuid4()),
                secret="".join(secrets.choice(alphabet) for _ in range(64)),
                user=user,
                number=len(self._tokens) + 1,
                created_ms=now_ms,
                expires_ms=now_ms + int(self.token_lifetime * 1000),
            )
            self._tokens[token.alias] = token
        return token


class LocalXnatServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its open connections, so it can stop cleanly."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: LocalXnat) -> None:
        self.app = app
        self._active_lock = threading.Lock()
        self._active: dict[threading.Thread, socket.socket] = {}
        super().__init__(address, Handler)
        host, port = self.server_address[:2]
        self.url = f"http://{_url_host(str(host))}:{port}"
        app.base_url = self.url

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        thread = threading.Thread(
            target=self._run_request,
            args=(request, client_address),
            name="localxnat-request",
            daemon=True,
        )
        with self._active_lock:
            self._active[thread] = request
        thread.start()

    def _run_request(self, request: socket.socket, client_address: object) -> None:
        try:
            self.process_request_thread(request, client_address)  # type: ignore[arg-type]
        finally:
            with self._active_lock:
                self._active.pop(threading.current_thread(), None)

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut open keep-alive connections, wait for handlers, close."""
        self.shutdown()
        with self._active_lock:
            active = dict(self._active)
        for sock in active.values():
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in active:
            thread.join(timeout)
        self.server_close()
        self.app.store.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def make_server(
    root: Path,
    *,
    users: dict[str, str] | None = None,
    readonly_users: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
    faults: Faults | None = None,
) -> LocalXnatServer:
    """Bind a server (not yet serving). `users=None` means the single account admin:admin."""
    app = LocalXnat(
        Path(root),
        users={"admin": "admin"} if users is None else users,
        readonly_users=readonly_users or {},
        session_timeout=session_timeout,
        token_lifetime=token_lifetime,
        faults=faults,
    )
    return LocalXnatServer((host, port), app)


@contextmanager
def serve(
    root: Path,
    *,
    users: dict[str, str] | None = None,
    readonly_users: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
    faults: Faults | None = None,
) -> Iterator[str]:
    """Run a server in a background thread; yield its base URL; stop it cleanly on exit."""
    server = make_server(
        root,
        users=users,
        readonly_users=readonly_users,
        host=host,
        port=port,
        session_timeout=session_timeout,
        token_lifetime=token_lifetime,
        faults=faults,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="localxnat", daemon=True
    )
    thread.start()
    log.info("local XNAT serving %s on %s", root, server.url)
    try:
        yield server.url
    finally:
        server.close()
        thread.join()


class _DropConnectionError(Exception):
    """Close the connection abruptly without answering (the drop_mid_upload fault)."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus delayed ACK
    # holds every answer back ~40 ms on keep-alive connections.
    disable_nagle_algorithm = True
    server_version = "localxnat"
    sys_version = ""
    timeout = 120
    server: LocalXnatServer

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        app = self.server.app
        split = urlsplit(self.path)
        length_header = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            length = None if chunked or length_header is None else int(length_header)
        except ValueError:
            length = 0
        req = Request(
            method=self.command,
            path=split.path,
            query_string=split.query,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=BodyReader(self.rfile, length, chunked),
            chunked=chunked,
            length=length,
        )
        fired = app.faults.take(req.method, req.path) if app.faults else []
        kinds = {rule.kind: rule for rule in fired}
        response: Response | None = None
        try:
            if "slow" in kinds:
                time.sleep(kinds["slow"].delay)
            if "expire_sessions" in kinds:
                app.expire_all_sessions()
            if "drop_mid_upload" in kinds:
                self._drop(req, kinds["drop_mid_upload"].fraction)
            if "error_500_after_body" in kinds:
                req.body.drain()
                response = restlet_error(500)
            else:
                partial = kinds["partial_store"].fraction if "partial_store" in kinds else None
                response = Dispatcher(app, req, partial).run()
            if "timeout_504_after_store" in kinds:
                response = Response(504, pages.gateway_timeout_page(), "text/html")
        except _DropConnectionError:
            self.close_connection = True
        except (ConnectionError, TimeoutError) as exc:
            log.info("connection lost during %s %s: %s", req.method, req.path, exc)
            self.close_connection = True
        if app.faults:
            status = response.status if response is not None else None
            app.faults.record(
                RequestRecord(req.method, req.path, req.query_string, status, req.user)
            )
        if response is None:
            return
        try:
            self._send(req, response)
        except (ConnectionError, TimeoutError) as exc:
            log.info("connection lost answering %s %s: %s", req.method, req.path, exc)
            self.close_connection = True

    def _drop(self, req: Request, fraction: float) -> None:
        total = req.length if req.length is not None else 2 * CHUNK
        to_read = max(1, int(total * fraction)) if total else 0
        while to_read > 0 and not req.body.done:
            to_read -= len(req.body.read(min(CHUNK, to_read)))
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise _DropConnectionError

    def _send(self, req: Request, response: Response) -> None:
        try:
            req.body.drain()
        except (ConnectionError, ValueError):
            self.close_connection = True
        self.send_response(response.status, "")
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        size = response.file.stat().st_size if response.file else len(response.body)
        self.send_header("Content-Length", str(size))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if req.method == "HEAD":
            return
        if response.file is None:
            self.wfile.write(response.body)
            return
        with response.file.open("rb") as src:
            shutil.copyfileobj(src, self.wfile, CHUNK)


class Dispatcher:
    """Authenticates one request and routes it to the resource that answers it."""

    def __init__(self, app: LocalXnat, req: Request, partial: float | None) -> None:
        self.app = app
        self.store = app.store
        self.req = req
        self.partial = partial
        self.session: Session | None = None
        self.cookie: str | None = None

    def run(self) -> Response:
        auth = self._authenticate()
        if auth is not None:
            return auth
        try:
            response = self._route()
        except HttpError as exc:
            response = restlet_error(exc.status, exc.message)
        except UploadError as exc:
            response = restlet_error(exc.status, str(exc))
        except (ConnectionError, TimeoutError):
            raise
        except Exception:
            log.exception("internal error on %s %s", self.req.method, self.req.path)
            response = restlet_error(500)
        if self.cookie:
            response.headers.append(("Set-Cookie", _session_cookie(self.cookie)))
        return response

    # Authentication

    def _authenticate(self) -> Response | None:
        """None when the request may go on (possibly as a guest), else the refusal."""
        req = self.req
        sid = _cookie(req.headers.get("cookie", ""), "JSESSIONID")
        credentials = _basic(req.headers.get("authorization", ""))
        if credentials is not None:
            user = self.app.check_password(*credentials)
            if user is None:
                log.info("bad credentials for %r on %s", credentials[0], req.path)
                return Response(
                    401, pages.tomcat_page(401, pages.LOGIN_FAILURE), _CONTENT_TYPES["html"]
                )
            session = self.app.session(sid)
            if session is None or session.user != user:
                session = self.app.new_session(user)
                self.cookie = session.id
            self.session, req.user = session, user
            return None
        self.session = self.app.session(sid)
        if self.session is not None:
            req.user = self.session.user
        if req.user is not None or _normalise(req.path) in OPEN_PATHS:
            return None
        agent = req.headers.get("user-agent", "")
        browser = (
            _BROWSER_RE.search(agent) is not None
            and "XNATDesktopClient" not in agent
            and req.headers.get("x-requested-with", "") != "XMLHttpRequest"
        )
        if browser:
            guest = self.app.new_session(None)
            guest.saved_url = req.path + (f"?{req.query_string}" if req.query_string else "")
            return Response(
                302,
                b"",
                "text/plain",
                [("Location", LOGIN_PAGE), ("Set-Cookie", _session_cookie(guest.id))],
            )
        return Response(
            401,
            pages.tomcat_page(401, "Full authentication is required to access this resource"),
            _CONTENT_TYPES["html"],
            [("WWW-Authenticate", f'Basic realm="{REALM}"')],
        )

    def _ensure_session(self) -> Session:
        if self.session is None:
            self.session = self.app.new_session(self.req.user)
            self.cookie = self.session.id
        return self.session

    # Routing

    def _route(self) -> Response:
        req = self.req
        path = _normalise(req.path)
        segments = [unquote(s) for s in path.split("/")[1:]]
        if path == LOGIN_PAGE:
            return self._login_page()
        if segments[:2] == ["xapi", "siteConfig"]:
            return self._site_config(segments[2:])
        if segments[:1] != ["data"]:
            raise HttpError(404)
        rest = segments[1:]
        match rest:
            case ["JSESSION"]:
                return self._jsession()
            case ["auth"]:
                self._methods("GET")
                return self._text(f"User '{req.user}' is logged in" + self._csrf_suffix())
            case ["services", "auth"]:
                return self._services_auth()
            case ["services", "tokens", "issue"]:
                return self._issue_token()
            case ["projects"]:
                self._methods("GET")
                return self._project_list()
            case ["projects", pid]:
                return self._project(pid)
            case ["projects", pid, "subjects"]:
                self._methods("GET")
                project = self._visible_project(pid)
                return self._subject_list(project)
            case ["projects", pid, "subjects", label]:
                return self._subject(pid, label)
            case ["projects", pid, "subjects", label, "experiments"]:
                self._methods("GET")
                project = self._visible_project(pid)
                subject = self.store.subject(project.id, label)
                if subject is None:
                    raise HttpError(404, "Unable to identify subject")
                return self._experiment_list(self.store.experiments(subject_id=subject.id))
            case ["projects", pid, "subjects", label, "experiments", exp, *tail]:
                return self._project_experiment(pid, exp, tail, subject_label=label)
            case ["projects", pid, "experiments"]:
                self._methods("GET")
                project = self._visible_project(pid)
                return self._experiment_list(self.store.experiments(project=project.id))
            case ["projects", pid, "experiments", exp, *tail]:
                return self._project_experiment(pid, exp, tail, subject_label=None)
            case ["experiments"]:
                self._methods("GET")
                project_filter = req.query.get("project")
                return self._experiment_list(self.store.experiments(project=project_filter))
            case ["experiments", eid, *tail]:
                experiment = self.store.experiment_by_id(eid)
                if experiment is None:
                    if not tail:
                        raise HttpError(404, "Unable to find the specified experiment.")
                    raise HttpError(404, "Unable to identify experiment")
                base = f"/data/experiments/{experiment.id}"
                return self._experiment_or_below(experiment, tail, base)
            case ["subjects", sid]:
                self._methods("GET")
                subject = self.store.subject_by_id(sid)
                if subject is None:
                    raise HttpError(404, "Unable to find the specified subject.")
                return self._subject_item(subject)
        raise HttpError(404)

    def _methods(self, *allowed: str) -> None:
        if self.req.method not in allowed:
            raise HttpError(405)

    def _text(self, text: str, status: int = 200) -> Response:
        return Response(status, text.encode(), "text/plain")

    def _csrf_suffix(self) -> str:
        if self.req.flag("CSRF"):
            return f"; XNAT_CSRF={self._ensure_session().csrf}"
        return ""

    # Site configuration, sessions, tokens

    def _site_config(self, rest: list[str]) -> Response:
        self._methods("GET")
        match rest:
            case ["buildInfo"]:
                return _json(_build_info())
            case ["siteId"]:
                return self._text(REALM)
            case ["siteUrl"]:
                return self._text(self.app.base_url)
        raise HttpError(404)

    def _jsession(self) -> Response:
        if self.req.method == "DELETE":
            if self.session is not None:
                self.app.end_session(self.session.id)
                self.cookie = None
            return Response(200)
        self._methods("GET", "POST")
        session = self._ensure_session()
        return self._text(session.id + self._csrf_suffix())

    def _services_auth(self) -> Response:
        self._methods("PUT", "POST")
        form = dict(parse_qsl(self._read_small_body(), keep_blank_values=True))
        user = form.get("username") or form.get("j_username") or ""
        password = form.get("password") or form.get("j_password") or ""
        account = self.app.check_password(user, password) if user else None
        if account is None:
            raise HttpError(401, "Authentication failed.")
        self.req.user = account
        self.session = self.app.new_session(account)
        self.cookie = self.session.id
        return self._text(self.session.id)

    def _login_page(self) -> Response:
        """XNAT's login form, enough for a browser following an "Open in XNAT" link."""
        self._methods("GET", "POST")
        if self.req.method == "GET":
            return Response(200, pages.login_page(), _CONTENT_TYPES["html"])
        form = dict(parse_qsl(self._read_small_body(), keep_blank_values=True))
        account = self.app.check_password(form.get("username", ""), form.get("password", ""))
        if account is None:
            return Response(200, pages.login_page(pages.LOGIN_FAILURE), _CONTENT_TYPES["html"])
        target = (self.session.saved_url if self.session else "") or "/data/projects?format=html"
        self.req.user = account
        self.session = self.app.new_session(account)
        self.cookie = self.session.id
        return Response(302, b"", "text/plain", [("Location", target)])

    def _read_small_body(self) -> str:
        data = b""
        while not self.req.body.done and len(data) < 65536:
            data += self.req.body.read(65536)
        return data.decode("utf-8", "replace")

    def _issue_token(self) -> Response:
        self._methods("GET")
        assert self.req.user is not None
        token = self.app.issue_token(self.req.user)
        return _json(
            {
                "alias": token.alias,
                "secret": token.secret,
                "xdatUserId": token.user,
                "singleUse": False,
                "estimatedExpirationTime": token.expires_ms,
                "validIPAddresses": [],
                "id": token.number,
                "enabled": True,
                "created": token.created_ms,
                "timestamp": token.created_ms,
                "disabled": 0,
            }
        )

    # Projects

    def _visible_project(self, pid: str, message: str | None = None) -> Project:
        project = self.store.project(pid)
        if project is None:
            raise HttpError(404, message)
        return project

    def _project_list(self) -> Response:
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
            for p in self.store.projects()
        ]
        return self._listing(rows, title="Projects", total=True)

    def _project(self, pid: str) -> Response:
        req, user = self.req, self.req.user
        if req.method == "GET":
            project = self._visible_project(pid, "Unable to find the specified experiment.")
            return self._project_item(project)
        if req.method == "DELETE":
            project = self._visible_project(pid)
            if not self.app.can_edit(user, project):
                raise HttpError(403, f"User {user} doesn't have permission to delete this project.")
            self.store.delete_project(project.id, remove_files=req.flag("removeFiles"))
            return Response(200)
        self._methods("PUT")
        if not _ID_RE.match(pid):
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
        existing = self.store.project(pid)
        if existing is not None:
            if not self.app.can_edit(user, existing):
                raise HttpError(
                    403, f"User {user} doesn't have permission to edit the project {pid}"
                )
            clash = self.store.project_clash(
                pid, [fields.get("name", ""), fields.get("secondary_id", "")]
            )
            if clash:
                raise HttpError(409, _clash_message(clash))
            if fields:
                self.store.update_project(pid, **fields)
            return Response(200)
        if self.app.is_readonly(user):
            raise HttpError(
                403, f"User {user} doesn't have permission to create projects on this system"
            )
        if self.store.was_deleted(pid):
            raise HttpError(
                403,
                f"Project '{pid}' was used in a previously deleted project and cannot be reused.",
            )
        name = fields.get("name", pid)
        secondary = fields.get("secondary_id", pid)
        clash = self.store.project_clash(pid, [pid, name, secondary])
        if clash:
            raise HttpError(409, _clash_message(clash))
        assert user is not None
        self.store.create_project(
            pid,
            name=name,
            secondary_id=secondary,
            description=fields.get("description", ""),
            owner=user,
        )
        log.info("project %s created by %s", pid, user)
        return Response(200)

    def _project_item(self, project: Project) -> Response:
        fmt = self.req.fmt("html")
        data = {
            "ID": project.id,
            "secondary_ID": project.secondary_id,
            "name": project.name,
            "description": project.description,
            "active": "true",
        }
        if fmt == "json":
            return _json(_items("xnat:projectData", data, project.insert_date, []))
        if fmt == "xml":
            return _xml_item("xnat:Project", data)
        subjects = self.store.subjects(project.id)
        table = [["Subject", "ID"]] + [[s.label, s.id] for s in subjects]
        experiments = [["Experiment", "ID", "Subject"]] + [
            [e.label, e.id, self._subject_label(e)]
            for e in self.store.experiments(project=project.id)
        ]
        body = pages.item_page(
            f"Project {project.id}",
            [("ID", project.id), ("Name", project.name), ("Owner", project.owner)],
            [("Subjects", table), ("Experiments", experiments)],
        )
        return Response(200, body, _CONTENT_TYPES["html"])

    # Subjects

    def _subject_label(self, experiment: Experiment) -> str:
        subject = self.store.subject_by_id(experiment.subject_id)
        return subject.label if subject else ""

    def _subject_list(self, project: Project) -> Response:
        rows = [
            {
                "ID": s.id,
                "project": s.project,
                "label": s.label,
                "insert_date": s.insert_date,
                "insert_user": s.insert_user,
                "URI": f"/data/subjects/{s.id}",
            }
            for s in self.store.subjects(project.id)
        ]
        return self._listing(rows, title="Subjects", total=True)

    def _subject(self, pid: str, label: str) -> Response:
        req, user = self.req, self.req.user
        if req.method == "GET":
            project = self._visible_project(pid, "Unable to find the specified subject.")
            subject = self.store.subject(project.id, label)
            if subject is None:
                raise HttpError(
                    404,
                    f"Unable to find the specified subject. The project {pid} does not contain "
                    f"a subject identifiable by the ID or label {label}.",
                )
            return self._subject_item(subject)
        if req.method == "DELETE":
            project = self._visible_project(pid)
            subject = self.store.subject(project.id, label)
            if subject is None:
                raise HttpError(404, "Unable to identify subject")
            if not self.app.can_edit(user, project):
                raise HttpError(
                    403,
                    "Specified user account has insufficient delete privileges for subjects "
                    "in this project.",
                )
            self.store.delete_subject(subject, remove_files=req.flag("removeFiles"))
            return Response(200)
        self._methods("PUT")
        project = self.store.project(pid)
        if project is None:
            raise HttpError(422, "Submitted subject record must include the project attribute.")
        if not self.app.can_edit(user, project):
            raise HttpError(
                403,
                "Specified user account has insufficient create privileges for subjects in this "
                "project.",
            )
        existing = self.store.subject(project.id, label)
        if existing is not None:
            return self._text(existing.id)
        _check_label(label, "xnat:subjectData/label")
        assert user is not None
        subject = self.store.create_subject(project.id, label, user)
        return self._text(subject.id, 201)

    def _subject_item(self, subject: Subject) -> Response:
        fmt = self.req.fmt("html")
        data = {"ID": subject.id, "label": subject.label, "project": subject.project}
        if fmt == "json":
            return _json(_items("xnat:subjectData", data, subject.insert_date, []))
        if fmt == "xml":
            return _xml_item("xnat:Subject", data)
        experiments = [["Experiment", "ID"]] + [
            [e.label, e.id] for e in self.store.experiments(subject_id=subject.id)
        ]
        body = pages.item_page(
            f"Subject {subject.label}",
            [("ID", subject.id), ("Label", subject.label), ("Project", subject.project)],
            [("Experiments", experiments)],
        )
        return Response(200, body, _CONTENT_TYPES["html"])

    # Experiments

    def _experiment_list(self, experiments: list[Experiment]) -> Response:
        rows = []
        for e in experiments:
            rows.append(
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
            )
        extras = {
            e.id: {"subject_ID": e.subject_id, "subject_label": self._subject_label(e)}
            for e in experiments
        }
        return self._listing(
            rows, title="Experiments", total=True, extras=lambda r: extras[r["ID"]]
        )

    def _project_experiment(
        self, pid: str, ident: str, tail: list[str], *, subject_label: str | None
    ) -> Response:
        req = self.req
        if not tail and req.method == "PUT":
            return self._put_experiment(pid, ident, subject_label)
        project = self._visible_project(pid, None if not tail else "Unable to identify project")
        if (
            subject_label is not None
            and self.store.subject(project.id, subject_label) is None
            and tail
        ):
            raise HttpError(404, "Unable to identify subject")
        experiment = self.store.experiment(project.id, ident)
        if experiment is None:
            if not tail:
                raise HttpError(404, "Unable to find the specified experiment.")
            raise HttpError(404, "Unable to identify experiment")
        base = (
            f"/data/projects/{project.id}/subjects/{experiment.subject_id}"
            f"/experiments/{experiment.id}"
        )
        return self._experiment_or_below(experiment, tail, base)

    def _put_experiment(self, pid: str, label: str, subject_label: str | None) -> Response:
        req, user = self.req, self.req.user
        project = self._visible_project(pid)
        if not self.app.can_edit(user, project):
            raise HttpError(
                403,
                "Specified user account has insufficient create privileges for experiments in this "
                "project.",
            )
        subject_label = subject_label or req.query.get("subject_ID")
        subject = self.store.subject(project.id, subject_label) if subject_label else None
        existing = self.store.experiment(project.id, label)
        if existing is not None:
            if subject is not None and subject.id != existing.subject_id:
                self.store.move_experiment(existing, subject.id)
            return self._text(existing.id)
        if not req.query.get("xsiType"):
            raise HttpError(417, "Need PUT Contents")
        if subject_label is None:
            raise HttpError(404, "Unable to identify subject")
        _check_label(label, "xnat:experimentData/label")
        assert user is not None
        if subject is None:
            _check_label(subject_label, "xnat:subjectData/label")
            subject = self.store.create_subject(project.id, subject_label, user)
        experiment = self.store.create_experiment(
            project.id,
            subject.id,
            label,
            xsi_type=req.query["xsiType"],
            date=req.query.get("date", ""),
            user=user,
        )
        log.info("experiment %s (%s) created in %s", label, experiment.id, project.id)
        return self._text(experiment.id, 201)

    def _experiment_or_below(self, experiment: Experiment, tail: list[str], base: str) -> Response:
        req = self.req
        match tail:
            case []:
                if req.method == "DELETE":
                    self._require_edit(
                        experiment, "User account doesn't have permission to delete this session."
                    )
                    self.store.delete_experiment(experiment, remove_files=req.flag("removeFiles"))
                    return Response(200)
                self._methods("GET")
                return self._experiment_item(experiment)
            case ["resources"] | ["resources", ""]:
                self._methods("GET")
                return self._resource_list(experiment)
            case ["resources", ident] | ["resources", ident, ""]:
                return self._resource(experiment, ident)
            case ["resources", ident, "files", *path]:
                return self._files(experiment, ident, "/".join(path), base)
            case ["resources", _ident, *_other] if req.method in ("PUT", "POST"):
                raise HttpError(
                    400,
                    "This resource works at the catalog level only and does not accept file paths. "
                    "Use the files sub-resource to work with files.",
                )
        raise HttpError(404)

    def _require_edit(self, experiment: Experiment, message: str) -> Project:
        project = self.store.project(experiment.project)
        assert project is not None
        if not self.app.can_edit(self.req.user, project):
            raise HttpError(403, message)
        return project

    def _experiment_item(self, experiment: Experiment) -> Response:
        fmt = self.req.fmt("html")
        resources = self.store.resources(experiment.id)
        data = {
            "ID": experiment.id,
            "label": experiment.label,
            "project": experiment.project,
            "subject_ID": experiment.subject_id,
        }
        if experiment.date:
            data["date"] = experiment.date
        if experiment.xsi_type.lower() == "xnat:mrsessiondata":
            data["modality"] = "MR"
        if fmt == "json":
            children = (
                [
                    {
                        "field": "resources/resource",
                        "items": [
                            _items(
                                "xnat:resourceCatalog",
                                {
                                    "xnat_abstractresource_id": r.id,
                                    "label": r.label,
                                    "format": r.format,
                                    "content": r.content,
                                    "file_count": r.file_count,
                                    "file_size": r.file_size,
                                },
                                experiment.insert_date,
                                [],
                            )["items"][0]
                            for r in resources
                        ],
                    }
                ]
                if resources
                else []
            )
            return _json(_items(experiment.xsi_type, data, experiment.insert_date, children))
        if fmt == "xml":
            return _xml_item("xnat:MRSession", data)
        table = [["Resource", "Files", "Bytes"]] + [
            [r.label, _str(r.file_count), _str(r.file_size)] for r in resources
        ]
        body = pages.item_page(
            f"Experiment {experiment.label}",
            [
                ("Label", experiment.label),
                ("Accession ID", experiment.id),
                ("Project", experiment.project),
                ("Subject", self._subject_label(experiment)),
                ("Type", experiment.xsi_type),
                ("Created", experiment.insert_date),
            ],
            [("Resources", table)],
        )
        return Response(200, body, _CONTENT_TYPES["html"])

    # Resources

    def _resource_list(self, experiment: Experiment) -> Response:
        rows = [
            {
                "xnat_abstractresource_id": str(r.id),
                "label": r.label,
                "element_name": "xnat:resourceCatalog",
                "category": "resources",
                "cat_id": experiment.id,
                "cat_desc": " ",
                "file_count": _str(r.file_count),
                "file_size": _str(r.file_size),
                "tags": r.tags,
                "content": r.content,
                "format": r.format,
            }
            for r in self.store.resources(experiment.id)
        ]
        return self._listing(rows, title="Resources", total=True)

    def _resource(self, experiment: Experiment, ident: str) -> Response:
        req = self.req
        resource = self.store.resource(experiment.id, ident)
        if req.method == "GET":
            if resource is None:
                raise HttpError(404)
            return Response(200, self.store.catalog_path(resource).read_bytes(), "text/xml")
        if req.method == "DELETE":
            self._require_edit(
                experiment, "User account doesn't have permission to modify this session."
            )
            if resource is not None:
                self.store.delete_resource(resource)
            return Response(200)
        self._methods("PUT", "POST")
        self._require_edit(
            experiment, "User account doesn't have permission to modify this session."
        )
        if resource is not None:
            raise HttpError(409, "Specified resource already exists.")
        self._create_resource(experiment, ident)
        return Response(200)

    def _create_resource(self, experiment: Experiment, label: str) -> Resource:
        # The label becomes a folder name: one plain path segment, never a way out of the archive.
        if label in ("", ".", "..") or any(c in label for c in "/\\\0"):
            raise HttpError(400, f"Invalid resource label: {label!r}.")
        q = self.req.query
        return self.store.create_resource(
            experiment,
            label,
            fmt=q.get("format", ""),
            content=q.get("content", ""),
            tags=q.get("tags", ""),
            desc=q.get("description", ""),
        )

    # Files

    def _files(self, experiment: Experiment, ident: str, path: str, base: str) -> Response:
        req = self.req
        if req.method in ("PUT", "POST"):
            return self._upload(experiment, ident, path)
        resource = self.store.resource(experiment.id, ident)
        if req.method == "DELETE":
            if resource is None:
                raise HttpError(400, "Unable to determine resource, parent, or security.")
            self._require_edit(
                experiment, "User account doesn't have permission to modify this session."
            )
            removed = self.store.delete_files(
                resource, path.rstrip("/"), remove_files=req.flag("removeFiles", default=True)
            )
            if not removed:
                raise HttpError(404, "No matched files")
            return Response(200)
        self._methods("GET")
        if path and not path.endswith("/"):
            if resource is None:
                raise HttpError(404, "Unable to find catalog entry for given uri.")
            entry = self.store.file(resource, path)
            if entry is None:
                raise HttpError(404, "Unable to find catalog entry for given uri.")
            target = self.store.resource_dir(resource) / entry.path
            if not target.is_file():
                raise HttpError(404, "Unable to find file.")
            return Response(200, content_type="application/octet-stream", file=target)
        return self._file_list(resource, path, base)

    def _file_list(self, resource: Resource | None, folder: str, base: str) -> Response:
        rows = []
        if resource is not None:
            recursive = self.req.flag("recursive", default=True)
            for entry in self.store.files(resource):
                if folder and not entry.path.startswith(folder):
                    continue
                if not recursive and "/" in entry.path[len(folder) :]:
                    continue
                rows.append(
                    {
                        "Name": Path(entry.path).name,
                        "Size": str(entry.size),
                        "URI": f"{base}/resources/{resource.id}/files/{quote(entry.path)}",
                        "collection": resource.label,
                        "file_tags": entry.tags,
                        "file_format": entry.format,
                        "file_content": entry.content,
                        "cat_ID": str(resource.id),
                        "digest": entry.digest,
                    }
                )
        return self._listing(
            rows,
            title="Files",
            total=False,
            columns=[{"key": "URI", "serverRoot": ""}],
            extras=lambda r: {"path": unquote(r["URI"].split("/files/", 1)[1])},
        )

    def _upload(self, experiment: Experiment, ident: str, path: str) -> Response:
        req = self.req
        project = self.store.project(experiment.project)
        assert project is not None
        if not self.app.can_edit(req.user, project):
            req.body.drain()  # XNAT silently ignores an upload the caller may not make
            return Response(200)
        staging = self.store.staging_dir(experiment)
        try:
            received = self._receive(path, staging)
            staged: list[StagedFile] = []
            for name, item in received:
                rel = safe_relpath(name)
                if rel is None:
                    raise UploadError(400, f"Invalid file path '{name}'.")
                kind = archive_kind(name) if req.flag("extract") else None
                if kind:
                    staged += extract(kind, item.staged, name, staging, self.partial or 1.0)
                elif self.partial is None:
                    staged.append(StagedFile(rel, item.staged, item.size, item.digest))
            resource = self.store.resource(experiment.id, ident)
            if resource is None:
                resource = self._create_resource(experiment, ident)
            q = req.query
            assert req.user is not None
            duplicates = self.store.add_files(
                resource,
                staged,
                overwrite=req.flag("overwrite"),
                user=req.user,
                fmt=q.get("format", ""),
                content=q.get("content", ""),
                tags=q.get("tags", ""),
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info(
            "stored %d file(s) in %s/%s (%d duplicate(s))",
            len(staged) - len(duplicates),
            experiment.label,
            resource.label,
            len(duplicates),
        )
        if duplicates:
            return Response(200, json.dumps({"duplicates": duplicates}).encode(), "text/html")
        return Response(200)

    def _receive(self, path: str, staging: Path) -> list[tuple[str, StagedFile]]:
        """Stream the body into `staging`; return `(stored name, staged file)` pairs."""
        req = self.req
        content_type = req.headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        inbody = req.flag("inbody")
        size = -1 if req.chunked else (req.length or 0)
        no_data = (
            f"You tried to {req.method} a payload of {max(size, 0)} to this service, but didn't "
            "provide any data{detail}. If you think you sent data to upload, you can try to "
            f"{req.method} with the query-string parameter inbody=true or use multipart/form-data "
            "encoding."
        )
        if media == "multipart/form-data":
            if inbody:
                raise UploadError(
                    406,
                    "In-body File posts must include the file directly as the body of the message "
                    "(not as part of multi-part form data).",
                )
            boundary = _header_param(content_type, "boundary")
            if not boundary:
                raise UploadError(400, "Multipart body without a boundary.")
            files, _fields = parse_multipart(req.body, boundary, staging)
            if not files:
                raise UploadError(400, no_data.format(detail=""))
            if path and len(files) == 1:
                return [(path, files[0][1])]
            return files
        if size == 0:
            raise UploadError(400, no_data.format(detail=" (found request entity size of 0)"))
        if not (inbody or media in _RAW_TYPES or media.startswith(("image/", "video/"))):
            raise UploadError(400, no_data.format(detail=""))
        if size < 0 and media != "application/zip":
            raise UploadError(
                500,
                "In-body File posts must include the file directly as the body of the message. In "
                f"this case, the request entity size is -1 but the media type is not "
                f"application/zip ({media or 'none'}).",
            )
        name = path or "upload" + _UPLOAD_SUFFIX.get(media, "")
        return [(name, copy_hashed(req.body.read, staging / "raw"))]

    # Listings

    def _listing(
        self,
        rows: list[dict[str, str]],
        *,
        title: str,
        total: bool,
        columns: list[dict[str, str]] | None = None,
        extras: Callable[[dict[str, str]], dict[str, str]] | None = None,
    ) -> Response:
        """A ResultSet in JSON (default), CSV or HTML, with any requested `columns` added."""
        requested = [c for c in self.req.query.get("columns", "").split(",") if c]
        defaults = list(rows[0]) if rows else []
        wanted = requested + [c for c in defaults if c not in requested]
        out = []
        for row in rows:
            extra = extras(row) if extras else {}
            out.append({c: row.get(c, extra.get(c, "")) for c in wanted})
        fmt = self.req.fmt("json")
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(wanted)
            writer.writerows([[row[c] for c in wanted] for row in out])
            return Response(200, buffer.getvalue().encode(), _CONTENT_TYPES["csv"])
        if fmt == "html":
            table = [wanted] + [[row[c] for c in wanted] for row in out]
            return Response(
                200, pages.item_page(title, [], [(title, table)]), _CONTENT_TYPES["html"]
            )
        result_set: dict[str, object] = {"Result": out, "title": title}
        if columns:
            result_set["Columns"] = columns
        if total:
            result_set["totalRecords"] = str(len(out))
        return _json({"ResultSet": result_set})


def _normalise(path: str) -> str:
    """Map `/data/archive/...` and `/REST/...` onto `/data/...`."""
    if path.startswith("/REST/") or path == "/REST":
        path = "/data" + path[len("/REST") :]
    if path.startswith("/data/archive/"):
        path = "/data/" + path[len("/data/archive/") :]
    return path


def _session_cookie(sid: str) -> str:
    return f"JSESSIONID={sid}; Path=/; HttpOnly"


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    user, _, password = decoded.partition(":")
    return user, password


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"')
    return None


def _header_param(header: str, name: str) -> str | None:
    match = re.search(rf'{name}=(?:"([^"]*)"|([^;\s]*))', header, re.IGNORECASE)
    return (match.group(1) or match.group(2)) if match else None


def _check_label(label: str, field_name: str) -> None:
    if len(label) > _MAX_LABEL:
        raise HttpError(400, f"{field_name} : Must Be Less Than {_MAX_LABEL} Characters")
    if not _ID_RE.match(label):
        raise HttpError(500)


def _clash_message(value: str) -> str:
    return (
        "Requested new project conflicts with existing projects: Invalid Project Id: "
        f"'{value}' is already being used."
    )


def _str(value: int | None) -> str:
    return "" if value is None else str(value)


def _json(data: object) -> Response:
    return Response(200, json.dumps(data).encode(), _CONTENT_TYPES["json"])


def _items(xsi_type: str, data: dict[str, object], start: str, children: list) -> dict:
    return {
        "items": [
            {
                "children": children,
                "meta": {
                    "create_event_id": 1,
                    "xsi:type": xsi_type,
                    "isHistory": False,
                    "start_date": start,
                },
                "data_fields": data,
            }
        ]
    }


def _xml_item(tag: str, data: dict[str, str]) -> Response:
    attrs = " ".join(f"{k}={quoteattr(str(v))}" for k, v in data.items())
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag} {attrs} '
        'xmlns:xnat="http://nrg.wustl.edu/xnat" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>\n'
    )
    return Response(200, body.encode(), "text/xml")


def _build_info() -> dict[str, str]:
    return {
        "version": XNAT_VERSION,
        "buildNumber": "localxnat",
        "buildDate": "Thu Jan 01 00:00:00 UTC 2024",
        "sha": "0000000",
        "isDirty": "false",
        "timestamp": "0",
        "hostName": socket.gethostname(),
        "displayHostName": "localxnat",
        "nodeId": "",
        "branch": "localxnat",
        "commit": "0000000",
        "tag": XNAT_VERSION,
        "shaFull": "0" * 40,
    }
