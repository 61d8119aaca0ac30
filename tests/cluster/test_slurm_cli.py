"""`fsxnat slurm` on a real single-node SLURM, importing into the local XNAT (the jobs reach it
on 127.0.0.1), with the login in a netrc file: never a secret in the run folder, the jobs'
environment or what SLURM shows."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from slurm_cluster import Cluster

from fsxnat_gui import cli
from fsxnat_gui.core.xnat import XnatClient
from fsxnat_gui.samples import make_subject

pytestmark = pytest.mark.slow


def fsxnat(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def token_secret(
    xnat: Any, isolated_netrc: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:  # fmt: skip
    """`fsxnat login --save-token` as a user would; XNAT_PASS stays set in the submitting shell
    (it must not reach the jobs). Returns the token's secret, to look for."""
    monkeypatch.setenv("XNAT_PASS", xnat.password)
    code, _, err = fsxnat(capsys, "login", "--server", xnat.url, "--user", xnat.user,
                          "--save-token")  # fmt: skip
    assert code == 0, err
    assert isolated_netrc.stat().st_mode & 0o777 == 0o600
    return isolated_netrc.read_text().split("password ")[1].split()[0]


def job_ids(out: str) -> list[str]:
    return [line.split()[2].rstrip(":") for line in out.splitlines() if " job " in line]


def run_dir_of(out: str) -> Path:
    return Path(out.splitlines()[0].removeprefix("run folder: "))


def assert_no_secret(where: dict[str, str], *secrets: str) -> None:
    for name, text in where.items():
        for secret in secrets:
            assert secret not in text, f"a secret in {name}"


def files_of(folder: Path) -> dict[str, str]:
    return {str(p): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}


def on_server(xnat: Any, project: str) -> dict[str, list[str]]:
    """experiment label -> its resource labels."""
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        return {
            label: [r.label for r in client.list_resources(project, e.label)]
            for label, e in client.list_experiments(project).items()
        }


