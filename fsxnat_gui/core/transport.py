"""The session and transport under `XnatClient`: one `requests.Session` (pyxnat's), Basic auth
on every request, the re-login when XNAT drops the session cookie, timeouts, certificate
checking, and every failure turned into a typed `XnatError` with one sentence fit for the user
(the server's own message quoted when it has one). Also the streamed upload body.

See core/xnat.py's docstring for why pyxnat's object layer is not used. Messages and logs never
contain request headers, cookies, passwords or tokens. One transport per thread at a time.
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
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

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
from fsxnat_gui.core.progress import Throttle

log = logging.getLogger(__name__)

OK = range(200, 300)
_MAX_MESSAGE = 300  # characters of a server message quoted in an error
_PROGRESS_INTERVAL = 0.05  # seconds between on_bytes calls (at most ~20 per second)
_H3 = re.compile(r"<h3[^>]*>(.*?)</h3>", re.IGNORECASE | re.DOTALL)
_TOMCAT_MESSAGE = re.compile(r"<p><b>Message</b>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SESSION_COOKIE = "JSESSIONID"


# --- URLs and server messages -----------------------------------------------------------------


def seg(value: str) -> str:
    """One URL path segment (labels are checked elsewhere; this only keeps the URL well-formed)."""
    return quote(value, safe="")


def normalise_url(url: str) -> str:
    """Strip spaces, a trailing '/', and any user:password@ (credentials never live in the URL)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
        raise XnatError(f"'{url.strip()}' is not a valid server address: {exc}.") from None
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def server_message(response: requests.Response) -> str:
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


class Transport:
    """Requests to one XNAT server as one user; see the module docstring.

    Construction sends nothing. `verify` and `timeout` are as for `XnatClient`.
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
        self.url = normalise_url(url)
        self._verify = verify
        self._timeout = timeout
        self._has_credentials = bool(user) and bool(secret)
        # pyxnat is constructed with everything it needs so it never prompts (input/getpass);
        # with an empty user or secret it would turn interactive, so it gets `anonymous` then and
        # `request` refuses to send anything.
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

    def close(self) -> None:
        """End the XNAT session (best effort) and close the connections."""
        try:
            if self._session_ids():
                self.request("DELETE", "/data/JSESSION", what="end the XNAT session")
        except XnatError as exc:
            log.debug("Could not end the XNAT session on %s: %s", self.url, exc)
        finally:
            self._session.close()

    def _session_ids(self) -> set[str]:
        return {c.value for c in self._session.cookies if c.name == _SESSION_COOKIE and c.value}

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
            if isinstance(data, UploadBody):
                data.rewind()
            response = self._send(
                method, path, what=what, params=params, data=data, headers=headers
            )
        new_sessions = self._session_ids()
        if old_sessions and new_sessions and not new_sessions & old_sessions:
            log.info("The XNAT session on %s expired and was renewed", self.url)
        if response.status_code not in expected:
            raise self.status_error(response, what)
        if response.status_code in OK and _looks_like_html(response.text):
            raise self._web_page_error(response, what)
        return response

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None,
        data: bytes | UploadBody | None,
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

    def status_error(self, response: requests.Response, what: str) -> XnatError:
        status = response.status_code
        message = server_message(response)
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
                sentence(f"XNAT refused permission to {what}{detail}")
                if message
                else f"XNAT refused permission to {what}; ask the project owner for access.",
                status,
            )
        if status == 404:
            return NotFound(sentence(f"XNAT could not find what is needed to {what}{detail}"), 404)
        if status == 409:
            return Conflict(sentence(f"XNAT refused to {what} because of a conflict{detail}"), 409)
        if status >= 500:
            said = f" (it said: {message.rstrip('.')})" if message else ""
            return ServerError(
                f"The XNAT server failed (HTTP {status}) while trying to {what}{said}; this may "
                "be temporary, try again later.",
                status,
            )
        return XnatError(sentence(f"XNAT refused to {what} (HTTP {status}){detail}"), status)

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
