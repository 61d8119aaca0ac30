"""Response bodies that imitate XNAT's: Restlet status pages, Tomcat error pages, HTML items."""

from __future__ import annotations

import logging
from html import escape

log = logging.getLogger(__name__)

# Restlet 1.1's standard descriptions, used when a resource sets a status without a message.
_PHRASES = {
    400: "The request could not be understood by the server due to malformed syntax",
    401: "The request requires user authentication",
    403: "The server understood the request, but is refusing to fulfill it",
    404: "The server has not found anything matching the request URI",
    405: (
        "The method specified in the request is not allowed for the resource identified by "
        "the request URI"
    ),
    406: (
        "The resource identified by the request is only capable of generating response "
        "entities whose content characteristics do not match the user's requested criteria"
    ),
    409: (
        "The request could not be completed due to a conflict with the current state of "
        "the resource"
    ),
    417: "The server could not meet the expectation given in the Expect request header",
    422: (
        "The server understands the content type of the request entity and the syntax of the "
        "request entity is correct but was unable to process the contained instructions"
    ),
    500: (
        "The server encountered an unexpected condition which prevented it from fulfilling "
        "the request"
    ),
}

_TOMCAT = {
    401: (
        "Unauthorized",
        "The request has not been applied because it lacks valid authentication credentials "
        "for the target resource.",
    ),
}

LOGIN_FAILURE = (
    "Login attempt failed. Please verify your user name and password, or contact the site "
    "administrator if you have reached the maximum number of user sessions. Your account will "
    "be locked after 20 failed login attempts."
)


def _rfc_link(status: int) -> str:
    if status == 422:
        return "http://www.webdav.org/specs/rfc2518.html#STATUS_422"
    section = f"10.4.{status - 399}" if status < 500 else f"10.5.{status - 499}"
    return f"http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec{section}"


def restlet_page(status: int, message: str | None = None) -> bytes:
    """Restlet's "Status page": the message (or the standard phrase) in `<h3>`."""
    description = escape(message or _PHRASES.get(status, "Error"), quote=False)
    return (
        "<html>\n<head>\n   <title>Status page</title>\n</head>\n<body>\n"
        f'<h3>{description}</h3><p>You can get technical details <a href="{_rfc_link(status)}">'
        'here</a>.<br>\nPlease continue your visit at our <a href="/">home page</a>.\n'
        "</p>\n</body>\n</html>\n"
    ).encode()


def tomcat_page(status: int, message: str) -> bytes:
    """Tomcat 9's default error report, as sent by the Spring security filters."""
    title, description = _TOMCAT.get(status, ("Error", ""))
    return (
        '<!doctype html><html lang="en"><head><title>HTTP Status '
        f'{status} \u2013 {title}</title><style type="text/css">body {{font-family:Tahoma,Arial,'
        "sans-serif;}</style></head><body><h1>HTTP Status "
        f'{status} \u2013 {title}</h1><hr class="line" /><p><b>Type</b> Status Report</p>'
        f"<p><b>Message</b> {escape(message)}</p><p><b>Description</b> {description}</p>"
        '<hr class="line" /><h3>Apache Tomcat/9.0.54</h3></body></html>'
    ).encode()


def nginx_page(status: int, title: str) -> bytes:
    """What an nginx reverse proxy answers for its own errors (e.g. 504 Gateway Time-out)."""
    head = f"{status} {title}"
    return (
        f"<html>\r\n<head><title>{head}</title></head>\r\n<body>\r\n"
        f"<center><h1>{head}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def echo_page(status: int, headers: list[tuple[str, str]]) -> bytes:
    """A proxy's error page that quotes request headers verbatim (credentials included)."""
    lines = "".join(f"{name}: {value}\n" for name, value in headers)
    return (
        f"<html><head><title>Error {status}</title></head><body><h1>Error {status}</h1>"
        "<p>The upstream server could not handle the request.</p>"
        f"<pre>Request headers:\n{lines}</pre></body></html>\n"
    ).encode()


def login_page(error: str | None = None) -> bytes:
    message = f'<p class="error">{escape(error)}</p>' if error else ""
    return _html(
        "XNAT Login",
        "<h1>XNAT</h1><p>Local XNAT-compatible test server.</p>"
        f"{message}"
        '<form method="post" action="/app/template/Login.vm">'
        '<label>User <input name="username" autofocus></label> '
        '<label>Password <input name="password" type="password"></label> '
        '<button type="submit">Login</button></form>',
    )


def item_page(title: str, rows: list[tuple[str, str]], sections: list[tuple[str, list]]) -> bytes:
    """A small, readable HTML view of one project, subject or experiment.

    `sections` are `(heading, table)` where a table is a list of rows of cell strings; the
    first row is the header.
    """
    parts = [f"<h1>{escape(title)}</h1>", "<table>"]
    parts += [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows]
    parts.append("</table>")
    for heading, table in sections:
        parts.append(f"<h2>{escape(heading)}</h2>")
        if len(table) <= 1:
            parts.append("<p>None.</p>")
            continue
        parts.append('<table border="1">')
        parts.append("<tr>" + "".join(f"<th>{escape(c)}</th>" for c in table[0]) + "</tr>")
        for row in table[1:]:
            parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    return _html(title, "\n".join(parts))


def _html(title: str, body: str) -> bytes:
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"</head>\n<body>\n{body}\n</body></html>\n"
    ).encode()
