"""The logged-in session the window keeps in memory (the secret lives here and in jobs' inputs,
never in settings, logs or reprs)."""

from __future__ import annotations

from dataclasses import dataclass

from fsxnat_gui.gui.settings import ServerProfile

URL_CREDENTIALS_HELP = (
    "Put the user name in the User field and the password in the Password field, not in the URL."
)


@dataclass(frozen=True)
class Session:
    """Who the window is logged in as."""

    profile: ServerProfile
    auth_user: str  # the user name, or the alias of a token
    secret: str = ""
    server_version: str = ""
    remembered: bool = False
    demo: bool = False

    @property
    def url(self) -> str:
        return self.profile.url

    @property
    def user(self) -> str:
        return self.profile.user

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"Session({self.user}@{self.url}, demo={self.demo})"
