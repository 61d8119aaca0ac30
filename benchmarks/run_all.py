"""Run every benchmark and keep the output in benchmarks/RESULTS.md.

Usage: python benchmarks/run_all.py [--subjects N]   (./dev.sh bench)
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
BENCHES = [
    ("Import: `zip -r` + pyxnat recipe vs `fsxnat import`", "import_bench.py"),
    ("GUI-thread stall during an import through the window", "gui_stall.py"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    sections, rc = [], 0
    for title, script in BENCHES:
        print(f"== {title}", flush=True)
        proc = subprocess.run(
            [sys.executable, str(HERE / script), "--subjects", str(args.subjects)],
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
        f"Python {platform.python_version()}, {platform.system()}).\n"
        "Each ratio compares two runs measured in the same session on the same machine.\n\n"
    )
    (HERE / "RESULTS.md").write_text(header + "\n".join(sections))
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
