"""What the window shows about where it is, in one place (STYLE §3.7).

MainWindow owns the one `UiState`: the controllers report what happened through their
signals, the window writes it here and `MainWindow._apply_state` sets every enabled, visible
and text flag from it alone (never by asking the job queue or a controller).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from fsxnat_gui.gui.session import Session


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
