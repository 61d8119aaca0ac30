"""Job-array scripts: what they say, and how the real SLURM runs them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from slurm_cluster import Cluster

from fsxnat_gui.core.slurm import ArrayPlan, SlurmError, array_script, submit, time_seconds

# A stand-in task: records its folder, when it ran, and whether it saw a secret.
TASK = (
    "import os, sys, time, json; a = sys.argv; "
    "f = a[a.index('--subject') + 1]; r = a[a.index('--report') + 1]; "
    "t0 = time.time(); time.sleep(1.5); "
    "json.dump({'folder': f, 'start': t0, 'end': time.time(), "
    "'secret_seen': 'XNAT_PASS' in os.environ}, open(r, 'w'))"
)


def plan(tmp_path: Path, folders: tuple[str, ...], **kw: object) -> ArrayPlan:
    return ArrayPlan(
        run_dir=tmp_path / "run",
        folders=folders,
        task_command=(sys.executable, "-c", TASK),
        merge_command=(
            "/bin/sh",
            "-c",
            f"ls {tmp_path / 'run' / 'reports'} > {tmp_path / 'run' / 'merged'}",
        ),
        **kw,  # type: ignore[arg-type]
    )


def test_the_script_quotes_folders_and_keeps_secrets_out(tmp_path: Path) -> None:
    p = plan(tmp_path, ("sub 01", "it's"), max_parallel=2, partition="short", time_limit="02:00:00")
    text = array_script(p)
    assert "#SBATCH --array=0-1%2" in text
    assert "#SBATCH --partition=short" in text
    assert "#SBATCH --time=02:00:00" in text
    assert "#SBATCH --export=HOME,PATH," in text  # only what a task needs: never XNAT_PASS
    assert "'sub 01'" in text
    assert "'it'\"'\"'s'" in text


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"folders": ()}, "no folder to import"),
        ({"max_parallel": 0}, "at least 1"),
        ({"time_limit": "2 hours"}, "not a SLURM time"),
        ({"after": ("12;x",)}, "not a job id"),
    ],
)
def test_bad_options_are_sentences(tmp_path: Path, kw: dict, message: str) -> None:
    args = {"folders": ("a",), **kw}
    with pytest.raises(SlurmError, match=message):
        plan(tmp_path, **args)  # type: ignore[arg-type]


def test_sbatch_missing_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SlurmError, match="sbatch was not found on PATH"):
        submit(plan(tmp_path, ("a",)))


def test_the_array_runs_throttled_after_a_dependency_then_merges(
    slurm: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XNAT_PASS", "must-not-reach-the-jobs")
    gate = tmp_path / "gate.sh"
    gate.write_text(f"#!/bin/sh\nsleep 2\ndate +%s.%N > {tmp_path / 'gate-done'}\n")
    gate_id = slurm.run("sbatch", "--parsable", f"--output={tmp_path}/gate.out", str(gate)).strip()
    p = plan(tmp_path, ("a", "b", "c"), max_parallel=2, after=(gate_id,))
    jobs = submit(p)
    pending = slurm.run("scontrol", "show", "job", "-d", jobs.array_job)  # waits for the gate
    assert "Dependency=afterok:" in pending
    assert "must-not-reach-the-jobs" not in pending
    slurm.wait_gone([gate_id, jobs.array_job, jobs.merge_job], timeout=120)
    reports = [json.loads((p.run_dir / "reports" / f"{f}.json").read_text()) for f in "abc"]
    gate_done = float((tmp_path / "gate-done").read_text())
    assert all(r["start"] >= gate_done - 0.5 for r in reports)  # afterok: after the gate
    assert not any(r["secret_seen"] for r in reports)
    # never more than 2 at once (counted at each start: one task may overlap two that follow
    # each other)
    for r in reports:
        running = [o for o in reports if o["start"] <= r["start"] < o["end"]]
        assert len(running) <= 2
    assert (p.run_dir / "merged").read_text().split() == ["a.json", "b.json", "c.json"]
    assert (p.run_dir / "jobs.txt").read_text().startswith(f"array {jobs.array_job}")


@pytest.mark.parametrize(
    ("limit", "seconds"),
    [("30", 1800), ("30:15", 1815), ("02:00:00", 7200), ("1-12", 129600), ("2-00:30:00", 174600)],
)
def test_slurm_times(limit: str, seconds: float) -> None:
    assert time_seconds(limit) == seconds


def test_a_report_reads_back_as_written(tmp_path: Path) -> None:
    from fsxnat_gui.core import report
    from fsxnat_gui.core.model import Level, ResultStatus, RunReport, SubjectResult

    written = RunReport("http://h:8080", "P", "2026-01-01T00:00:00", "2026-01-01T00:01:00", (
        SubjectResult("s1", ResultStatus.IMPORTED, True, 3, 100, 90, "/e", "/r", seconds=1.5,
                      left_out=("x: not included",), subject_label="s1", experiment="s1_MR1",
                      resource="FREESURFER7", match="new"),
        SubjectResult("b", ResultStatus.FAILED, False, error="no", level=Level.SUBJECT),
    ))  # fmt: skip
    report.write_json(written, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert report.report_from_dict(data) == written
