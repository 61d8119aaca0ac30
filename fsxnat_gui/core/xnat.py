"""The one strict XNAT adapter: every call to the server goes through `XnatClient`.

It is built on pyxnat's `Interface` (non-interactive) but only uses its `requests.Session`
(`interface._http`), because pyxnat's object layer hides failures (reference/pyxnat.md): the
first-request error is swallowed and the API falls back to `/REST`, `exists()` reads any error as
"does not exist", there are no timeouts, XML error bodies end in `UnboundLocalError`, a missing
upload path uploads the path string, and a redirect turns an upload POST into a bodiless GET.

What this adapter does instead:

- URLs are built here under `/data` (never `/REST`); pyxnat's entry point is never resolved.
- One cookie jar and HTTP Basic on every request, so when the XNAT session (JSESSIONID, 15 min
  idle by default) expires during a long batch, the server re-authenticates the next request and
  sets a new cookie. A 401 on a request that carried a cookie is retried once without cookies.
- Connect and read timeouts on every call; a non-browser User-Agent (a browser-like one makes
  XNAT demand CSRF tokens and answer with login pages); no redirects followed.
- Certificate checking (`verify`) is passed on every call so that `REQUESTS_CA_BUNDLE` /
  `CURL_CA_BUNDLE` cannot override the user's choice of a CA bundle or of no checking.
- Every failure is a typed `XnatError` whose `str()` is one sentence fit for the user; a 404 is
  `NotFound` and nothing else is ever read as "does not exist". Messages and logs never contain
  request headers, cookies, passwords or tokens.
- Uploads stream the zip with a Content-Length, report bytes sent, can be cancelled mid-upload,
  and treat the server's `duplicates` answer as a `Conflict`.

Thread safety: a client (like the `requests.Session` under it) must be used by one thread at a
time. Create one client per worker thread; the GUI never uses a client while a job runs with it.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests
from pyxnat import Interface

from fsxnat_gui import USER_AGENT
from fsxnat_gui.core.errors import (
    ArchiveError,
    AuthError,
    Cancelled,
    Conflict,
    NetworkError,
    NotFound,
    PermissionDenied,
    ServerError,
    TLSError,
    XnatError,
)
from fsxnat_gui.core.labels import label_problem
from fsxnat_gui.core.model import (
    AliasToken,
    RemoteExperiment,
    RemoteFile,
    RemoteResource,
    ServerInfo,
)

log = logging.getLogger(__name__)

_OK = range(200, 300)
# Statuses a create-PUT inspects itself before the generic mapping (see XnatClient._refused).
_OK_OR_REFUSED = frozenset((*_OK, 400, 417, 422, *range(500, 600)))
_MAX_MESSAGE = 300  # characters of a server message quoted in an error
_PROGRESS_INTERVAL = 0.05  # seconds between on_bytes calls (at most ~20 per second)
_H3 = re.compile(r"<h3[^>]*>(.*?)</h3>", re.IGNORECASE | re.DOTALL)
_TOMCAT_MESSAGE = re.compile(r"<p><b>Message</b>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_LOGGED_IN = re.compile(r"User '([^']+)' is logged in")
_FILE_IN_URI = re.compile(r"/resources/[^/]+/files/(.+)$")
_SESSION_COOKIE = "JSESSIONID"


# --- helpers: URLs and server messages --------------------------------------------------------


def _seg(value: str) -> str:
    """One URL path segment (labels are checked elsewhere; this only keeps the URL well-formed)."""
    return quote(value, safe="")


def _normalise_url(url: str) -> str:
    """Strip spaces, a trailing '/', and any user:password@ (credentials never live in the URL)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
        raise XnatError(f"'{url.strip()}' is not a valid server address: {exc}.") from None
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _server_message(response: requests.Response) -> str:
    """The server's own explanation: the Restlet `<h3>`, or a short plain-text body, else ""."""
    text = response.text or ""
    match = _TOMCAT_MESSAGE.search(text) or _H3.search(text)
    if match and not match.group(1).strip().startswith("Apache Tomcat"):
        message = _TAG.sub("", match.group(1))
    elif "<" not in text and len(text) <= _MAX_MESSAGE:
        message = text
    else:
        return ""
    message = " ".join(html.unescape(message).split())
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3].rstrip() + "..."
    return message


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype", "<html", "<?xml")) or "<html" in head


