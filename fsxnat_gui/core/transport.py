"""The session and transport under `XnatClient`: pyxnat's `requests.Session`, Basic auth on
every request, the re-login when XNAT drops the session cookie, timeouts, retries of what is
transient, cancellation, certificate checking, and every failure turned into a typed
`XnatError` (core/http_errors.py). Also the streamed upload body.

The discipline of a call (`CallPolicy`):

- a connect timeout, and a read timeout sized for a metadata call (create, list, delete, log in);
  an upload waits longer for its answer (`timeout[1]`): XNAT extracts and catalogues the zip
  before it answers;
- idempotent calls are tried again after a 5xx (a 503's or 429's `Retry-After` honoured, capped),
  a timeout or a dropped connection, after a pause that doubles each time; an upload never is
  (core/subject_import.py lists what the server holds before it sends again);
- with a cancel event bound (`cancel`), a call runs on a helper thread that the caller stops
  waiting for as soon as the event is set (`Abandoned`): an abandoned call keeps its own session
  until it ends, and the next call gets another one (the cookies copied), so no two calls ever
  share one; calls made once the event is set (clean-up) are tried once with `cleanup` as
  their timeouts, and so is the end of the XNAT session in `close()`.

See core/xnat.py's docstring for why pyxnat's object layer is not used. Messages and logs never
contain request headers, cookies, passwords or tokens; a server's text is scrubbed of them.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from pyxnat import Interface
from pyxnat.core import interfaces as pyxnat_interfaces
from urllib3.exceptions import InsecureRequestWarning

from fsxnat_gui import USER_AGENT
from fsxnat_gui.core import http_errors
from fsxnat_gui.core.errors import (
    Abandoned,
    ArchiveError,
    AuthError,
    Cancelled,
    NetworkError,
    ServerError,
    XnatError,
)
from fsxnat_gui.core.http_errors import sentence, server_message
from fsxnat_gui.core.progress import Throttle
from fsxnat_gui.core.redact import has_credentials, scrub, secret_forms

__all__ = [
    "OK",
    "CallPolicy",
    "Transport",
    "UploadBody",
    "normalise_url",
    "seg",
    "sentence",
    "server_message",
]

log = logging.getLogger(__name__)

OK = range(200, 300)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_PROGRESS_INTERVAL = 0.05  # seconds between on_bytes calls (at most ~20 per second)
_POLL = 0.05  # seconds between looks at the cancel event while a call is in flight
_SESSION_COOKIE = "JSESSIONID"
# Bytes handed to the socket at a time (urllib3's default: 16 KiB). urllib3 sends a body with
# the connect timeout on the socket, for each whole block: 128 KiB in 10 s needs 13 KB/s a
# stream, a link no import would use; bigger blocks gain little more.
UPLOAD_BLOCK = 128 * 1024


@dataclass(frozen=True)
class CallPolicy:
    """Timeouts and retries of metadata calls (seconds; see the module docstring)."""

    connect: float = 10.0  # to open a connection (capped by the client's timeout[0])
    read: float = 30.0  # to wait for a metadata call's answer (capped by timeout[1])
    attempts: int = 4  # tries of an idempotent call (1: never tried again)
    backoff: float = 0.5  # the first pause between tries; doubled after each
    max_pause: float = 10.0  # the longest pause, a server's Retry-After included
    cleanup: float = 2.0  # both timeouts of a call made once cancelled, and of close()


# --- URLs -------------------------------------------------------------------------------------


def seg(value: str) -> str:
    """One URL path segment (labels are checked elsewhere; this only keeps the URL well-formed)."""
    return quote(value, safe="")


def normalise_url(url: str) -> str:
    """Strip spaces, a trailing '/', and any user:password@ (credentials never live in the URL;
    front ends refuse them with `redact.check_server_url` before they get here)."""
    text = url.strip()
    if has_credentials(text):
        scheme, sep, rest = text.partition("://")
        if not sep:
            scheme, rest = "", text
        text = (f"{scheme}://" if sep else "") + rest.rsplit("@", 1)[-1]
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
        raise XnatError(f"'{text}' is not a valid server address: {exc}.") from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).rstrip("/")


def retry_after(response: requests.Response) -> float | None:
    """The seconds a 503/429 asks to wait (`Retry-After`: seconds or an HTTP date), else None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


# --- the upload body --------------------------------------------------------------------------


