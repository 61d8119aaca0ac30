"""What the benchmarks share: the local server in its own process, a measured child process
(wall time, peak RSS), `fsxnat import` with N streams, and the floor (ready-made store-only
zips sent by curl).

Streams: `fsxnat import --parallel N` (the real CLI, `python -m fsxnat_gui.cli`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

USER, PASSWORD = "bench", "bench-pw"
RESOURCE = "FREESURFER7"

# Runs a command and prints its wall time and peak RSS (the command and all its children).
MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - t
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc, "wall": wall, "peak_mb": peak_kb / 1024}))
"""

# The floor: per subject, create the subject and the experiment and send the ready-made zip
# (curl; no client work), N subjects at a time. argv: url project zips_dir N names...
FLOOR = r"""
set -eu
url=$1; project=$2; zips=$3; n=$4; shift 4
auth="$BENCH_USER:$BENCH_PASS"
curl -sf -u "$auth" -X PUT "$url/data/projects/$project" -o /dev/null || true
one() {
  s=$1
  curl -sf -u "$auth" -X PUT "$url/data/projects/$project/subjects/$s" -o /dev/null
  curl -sf -u "$auth" -X PUT \
    "$url/data/projects/$project/subjects/$s/experiments/${s}_MR1?xsiType=xnat:mrSessionData" \
    -o /dev/null
  files="$url/data/projects/$project/experiments/${s}_MR1/resources/$RESOURCE/files"
  curl -sf -u "$auth" -X POST -H "Content-Type: application/zip" -H "Expect:" -T "$zips/$s.zip" \
    "$files/$s.zip?extract=true&inbody=true" -o /dev/null
}
export -f one; export url project zips auth RESOURCE
printf '%s\n' "$@" | xargs -P "$n" -I{} bash -c 'one {}'
"""


def measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict[str, float | str]:
    """Run `cmd` (wall time, peak RSS). The disk's dirty pages are written first, so that a
    step does not pay for the writes of the step before."""
    os.sync()
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env=env
    )
    lines = proc.stdout.strip().splitlines()
    result: dict[str, float | str] = json.loads(lines[-1])
    result["stdout"] = "\n".join(lines[:-1])
    if result["rc"] != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"benchmark step failed: {' '.join(cmd[:3])} ... (exit {result['rc']})")
    return result


@contextmanager
def local_server(root: Path, prefix: Sequence[str] = ()) -> Iterator[str]:
    """The local XNAT in its own process (`prefix`: e.g. `ip netns exec NAME`); its URL."""
    cmd = [*prefix, sys.executable, "-m", "fsxnat_gui.localxnat", "--root", str(root)]
    proc = subprocess.Popen(
        [*cmd, "--user", f"{USER}:{PASSWORD}"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "URL":
            raise SystemExit(f"local server did not start: {first}")
        yield first[1]
    finally:
        proc.terminate()
        proc.wait(10)


def fsxnat_import(
    subjects_dir: Path,
    url: str,
    project: str,
    report: Path,
    parallel: int,
    prefix: Sequence[str] = (),
) -> tuple[dict[str, float | str], int]:
    """`fsxnat import` of every subject with `parallel` streams: (measurement, bytes sent);
    exits unless every subject was verified."""
    env = dict(os.environ, XNAT_PASS=PASSWORD)
    args = ["import", str(subjects_dir), "--server", url, "--user", USER, "--project", project]
    args += ["--create-project", "--resource", RESOURCE, "--yes", "--report", str(report)]
    args += ["--parallel", str(parallel)]
    result = measured([*prefix, sys.executable, "-m", "fsxnat_gui.cli", *args], env=env)
    rows = json.loads(report.read_text())["subjects"]
    if not all(r["verified"] for r in rows):
        raise SystemExit("fsxnat import did not verify every subject")
    return result, sum(r.get("uploaded_bytes", 0) for r in rows)


def store_zips(subjects_dir: Path, names: Sequence[str], zips: Path) -> int:
    """Ready-made store-only zips (`zip -r -0`) for the floor; their total size."""
    zips.mkdir(parents=True, exist_ok=True)
    for name in names:
        dest = zips / f"{name}.zip"
        if not dest.exists():
            subprocess.run(["zip", "-r", "-0", "-q", str(dest), name], cwd=subjects_dir, check=True)
    return sum((zips / f"{n}.zip").stat().st_size for n in names)


def floor(
    url: str,
    project: str,
    zips: Path,
    names: Sequence[str],
    parallel: int,
    prefix: Sequence[str] = (),
) -> dict[str, float | str]:
    """The floor: curl sends the ready-made zips, `parallel` subjects at a time."""
    env = dict(os.environ, BENCH_USER=USER, BENCH_PASS=PASSWORD, RESOURCE=RESOURCE)
    cmd = [*prefix, "bash", "-c", FLOOR, "floor", url, project, str(zips), str(parallel), *names]
    return measured(cmd, env=env)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