def _to_int(value: object) -> int | None:
    """ResultSet cells are strings; "" (a null) becomes None."""
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def _network_reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "the connection was refused"),
        ("Name or service not known", "the host name is unknown"),
        ("nodename nor servname", "the host name is unknown"),
        ("getaddrinfo failed", "the host name is unknown"),
        ("Temporary failure in name resolution", "the host name could not be resolved"),
        ("Connection reset", "the connection was reset"),
        ("Connection aborted", "the connection was closed by the server"),
        ("RemoteDisconnected", "the connection was closed by the server"),
        ("Network is unreachable", "the network is unreachable"),
        ("No route to host", "there is no route to the host"),
    ):
        if needle in text:
            return reason
    return "the connection failed"


def _tls_reason(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"certificate verify failed: ([^()'\"]+)", text)
    if match:
        return match.group(1).strip().rstrip(".")
    if "hostname" in text and "match" in text:
        return "the certificate was issued for another host name"
    return "the secure connection could not be established"


# --- the upload body --------------------------------------------------------------------------


class _UploadBody:
    """A file-like body for requests: `__len__` makes requests send a Content-Length (no chunked
    encoding, which XNAT only accepts for application/zip), and `read()` counts the bytes handed
    to the socket, reports them and stops the upload when `cancel` is set."""

    def __init__(
        self,
        file: BinaryIO,
        total: int,
        cancel: threading.Event | None,
        on_bytes: Callable[[int, int], None] | None,
        path: Path,
    ) -> None:
        self._file = file
        self._total = total
        self._cancel = cancel
        self._on_bytes = on_bytes
        self._path = path
        self._sent = 0
        self._last_report = 0.0

    def __len__(self) -> int:
        return self._total

    def rewind(self) -> None:
        """Start again from the first byte (a retried request sends the whole body again)."""
        self._file.seek(0)
        self._sent = 0
        self._last_report = 0.0

    def read(self, size: int = -1) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled("Upload cancelled by the user.")
        try:
            chunk = self._file.read(size)
        except OSError as exc:
            # Not an OSError any more: urllib3 would read one as a network failure.
            raise ArchiveError(
                f"Could not read {self._path.name} while uploading it ({exc.strerror or exc})."
            ) from None
        self._sent += len(chunk)
        if self._on_bytes is not None and chunk:
            now = time.monotonic()
            if self._sent >= self._total or now - self._last_report >= _PROGRESS_INTERVAL:
                self._last_report = now
                self._on_bytes(self._sent, self._total)
        return chunk


# --- the client -------------------------------------------------------------------------------


def _experiment_path(project: str, experiment: str) -> str:
    return f"/data/projects/{_seg(project)}/experiments/{_seg(experiment)}"


def experiment_web_url(url: str, project: str, experiment: str) -> str:
    """The experiment's page on the server at `url`, for a browser (no request is made)."""
    return f"{_normalise_url(url)}{_experiment_path(project, experiment)}?format=html"


