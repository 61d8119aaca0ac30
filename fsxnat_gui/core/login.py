"""Logging in, one way for the window and the CLI: the login saved in the keyring, the login
itself (optionally trading the password for an XNAT alias token), and the client factory that
announces "no certificate check" once instead of once per request.

Where the CLI finds a login without asking (`find_login`), in this order (archive-conventions.md
§4): `~/.netrc` (`machine <host> login <user or alias> password <secret>`; a file others can read
is refused), `XNAT_USER`/`XNAT_PASS`, then the OS keyring. Cluster nodes have no desktop keyring:
`fsxnat login --save-token` puts an alias token in `~/.netrc` for them.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from urllib3.exceptions import InsecureRequestWarning

from fsxnat_gui.core import credentials, netrc_file
from fsxnat_gui.core.errors import AuthError
from fsxnat_gui.core.model import ServerInfo
from fsxnat_gui.core.units import human_duration
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


USER_ENV, PASSWORD_ENV = "XNAT_USER", "XNAT_PASS"
NETRC, ENVIRONMENT, KEYRING = "netrc", "environment", "keyring"


class TokenExpiredError(AuthError):
    """The alias token in the netrc file has expired; the message says how to get a new one."""


@dataclass(frozen=True)
class FoundLogin:
    """A login found without asking, and where: `source` is NETRC, ENVIRONMENT or KEYRING;
    `path` the netrc file; `expires` an alias token's expiry (epoch s) when fsxnat saved it."""

    credentials: Credentials
    source: str
    path: Path | None = None
    expires: float | None = None

    def where(self) -> str:
        return {
            NETRC: str(self.path),
            ENVIRONMENT: f"${USER_ENV}/${PASSWORD_ENV}",
            KEYRING: "the keyring",
        }[self.source]


def find_login(
    url: str,
    user: str | None,
    *,
    netrc: bool = True,
    environment: bool = True,
    keyring: bool = True,
) -> FoundLogin | None:
    """The first login for `url` in ~/.netrc, $XNAT_USER/$XNAT_PASS, the OS keyring (GUI/main
    thread only); None when there is none. A netrc entry is used when no user is given, when its
    login is the user, or when it is an alias token fsxnat saved. `NetrcError` for a netrc file
    others can read or one that cannot be parsed."""
    path = netrc_file.netrc_path()
    entry = netrc_file.find(url, path) if netrc else None
    if entry is not None and (user is None or entry.login == user or entry.expires is not None):
        token = entry.expires is not None
        log.info("login for %s from %s", url, path)
        secret = Credentials(entry.login, entry.password, token)
        return FoundLogin(secret, NETRC, path, entry.expires)
    user = user or (os.environ.get(USER_ENV, "") if environment else "") or None
    if user and environment and (secret := os.environ.get(PASSWORD_ENV, "")):
        return FoundLogin(Credentials(user, secret), ENVIRONMENT)
    if user and keyring and (saved := saved_credentials(url, user)) is not None:
        log.info("login for %s from the keyring (%s)", user, credentials.backend_name())
        return FoundLogin(saved, KEYRING)
    return None


def save_token_hint(url: str, user: str | None) -> str:
    return f"fsxnat login --server {url} --user {user or 'NAME'} --save-token"


def check_expiry(
    found: FoundLogin, url: str, within: float, now: float | None = None
) -> str | None:
    """`TokenExpiredError` for an expired netrc alias token; a warning sentence when it expires
    within `within` seconds; None otherwise (or when the expiry is unknown)."""
    if found.expires is None:
        return None
    now = time.time() if now is None else now
    when = datetime.fromtimestamp(found.expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if found.expires <= now:
        raise TokenExpiredError(
            f"the alias token for {netrc_file.host_of(url)} in {found.path} expired on {when}; "
            f"get a new one: {save_token_hint(url, None)}"
        )
    if found.expires - now < within:
        left = human_duration(found.expires - now)
        return (
            f"the alias token in {found.path} expires on {when} (in {left}); "
            f"renew it in time: {save_token_hint(url, None)}"
        )
    return None


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
