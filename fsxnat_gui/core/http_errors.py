"""Failures of HTTP calls turned into typed `XnatError`s with one sentence fit for the user: the
answer's status (the server's own message quoted, scrubbed of credentials), network failures
and TLS failures. Used by core/transport.py only."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import requests

from fsxnat_gui.core.errors import (
    AuthError,
    Conflict,
    NotFound,
    PermissionDenied,
    ServerError,
    SignInRedirect,
    TLSError,
    TooLarge,
    XnatError,
)
from fsxnat_gui.core.redact import scrub

_MAX_MESSAGE = 300  # characters of a server message quoted in an error
_MB = 1_000_000
_H3 = re.compile(r"<h3[^>]*>(.*?)</h3>", re.IGNORECASE | re.DOTALL)
_TOMCAT_MESSAGE = re.compile(r"<p><b>Message</b>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_PEM = b"-----BEGIN CERTIFICATE-----"


def sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def server_message(response: requests.Response, secrets: Iterable[str] = ()) -> str:
    """The server's own explanation (the Restlet `<h3>`, Tomcat's message, or a short plain-text
    body), with credentials it may quote taken out; else ""."""
    secrets = list(secrets)
    text = scrub(response.text or "", secrets)
    match = _TOMCAT_MESSAGE.search(text) or _H3.search(text)
    if match and not match.group(1).strip().startswith("Apache Tomcat"):
        message = _TAG.sub("", match.group(1))
    elif "<" not in text and len(text) <= _MAX_MESSAGE:
        message = text
    else:
        return ""
    message = scrub(" ".join(html.unescape(message).split()), secrets)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3].rstrip() + "..."
    return message


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype", "<html", "<?xml")) or "<html" in head


def network_reason(exc: Exception) -> str:
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


def is_transient_network(exc: Exception) -> bool:
    """A dropped or reset connection (worth another try); not a refused one or an unknown host."""
    return network_reason(exc) in (
        "the connection was reset",
        "the connection was closed by the server",
        "the connection failed",
    )


def tls_error(exc: Exception, host: str) -> TLSError:
    """The sentence for a failed TLS handshake, with its `kind` (see errors.TLSError)."""
    text = str(exc)
    lower = text.lower()
    if "wrong version number" in lower or "record layer failure" in lower:
        return TLSError(
            f"{host} does not speak TLS (https) on this port; if the server uses plain http, "
            "start the server URL with http://.",
            kind="not-tls",
        )
    mismatch = re.search(r"(certificate is not valid for '[^']*')", text) or re.search(
        r"(hostname '[^']*' doesn't match '[^']*')", text
    )
    if mismatch or ("hostname" in lower and "match" in lower):
        why = f" ({mismatch.group(1)})" if mismatch else ""
        return TLSError(
            f"The TLS certificate of {host} was issued for another host name{why}; use the "
            "host name the certificate names in the server URL.",
            kind="hostname",
        )
    match = re.search(r"certificate verify failed: ([^()]+)", text)
    reason = match.group(1).strip().rstrip(".") if match else ""
    if reason:
        return TLSError(
            f"The TLS certificate of {host} is not trusted ({reason}); if your site uses its "
            "own certificate authority, its CA bundle file (.pem) is needed.",
            kind="untrusted",
        )
    return TLSError(
        f"The secure connection to {host} could not be established ({type(exc).__name__}).",
        kind="other",
    )


def ca_bundle_problem(path: str) -> TLSError | None:
    """Why the CA bundle at `path` cannot be used (missing, a folder, no PEM certificate)."""
    if not os.path.exists(path):
        return TLSError(
            f"The CA bundle file {path} does not exist; choose an existing certificate file "
            "(.pem) or the system's trusted certificates.",
            kind="bundle-missing",
        )
    if os.path.isdir(path):
        return TLSError(
            f"{path} is a folder, not a CA bundle file; choose the certificate file (.pem) itself.",
            kind="bundle-folder",
        )
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError as exc:
        return TLSError(
            f"The CA bundle file {path} cannot be read ({(exc.strerror or str(exc)).lower()}).",
            kind="bundle-missing",
        )
    if _PEM not in head:
        return TLSError(
            f"The CA bundle file {path} holds no certificate in PEM format (text starting with "
            "-----BEGIN CERTIFICATE-----); a DER file can be converted with "
            f"'openssl x509 -inform der -in {path} -out bundle.pem'.",
            kind="bundle-invalid",
        )
    return None


def status_error(
    response: requests.Response,
    what: str,
    url: str,
    *,
    secrets: Iterable[str] = (),
    body_size: int | None = None,
) -> XnatError:
    """The typed error for an answer with an unexpected status."""
    status = response.status_code
    message = server_message(response, secrets)
    detail = f": {message}" if message else ""
    if status == 401:
        return AuthError(
            f"XNAT rejected the user name or password/token for {url} (or the token expired).",
            status,
        )
    if 300 <= status < 400:
        return _redirect_error(response, what, url)
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
    if status == 413:
        size = f" of {body_size / _MB:,.1f} MB" if body_size else ""
        return TooLarge(
            f"The server refused the request{size} as too large (HTTP 413) when trying to "
            f"{what}: the body-size limit of a proxy in front of XNAT (nginx: "
            "client_max_body_size) is below it; ask the server's administrators to raise it.",
            status,
            size=body_size or 0,
        )
    if status >= 500:
        said = f" (it said: {message.rstrip('.')})" if message else ""
        return ServerError(
            f"The XNAT server failed (HTTP {status}) while trying to {what}{said}; this may "
            "be temporary, try again later.",
            status,
        )
    return XnatError(sentence(f"XNAT refused to {what} (HTTP {status}){detail}"), status)


def _redirect_error(response: requests.Response, what: str, url: str) -> XnatError:
    """A redirect to the same call elsewhere (http -> https, another host name): enter that
    address. A redirect to anything else is a sign-in page (single sign-on in front of XNAT)."""
    status = response.status_code
    location = response.headers.get("Location", "")
    target = urlsplit(location)
    asked = urlsplit(response.request.url or "").path
    if target.path and asked and target.path.endswith(asked.removeprefix(urlsplit(url).path)):
        suggestion = f" (for example {target.scheme}://{target.netloc})" if target.netloc else ""
        return XnatError(
            f"The server answered with a redirect when trying to {what}; enter the final "
            f"address of the XNAT server as the URL{suggestion}.",
            status,
        )
    page = f"{target.scheme}://{target.netloc}{target.path}" if target.netloc else target.path
    where = f" ({page})" if page else ""
    return SignInRedirect(
        f"The server redirects to a sign-in page{where} instead of answering when trying to "
        f"{what}: it is behind a single sign-on. Use the XNAT address itself ({url}) with an "
        "alias token issued on XNAT's web site (as user name and password), not the sign-in "
        "page's address.",
        status,
        location=page,
    )


def web_page_error(response: requests.Response, what: str, url: str) -> XnatError:
    """A 2xx web page where XNAT answers data or nothing: a login page, or not XNAT at all.

    None of the calls here asks for HTML, so such an answer is never read as success."""
    if "login" in response.text.lower():
        return AuthError(
            f"XNAT answered with its login page when trying to {what}; the login was "
            f"not accepted by {url}.",
            response.status_code,
        )
    return ServerError(
        f"XNAT answered with a web page instead of data when trying to {what}; check "
        "that the server URL is the XNAT address.",
        response.status_code,
    )
