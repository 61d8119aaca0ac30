"""SLURM job arrays that import one folder per task, and the job that merges their reports.

We meet users on the scheduler they already run and never schedule anything ourselves
(archive-conventions.md §4): `sbatch` submits an array whose task N runs `fsxnat import` for the
N-th folder, throttled with `%N` (XNAT extracts uploads synchronously: many concurrent importers
hurt it), optionally after other jobs (`afterok`), and a final job (`afterany` on the array) merges
the task reports into one.

No secret ever goes into a script, its arguments or the jobs' environment: tasks read their
credentials from `~/.netrc` (or the keyring) on the node, and the jobs get only the variables
listed in `EXPORTED` (`sbatch --export`), so an `XNAT_PASS` in the submitting shell stays there.

The run folder holds:
    import.sbatch, merge.sbatch   the two job scripts
    folders.txt                   one folder a line: task N imports line N+1
    jobs.txt                      the job ids, once submitted
    logs/<array>_<task>.out       each task's output; logs/merge-<id>.out
    reports/<folder>.json         each task's report
    maps/<folder>.csv             with --map: each folder's rows of it (the task's --map)
    run.json                      the server and project (for a merge with no task report)
    report.json, report.csv       the merged report (`merge_reports`); summary.txt its one line
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fsxnat_gui.core import report
from fsxnat_gui.core.errors import FsXnatError
from fsxnat_gui.core.model import ResultStatus, RunReport, SubjectResult

# What the jobs may see of the submitting environment: enough to run, nothing secret.
EXPORTED = ("HOME", "PATH", "LANG", "LC_ALL", "TMPDIR", "NETRC", "SLURM_CONF")
DEFAULT_MAX_PARALLEL = 4
_JOB_ID_RE = re.compile(r"^(\d+)(?:;\S+)?$")
_TIME_RE = re.compile(r"^(?:\d+-)?\d{1,2}(?::\d{2}){0,2}$")


class SlurmError(FsXnatError):
    """sbatch is missing or refused the job; the message says what it answered."""


@dataclass(frozen=True)
class ArrayPlan:
    """Everything the two scripts say. `task_command` is the `fsxnat import ...` argv without
    `--subject` and `--report`, which each task adds for its own folder."""

    run_dir: Path
    folders: tuple[str, ...]
    task_command: tuple[str, ...]
    merge_command: tuple[str, ...]
    max_parallel: int = DEFAULT_MAX_PARALLEL
    partition: str | None = None
    time_limit: str | None = None
    after: tuple[str, ...] = ()
    job_name: str = "fsxnat-import"
    server: str = ""  # for the merged report (never with a user:password part)
    folder_maps: bool = False  # each task gets --map maps/<folder>.csv (its rows of a --map)
    project: str = ""
    extra: tuple[str, ...] = field(default=())  # more #SBATCH lines, as given

    def __post_init__(self) -> None:
        if not self.folders:
            raise SlurmError("there is no folder to import, so there is no job array to submit")
        if self.max_parallel < 1:
            raise SlurmError("--max-parallel must be at least 1")
        if self.time_limit and not _TIME_RE.match(self.time_limit):
            raise SlurmError(
                f"--time '{self.time_limit}' is not a SLURM time; write HH:MM:SS or D-HH:MM:SS"
            )
        for job in self.after:
            if not job.isdigit():
                raise SlurmError(f"--after '{job}' is not a job id; give numbers like 1234:1235")


def _sbatch_lines(plan: ArrayPlan, name: str, output: str) -> list[str]:
    lines = [
        f"#SBATCH --job-name={name}",
        f"#SBATCH --output={plan.run_dir / 'logs' / output}",
        f"#SBATCH --export={','.join(EXPORTED)}",
    ]
    if plan.partition:
        lines.append(f"#SBATCH --partition={plan.partition}")
    if plan.time_limit:
        lines.append(f"#SBATCH --time={plan.time_limit}")
    lines += [f"#SBATCH {x}" for x in plan.extra]
    return lines


def array_script(plan: ArrayPlan) -> str:
    """The job-array script: task N imports the N-th folder and writes reports/<folder>.json."""
    last = len(plan.folders) - 1
    head = _sbatch_lines(plan, plan.job_name, "%A_%a.out")
    head.insert(1, f"#SBATCH --array=0-{last}%{plan.max_parallel}")
    folders = "\n".join(f"  {shlex.quote(f)}" for f in plan.folders)
    command = " ".join(shlex.quote(a) for a in plan.task_command)
    reports = shlex.quote(str(plan.run_dir / "reports"))
    if plan.folder_maps:
        command += f' --map {shlex.quote(str(plan.run_dir / "maps"))}/"$folder".csv'
    return f"""#!/bin/bash
