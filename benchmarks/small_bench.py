"""Per-subject overhead: `fsxnat import` of many small subjects (~1.8 MB each) against the
server's own time for the same subjects.

The floor is a minimal client in one process (one requests session, ready-made store-only
zips made before the clock starts) that sends exactly the requests fsxnat sends for a new
subject (create the subject and the experiment, create the resource, upload the zip, list its
files; the new experiment's resources are not listed: XNAT answered 201, it is empty), one
subject at a time or N at a time (threads): the server's time plus the least a client can add.
The per-subject client overhead is (fsxnat wall - floor wall) / subjects, with 1 stream and
with N.
Target (issue 11): <= 20 ms per subject.

Usage: python benchmarks/small_bench.py [--subjects 200] [--parallel 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_common import PASSWORD, RESOURCE, USER, fsxnat_import, local_server, measured

TARGET_MS = 20.0

# argv: url project zips_dir parallel names...
FLOOR_TEMPLATE = """
import sys, threading
import requests
url, project, zips, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
names = sys.argv[5:]
auth = ("%(user)s", "%(password)s")
session = requests.Session()
session.auth = auth
adapter = requests.adapters.HTTPAdapter(pool_maxsize=n + 1)
session.mount("http://", adapter)
def ok(r):
    if r.status_code >= 300:
        raise SystemExit(f"{r.request.method} {r.url}: {r.status_code}")
ok(session.put(f"{url}/data/projects/{project}"))
def one(s):
    p = f"{url}/data/projects/{project}"
    ok(session.put(f"{p}/subjects/{s}"))
    ok(session.put(f"{p}/subjects/{s}/experiments/{s}_MR1",
                   params={"xsiType": "xnat:mrSessionData"}))
    e = f"{p}/experiments/{s}_MR1"
    ok(session.put(f"{e}/resources/%(resource)s"))
    with open(f"{zips}/{s}.zip", "rb") as body:
        ok(session.post(f"{e}/resources/%(resource)s/files/{s}.zip",
                        params={"extract": "true", "inbody": "true"}, data=body,
                        headers={"Content-Type": "application/zip"}))
    ok(session.get(f"{e}/resources/%(resource)s/files", params={"format": "json"}))
todo = list(names)
lock = threading.Lock()
def work():
    while True:
        with lock:
            if not todo:
                return
            s = todo.pop(0)
        one(s)
threads = [threading.Thread(target=work) for _ in range(n)]
for t in threads: t.start()
for t in threads: t.join()
"""
FLOOR = FLOOR_TEMPLATE.replace("%(user)s", USER).replace("%(password)s", PASSWORD)
FLOOR = FLOOR.replace("%(resource)s", RESOURCE)


def store_zips(subjects_dir: Path, names: list[str], zips: Path) -> None:
    import zipfile

    zips.mkdir(parents=True, exist_ok=True)
    for name in names:
        with zipfile.ZipFile(zips / f"{name}.zip", "w") as z:
            for path in sorted((subjects_dir / name).rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(subjects_dir).as_posix())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=2, help="streams (default 2)")
    args = parser.parse_args()
    from fsxnat_gui.samples import make_subject

    work = Path(tempfile.mkdtemp(prefix="fsxnat-small-"))
    try:
        subjects_dir = work / "subjects"
        names = [f"small{i:03d}" for i in range(1, args.subjects + 1)]
        t = time.perf_counter()
        for i, name in enumerate(names):
            make_subject(subjects_dir, name, seed=i)
        print(f"generated {len(names)} small subjects in {time.perf_counter() - t:.1f} s")
        zips = work / "zips"
        store_zips(subjects_dir, names, zips)
        n = args.parallel
        rows = []
        with local_server(work / "archive") as url:
            for streams in (1, n):
                cmd = [sys.executable, "-c", FLOOR, url, f"FLOOR{streams}", str(zips)]
                base = measured([*cmd, str(streams), *names])
                report = work / f"r{streams}.json"
                ours, _sent = fsxnat_import(subjects_dir, url, f"FSX{streams}", report, streams)
                rows.append((streams, float(base["wall"]), float(ours["wall"]), ours["peak_mb"]))
        print(
            f"{'streams':>8}{'floor s':>9}{'fsxnat s':>10}{'overhead ms/subject':>21}{'peak MB':>9}"
        )
        worst = 0.0
        for streams, floor_wall, wall, peak in rows:
            overhead = (wall - floor_wall) / len(names) * 1000
            worst = max(worst, overhead) if streams == n else worst
            print(f"{streams:8d}{floor_wall:9.1f}{wall:10.1f}{overhead:21.1f}{float(peak):9.0f}")
        print(
            f"per-subject client overhead ({n} streams): {worst:.1f} ms "
            f"(target <= {TARGET_MS:.0f} ms)"
        )
        ok = worst <= TARGET_MS
        print("target met" if ok else "TARGET NOT MET")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
