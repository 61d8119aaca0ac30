"""What the window shows about where it is, in one place (STYLE §3.7).

MainWindow owns the one `UiState`: the controllers report what happened through their
signals, the window writes it here and `MainWindow._apply_state` sets every enabled, visible
and text flag from it alone (never by asking the job queue or a controller).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from fsxnat_gui.core.model import Subject
from fsxnat_gui.gui import units
from fsxnat_gui.gui.session import Session

DEMO_LABEL = "Demo server (local, sample data)"


class Phase(Enum):
    IDLE = "idle"
    SCANNING = "scanning"
    IMPORTING = "importing"
    CANCELLING = "cancelling"


ACTIVITY_WORDS = {
    "scan": "Scanning subjects…",
    "preview": "Checking the server…",
    "login": "Logging in…",
    "projects": "Listing projects…",
    "demo": "Starting the demo server and generating sample subjects…",
    "import": "Importing…",
    "mapping": "Reading or writing the mapping file…",
}


@dataclass
class UiState:
    phase: Phase = Phase.IDLE
    session: Session | None = None
    job: str = ""  # the background job that runs now ("scan", "preview", "login"...), "" if none
    demo_starting: bool = False
    closing: bool = False  # the window was closed during an import: it closes once it stopped
    has_report: bool = False  # the last import left a report to save
    blocked: str = ""  # why the checked subjects cannot be imported as they are ("" if they can)
    checked: tuple[Subject, ...] = ()  # the checked subjects
    project: str = ""  # the project typed or chosen
    known_servers: bool = False  # a server login was saved before (no demo offer then)
    root: Path | None = None  # the SUBJECTS_DIR shown (None: dropped subject folders)

    @property
    def importing(self) -> bool:
        return self.phase in (Phase.IMPORTING, Phase.CANCELLING)

    @property
    def activity(self) -> str:
        """The status bar's words for what happens in the background."""
        if self.closing:
            return "Stopping the import…"
        if self.phase is Phase.CANCELLING:
            return "Cancelling…"
        return ACTIVITY_WORDS.get(self.job, "Ready")

    @property
    def offer_demo(self) -> bool:
        return self.session is None and not self.known_servers and not self.demo_starting

    def import_button(self) -> tuple[bool, str, str]:
        """Whether Import can start, its text and its tooltip."""
        checked, logged_in = self.checked, self.session is not None
        enabled = (
            not self.importing
            and logged_in
            and bool(checked)
            and bool(self.project)
            and self.job != "login"
            and not self.blocked
        )
        text = "Import"
        if checked:
            n, size = len(checked), units.size(sum(s.bytes or 0 for s in checked))
            text = f"Import {n} subject{'s' if n != 1 else ''} ({size})"
        if not logged_in:
            tip = "Log in first (or try the demo server)."
        elif not checked:
            tip = "Check the subjects to import."
        elif self.blocked:
            tip = f"Cannot import as it is:\n{self.blocked}"
        else:
            tip = "Zip and upload the checked subjects (Ctrl+I)"
        return enabled, text, tip

    @property
    def title(self) -> str:
        """The window title: the SUBJECTS_DIR's name and the login. Never the application's
        name: Qt appends its display name to every window title by itself (once)."""
        parts = (self.root.name if self.root is not None else "", self.session_words()[0])
        return " — ".join(part for part in parts if part)

    def session_words(self) -> tuple[str, str]:
        """(window title suffix, server line) for the login state."""
        session = self.session
        if session is None:
            return "", "Not logged in"
        if session.demo:
            return DEMO_LABEL, f"{DEMO_LABEL}: {session.url}"
        version = f" (XNAT {session.server_version})" if session.server_version else ""
        return f"{session.user}@{session.url}", f"{session.user} @ {session.url}{version}"
