"""The end-to-end import against a real XNAT, when one is configured:

    FSXNAT_LIVE_URL, FSXNAT_LIVE_USER, FSXNAT_LIVE_PASS, FSXNAT_LIVE_PROJECT

One small synthetic subject goes in under unique labels through `fsxnat import`, is checked
file by file, and everything the test created (experiment, subject) is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path

import pytest
import requests

from fsxnat_gui import cli
from fsxnat_gui.core import archive
from fsxnat_gui.core.model import ManifestEntry
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.samples import make_subject

VARS = ("FSXNAT_LIVE_URL", "FSXNAT_LIVE_USER", "FSXNAT_LIVE_PASS", "FSXNAT_LIVE_PROJECT")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not all(os.environ.get(v) for v in VARS), reason="set " + ", ".join(VARS) + " to run"
    ),
]


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str, str]:
    url, user, password, project = (os.environ[v] for v in VARS)
    monkeypatch.setenv("XNAT_PASS", password)
    return url.rstrip("/"), user, password, project


def test_import_into_a_real_xnat(live: tuple[str, str, str, str], tmp_path: Path) -> None:
    url, user, password, project = live
    unique = uuid.uuid4().hex[:10]
    name = f"fsxnat_live_{unique}"
    subjects_dir = tmp_path / "subjects"
    subjects_dir.mkdir()
    make_subject(subjects_dir, name)
    report = tmp_path / "report.json"
    try:
        code = cli.main(
            ["import", str(subjects_dir), "--server", url, "--user", user, "--project", project,
             "--experiment-label", "{subject}_MR1", "--resource", "FREESURFER7", "--yes",
             "--report", str(report)]
        )  # fmt: skip
        assert code == 0
        (row,) = json.loads(report.read_text())["subjects"]
        assert (row["status"], row["verified"]) == ("imported", True)
        with XnatClient(url, user, password) as client:
            remote = client.list_files(project, f"{name}_MR1", "FREESURFER7")
        manifest = _manifest(subjects_dir / name)
        assert {f.path: f.size for f in remote} == {m.path: m.size for m in manifest}
        digests = {f.path: f.digest for f in remote if f.digest}
        assert all(digests[m.path] == m.md5 for m in manifest if m.path in digests)
    finally:
        _delete(url, user, password, f"/data/projects/{project}/experiments/{name}_MR1")
        _delete(url, user, password, f"/data/projects/{project}/subjects/{name}")


def _manifest(src: Path) -> tuple[ManifestEntry, ...]:
    steps = archive.local_manifest(src, threading.Event())
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _delete(url: str, user: str, password: str, path: str) -> None:
    """Clean-up, best effort: the adapter deletes resources only, so plain requests here."""
    response = requests.delete(
        f"{url}{path}", params={"removeFiles": "true"}, auth=(user, password), timeout=60
    )
    assert response.status_code in (200, 404), f"could not clean up {path}"