def test_an_array_of_three_throttled_to_two_imports_and_merges(
    slurm: Cluster, xnat: Any, tmp_path: Path, token_secret: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    sd = tmp_path / "subjects"
    for seed, name in enumerate(("s1", "s2", "s3")):
        make_subject(sd, name, seed=seed)
    mapping = tmp_path / "map.csv"  # s2 goes elsewhere: each task gets its own rows
    mapping.write_text("folder,subject,experiment,resource\ns2,renamed,renamed_MR1,\n")
    args = ["slurm", sd, "--server", xnat.url, "--user", xnat.user, "--project", "ARR",
            "--create-project", "--max-parallel", "2", "--map", mapping]  # fmt: skip
    code, out, err = fsxnat(capsys, *args, "--dry-run")
    assert code == 0, err
    assert "#SBATCH --array=0-2%2" in out
    assert not list(sd.glob("fsxnat-slurm-*"))  # a dry run writes nothing
    code, out, err = fsxnat(capsys, *args)
    assert code == 0, err
    array, merge = job_ids(out)
    shown = {f"scontrol {j}": slurm.run("scontrol", "show", "job", "-d", j) for j in (array, merge)}
    assert "ArrayTaskThrottle=2" in shown[f"scontrol {array}"]
    slurm.wait_gone([array, merge], timeout=180)
    run_dir = run_dir_of(out)
    summary = (run_dir / "summary.txt").read_text()
    assert summary.startswith("3 imported; 3 of 3 folders on the server")
    assert summary.count("\n") == 1
    merged = json.loads((run_dir / "report.json").read_text())
    assert merged["ok"] is True
    assert [(r["folder"], r["status"], r["verified"]) for r in merged["subjects"]] == [
        (name, "imported", True) for name in ("s1", "s2", "s3")
    ]
    assert (run_dir / "report.csv").read_text().count("\n") == 4
    assert sorted(on_server(xnat, "ARR")) == ["renamed_MR1", "s1_MR1", "s3_MR1"]
    assert all(r == ["FREESURFER7"] for r in on_server(xnat, "ARR").values())
    # no secret anywhere: the run folder (scripts, logs, reports), SLURM's view, the jobs'
    # environment as slurmctld stored it for them
    state = slurm.conf.parent / "state"
    environments = {str(p): p.read_text(errors="replace") for p in state.rglob("environment")}
    assert environments, "slurmctld keeps each job's environment in its state folder"
    assert all("SLURM_CONF=" in env for env in environments.values())
    assert_no_secret(files_of(run_dir) | shown | environments, xnat.password, token_secret)


def test_after_waits_for_recon_all_and_a_rerun_picks_up_what_was_not_finished(
    slurm: Cluster, xnat: Any, tmp_path: Path, token_secret: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    sd = tmp_path / "subjects"
    make_subject(sd, "done1")
    late = make_subject(sd, "late", variant="running")
    make_subject(sd, "stuck", variant="running")
    finish = tmp_path / "finish.sh"  # stands for the recon-all array: finishes 'late' only
    finish.write_text(
        f"#!/bin/sh\nsleep 3\n{sys.executable} -c 'from fsxnat_gui.samples import "
        f'finish_subject; finish_subject("{late}")\'\n'
    )
    gate = slurm.run("sbatch", "--parsable", f"--output={tmp_path}/finish.out", str(finish))
    gate = gate.strip()
    code, out, err = fsxnat(capsys, "slurm", sd, "--server", xnat.url, "--project", "AFT",
                            "--create-project", "--after", gate)  # fmt: skip
    assert code == 0, err
    array, merge = job_ids(out)
    assert f"Dependency=afterok:{gate}" in slurm.run("scontrol", "show", "job", array)
    slurm.wait_gone([gate, array, merge], timeout=180)
    run_dir = run_dir_of(out)
    rows = {r["folder"]: r for r in json.loads((run_dir / "report.json").read_text())["subjects"]}
    assert rows["done1"]["status"] == rows["late"]["status"] == "imported"
    assert rows["stuck"]["status"] == "failed"
    assert "running" in rows["stuck"]["error"]  # the import's own reason, from the task's log
    assert "see logs/" in rows["stuck"]["error"]
    assert (run_dir / "summary.txt").read_text().startswith("2 imported, 1 failed")
    # recon-all finishes 'stuck' too; the same command again imports it (and skips the others)
    from fsxnat_gui.samples import finish_subject

    finish_subject(sd / "stuck")
    code, out, err = fsxnat(capsys, "slurm", sd, "--server", xnat.url, "--project", "AFT")
    assert code == 0, err
    slurm.wait_gone(job_ids(out), timeout=180)
    summary = (run_dir_of(out) / "summary.txt").read_text()
    assert summary.startswith("1 imported, 2 skipped; 3 of 3 folders on the server"), summary
    assert sorted(on_server(xnat, "AFT")) == ["done1_MR1", "late_MR1", "stuck_MR1"]


def test_no_login_for_the_jobs_is_refused_with_the_fix(
    xnat: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    make_subject(tmp_path / "sd", "s1")
    monkeypatch.setenv("XNAT_PASS", xnat.password)  # the jobs never see it: not a login for them
    code, _, err = fsxnat(capsys, "slurm", tmp_path / "sd", "--server", xnat.url, "--user",
                          xnat.user, "--project", "P")  # fmt: skip
    assert code == 2
    assert "the jobs would find no login" in err
    assert f"fsxnat login --server {xnat.url} --user {xnat.user} --save-token" in err
    assert not list((tmp_path / "sd").glob("fsxnat-slurm-*"))


def test_a_token_that_may_expire_before_the_array_runs_is_a_warning(
    xnat: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import time

    from fsxnat_gui.core import netrc_file
    from fsxnat_gui.core.model import AliasToken

    make_subject(tmp_path / "sd", "s1")
    netrc_file.save_token(xnat.url, AliasToken("a", "tok-secret", time.time() + 24 * 3600))
    code, out, err = fsxnat(capsys, "slurm", tmp_path / "sd", "--server", xnat.url,
                            "--project", "P", "--dry-run")  # fmt: skip
    assert code == 0, err
    assert "warning: the alias token in" in err
    assert "the array may run after that" in err
    assert "tok-secret" not in out + err
    netrc_file.save_token(xnat.url, AliasToken("a", "tok-secret", time.time() - 1))
    code, _, err = fsxnat(capsys, "slurm", tmp_path / "sd", "--server", xnat.url,
                          "--project", "P", "--dry-run")  # fmt: skip
    assert code == 1
    assert "expired on" in err


def test_no_sbatch_is_a_clear_message(
    xnat: Any, tmp_path: Path, isolated_netrc: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    make_subject(tmp_path / "sd", "s1")
    isolated_netrc.write_text(f"machine 127.0.0.1 login {xnat.user} password {xnat.password}\n")
    isolated_netrc.chmod(0o600)
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = fsxnat(capsys, "slurm", tmp_path / "sd", "--server", xnat.url,
                          "--project", "P")  # fmt: skip
    assert code == 1
    assert "sbatch was not found on PATH" in err
    assert err.count("\n") == 1
