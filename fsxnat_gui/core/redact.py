"""Keeping secrets out of what the user, the logs and the reports see.

- `check_server_url(url)`: a server address typed or pasted by the user, refused (without
  quoting it) when it carries a user name and password, in any form: with or without a scheme,
  well-formed or not (`admin:PW@host:8080`, `http://admin:PW@[::1`, `admin:PW@`).
- `scrub(text, secrets)`: a server's or a proxy's text with credentials taken out: the given
  secrets (a password, its Basic encoding, a session cookie), and any `Authorization:` or
  `Cookie:` value, Basic credentials or JSESSIONID it quotes.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from urllib.parse import quote

from fsxnat_gui.core.errors import CredentialsInURL

HIDDEN = "***"
MIN_SECRET = 3  # shorter "secrets" are not searched for (they would mangle every sentence)
_HEADER = re.compile(r"\b(authorization|cookie|set-cookie)(\s*[:=]\s*)[^\r\n<]*", re.IGNORECASE)
_BASIC = re.compile(r"\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{4,}", re.IGNORECASE)
_SESSION = re.compile(
    r"\b(JSESSIONID|XNAT_CSRF|SESSION_EXPIRATION_TIME)=[^;\s<\"']+", re.IGNORECASE
)

URL_CREDENTIALS = (
    "The server address must not contain a user name or password (nothing before an '@'); "
    "enter the address alone, e.g. https://xnat.example.org, and the password where it is asked."
)


def has_credentials(url: str) -> bool:
    """Whether a server address carries user information (`user[:password]@`).

    No parsing that could fail on a malformed address: an XNAT address never contains '@', so
    any '@' counts, whatever comes before or after it."""
    return "@" in url


def check_server_url(url: str) -> str:
    """The address, stripped of surrounding spaces; `CredentialsInURL` (whose message never
    quotes the address) when it carries a user name or password."""
    if has_credentials(url):
        raise CredentialsInURL(URL_CREDENTIALS)
    return url.strip()


def basic_credentials(user: str, secret: str) -> str:
    """The Basic authorisation value a request carries for user:secret (UTF-8, base64)."""
    return base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def secret_forms(user: str, secret: str) -> list[str]:
    """The ways a secret may appear in a server's page: as it is, HTML- or URL-escaped, and
    inside the Basic authorisation header."""
    if not secret:
        return []
    return [secret, html.escape(secret), quote(secret, safe=""), basic_credentials(user, secret)]


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every given secret and every quoted credential replaced by ***."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    text = _HEADER.sub(HIDDEN, text)  # the header's name too: a message never shows a header
    text = _BASIC.sub(lambda m: f"{m.group(1)} {HIDDEN}", text)
    return _SESSION.sub(lambda m: f"{m.group(1)}={HIDDEN}", text)
