"""A real single-node SLURM cluster for the tests (cluster-and-lab.md §1).

Debian's slurmctld and slurmd run as root on this machine, with munge, configured by a private
slurm.conf in a temporary folder (`SLURM_CONF`), on free ports, so nothing of the machine's own
configuration is touched. `./dev.sh setup` installs the packages; where they are missing the tests
that need the cluster are skipped with a message that says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NEEDED = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "munged", "munge")


def missing() -> list[str]:
    return [tool for tool in NEEDED if _which(tool) is None]


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _munge_works() -> bool:
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=True)
        subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _start_munge() -> None:
    if _munge_works():
        return
    run = Path("/run/munge")
    run.mkdir(parents=True, exist_ok=True)
    shutil.chown(run, "munge", "munge")
    subprocess.run(
        ["su", "-s", "/bin/sh", "munge", "-c", _which("munged") or "munged"],
        check=True,
        timeout=30,
    )
    deadline = time.monotonic() + 10
    while not _munge_works():
        if time.monotonic() > deadline:
            raise RuntimeError("munged did not start")
        time.sleep(0.1)


@dataclass(frozen=True)
class Cluster:
    conf: Path
    env: dict[str, str]  # SLURM_CONF for sbatch, squeue, ...
    partition: str = "debug"

    def run(self, *args: str, timeout: float = 30) -> str:
        done = subprocess.run(
            list(args), env={**os.environ, **self.env}, capture_output=True, text=True,
            timeout=timeout, check=True,
        )  # fmt: skip
        return done.stdout

    def wait_gone(self, job_ids: list[str], timeout: float = 120) -> None:
        """Wait until none of the jobs is pending or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.run("squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T")
            if not out.strip():
                return
            time.sleep(0.5)
        raise TimeoutError(f"jobs {job_ids} still queued after {timeout} s:\n{out}")


@contextlib.contextmanager
def single_node_cluster(root: Path) -> Iterator[Cluster]:
    """Start slurmctld + slurmd with a private configuration under `root`; stop them after."""
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        f"""ClusterName=fsxnattest
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=2
SlurmctldLogFile={root}/log/ctld.log
SlurmdLogFile={root}/log/d.log
NodeName={host} CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
    )
    env = {"SLURM_CONF": str(conf)}
    _start_munge()
    full = {**os.environ, **env}
    daemons = [
        subprocess.Popen(
            [_which(name) or name, "-D", "-f", str(conf)],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("slurmctld", "slurmd")
    ]
    cluster = Cluster(conf, env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                state = cluster.run("sinfo", "-h", "-o", "%T", timeout=10).strip()
            except subprocess.SubprocessError:
                state = ""
            if state.startswith("idle") or state.startswith("mixed"):
                break
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                log = "\n".join(
                    p.read_text(errors="replace")[-2000:] for p in (root / "log").glob("*.log")
                )
                raise RuntimeError(f"the test SLURM cluster did not come up ({state!r}):\n{log}")
            time.sleep(0.3)
        yield cluster
    finally:
        for d in daemons:
            d.terminate()
        for d in daemons:
            try:
                d.wait(timeout=15)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
