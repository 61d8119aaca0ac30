"""A 50 MB/s link: `fsxnat import` of full-size subjects through the loopback of a network
namespace shaped with tbf (400 mbit), client and server both inside it
(../shared/reference/cluster-and-lab.md §2). Wall time against the time the link alone needs
for the bytes sent (bytes / 50 MB/s), and the floor (ready-made store-only zips by curl,
N at a time) on the same link.

Needs root and network namespaces (`ip netns`, `tc`); skipped with a message otherwise.
Target (issue 11): wall <= 1.15 x (bytes sent / 50 MB/s).

Usage: python benchmarks/link_bench.py [--subjects 2] [--parallel 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench_common import floor, fsxnat_import, local_server, store_zips

RATE = 50e6  # bytes per second: tbf at 400 mbit
TARGET = 1.15


def netns_ok(name: str) -> str:
    """Create the shaped namespace; "" when it worked, else why not."""
    if not shutil.which("ip") or not shutil.which("tc"):
        return "`ip` and `tc` (iproute2) are not installed"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
        [
            *("ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root", "tbf"),
            *("rate", "400mbit", "burst", "512kb", "latency", "100ms"),
        ],
    ]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True)
        if proc.returncode != 0:
            return f"`{' '.join(step[:4])}` failed: {proc.stderr.strip() or proc.returncode}"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=2, help="streams (default 2)")
    args = parser.parse_args()
    name = f"fsxnat-bench-{os.getpid()}"
    why = netns_ok(name)
    if why:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        print(f"skipped: network namespaces are not available here ({why})")
        return 0
    prefix = ["ip", "netns", "exec", name]
    from fsxnat_gui.samples import make_subject

    work = Path(tempfile.mkdtemp(prefix="fsxnat-link-"))
    try:
        subjects_dir = work / "subjects"
        names = [f"link{i:02d}" for i in range(1, args.subjects + 1)]
        for i, subject in enumerate(names):
            make_subject(subjects_dir, subject, size="full", seed=i)
        floor_bytes = store_zips(subjects_dir, names, work / "zips")
        n = args.parallel
        with local_server(work / "archive", prefix) as url:
            base = floor(url, "FLOOR", work / "zips", names, n, prefix)
            ours, sent = fsxnat_import(subjects_dir, url, "FSX", work / "r.json", n, prefix)
        link_s = sent / RATE
        wall = float(ours["wall"])
        floor_wall = float(base["wall"])
        print(f"{len(names)} full-size subjects over a 400 mbit tbf link, {n} streams")
        print(f"{'':30}{'wall s':>9}{'sent MB':>9}{'MB/s':>8}{'link s':>8}{'ratio':>7}")
        for label, w, b in (
            (f"floor: curl, {n} at a time", floor_wall, floor_bytes),
            (f"fsxnat import, {n} streams", wall, sent),
        ):
            print(
                f"{label:30}{w:9.1f}{b / 1e6:9.0f}{b / w / 1e6:8.1f}{b / RATE:8.1f}"
                f"{w / (b / RATE):7.2f}"
            )
        ratio = wall / link_s
        print(f"fsxnat wall / (bytes sent / 50 MB/s): {ratio:.2f}   (target <= {TARGET})")
        print(f"CLI peak RSS: {float(ours['peak_mb']):.0f} MB")
        ok = ratio <= TARGET
        print("target met" if ok else "TARGET NOT MET")
        return 0 if ok else 1
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
