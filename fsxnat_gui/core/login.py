"""Logging in, one way for the window and the CLI: the login saved in the keyring, the login
itself (optionally trading the password for an XNAT alias token), and the client factory that
announces "no certificate check" once instead of once per request.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from urllib3.exceptions import InsecureRequestWarning

from fsxnat_gui.core import credentials
from fsxnat_gui.core.model import ServerInfo
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

ClientFactory = Callable[[str, str, str, bool | str], XnatClient]


def strip_userinfo(url: str) -> tuple[str, bool]:
    """The URL without a `user:password@` part, and whether it had one (such a URL must never
    reach the settings, a window title or the log)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, False
    if "@" not in parts.netloc:
        return url, False
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), True


@dataclass(frozen=True)
class Credentials:
    """Who to authenticate as: a user and password, or the alias and secret of a token."""

    auth_user: str
    secret: str = field(repr=False)
    token: bool = False


@dataclass(frozen=True)
class LoginResult:
    """A successful login: the server, and the credentials to use from now on (the alias token
    when one was asked for, else the ones given)."""

    info: ServerInfo
    credentials: Credentials


def saved_credentials(url: str, user: str) -> Credentials | None:
    """The login saved in the OS keyring for this user on this server (a password, or an alias
    token the window stored), None when there is none. Main/GUI thread only (keyring)."""
    stored = credentials.load_secret(url, user)
    if not stored:
        return None
    auth_user, secret = credentials.decode_secret(user, stored)
    return Credentials(auth_user, secret, token=secret != stored)


def log_in(client: XnatClient, given: Credentials, *, want_token: bool = False) -> LoginResult:
    """Check `given` (the client's credentials) for real; with `want_token`, also trade them
    for an XNAT alias token (what the window saves instead of a password)."""
    info = client.login()
    if want_token:
        token = client.issue_token()
        return LoginResult(info, Credentials(token.alias, token.secret, token=True))
    return LoginResult(info, given)


def insecure_warning(url: str) -> str:
    """What to tell the user, once, when certificate checking is off for `url`."""
    return (
        f"Certificate checking is off for {url} (verify: false): the connection is encrypted "
        "but the server is not authenticated, so the password and the data could be "
        "intercepted. Use a CA bundle file instead if the server has its own certificate."
    )


def make_client(url: str, user: str, secret: str, verify: bool | str) -> XnatClient:
    """A new client (one per thread). With `verify` False, urllib3's InsecureRequestWarning
    (one per request) is silenced: the front end says it once (`insecure_warning`)."""
    if verify is False:
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    return XnatClient(url, user, secret, verify=verify)
