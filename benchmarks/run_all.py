"""Run every benchmark and keep the output in benchmarks/RESULTS.md.

Usage: python benchmarks/run_all.py [--subjects N] [--parallel N]   (./dev.sh bench)
`--subjects`: full-size subjects of the import and GUI benchmarks (default 3); `--parallel`:
the streams of every benchmark (default 2, run_import's default).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [  # title, script, its own arguments ("{subjects}" = --subjects)
    (
        "Import: the recipe, the floor and `fsxnat import`",
        "import_bench.py",
        ["--subjects", "{subjects}"],
    ),
    ("A 50 MB/s link (tbf in a network namespace)", "link_bench.py", ["--subjects", "2"]),
    ("200 small subjects: per-subject overhead", "small_bench.py", ["--subjects", "200"]),
    (
        "GUI-thread stall during an import through the window",
        "gui_stall.py",
        ["--subjects", "{subjects}"],
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    sections, rc = [], 0
    for title, script, extra in BENCHES:
        print(f"== {title}", flush=True)
        argv = [a.format(subjects=args.subjects) for a in extra]
        proc = subprocess.run(
            [sys.executable, str(HERE / script), *argv, "--parallel", str(args.parallel)],
            capture_output=True,
            text=True,
            env=env,
        )
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr[-4000:])
        rc = rc or proc.returncode
        sections.append(
            f"## {title}\n\n```\n{proc.stdout.strip()}\n```\nexit code {proc.returncode}\n"
        )
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"# Benchmark results\n\nLatest `./dev.sh bench` ({now}; {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()}; load average at the start "
        f"{load}, the machine is shared).\n"
        "Each ratio compares two runs measured in the same session on the same machine.\n\n"
    )
    (HERE / "RESULTS.md").write_text(header + "\n".join(sections))
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
