"""Accounts, JSESSIONID sessions, alias tokens and authentication (xnat-rest.md §1).

`Accounts` holds the users and the live sessions and tokens (thread-safe). `authenticate`
decides whether a request may go on; the routes below it answer `/data/JSESSION`,
`/data/auth`, `/data/services/auth`, `/data/services/tokens/issue` and the login page.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from . import pages
from .exchange import CONTENT_TYPES, Call, HttpError, Response, text
from .render import json_response
from .store import Project

log = logging.getLogger(__name__)

REALM = "XNAT"
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
_BROWSER_RE = re.compile(r"MSIE|Mozilla|AppleWebKit|Opera")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII passwords (UTF-8)."""
    return hmac.compare_digest(expected.encode(), given.encode())


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


class Accounts:
    """Users (owners and read-only members), live sessions and alias tokens; thread-safe."""

    def __init__(
        self,
        users: dict[str, str],
        readonly_users: dict[str, str],
        *,
        session_timeout: float,
        token_lifetime: float,
    ) -> None:
        self.users = dict(users)
        self.readonly_users = dict(readonly_users)
        self.session_timeout = session_timeout
        self.token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._tokens: dict[str, AliasToken] = {}

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


# Authentication


def authenticate(call: Call, path: str) -> Response | None:
    """None when the request may go on (possibly as a guest), else the refusal.

    `path` is the normalised request path (`/data/...`), checked against the open paths.
    """
    req, accounts = call.req, call.accounts
    sid = _cookie(req.headers.get("cookie", ""), "JSESSIONID")
    credentials = _basic(req.headers.get("authorization", ""))
    if credentials is not None:
        user = accounts.check_password(*credentials)
        if user is None:
            log.info("bad credentials for %r on %s", credentials[0], req.path)
            return Response(401, pages.tomcat_page(401, pages.LOGIN_FAILURE), CONTENT_TYPES["html"])
        session = accounts.session(sid)
        if session is None or session.user != user:
            session = call.start_session(user)
        call.session, req.user = session, user
        return None
    call.session = accounts.session(sid)
    if call.session is not None:
        req.user = call.session.user
    if req.user is not None or path in OPEN_PATHS:
        return None
    agent = req.headers.get("user-agent", "")
    browser = (
        _BROWSER_RE.search(agent) is not None
        and "XNATDesktopClient" not in agent
        and req.headers.get("x-requested-with", "") != "XMLHttpRequest"
    )
    if browser:
        guest = accounts.new_session(None)
        guest.saved_url = req.path + (f"?{req.query_string}" if req.query_string else "")
        return Response(
            302,
            b"",
            "text/plain",
            [("Location", LOGIN_PAGE), ("Set-Cookie", session_cookie(guest.id))],
        )
    return Response(
        401,
        pages.tomcat_page(401, "Full authentication is required to access this resource"),
        CONTENT_TYPES["html"],
        [("WWW-Authenticate", f'Basic realm="{REALM}"')],
    )


def session_cookie(sid: str) -> str:
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


# Routes


def whoami(call: Call) -> Response:
    """`GET /data/auth`."""
    call.methods("GET")
    return text(f"User '{call.req.user}' is logged in" + call.csrf_suffix())


def jsession(call: Call) -> Response:
    """`/data/JSESSION`: GET/POST opens (or returns) a session, DELETE ends it."""
    if call.req.method == "DELETE":
        if call.session is not None:
            call.accounts.end_session(call.session.id)
            call.cookie = None
        return Response(200)
    call.methods("GET", "POST")
    session = call.ensure_session()
    return text(session.id + call.csrf_suffix())


def services_auth(call: Call) -> Response:
    """`/data/services/auth`: a form login answering with the new session id."""
    call.methods("PUT", "POST")
    form = dict(parse_qsl(call.req.small_body(), keep_blank_values=True))
    user = form.get("username") or form.get("j_username") or ""
    password = form.get("password") or form.get("j_password") or ""
    account = call.accounts.check_password(user, password) if user else None
    if account is None:
        raise HttpError(401, "Authentication failed.")
    call.req.user = account
    return text(call.start_session(account).id)


def login_page(call: Call) -> Response:
    """XNAT's login form, enough for a browser following an "Open in XNAT" link."""
    call.methods("GET", "POST")
    if call.req.method == "GET":
        return Response(200, pages.login_page(), CONTENT_TYPES["html"])
    form = dict(parse_qsl(call.req.small_body(), keep_blank_values=True))
    account = call.accounts.check_password(form.get("username", ""), form.get("password", ""))
    if account is None:
        return Response(200, pages.login_page(pages.LOGIN_FAILURE), CONTENT_TYPES["html"])
    target = (call.session.saved_url if call.session else "") or "/data/projects?format=html"
    call.req.user = account
    call.start_session(account)
    return Response(302, b"", "text/plain", [("Location", target)])


def issue_token(call: Call) -> Response:
    """`GET /data/services/tokens/issue` (xnat-rest.md §1.4)."""
    call.methods("GET")
    assert call.req.user is not None
    token = call.accounts.issue_token(call.req.user)
    return json_response(
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
