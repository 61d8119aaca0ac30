"""`fsxnat slurm SUBJECTS_DIR --project P [import options] [--after JOBID[:JOBID...]] ...`: a SLURM
job array, one `fsxnat import --subject <folder>` per task, and a job that merges the reports.

The tasks find their login on the node (~/.netrc, or the keyring), never in the script: before
submitting, this checks that there is such a login, and warns when a netrc token will expire
before the array is likely to have run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from fsxnat_gui.cli.common import EXIT_OK, PROG, UsageError, add_login_options
from fsxnat_gui.cli.import_cmd import add_target_options, select
from fsxnat_gui.core import scan, slurm
from fsxnat_gui.core.login import KEYRING, USER_ENV, check_expiry, find_login, save_token_hint
from fsxnat_gui.core.map_rows import write_rows_for
from fsxnat_gui.core.mapping import read_mapping
from fsxnat_gui.core.model import EntryKind, RunState

LIKELY_RUN_S = 48 * 3600.0  # a queue can hold an array for days; 48 h unless --time says more
PENDING = (RunState.DONE, RunState.RUNNING, RunState.INCOMPLETE)


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "slurm", help="submit a SLURM job array that imports one folder per task"
    )
    p.add_argument("subjects_dir", type=Path, metavar="SUBJECTS_DIR")
    add_login_options(p)
    add_target_options(p)
    job = p.add_argument_group("the job array")
    job.add_argument(
        "--after",
        metavar="JOBID[:JOBID...]",
        help="start after these jobs succeed (afterok), e.g. a recon-all array; folders whose "
        "recon-all is still running are included",
    )
    job.add_argument(
        "--max-parallel",
        type=int,
        default=slurm.DEFAULT_MAX_PARALLEL,
        metavar="N",
        help="tasks running at once (%%N; default %(default)s: XNAT extracts synchronously)",
    )
    job.add_argument("--partition", metavar="NAME", help="SLURM partition")
    job.add_argument("--time", metavar="HH:MM:SS", help="time limit of each task")
    job.add_argument(
        "--run-dir",
        type=Path,
        metavar="DIR",
        help="where the scripts, logs and reports go (default: a new folder in SUBJECTS_DIR)",
    )
    job.add_argument(
        "--dry-run", action="store_true", help="print the scripts; submit and write nothing"
    )
    p.set_defaults(run=cmd_slurm)


def select_folders(args: argparse.Namespace) -> list[str]:
    """As `fsxnat import` selects; with --after also folders whose recon-all has not finished
    yet (and, named with --subject, folders that do not exist yet)."""
    root: Path = args.subjects_dir
    subjects = scan.scan(root)
    if not args.after:
        return [s.name for s in select(subjects, args.subject, root)]
    if args.subject:
        return list(dict.fromkeys(args.subject))
    folders = [s.name for s in subjects if s.kind is EntryKind.SUBJECT and s.state in PENDING]
    if not folders:
        raise UsageError(f"no recon-all subject (finished or running) in {root}")
    return folders


def target_argv(args: argparse.Namespace) -> list[str]:
    """The target, matching and policy options as given, for the tasks' command line (read from
    `add_target_options` itself, so a new option reaches the tasks too); each task's --map is
    its folder's rows of the mapping file (`ArrayPlan.folder_maps`)."""
    options = argparse.ArgumentParser(add_help=False)
    add_target_options(options)
    argv: list[str] = []
    for action in options._actions:
        value = getattr(args, action.dest, None)
        if action.dest in ("subject", "map") or not action.option_strings:
            continue
        if value is None or value is False or value == action.default:
            continue
        flag = action.option_strings[-1]
        if value is True:
            argv.append(flag)
        else:
            argv += [flag, str(value.resolve() if isinstance(value, Path) else value)]
    return argv


def login_argv(args: argparse.Namespace) -> list[str]:
    if args.config:
        return ["--config", str(args.config.resolve())]
    argv = ["--server", args.server]
    user = args.user or _env_user()
    if user:
        argv += ["--user", user]
    if args.ca_bundle:
        argv += ["--ca-bundle", str(args.ca_bundle.resolve())]
    return argv


def _env_user() -> str | None:
    return os.environ.get(USER_ENV) or None


def check_login(args: argparse.Namespace, err: TextIO) -> None:
    """The tasks will find a login without a secret in their script: a netrc entry (not
    expired, warned about when it may expire before the array has run), or the keyring."""
    if args.config:
        if not args.config.is_file():
            raise UsageError(f"the pyxnat config {args.config} does not exist")
        return
    if not args.server:
        raise UsageError("give --server URL (and --user NAME), or --config FILE")
    url, user = args.server, args.user or _env_user()
    found = find_login(url, user, environment=False)
    if found is None:
        raise UsageError(
            f"the jobs would find no login for {url}: they read ~/.netrc (or the keyring), "
            f"never a password from the script or the environment; run "
            f"{save_token_hint(url, user)} first"
        )
    within = max(LIKELY_RUN_S, slurm.time_seconds(args.time) if args.time else 0.0)
    if warning := check_expiry(found, url, within):
        print(f"{PROG}: warning: {warning}; the array may run after that", file=err)
    if found.source == KEYRING:
        print(
            f"{PROG}: warning: the login is in this machine's keyring: the jobs find it only if "
            f"the compute nodes can open that keyring (else: {save_token_hint(url, user)})",
            file=err,
        )


def cmd_slurm(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    args.subjects_dir = args.subjects_dir.resolve()
    check_login(args, err)
    folders = select_folders(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = (args.run_dir or slurm.default_run_dir(args.subjects_dir, stamp)).resolve()
    if args.map is not None:
        read_mapping(args.map, folders)  # a bad file is refused now, not by every task
    cli = [sys.executable, "-m", "fsxnat_gui.cli"]
    task = [*cli, "import", str(args.subjects_dir), *login_argv(args), *target_argv(args)]
    plan = slurm.ArrayPlan(
        run_dir=run_dir,
        folders=tuple(folders),
        task_command=tuple(task),
        merge_command=(*cli, "merge-reports", str(run_dir)),
        max_parallel=args.max_parallel,
        partition=args.partition,
        time_limit=args.time,
        after=tuple(a for a in (args.after or "").split(":") if a),
        server=args.server or "",
        project=args.project,
        folder_maps=args.map is not None,
    )
    if args.dry_run:
        print(f"# {run_dir / 'import.sbatch'}", file=out)
        print(slurm.array_script(plan), file=out)
        print(f"# {run_dir / 'merge.sbatch'} (afterany on the array)", file=out)
        print(slurm.merge_script(plan), file=out)
        print("dry run: nothing was written or submitted.", file=out)
        return EXIT_OK
    slurm.sbatch_path()  # a clear message before anything is written
    if args.map is not None:  # the tasks read copies: the file may change before they run
        for folder in folders:
            write_rows_for(args.map, [folder], run_dir / "maps" / f"{folder}.csv")
    jobs = slurm.submit(plan)
    after = f" after job {', '.join(plan.after)}" if plan.after else ""
    print(f"run folder: {run_dir}", file=out)
    print(
        f"array job {jobs.array_job}: {len(folders)} task{'s' if len(folders) != 1 else ''}, "
        f"at most {plan.max_parallel} at once{after}",
        file=out,
    )
    print(
        f"merge job {jobs.merge_job}: writes {run_dir / 'report.json'} and summary.txt "
        "when every task has ended",
        file=out,
    )
    return EXIT_OK
