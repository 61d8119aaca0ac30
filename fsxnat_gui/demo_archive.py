"""An "existing archive" to show (and test) matching: sessions archived from the scanner before
FreeSurfer ran, labelled unlike the FreeSurfer folders (archive-conventions.md §2).

`make_existing_archive_dir(root)` writes the SUBJECTS_DIR and `seed_existing_archive(client, P)`
creates what the scanner would have archived in project P:

- CAPS_001, CAPS_002: subjects with one MR session (CAPS_00N_MR_2019031N) -> that session;
- CAPS_003: a subject with two MR sessions -> ambiguous until the user chooses;
- CAPS_004_MR_20190314: a session of subject CAPS_004 -> that session (by session label);
- CAPS_006_tp1, CAPS_006_tp2: sessions of subject CAPS_006 -> those sessions;
- CAPS_006_tpN.long.CAPS_006_base -> time point N's session, resource FREESURFER7_LONG;
- CAPS_006_base (base of both time points) -> subject CAPS_006, resource FREESURFER7_BASE;
- CAPS_005: nothing on the server -> a new subject and session.

Synthetic FreeSurfer data (samples.py), never real subjects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from fsxnat_gui.samples import make_subject

SESSIONS: dict[str, tuple[str, ...]] = {
    "CAPS_001": ("CAPS_001_MR_20190311",),
    "CAPS_002": ("CAPS_002_MR_20190312",),
    "CAPS_003": ("CAPS_003_MR_20190313", "CAPS_003_MR_20200402"),
    "CAPS_004": ("CAPS_004_MR_20190314",),
    "CAPS_006": ("CAPS_006_tp1", "CAPS_006_tp2"),
}
CROSS = ("CAPS_001", "CAPS_002", "CAPS_003", "CAPS_004_MR_20190314", "CAPS_005")
TIME_POINTS = ("CAPS_006_tp1", "CAPS_006_tp2")
BASE = "CAPS_006_base"


class SeedClient(Protocol):
    def project_exists(self, project: str) -> bool: ...
    def create_project(self, project: str) -> None: ...
    def ensure_subject(self, project: str, label: str) -> str: ...
    def ensure_experiment(self, project: str, subject: str, label: str) -> str: ...


def make_existing_archive_dir(root: Path, size: str = "small", *, seed: int = 0) -> Path:
    """The SUBJECTS_DIR of the table above (11 finished subjects). Returns root."""
    root = Path(root)
    for i, name in enumerate((*CROSS, *TIME_POINTS)):
        make_subject(root, name, size=size, seed=seed + i)
    base = make_subject(root, BASE, variant="base", size=size, seed=seed + 20)
    (base / "base-tps").write_text("".join(f"{tp}\n" for tp in TIME_POINTS))
    for i, tp in enumerate(TIME_POINTS):
        make_subject(root, f"{tp}.long.{BASE}", variant="long", size=size, seed=seed + 30 + i)
    return root


def seed_existing_archive(client: SeedClient, project: str) -> None:
    """Create the project, its subjects and their MR sessions as the scanner would have."""
    if not client.project_exists(project):
        client.create_project(project)
    for subject, sessions in SESSIONS.items():
        client.ensure_subject(project, subject)
        for label in sessions:
            client.ensure_experiment(project, subject, label)