class UploadBody:
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
        self._throttle = Throttle(_PROGRESS_INTERVAL)

    def __len__(self) -> int:
        return self._total

    def rewind(self) -> None:
        """Start again from the first byte (a retried request sends the whole body again)."""
        self._file.seek(0)
        self._sent = 0
        self._throttle = Throttle(_PROGRESS_INTERVAL)

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
        final = self._sent >= self._total
        if self._on_bytes is not None and chunk and self._throttle.due(final=final):
            self._on_bytes(self._sent, self._total)
        return chunk


# --- the transport ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """One call as `request` was asked for it."""

    method: str
    path: str
    what: str
    params: Mapping[str, str] | None
    data: bytes | UploadBody | None
    headers: Mapping[str, str] | None
    short: bool  # clean-up: short timeouts, one try, never on a helper thread


_PLUGIN_WALK = threading.Lock()  # one Interface built at a time (see _interface)


def _interface(**kwargs: Any) -> Interface:
    """pyxnat's `Interface(**kwargs)`, without the walk of its derivative plug-ins.

    `Interface()` imports every module of `pyxnat.core.derivatives` to attach per-resource
    helpers to pyxnat's object layer, which this client never uses (core/xnat.py); one of them
    imports pandas, numpy and nibabel: 0.3-0.6 s and about 50 MB for every client
    (reference/pyxnat.md §0), the largest part of the command line's start-up. The walk is
    skipped for this construction only (a lock keeps another thread's Interface whole).
    """
    with _PLUGIN_WALK:
        walk = getattr(pyxnat_interfaces, "__find_all_functions__")  # noqa: B009
        setattr(pyxnat_interfaces, "__find_all_functions__", _no_plugins)  # noqa: B010
        try:
            return Interface(**kwargs)
        finally:
            setattr(pyxnat_interfaces, "__find_all_functions__", walk)  # noqa: B010


def _no_plugins(_package: object) -> dict[object, list[object]]:
    return {}


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter with uploads written to the socket in UPLOAD_BLOCK pieces: 8 times
    fewer system calls and Python round trips than urllib3's 16 KiB for the same bytes."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", UPLOAD_BLOCK)
        super().init_poolmanager(*args, **kwargs)


def _mount(session: requests.Session) -> requests.Session:
    for prefix in ("https://", "http://"):
        session.mount(prefix, _Adapter())
    return session


