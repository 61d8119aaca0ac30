"""Concurrent importers (SLURM tasks, two watches) against the local XNAT: creating the same
project and subject at the same moment both succeed, and two runs importing the same folder never
leave a half-written resource that a report calls imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.samples import make_subject

pytestmark = pytest.mark.slow

PATTERN = "(?P<subject>sub-[^_]+)_(?P<session>ses-.+)"


def start(xnat: Any, sd: Path, project: str, folder: str, report: Path, *more: str) -> Any:
    env = dict(os.environ, XNAT_PASS=xnat.password,
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "fsxnat_gui.cli", "import", str(sd), "--server", xnat.url,
         "--user", xnat.user, "--project", project, "--create-project", "--subject", folder,
         "--report", str(report), "--yes", *more],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(procs: list[Any]) -> list[tuple[int, str]]:
    done = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        done.append((p.returncode, out + err))
    return done


def test_two_importers_creating_the_same_project_and_subject_both_succeed(
    xnat: Any, tmp_path: Path
) -> None:
    sd = tmp_path / "sd"
    for seed, folder in enumerate(("sub-01_ses-1", "sub-01_ses-2")):
        make_subject(sd, folder, seed=seed)
    # both wait at the subject's creation, and are let go together
    held = xnat.faults.add("hang", method="PUT", path_regex=r"/subjects/sub-01$", count=2)
    more = ("--folder-pattern", PATTERN, "--experiment-label", "{subject}_{session}")
    procs = [
        start(xnat, sd, "SAME", f, tmp_path / f"{f}.json", *more)
        for f in ("sub-01_ses-1", "sub-01_ses-2")
    ]
    deadline = time.monotonic() + 60
    while held.fired < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held.fired == 2
    xnat.faults.release()
    for code, output in finish(procs):
        assert code == 0, output
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        assert list(client.list_subjects("SAME")) == ["sub-01"]
        assert sorted(client.list_experiments("SAME")) == ["sub-01_ses-1", "sub-01_ses-2"]


def test_a_409_answer_to_a_creation_is_asked_again_not_a_failure(xnat: Any, tmp_path: Path) -> None:
    """XNAT answers 409 to the second of two simultaneous creations (a clash found at save:
    xnat-rest.md §2.3 "Uniqueness", §4)."""
    make_subject(tmp_path / "sd", "s1")
    rules = [
        xnat.faults.add("echo_headers", method="PUT", path_regex=path, status=409)
        for path in (r"/data/projects/C409$", r"/subjects/s1$", r"/experiments/s1_MR1$")
    ]
    proc = start(xnat, tmp_path / "sd", "C409", "s1", tmp_path / "r.json")
    [(code, output)] = finish([proc])
    assert code == 0, output
    assert json.loads((tmp_path / "r.json").read_text())["subjects"][0]["verified"] is True
    assert [rule.fired for rule in rules] == [1, 1, 1]


def test_two_runs_of_the_same_folder_never_report_a_half_written_resource(
    xnat: Any, tmp_path: Path
) -> None:
    sd = tmp_path / "sd"
    make_subject(sd, "s1")
    (sd / "s1" / "mri" / "big.mgz").write_bytes(os.urandom(8_000_000))
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        client.create_project("TWICE")
    # both runs are held before anything of the subject exists, and let go together
    held = xnat.faults.add("hang", method="PUT", path_regex=r"/subjects/s1$", count=2)
    reports = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [start(xnat, sd, "TWICE", "s1", r) for r in reports]
    deadline = time.monotonic() + 60
    while held.fired < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    xnat.faults.release()
    done = finish(procs)
    rows = [json.loads(r.read_text())["subjects"][0] for r in reports if r.exists()]
    assert any(r["verified"] for r in rows), done
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        files = client.list_files("TWICE", "s1_MR1", "FREESURFER7")
    local = {
        p.relative_to(sd).as_posix(): p.stat().st_size for p in (sd / "s1").rglob("*")
        if p.is_file()
    }  # fmt: skip
    # whatever each run said, what a report calls verified is on the server whole
    assert {f.path: f.size for f in files} == local
    for row in rows:
        assert row["status"] in ("imported", "skipped", "failed")
        if row["status"] != "failed":
            assert row["verified"] is True