# Written by fsxnat slurm: one task per folder; no secret here (credentials: ~/.netrc on the node).
{chr(10).join(head)}
set -u
folders=(
{folders}
)
folder="${{folders[$SLURM_ARRAY_TASK_ID]}}"
echo "fsxnat: task $SLURM_ARRAY_TASK_ID imports $folder"
exec {command} --subject "$folder" --report {reports}/"$folder".json --yes
"""


def merge_script(plan: ArrayPlan) -> str:
    head = _sbatch_lines(plan, f"{plan.job_name}-merge", "merge-%j.out")
    command = " ".join(shlex.quote(a) for a in plan.merge_command)
    return f"""#!/bin/bash
# Written by fsxnat slurm: merges the task reports once every task has ended.
{chr(10).join(head)}
exec {command}
"""


def write_run_dir(plan: ArrayPlan) -> tuple[Path, Path]:
    """Write the scripts and folders.txt; return the array and merge script paths."""
    for sub in ("logs", "reports"):
        (plan.run_dir / sub).mkdir(parents=True, exist_ok=True)
    (plan.run_dir / "folders.txt").write_text("".join(f"{f}\n" for f in plan.folders))
    run = {"server": plan.server, "project": plan.project}
    (plan.run_dir / "run.json").write_text(json.dumps(run) + "\n")
    paths = (plan.run_dir / "import.sbatch", plan.run_dir / "merge.sbatch")
    for path, text in zip(paths, (array_script(plan), merge_script(plan)), strict=True):
        path.write_text(text)
        path.chmod(0o755)
    return paths


@dataclass(frozen=True)
class Submitted:
    array_job: str
    merge_job: str


def sbatch_path() -> str:
    found = shutil.which("sbatch")
    if found is None:
        raise SlurmError(
            "sbatch was not found on PATH: run fsxnat slurm on a SLURM login node (or load the "
            "slurm module first), or use --dry-run to see the script"
        )
    return found


def submit(plan: ArrayPlan) -> Submitted:
    """Write the run folder, submit the array (after --after jobs) and the merge job."""
    sbatch = sbatch_path()
    array, merge = write_run_dir(plan)
    first = [sbatch, "--parsable"]
    if plan.after:
        first.append(f"--dependency=afterok:{':'.join(plan.after)}")
    array_id = _sbatch([*first, str(array)], plan.run_dir)
    merge_id = _sbatch(
        [sbatch, "--parsable", f"--dependency=afterany:{array_id}", str(merge)], plan.run_dir
    )
    (plan.run_dir / "jobs.txt").write_text(f"array {array_id}\nmerge {merge_id}\n")
    return Submitted(array_id, merge_id)


def _sbatch(argv: Sequence[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            list(argv), cwd=cwd, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmError(f"sbatch could not be run: {exc}") from None
    answer = (done.stdout or "").strip()
    if done.returncode != 0 or not (m := _JOB_ID_RE.match(answer)):
        said = (done.stderr or answer or f"exit status {done.returncode}").strip()
        raise SlurmError(f"sbatch refused the job: {said}")
    return m.group(1)


def default_run_dir(subjects_dir: Path, stamp: str) -> Path:
    """A new folder under SUBJECTS_DIR, named by time (never an existing one)."""
    base = subjects_dir / f"fsxnat-slurm-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def time_seconds(limit: str) -> float:
    """A SLURM time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds."""
    if not _TIME_RE.match(limit):
        raise SlurmError(f"--time '{limit}' is not a SLURM time; write HH:MM:SS or D-HH:MM:SS")
    days, _, rest = limit.rpartition("-")
    parts = [int(x) for x in rest.split(":")]
    if days:  # D-HH[:MM[:SS]]
        parts += [0] * (3 - len(parts))
        h, m, sec = parts
    elif len(parts) == 3:
        h, m, sec = parts
    else:  # MM or MM:SS
        h, m, sec = 0, parts[0], parts[1] if len(parts) == 2 else 0
    return float((int(days or 0) * 24 + h) * 3600 + m * 60 + sec)


# --- merging the task reports ----------------------------------------------------------------

_ERROR_LINE_RE = re.compile(r"^fsxnat: error: (.+)$")


def merge_reports(run_dir: Path) -> tuple[RunReport, str]:
    """Merge reports/<folder>.json of every folder in folders.txt into report.json and
    report.csv; a folder without a report is failed with the reason its log gives ("no report:
    ... see logs/<array>_<task>.out"). Writes summary.txt and returns the report and its line."""
    run_dir = Path(run_dir)
    try:
        folders = (run_dir / "folders.txt").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SlurmError(f"{run_dir} is not a run folder of fsxnat slurm: {exc.strerror}") from None
    meta = _read_json(run_dir / "run.json") or {}
    array = _array_job(run_dir)
    server, project = str(meta.get("server", "")), str(meta.get("project", ""))
    started: list[str] = []
    finished: list[str] = []
    results: list[SubjectResult] = []
    for task, folder in enumerate(f for f in folders if f):
        path = run_dir / "reports" / f"{folder}.json"
        data = _read_json(path)
        try:
            task_report = report.report_from_dict(data) if data is not None else None
        except (KeyError, TypeError, ValueError):
            task_report = None
        if task_report is None:
            results.append(_missing(run_dir, folder, task, array, exists=path.exists()))
            continue
        server, project = server or task_report.server, project or task_report.project
        started.append(task_report.started)
        finished.append(task_report.finished)
        results.extend(task_report.results)
    merged = RunReport(server, project, min(started, default=""), max(finished, default=""),
                       tuple(results))  # fmt: skip
    report.write_json(merged, run_dir / "report.json")
    report.write_csv(merged, run_dir / "report.csv")
    line = summary(merged, run_dir / "report.json")
    (run_dir / "summary.txt").write_text(line + "\n", encoding="utf-8")
    return merged, line


def summary(merged: RunReport, path: Path) -> str:
    counts = {s: sum(r.status is s for r in merged.results) for s in ResultStatus}
    said = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "nothing imported"
    on_server = sum(r.on_server for r in merged.results)
    return f"{said}; {on_server} of {len(merged.results)} folders on the server; report: {path}"


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _array_job(run_dir: Path) -> str:
    try:
        for line in (run_dir / "jobs.txt").read_text().splitlines():
            if line.startswith("array "):
                return line.split()[1]
    except (OSError, IndexError):
        pass
    return "%A"


def _missing(run_dir: Path, folder: str, task: int, array: str, *, exists: bool) -> SubjectResult:
    log_name = f"logs/{array}_{task}.out"
    reason = ""
    try:
        for line in (run_dir / log_name).read_text(errors="replace").splitlines():
            if m := _ERROR_LINE_RE.match(line.strip()):
                reason = m.group(1)
    except OSError:
        pass
    what = "an unreadable report" if exists else "no report"
    error = f"{what}: {reason}; see {log_name}" if reason else f"{what}: see {log_name}"
    return SubjectResult(folder, ResultStatus.FAILED, False, error=error)
