"""Fixtures for the import tests: small synthetic subjects and a logged-in client of the local
XNAT (the `xnat` fixture of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui.core import scan
from fsxnat_gui.core.model import Subject
from fsxnat_gui.core.transport import CallPolicy
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.samples import make_subject

NAMES = ("sub-01", "sub-02", "sub-03")


@pytest.fixture
def subjects_dir(tmp_path: Path) -> Path:
    """Three small finished recon-all subjects (~2 MB each)."""
    root = tmp_path / "subjects"
    root.mkdir()
    for seed, name in enumerate(NAMES):
        make_subject(root, name, seed=seed)
    return root


@pytest.fixture
def subjects(subjects_dir: Path) -> list[Subject]:
    return [s for s in scan.scan(subjects_dir) if s.eligible]


@pytest.fixture
def fast() -> CallPolicy:
    """The metadata calls' discipline with the pauses of a test (tries as in production, but
    hundredths of a second between them; a second for clean-up calls)."""
    return CallPolicy(read=10.0, attempts=3, backoff=0.01, max_pause=0.2, cleanup=1.0)


@pytest.fixture
def client(xnat: Any, fast: CallPolicy) -> Iterator[XnatClient]:
    with XnatClient(xnat.url, xnat.user, xnat.password, timeout=(5.0, 30.0), policy=fast) as c:
        c.login()
        yield c
