"""Helpers for the local XNAT server tests: authenticated sessions and small zips."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator

import pytest
import requests

EXPERIMENT_TYPE = "xnat:mrSessionData"


@pytest.fixture
def owner(xnat) -> Iterator[requests.Session]:
    """A requests session with the owner's Basic credentials."""
    with requests.Session() as session:
        session.auth = (xnat.user, xnat.password)
        yield session


@pytest.fixture
def reader(xnat) -> Iterator[requests.Session]:
    """A requests session with the read-only member's Basic credentials."""
    with requests.Session() as session:
        session.auth = (xnat.reader, xnat.reader_password)
        yield session


@pytest.fixture
def anonymous() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def make_zip() -> Callable[[dict[str, bytes]], bytes]:
    """Build a zip in memory from `{entry name: bytes}`."""
    return _make_zip


@pytest.fixture
def session_url(xnat, owner) -> Callable[..., str]:
    """Create project P/subject/experiment and return a function giving URLs below it."""

    def make(project: str = "P1", subject: str = "subj01", label: str = "subj01_MR1") -> str:
        assert owner.put(f"{xnat.url}/data/projects/{project}").status_code == 200
        response = owner.put(
            f"{xnat.url}/data/projects/{project}/subjects/{subject}/experiments/{label}",
            params={"xsiType": EXPERIMENT_TYPE},
        )
        assert response.status_code in (200, 201)
        return f"{xnat.url}/data/projects/{project}/subjects/{subject}/experiments/{label}"

    return make