class _Retry(Exception):  # noqa: N818 - internal: a failure worth another try
    def __init__(self, error: XnatError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class Transport:
    """Requests to one XNAT server as one user; see the module docstring.

    Construction sends nothing. `verify` and `timeout` are as for `XnatClient`; `policy` sets
    the metadata calls' timeouts and retries. `cancel`, when set to an event, makes calls in
    flight stop when it is set.
    """

    def __init__(
        self,
        url: str,
        user: str,
        secret: str,
        *,
        verify: bool | str = True,
        timeout: tuple[float, float] = (10.0, 300.0),
        policy: CallPolicy | None = None,
    ) -> None:
        self.url = normalise_url(url)
        self.policy = policy or CallPolicy()
        self.cancel: threading.Event | None = None
        self._verify = verify
        self._connect = min(timeout[0], self.policy.connect)
        self._read = min(timeout[1], self.policy.read)
        self._upload_read = timeout[1]
        self._has_credentials = bool(user) and bool(secret)
        self._secrets = secret_forms(user, secret)
        self._bundle_checked = False
        # pyxnat is constructed with everything it needs so it never prompts (input/getpass);
        # with an empty user or secret it would turn interactive, so it gets `anonymous` then and
        # `request` refuses to send anything.
        if self._has_credentials:
            self._interface = _interface(server=self.url, user=user, password=secret, verify=verify)
        else:
            self._interface = _interface(server=self.url, anonymous=True, verify=verify)
        # Pin pyxnat's entry point so nothing can ever resolve it to the XNAT 1.4 `/REST` API;
        # this adapter builds every URL itself under /data.
        self._interface._entry = "/data"
        self._session: requests.Session = _mount(self._interface._http)
        self._session.headers["User-Agent"] = USER_AGENT
        if self._has_credentials:
            # UTF-8 as XNAT's Basic filter decodes it (requests would encode str as Latin-1 and
            # fail on other characters).
            self._session.auth = (user.encode(), secret.encode())
        # pyxnat copies $http_proxy into the session, where it would override $no_proxy. The
        # environment's proxies (no_proxy included) and CA bundle (REQUESTS_CA_BUNDLE,
        # CURL_CA_BUNDLE, for verify=True) are read once here as requests reads them, not by
        # requests on every call (which walks the whole environment twice a call).
        self._session.proxies.clear()
        env = self._session.merge_environment_settings(self.url, {}, None, verify, None)
        self._session.proxies, self._send_verify = env["proxies"], env["verify"]
        self._session.trust_env = False
        self._lock = threading.Lock()
        self._busy: set[requests.Session] = set()  # sessions a call in flight is using
        if verify is False:
            # Said once here, not by urllib3 on every request.
            log.warning("TLS certificate checking is off for %s", self.url)
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)

    def close(self) -> None:
        """End the XNAT session (best effort, with the short clean-up timeout) and close the
        connections. A call still in flight closes its own session when it ends."""
        try:
            if _session_ids(self._session):
                self.request(
                    "DELETE",
                    "/data/JSESSION",
                    what="end the XNAT session",
                    retry=False,
                    short=True,
                )
        except (XnatError, Cancelled) as exc:
            log.debug("Could not end the XNAT session on %s: %s", self.url, exc)
        finally:
            with self._lock:
                idle = self._session not in self._busy
            if idle:
                self._session.close()

    def scrub(self, text: str) -> str:
        """`text` without this user's secret or any credential it quotes."""
        return scrub(text, self._secrets)

    # --- one call ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        data: bytes | UploadBody | None = None,
        headers: Mapping[str, str] | None = None,
        expected: Collection[int] = OK,
        retry: bool = True,
        short: bool = False,
        on_retry: Callable[[XnatError], None] | None = None,
    ) -> requests.Response:
        """Send one call to `<url><path>` and return the answer if its status is expected.

        `what` completes "... trying to <what>" in error messages. Every failure becomes a typed
        XnatError; a 401 on a request that carried a session cookie is sent again at once
        without it. With `retry` (never for an upload body), a transient failure is tried again
        (see the module docstring); `on_retry(error)` is called before each new try. `short`:
        the clean-up timeouts and a single try, as for every call once `cancel` is set.
        """
        if not self._has_credentials:
            raise AuthError(f"Enter a user name and a password or token for {self.url}.")
        self._check_bundle()
        upload = isinstance(data, UploadBody)
        short = short or (self.cancel is not None and self.cancel.is_set())
        attempts = 1 if upload or short or not retry else max(1, self.policy.attempts)
        call = _Call(method, path, what, params, data, headers, short)
        for attempt in range(1, attempts + 1):
            try:
                response = self._attempt(call)
                if response.status_code in RETRY_STATUSES and attempt < attempts:
                    error = self._status_error(response, what, data)
                    raise _Retry(error, retry_after(response))
            except _Retry as failed:
                if attempt == attempts:
                    raise failed.error from None
                self._pause(attempt, failed, what)
                if on_retry is not None:
                    on_retry(failed.error)
                continue
            if response.status_code not in expected:
                raise self._status_error(response, what, data)
            if response.status_code in OK and http_errors.looks_like_html(response.text):
                raise http_errors.web_page_error(response, what, self.url)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, attempt: int, failed: _Retry, what: str) -> None:
        policy = self.policy
        pause = policy.backoff * 2 ** (attempt - 1)
        if failed.wait is not None:
            pause = max(pause, failed.wait)
        pause = min(pause, policy.max_pause)
        log.info(
            "%s; trying to %s again in %.1f s (attempt %d of %d)",
            failed.error,
            what,
            pause,
            attempt + 1,
            policy.attempts,
        )
        if self.cancel is None:
            time.sleep(pause)
        elif self.cancel.wait(pause):
            raise Cancelled()

    def _attempt(self, call: _Call) -> requests.Response:
        """One exchange; with a cancel event bound, on a helper thread that is abandoned (not
        waited for) once the event is set. An upload is stopped by its body instead."""

        def exchange() -> requests.Response:
            return self._exchange(call)

        cancel = self.cancel
        if cancel is None or call.short or isinstance(call.data, UploadBody):
            return exchange()
        outcome: list[requests.Response | BaseException] = []
        done = threading.Event()

        def run() -> None:
            try:
                outcome.append(exchange())
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name="fsxnat-call", daemon=True).start()
        while not done.wait(_POLL):
            if cancel.is_set():
                log.info("%s %s abandoned: the run was cancelled", call.method, call.path)
                raise Abandoned()
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _exchange(self, call: _Call) -> requests.Response:
        """The request, and once more without the cookie if XNAT refused it, on a session no
        other call is using."""
        session = self._acquire()
        try:
            old_sessions = _session_ids(session)
            response = self._send(session, call)
            if response.status_code == 401 and "Cookie" in response.request.headers:
                log.info("XNAT refused the session cookie; logging in again to %s", self.url)
                response.close()
                session.cookies.clear()
                if isinstance(call.data, UploadBody):
                    call.data.rewind()
                response = self._send(session, call)
            new_sessions = _session_ids(session)
            if old_sessions and new_sessions and not new_sessions & old_sessions:
                log.info("The XNAT session on %s expired and was renewed", self.url)
            return response
        finally:
            self._release(session)

    def _acquire(self) -> requests.Session:
        with self._lock:
            if self._session in self._busy:  # held by a call in flight (an abandoned one)
                fresh = _mount(requests.Session())
                fresh.trust_env = False
                fresh.proxies = dict(self._session.proxies)
                fresh.headers.update(self._session.headers)
                fresh.auth = self._session.auth
                fresh.cookies.update(self._session.cookies)
                self._session = fresh
            self._busy.add(self._session)
            return self._session

    def _release(self, session: requests.Session) -> None:
        with self._lock:
            self._busy.discard(session)
            retired = session is not self._session
        if retired:
            session.close()

    def _send(self, session: requests.Session, call: _Call) -> requests.Response:
        host = urlsplit(self.url).netloc or self.url
        what = call.what
        connect = self._connect
        read = self._upload_read if isinstance(call.data, UploadBody) else self._read
        if call.short:
            connect, read = min(connect, self.policy.cleanup), min(read, self.policy.cleanup)
        started = time.monotonic()
        try:
            response = session.request(
                call.method,
                self.url + call.path,
                params=call.params,
                data=call.data,
                headers=call.headers,
                timeout=(connect, read),
                verify=self._send_verify,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise http_errors.tls_error(exc, host) from None
        except requests.exceptions.ConnectTimeout:
            raise _Retry(
                NetworkError(
                    f"Could not connect to {host} within {connect:g} s; check the server "
                    "URL and your network."
                )
            ) from None
        except requests.exceptions.ReadTimeout:
            raise _Retry(
                NetworkError(f"{host} did not answer within {read:g} s while trying to {what}.")
            ) from None
        except requests.exceptions.ConnectionError as exc:
            error = NetworkError(
                f"Could not reach the XNAT server {host} ({http_errors.network_reason(exc)}) "
                f"while trying to {what}."
            )
            if http_errors.is_transient_network(exc):
                raise _Retry(error) from None
            raise error from None
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
            call.method,
            call.path,
            response.status_code,
            time.monotonic() - started,
        )
        return response

    def _check_bundle(self) -> None:
        if isinstance(self._verify, str) and not self._bundle_checked:
            problem = http_errors.ca_bundle_problem(self._verify)
            if problem is not None:
                raise problem
            self._bundle_checked = True

    def _status_error(
        self, response: requests.Response, what: str, data: bytes | UploadBody | None
    ) -> XnatError:
        size = len(data) if data is not None else None
        return http_errors.status_error(
            response, what, self.url, secrets=self._secrets, body_size=size
        )

    def status_error(self, response: requests.Response, what: str) -> XnatError:
        """The typed error for an answer `what` did not expect."""
        return self._status_error(response, what, None)

    def message(self, response: requests.Response) -> str:
        """The server's own message in `response`, scrubbed of credentials ("" if none)."""
        return server_message(response, self._secrets)

    def json_body(self, response: requests.Response, what: str) -> Any:
        """The JSON body of a 2xx answer."""
        try:
            return json.loads(response.text)
        except ValueError:
            raise ServerError(
                f"XNAT answered with something that is not JSON when trying to {what}.",
                response.status_code,
            ) from None

    def result_set(self, path: str, what: str, columns: str | None = None) -> list[dict[str, str]]:
        params = {"format": "json", **({"columns": columns} if columns else {})}
        response = self.request("GET", path, what=what, params=params)
        body = self.json_body(response, what)
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


def _session_ids(session: requests.Session) -> set[str]:
    return {c.value for c in session.cookies if c.name == _SESSION_COOKIE and c.value}
