"""Import benchmark: the recipe users follow today versus `fsxnat import`, in the same run.

(a) baseline: for each subject, `zip -r` of the folder, then pyxnat's Interface(config=...),
    project/subject/experiment create() and resource.put_zip(), one subject after another
    (the hand-written script fsxnat-gui replaces);
(b) `fsxnat import SUBJECTS_DIR ... --yes` (zip with stored .mgz/deflate-1, streamed upload,
    verification against the server's file list).

Both import the same full-size synthetic subjects (freesurfer.md recipe, ~330 MB each) into a
local XNAT-compatible server started for the run, in separate projects. Each side runs in its own
process so that its peak memory (max RSS of the process and its children) is measured alone.

Prints wall time, MB/s (subject bytes / wall time), peak memory and bytes uploaded of each, and
the ratios. Usage: python benchmarks/import_bench.py [--subjects 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER, PASSWORD = "bench", "bench-pw"

# Runs a command and prints its wall time and peak RSS (the command and all its children).
MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - t
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc, "wall": wall, "peak_mb": peak_kb / 1024}))
"""

FSXNAT = "import sys; from fsxnat_gui.cli import main; sys.exit(main(sys.argv[1:]))"

# The recipe users run today (pyxnat, one subject after another).
RECIPE = """
import json, os, subprocess, sys
from pyxnat import Interface
cfg, subjects_dir, project, workdir = sys.argv[1:5]
sent = 0
for name in sys.argv[5:]:
    zip_path = os.path.join(workdir, name + ".zip")
    subprocess.run(["zip", "-r", "-q", zip_path, name], cwd=subjects_dir, check=True)
    sent += os.path.getsize(zip_path)
    c = Interface(config=cfg)
    p = c.select.project(project)
    if not p.exists():
        p.create()
    s = p.subject(name); s.create()
    e = s.experiment(name + "_MR1"); e.create()
    r = e.resource("FREESURFER7")
    r.put_zip(zip_path, format=None, content=None, tags=None)
    c.disconnect()
    os.remove(zip_path)
print("SENT", sent)
"""


def measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env=env
    )
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    result["stdout"] = "\n".join(lines[:-1])
    if result["rc"] != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"benchmark step failed: {' '.join(cmd[:3])} ... (exit {result['rc']})")
    return result


@contextmanager
def local_server(root: Path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fsxnat_gui.localxnat",
            "--root",
            str(root),
            "--user",
            f"{USER}:{PASSWORD}",
        ],
        stdout=subprocess.PIPE,
        text=True,
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


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp folder)")
    args = parser.parse_args()
    if not shutil.which("zip"):
        raise SystemExit("the baseline needs Info-ZIP `zip` (apt-get install zip)")

    from fsxnat_gui.samples import make_subject

    work = args.keep or Path(tempfile.mkdtemp(prefix="fsxnat-bench-"))
    try:
        subjects_dir = work / "subjects"
        subjects_dir.mkdir(parents=True, exist_ok=True)
        names = [f"bench{i:02d}" for i in range(1, args.subjects + 1)]
        t = time.perf_counter()
        for i, name in enumerate(names):
            if not (subjects_dir / name).exists():
                make_subject(subjects_dir, name, size="full", seed=i)
        total = dir_bytes(subjects_dir)
        print(
            f"generated {len(names)} full-size subjects, {total / 1e6:.0f} MB "
            f"in {time.perf_counter() - t:.1f} s"
        )

        with local_server(work / "archive") as url:
            cfg = work / "xnat.cfg"
            cfg.write_text(json.dumps({"server": url, "user": USER, "password": PASSWORD}))
            zips = work / "zips"
            zips.mkdir(exist_ok=True)
            base = measured(
                [
                    sys.executable,
                    "-c",
                    RECIPE,
                    str(cfg),
                    str(subjects_dir),
                    "RECIPE",
                    str(zips),
                    *names,
                ]
            )
            base_sent = int(base["stdout"].split()[-1])

            report = work / "report.json"
            env = dict(os.environ, XNAT_PASS=PASSWORD)
            ours = measured(
                [
                    sys.executable,
                    "-c",
                    FSXNAT,
                    "import",
                    str(subjects_dir),
                    "--server",
                    url,
                    "--user",
                    USER,
                    "--project",
                    "FSXNAT",
                    "--create-project",
                    "--resource",
                    "FREESURFER7",
                    "--yes",
                    "--report",
                    str(report),
                ],
                env=env,
            )
            rows = json.loads(report.read_text())["subjects"]
            if not all(r["verified"] for r in rows):
                raise SystemExit("fsxnat import did not verify every subject")
            ours_sent = sum(r.get("uploaded_bytes", 0) for r in rows)

        mb = total / 1e6
        print()
        print(f"{'':28}{'wall s':>9}{'MB/s':>9}{'peak MB':>9}{'sent MB':>9}")
        for label, r, sent in (
            ("(a) zip -r + pyxnat put_zip", base, base_sent),
            ("(b) fsxnat import", ours, ours_sent),
        ):
            print(
                f"{label:28}{r['wall']:9.1f}{mb / r['wall']:9.1f}{r['peak_mb']:9.0f}"
                f"{sent / 1e6:9.0f}"
            )
        speedup = base["wall"] / ours["wall"]
        extra = ours_sent / base_sent - 1 if base_sent else float("nan")
        print()
        print(f"speed-up (a)/(b): {speedup:.2f}x   (target >= 3x)")
        print(f"peak memory (b): {ours['peak_mb']:.0f} MB   (target < 300 MB)")
        print(f"bytes uploaded (b) vs (a): {extra:+.1%}   (target <= +10%)")
        ok = speedup >= 3 and ours["peak_mb"] < 300 and extra <= 0.10
        print("targets met" if ok else "TARGETS NOT MET")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
