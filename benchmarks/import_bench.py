"""Import benchmark, one run, same server, same data (full-size synthetic subjects, ~330 MB):

(a) the recipe users follow today: for each subject `zip -r` of the folder, then pyxnat's
    Interface(config=...), project/subject/experiment create() and resource.put_zip();
(b) the floor: the same server accepting ready-made store-only zips (`zip -r -0`, made before
    the clock starts) sent by curl, no client work; one subject at a time and N at a time;
(c) `fsxnat import SUBJECTS_DIR ... --yes` (the real CLI) with 1 and N streams.

Each runs in its own process, so its peak memory (max RSS of the process and its children) is
measured alone, into its own project of a local XNAT-compatible server started for the run.
The machine is shared (client and server on the same 2 cores, other work on the host): the
floor and `fsxnat import` with N streams are measured `--repeat` times (default 3), one after
the other, and the ratio is the median of the pairs' ratios (each pair printed).
Targets (issue 11): (c) with N streams <= 1.3x the floor (N at a time) and >= 5x faster than
the recipe; peak RSS of the CLI < 150 MB.

Usage: python benchmarks/import_bench.py [--subjects 3] [--parallel 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_common import (
    PASSWORD,
    USER,
    dir_bytes,
    floor,
    fsxnat_import,
    local_server,
    measured,
    store_zips,
)

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2, help="streams (default 2)")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp folder)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="pairs of floor and fsxnat runs, N at a time"
    )
    args = parser.parse_args()
    if not shutil.which("zip") or not shutil.which("curl"):
        raise SystemExit("the recipe and the floor need Info-ZIP `zip` and `curl`")

    from fsxnat_gui.samples import make_subject

    n = args.parallel
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
        zips = work / "zips"
        floor_sent = store_zips(subjects_dir, names, zips)

        rows = []
        with local_server(work / "archive") as url:
            cfg = work / "xnat.cfg"
            cfg.write_text(json.dumps({"server": url, "user": USER, "password": PASSWORD}))
            scratch = work / "scratch"
            scratch.mkdir(exist_ok=True)
            recipe_args = [str(cfg), str(subjects_dir), "RECIPE", str(scratch), *names]
            recipe = measured([sys.executable, "-c", RECIPE, *recipe_args])
            rows.append(
                ("(a) zip -r + pyxnat put_zip", recipe, int(str(recipe["stdout"]).split()[-1]))
            )
            floor_1 = floor(url, "FLOOR1", zips, names, 1)
            rows.append(("(b) floor: curl, 1 at a time", floor_1, floor_sent))
            ours_1, sent_1 = fsxnat_import(subjects_dir, url, "FSX1", work / "r1.json", 1)
            pairs = []
            for k in range(1, max(1, args.repeat) + 1):
                floor_n = floor(url, f"FLOORN{k}", zips, names, n)
                ours_n, sent_n = fsxnat_import(
                    subjects_dir, url, f"FSXN{k}", work / f"rn{k}.json", n
                )
                pairs.append((floor_n, ours_n))
            pairs.sort(key=lambda p: float(p[1]["wall"]) / float(p[0]["wall"]))
            floor_n, ours_n = pairs[len(pairs) // 2]  # the median pair
            rows.append((f"(b) floor: curl, {n} at a time", floor_n, floor_sent))
            rows.append(("(c) fsxnat import, 1 stream", ours_1, sent_1))
            rows.append((f"(c) fsxnat import, {n} streams", ours_n, sent_n))

        mb = total / 1e6
        print()
        print(f"{'':32}{'wall s':>9}{'MB/s':>9}{'peak MB':>9}{'sent MB':>9}")
        for label, r, sent in rows:
            wall = float(r["wall"])
            print(
                f"{label:32}{wall:9.1f}{mb / wall:9.1f}{float(r['peak_mb']):9.0f}{sent / 1e6:9.0f}"
            )
        wall_n, wall_floor = float(ours_n["wall"]), float(floor_n["wall"])
        vs_floor = wall_n / wall_floor
        print()
        print(
            f"pairs, {n} at a time (floor s, fsxnat s, ratio), sorted; the median is shown above:"
        )
        for f, o in pairs:
            fw, ow = float(f["wall"]), float(o["wall"])
            print(f"  {fw:6.1f} {ow:6.1f} {ow / fw:6.2f}")
        vs_floor_1 = wall_n / float(floor_1["wall"])
        speedup = float(recipe["wall"]) / wall_n
        peak = float(ours_n["peak_mb"])
        print()
        print(f"fsxnat ({n} streams) / floor ({n} at a time): {vs_floor:.2f}x   (target <= 1.3x)")
        print(f"fsxnat ({n} streams) / floor (1 at a time): {vs_floor_1:.2f}x")
        print(f"speed-up over the recipe: {speedup:.2f}x   (target >= 5x)")
        print(f"CLI peak RSS ({n} streams): {peak:.0f} MB   (target < 150 MB)")
        ok = vs_floor <= 1.3 and speedup >= 5 and peak < 150
        print("targets met" if ok else "TARGETS NOT MET")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