class XnatClient:
    """A strict client for one XNAT server and one user (a password or an alias token).

    Construction sends nothing; `login()` checks the credentials for real. Use one client per
    thread (see the module docstring), and `close()` it (or use it as a context manager).

    `verify` is True (the system's trusted CAs), False (no certificate check) or the path of a CA
    bundle file. `timeout` is (connect, read) in seconds; the read timeout also bounds the wait
    for the answer to an upload, during which XNAT extracts the zip, computes checksums and
    writes its catalog synchronously, so it must allow for that on large zips.
    """

    def __init__(
        self,
        url: str,
        user: str,
        secret: str,
        *,
        verify: bool | str = True,
        timeout: tuple[float, float] = (10.0, 300.0),
    ) -> None:
        self.url = _normalise_url(url)
        self.user = user
        self._verify = verify
        self._timeout = timeout
        self._has_credentials = bool(user) and bool(secret)
        # pyxnat is constructed with everything it needs so it never prompts (input/getpass);
        # with an empty user or secret it would turn interactive, so it gets `anonymous` then and
        # `_request` refuses to send anything.
        if self._has_credentials:
            self._interface = Interface(server=self.url, user=user, password=secret, verify=verify)
        else:
            self._interface = Interface(server=self.url, anonymous=True, verify=verify)
        # Pin pyxnat's entry point so nothing can ever resolve it to the XNAT 1.4 `/REST` API;
        # this adapter builds every URL itself under /data.
        self._interface._entry = "/data"
        self._session: requests.Session = self._interface._http
        self._session.headers["User-Agent"] = USER_AGENT
        if self._has_credentials:
            # UTF-8 as XNAT's Basic filter decodes it (requests would encode str as Latin-1 and
            # fail on other characters).
            self._session.auth = (user.encode(), secret.encode())
        # pyxnat copies $http_proxy into the session, where it would override $no_proxy;
        # requests applies the proxy variables itself, no_proxy included.
        self._session.proxies.clear()
        if verify is False:
            log.warning("TLS certificate checking is off for %s", self.url)

    def __repr__(self) -> str:
        return f"XnatClient(url={self.url!r}, user={self.user!r})"

    @classmethod
    def from_config(cls, path: Path) -> XnatClient:
        """A client from a pyxnat JSON config file: `server`, `user`, `password`, optional `verify`.

        Unlike pyxnat, a string `verify` is used as the path of a CA bundle (pyxnat turns it into
        True and silently ignores the file); only JSON true/false switch checking on or off.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise XnatError(f"The configuration file {path} does not exist.") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "it is not UTF-8 text"
            raise XnatError(f"The configuration file {path} cannot be read ({reason}).") from None
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise XnatError(
                f"The configuration file {path} is not valid JSON (line {exc.lineno}, "
                f"column {exc.colno})."
            ) from None
        if not isinstance(config, dict):
            raise XnatError(f"The configuration file {path} must hold a JSON object.")
        missing = [k for k in ("server", "user", "password") if not isinstance(config.get(k), str)]
        if missing:
            raise XnatError(
                f"The configuration file {path} lacks {', '.join(missing)} "
                "(server, user and password are required, as text)."
            )
        verify = config.get("verify", True)
        if not isinstance(verify, bool | str):
            raise XnatError(
                f"In {path}, verify must be true, false or the path of a CA bundle file."
            )
        if isinstance(verify, str) and not Path(verify).expanduser().exists():
            raise XnatError(
                f"In {path}, verify names the CA bundle file {verify}, which does not exist."
            )
        if isinstance(verify, str):
            verify = str(Path(verify).expanduser())
        return cls(config["server"], config["user"], config["password"], verify=verify)

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """End the XNAT session (best effort) and close the connections."""
        try:
            if self._session_ids():
                self._request("DELETE", "/data/JSESSION", what="end the XNAT session")
        except XnatError as exc:
            log.debug("Could not end the XNAT session on %s: %s", self.url, exc)
        finally:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the one request path -------------------------------------------------------------

    def _session_ids(self) -> set[str]:
        return {c.value for c in self._session.cookies if c.name == _SESSION_COOKIE and c.value}

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        data: bytes | _UploadBody | None = None,
        headers: Mapping[str, str] | None = None,
        expected: Collection[int] = _OK,
    ) -> requests.Response:
        """Send one request to `<url><path>` and return the response if its status is expected.

        `what` completes "... trying to <what>" in error messages. Every failure becomes a typed
        XnatError; a 401 on a request that carried a session cookie is retried once without it.
        """
        if not self._has_credentials:
            raise AuthError(f"Enter a user name and a password or token for {self.url}.")
        if isinstance(self._verify, str) and not os.path.exists(self._verify):
            raise TLSError(
                f"The CA bundle file {self._verify} does not exist; choose an existing "
                "certificate file (.pem) or the system's trusted certificates."
            )
        old_sessions = self._session_ids()
        response = self._send(method, path, what=what, params=params, data=data, headers=headers)
        if response.status_code == 401 and "Cookie" in response.request.headers:
            log.info("XNAT refused the session cookie; logging in again to %s", self.url)
            response.close()
            self._session.cookies.clear()
            if isinstance(data, _UploadBody):
                data.rewind()
            response = self._send(
                method, path, what=what, params=params, data=data, headers=headers
            )
        new_sessions = self._session_ids()
        if old_sessions and new_sessions and not new_sessions & old_sessions:
            log.info("The XNAT session on %s expired and was renewed", self.url)
        if response.status_code not in expected:
            raise self._status_error(response, what)
        if response.status_code in _OK and _looks_like_html(response.text):
            raise self._web_page_error(response, what)
        return response

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None,
        data: bytes | _UploadBody | None,
        headers: Mapping[str, str] | None,
    ) -> requests.Response:
        host = urlsplit(self.url).netloc or self.url
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self.url + path,
                params=params,
                data=data,
                headers=headers,
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            if "wrong version number" in str(exc).lower():
                raise TLSError(
                    f"{host} does not speak TLS (https) on this port; if the server uses plain "
                    "http, start the server URL with http://."
                ) from None
            raise TLSError(
                f"The TLS certificate of {host} is not trusted ({_tls_reason(exc)}); if your site "
                "uses its own certificate authority, choose its CA bundle file (.pem) in the "
                "connection settings."
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise NetworkError(
                f"Could not connect to {host} within {self._timeout[0]:g} s; check the server "
                "URL and your network."
            ) from None
        except requests.exceptions.ReadTimeout:
            raise NetworkError(
                f"{host} did not answer within {self._timeout[1]:g} s while trying to {what}."
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise NetworkError(
                f"Could not reach the XNAT server {host} ({_network_reason(exc)}) while trying "
                f"to {what}."
            ) from None
        except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            raise XnatError(
                f"The server URL must start with https:// or http:// (got '{self.url}')."
            ) from None
        except requests.exceptions.InvalidURL:
            raise XnatError(
                f"The server URL '{self.url}' is not a valid address; enter it as "
                "https://host[:port][/path]."
            ) from None
        except requests.exceptions.RequestException as exc:
            raise NetworkError(
                f"The request to {host} failed ({type(exc).__name__}) while trying to {what}."
            ) from None
        log.debug(
            "%s %s -> %s (%.2f s)",
            method,
            path,
            response.status_code,
            time.monotonic() - started,
        )
        return response

    def _status_error(self, response: requests.Response, what: str) -> XnatError:
        status = response.status_code
        message = _server_message(response)
        detail = f": {message}" if message else ""
        if status == 401:
            return AuthError(
                f"XNAT rejected the user name or password/token for {self.url} "
                "(or the token expired).",
                status,
            )
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            target = urlsplit(location)
            suggestion = (
                f" (for example {target.scheme}://{target.netloc})" if target.netloc else ""
            )
            return XnatError(
                f"The server answered with a redirect when trying to {what}; enter the final "
                f"address of the XNAT server as the URL{suggestion}.",
                status,
            )
        if status == 403:
            return PermissionDenied(
                _sentence(f"XNAT refused permission to {what}{detail}")
                if message
                else f"XNAT refused permission to {what}; ask the project owner for access.",
                status,
            )
        if status == 404:
            return NotFound(_sentence(f"XNAT could not find what is needed to {what}{detail}"), 404)
        if status == 409:
            return Conflict(_sentence(f"XNAT refused to {what} because of a conflict{detail}"), 409)
        if status >= 500:
            said = f" (it said: {message.rstrip('.')})" if message else ""
            return ServerError(
                f"The XNAT server failed (HTTP {status}) while trying to {what}{said}; this may "
                "be temporary, try again later.",
                status,
            )
        return XnatError(_sentence(f"XNAT refused to {what} (HTTP {status}){detail}"), status)

    def _web_page_error(self, response: requests.Response, what: str) -> XnatError:
        """A 2xx web page where XNAT answers data or nothing: a login page, or not XNAT at all.

        None of the calls here asks for HTML, so such an answer is never read as success."""
        if "login" in response.text.lower():
            return AuthError(
                f"XNAT answered with its login page when trying to {what}; the login was "
                f"not accepted by {self.url}.",
                response.status_code,
            )
        return ServerError(
            f"XNAT answered with a web page instead of data when trying to {what}; check "
            "that the server URL is the XNAT address.",
            response.status_code,
        )

    def _json(self, response: requests.Response, what: str) -> Any:
        """The JSON body of a 2xx answer."""
        try:
            return json.loads(response.text)
        except ValueError:
            raise ServerError(
                f"XNAT answered with something that is not JSON when trying to {what}.",
                response.status_code,
            ) from None

    def _result_set(self, path: str, what: str, columns: str | None = None) -> list[dict[str, str]]:
        params = {"format": "json", **({"columns": columns} if columns else {})}
        response = self._request("GET", path, what=what, params=params)
        body = self._json(response, what)
        try:
            rows = body["ResultSet"]["Result"]
        except (KeyError, TypeError):
            raise ServerError(
                f"XNAT answered with an unexpected listing when trying to {what}.",
                response.status_code,
            ) from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ServerError(f"XNAT answered with an unexpected listing when trying to {what}.")
        return rows

    # --- login and server -----------------------------------------------------------------

    def login(self) -> ServerInfo:
        """Check the credentials for real (`/data/auth`) and read the server version."""
        what = f"log in to {self.url}"
        response = self._request("GET", "/data/auth", what=what)
        match = _LOGGED_IN.search(response.text)
        if not match:
            raise AuthError(
                f"XNAT at {self.url} did not confirm the login; check the server URL, the user "
                "name and the password/token.",
                response.status_code,
            )
        version = self._server_version()
        log.info("Logged in to %s as %s (XNAT %s)", self.url, match.group(1), version or "?")
        return ServerInfo(url=self.url, user=match.group(1), version=version)

    def _server_version(self) -> str:
        """The version from `/xapi/siteConfig/buildInfo`; "" when the server does not say."""
        what = "read the XNAT version"
        try:
            response = self._request("GET", "/xapi/siteConfig/buildInfo", what=what)
        except (NotFound, PermissionDenied) as exc:
            log.info("No XNAT version from %s: %s", self.url, exc)
            return ""
        try:
            info = json.loads(response.text)
        except ValueError:
            return ""
        version = info.get("version", "") if isinstance(info, dict) else ""
        return version if isinstance(version, str) else ""

    def issue_token(self) -> AliasToken:
        """A new alias token (user name = alias, password = secret) for this user."""
        what = "issue an alias token"
        response = self._request("GET", "/data/services/tokens/issue", what=what)
        body = self._json(response, what)
        try:
            alias, secret = body["alias"], body["secret"]
            expires = float(body["estimatedExpirationTime"]) / 1000
        except (KeyError, TypeError, ValueError):
            raise ServerError(
                "XNAT answered the alias token request with an unexpected answer."
            ) from None
        if not isinstance(alias, str) or not isinstance(secret, str) or not alias or not secret:
            raise ServerError("XNAT answered the alias token request with an unexpected answer.")
        return AliasToken(alias=alias, secret=secret, expires=expires)

    # --- projects, subjects, experiments --------------------------------------------------

    def list_projects(self) -> list[str]:
        """IDs of the projects the user can see."""
        rows = self._result_set("/data/projects", "list the projects")
        return [r["ID"] for r in rows if r.get("ID")]

    def project_exists(self, project: str) -> bool:
        """True/False from the project's own answer (404 -> False); any other failure raises."""
        try:
            self._request(
                "GET",
                f"/data/projects/{_seg(project)}",
                what=f"look up the project {project}",
                params={"format": "json"},
            )
        except NotFound:
            return False
        return True

    def create_project(self, project: str) -> None:
        """Create the project (the creator becomes its owner); a no-op for its owner."""
        what = f"create the project {project}"
        response = self._request(
            "PUT", f"/data/projects/{_seg(project)}", what=what, expected=_OK_OR_REFUSED
        )
        if response.status_code not in _OK:
            raise self._refused(response, what, "project ID", project)

    def list_subjects(self, project: str) -> dict[str, str]:
        """Subject label -> accession ID."""
        rows = self._result_set(
            f"/data/projects/{_seg(project)}/subjects", f"list the subjects of {project}"
        )
        return {r["label"]: r.get("ID", "") for r in rows if r.get("label")}

    def list_experiments(self, project: str) -> dict[str, RemoteExperiment]:
        """Experiment label -> experiment."""
        # The default columns lack the subject ("xnat:subjectassessordata/id" is the
        # experiment's own ID), so ask for it by name.
        rows = self._result_set(
            f"/data/projects/{_seg(project)}/experiments",
            f"list the experiments of {project}",
            columns="ID,label,project,subject_ID",
        )
        experiments: dict[str, RemoteExperiment] = {}
        for r in rows:
            if not r.get("label"):
                continue
            experiments[r["label"]] = RemoteExperiment(
                id=r.get("ID", ""),
                label=r["label"],
                subject_id=r.get("subject_ID", ""),
                project=r.get("project") or project,
            )
        return experiments

    def _refused(self, response: requests.Response, what: str, noun: str, label: str) -> XnatError:
        """The error for a refused PUT: XNAT reports bad labels late and vaguely (400, 417, or a
        bare 500 at save time), so name the label and the rule when the label breaks it."""
        status = response.status_code
        problem = label_problem(label)
        if status in (400, 417) or (status >= 500 and problem):
            reason = problem or _server_message(response) or f"HTTP {status}"
            return XnatError(_sentence(f"XNAT refused the {noun} '{label}': {reason}"), status)
        return self._status_error(response, what)

    def _accession_id(self, response: requests.Response, what: str) -> str:
        text = response.text.strip()
        if not text or "<" in text or len(text) > 255 or any(c.isspace() for c in text):
            raise ServerError(
                f"XNAT did not answer with an ID when trying to {what}.", response.status_code
            )
        return text

    def ensure_subject(self, project: str, label: str) -> str:
        """The subject's accession ID, creating it if needed (201 new, 200 existing)."""
        what = f"create the subject {label} in {project}"
        response = self._request(
            "PUT",
            f"/data/projects/{_seg(project)}/subjects/{_seg(label)}",
            what=what,
            expected=_OK_OR_REFUSED,
        )
        if response.status_code == 422:
            raise NotFound(f"The project {project} does not exist or you cannot see it.", 422)
        if response.status_code not in _OK:
            raise self._refused(response, what, "subject label", label)
        return self._accession_id(response, what)

    def ensure_experiment(self, project: str, subject: str, label: str) -> str:
        """The MR session's accession ID, creating it (xnat:mrSessionData) if needed."""
        what = f"create the experiment {label} in {project}"
        path = f"/data/projects/{_seg(project)}/subjects/{_seg(subject)}/experiments/{_seg(label)}"
        response = self._request(
            "PUT",
            path,
            what=what,
            params={"xsiType": "xnat:mrSessionData"},
            expected=_OK_OR_REFUSED,
        )
        if response.status_code not in _OK:
            raise self._refused(response, what, "experiment label", label)
        return self._accession_id(response, what)

    # --- resources and files --------------------------------------------------------------

    def _experiment_path(self, project: str, experiment: str) -> str:
        return _experiment_path(project, experiment)

    def _resource_path(self, project: str, experiment: str, resource: str) -> str:
        return f"{self._experiment_path(project, experiment)}/resources/{_seg(resource)}"

    def list_resources(self, project: str, experiment: str) -> list[RemoteResource]:
        rows = self._result_set(
            f"{self._experiment_path(project, experiment)}/resources",
            f"list the resources of {experiment}",
        )
        return [
            RemoteResource(
                label=r["label"],
                id=r.get("xnat_abstractresource_id", ""),
                file_count=_to_int(r.get("file_count")),
                file_size=_to_int(r.get("file_size")),
                format=r.get("format", "") or "",
                content=r.get("content", "") or "",
                tags=r.get("tags", "") or "",
            )
            for r in rows
            if r.get("label")
        ]

    def list_files(self, project: str, experiment: str, resource: str) -> list[RemoteFile]:
        """Every file of the resource, with its path inside the resource (an unknown resource
        lists no files: XNAT answers that with an empty list, not 404)."""
        what = f"list the files of {resource} on {experiment}"
        rows = self._result_set(f"{self._resource_path(project, experiment, resource)}/files", what)
        files = []
        for r in rows:
            match = _FILE_IN_URI.search(r.get("URI", ""))
            path = unquote(match.group(1)) if match else r.get("Name", "")
            size = _to_int(r.get("Size"))
            if not path or size is None:
                raise ServerError(
                    f"XNAT answered with an unexpected file entry when trying to {what}."
                )
            files.append(RemoteFile(path=path, size=size, digest=r.get("digest", "") or ""))
        return files

    def create_resource(
        self,
        project: str,
        experiment: str,
        resource: str,
        *,
        format: str | None = None,
        content: str | None = None,
        tags: str | None = None,
    ) -> None:
        """Create an empty resource folder; `Conflict` when it already exists."""
        params = {k: v for k, v in (("format", format), ("content", content), ("tags", tags)) if v}
        what = f"create the resource {resource} on {experiment}"
        try:
            self._request(
                "PUT",
                self._resource_path(project, experiment, resource),
                what=what,
                params=params,
            )
        except Conflict:
            raise Conflict(
                f"The resource {resource} already exists on {experiment}.", 409
            ) from None

    def delete_resource(self, project: str, experiment: str, resource: str) -> None:
        """Delete the resource and its files (XNAT answers 200 for an unknown label too)."""
        self._request(
            "DELETE",
            self._resource_path(project, experiment, resource),
            what=f"delete the resource {resource} on {experiment}",
        )

    def upload_zip(
        self,
        project: str,
        experiment: str,
        resource: str,
        zip_path: Path,
        *,
        overwrite: bool = False,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int, int], None] | None = None,
    ) -> None:
        """Upload a zip into the resource and have XNAT extract it (entry paths kept).

        The body streams from disk with a Content-Length; `on_bytes(sent, total)` is called at
        most ~20 times a second and once at the end (it starts again from 0 if the request is
        re-sent after a refused session cookie); setting `cancel` stops the upload at the next
        block (`Cancelled`) and leaves the client usable. After the last byte XNAT extracts,
        checksums and catalogues before it answers (bounded by the read timeout). Files that
        already exist are kept unless `overwrite`; XNAT's `duplicates` answer raises `Conflict`.
        """
        zip_path = Path(zip_path)
        if not zip_path.is_file():
            raise ArchiveError(f"The zip file {zip_path} does not exist or is not a file.")
        what = f"upload {zip_path.name} into {resource} on {experiment}"
        path = f"{self._resource_path(project, experiment, resource)}/files/{_seg(zip_path.name)}"
        params = {
            "extract": "true",
            "inbody": "true",
            "overwrite": "true" if overwrite else "false",
        }
        with zip_path.open("rb") as file:
            total = os.fstat(file.fileno()).st_size
            body = _UploadBody(file, total, cancel, on_bytes, zip_path)
            response = self._request(
                "POST",
                path,
                what=what,
                params=params,
                data=body,
                headers={"Content-Type": "application/zip"},
            )
        duplicates = self._duplicates(response.text)
        if duplicates:
            raise Conflict(
                f"{duplicates} file{'s' if duplicates != 1 else ''} already "
                f"exist{'s' if duplicates == 1 else ''} in resource {resource}; nothing was "
                "replaced. Choose 'replace' to overwrite.",
                response.status_code,
            )
        log.info("Uploaded %s (%d bytes) into %s on %s", zip_path.name, total, resource, experiment)

    @staticmethod
    def _duplicates(text: str) -> int:
        """How many files XNAT reported as already present (`{"duplicates": [...]}`)."""
        if not text.lstrip().startswith("{"):
            return 0
        try:
            body = json.loads(text)
        except ValueError:
            return 0
        duplicates = body.get("duplicates") if isinstance(body, dict) else None
        return len(duplicates) if isinstance(duplicates, list) else 0

    # --- addresses ------------------------------------------------------------------------

    def experiment_uri(self, project: str, experiment: str) -> str:
        """The REST path of the experiment, e.g. /data/projects/P/experiments/L."""
        return self._experiment_path(project, experiment)

    def experiment_web_url(self, project: str, experiment: str) -> str:
        """The experiment's page, for a browser."""
        return experiment_web_url(self.url, project, experiment)
