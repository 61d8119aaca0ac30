"""`fsxnat import SUBJECTS_DIR --project P ...`: the plan compared with the server, a
confirmation, the import with progress; exit 0 only when every selected folder was verified."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from fsxnat_gui.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_login_options,
    client_for,
    session,
)
from fsxnat_gui.cli.run_view import RERUN, run, write_reports
from fsxnat_gui.core import archive, scan
from fsxnat_gui.core.archive import printable
from fsxnat_gui.core.compare import compare, fetch_index
from fsxnat_gui.core.errors import ArchiveError, LabelError
from fsxnat_gui.core.jobs import DEFAULT_PARALLEL, MAX_PARALLEL
from fsxnat_gui.core.mapping import read_mapping, write_mapping
from fsxnat_gui.core.model import (
    EntryKind,
    ImportPlan,
    OnExisting,
    PlanNode,
    ResultStatus,
    Subject,
    Target,
)
from fsxnat_gui.core.plan import blocking_reasons, make_plan, resource_label
from fsxnat_gui.core.units import human_bytes


def add_parser(commands: Any) -> None:
    p = commands.add_parser("import", help="import finished subjects into an XNAT project")
    p.add_argument("subjects_dir", type=Path, metavar="SUBJECTS_DIR")
    add_login_options(p)
    add_target_options(p)
    run = p.add_argument_group("running")
    run.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    run.add_argument(
        "--write-map",
        type=Path,
        metavar="FILE.csv",
        help="write where each folder would go and why, to review or edit and pass to --map",
    )
    run.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    run.add_argument(
        "--report", type=Path, metavar="FILE.json", help="write the run report (and FILE.csv)"
    )
    run.add_argument(
        "--parallel",
        type=int,
        choices=range(1, MAX_PARALLEL + 1),
        default=DEFAULT_PARALLEL,
        metavar="N",
        help=f"subjects sent at once, 1 to {MAX_PARALLEL}, over one XNAT session "
        "(default: %(default)s; fewer if the server struggles)",
    )
    run.add_argument(
        "--temp-dir",
        type=Path,
        metavar="DIR",
        help="folder for the temporary zips (default: the system's temporary folder)",
    )
    p.set_defaults(run=cmd_import)


def target_for(args: argparse.Namespace, resource: str) -> Target:
    """The Target the target options say (with this resource label)."""
    return Target(
        project=args.project,
        experiment_template=args.experiment_label,
        resource=resource,
        on_existing=OnExisting(args.on_existing),
        create_project=args.create_project,
        resource_format=args.resource_format,
        resource_content=args.resource_content,
        resource_tags=args.resource_tags,
        existing_only=args.existing_only,
        folder_pattern=args.folder_pattern,
    )


def add_target_options(p: argparse.ArgumentParser) -> None:
    """Where the files go: shared by import, slurm and watch."""
    where = p.add_argument_group("where the files go")
    where.add_argument("--project", required=True, metavar="P", help="XNAT project ID")
    where.add_argument(
        "--subject",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="folders to import (default: every finished subject)",
    )
    where.add_argument(
        "--experiment-label",
        default=Target.experiment_template,
        metavar="TEMPLATE",
        help="label of a NEW MR session; {subject} is the subject label, {folder} the folder "
        "name, {session} the folder pattern's session (default: %(default)s)",
    )
    where.add_argument(
        "--folder-pattern",
        metavar="REGEX",
        help="read the subject (and session) from folder names: a regular expression with "
        "named groups, e.g. '(?P<subject>sub-[^_]+)_(?P<session>ses-.+)'",
    )
    where.add_argument(
        "--existing-only",
        action="store_true",
        help="only attach to subjects and MR sessions that exist; never create one",
    )
    where.add_argument(
        "--map",
        type=Path,
        metavar="FILE.csv",
        help="where each folder goes (columns folder,subject,experiment,resource, as written "
        "by --write-map); its values win over matching",
    )
    where.add_argument(
        "--resource",
        metavar="LABEL",
        help="resource label (default: FREESURFER<major version> of the subjects)",
    )
    where.add_argument("--resource-format", metavar="TEXT", help="resource format attribute")
    where.add_argument("--resource-content", metavar="TEXT", help="resource content attribute")
    where.add_argument("--resource-tags", metavar="TAGS", help="comma-separated resource tags")
    where.add_argument(
        "--on-existing",
        choices=[o.value for o in OnExisting],
        default=OnExisting.SKIP.value,
        help="when the resource exists: skip if identical (else stop that subject), "
        "replace it, or fail (default: %(default)s)",
    )
    where.add_argument(
        "--create-project", action="store_true", help="create the project if missing"
    )


def select(subjects: Sequence[Subject], names: Sequence[str] | None, root: Path) -> list[Subject]:
    by_name = {s.name: s for s in subjects}
    if not names:
        chosen = [s for s in subjects if s.eligible]
        if not chosen:
            hint = scan.subject_folder_hint(root)
            raise UsageError(hint or f"no finished recon-all subject in {root} (see 'fsxnat scan')")
        return chosen
    problems = []
    for name in names:
        if name not in by_name:
            problems.append(f"{name}: no such entry in {root}")
        elif not by_name[name].eligible:
            problems.append(f"{name}: {by_name[name].reason or 'cannot be imported'}")
    if problems:
        raise UsageError("cannot import " + "; ".join(problems))
    return [by_name[n] for n in dict.fromkeys(names)]


def print_left_out(subjects: Sequence[Subject], out: TextIO) -> None:
    """The recon-all subjects an import of "every finished subject" leaves out, and why."""
    left = [s for s in subjects if s.kind is EntryKind.SUBJECT and not s.eligible]
    if not left:
        return
    n = len(left)
    folders = f"{n} subject folder{'s' if n != 1 else ''}"
    print(f"{folders} left out (recon-all not finished well):", file=out)
    for s in left:
        print(f"  {printable(s.name)}: {printable(s.reason or s.state.value)}", file=out)
    print(file=out)


def check_temp_dir(folder: Path | None) -> None:
    """--temp-dir must be an existing folder where files can be written."""
    if folder is None:
        return
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"--temp-dir {printable(str(folder))} {what}")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise UsageError(
            f"--temp-dir {printable(str(folder))} cannot be written to ({reason})"
        ) from None


def check_room(plan: ImportPlan, folder: Path | None) -> None:
    """`NoSpace` (said with --temp-dir) before anything is sent when the zips' folder has no
    room for the largest subject's zip (the largest by the scan's size: one walk, not one a
    subject)."""
    largest = sorted((i for i in plan.items if i.ok), key=lambda i: -(i.subject.bytes or 0))
    for item in largest:
        try:
            needed = archive.zip_estimate(item.subject.path)
        except ArchiveError:
            continue  # the run says why this folder cannot be zipped
        archive.free_space_for(folder or Path(tempfile.gettempdir()), needed)
        return


def print_tree(node: PlanNode, out: TextIO, depth: int = 0) -> None:
    detail = f"  {node.detail}" if node.detail else ""
    print(f"{'  ' * depth}{node.kind.value} {node.label}  [{node.status.value}]{detail}", file=out)
    for child in node.children:
        print_tree(child, out, depth + 1)


def print_held(plan: ImportPlan, out: TextIO) -> None:
    """The folders that will not be imported until someone says where they go."""
    held = [i for i in plan.items if i.held and not i.problems]
    if not held:
        return
    print(
        f"\n{len(held)} folder{'s' if len(held) != 1 else ''} will not be imported until you "
        "say where they go (--map FILE.csv; --write-map writes a proposal to edit):",
        file=out,
    )
    for item in held:
        print(f"  {item.subject.name}: {item.held}", file=out)


def confirm(plan: ImportPlan, url: str, yes: bool, out: TextIO) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("not on a terminal: add --yes to import without a confirmation prompt")
    runnable = [i for i in plan.items if i.ok]
    size = human_bytes(sum(i.subject.bytes or 0 for i in runnable))
    out.flush()
    answer = input(
        f"Import {len(runnable)} subjects ({size}) into {plan.target.project} on {url}? [y/N] "
    )
    return answer.strip().lower() in ("y", "yes")


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    check_temp_dir(args.temp_dir)
    client = client_for(args, err)
    with session(client):
        subjects = scan.scan(args.subjects_dir)
        chosen = select(subjects, args.subject, args.subjects_dir)
        if not args.subject:
            print_left_out(subjects, out)
        try:
            resource = resource_label(chosen, args.resource or None)
        except LabelError as exc:
            raise UsageError(str(exc)) from None
        target = target_for(args, resource)
        info = client.login()
        print(
            f"{client.url} (XNAT {info.version or 'version unknown'}), logged in as {info.user}",
            file=out,
        )
        index = fetch_index(client, args.project)
        rows = read_mapping(args.map, [s.name for s in chosen], index) if args.map else {}
        try:
            plan = make_plan(chosen, target, rows, index=index)
        except LabelError as exc:
            raise UsageError(str(exc)) from None
        plan = compare(plan, client, index=index)
        assert plan.tree is not None
        print_tree(plan.tree, out)
        print_held(plan, out)
        if args.write_map:
            write_mapping(plan.items, args.write_map)
            print(f"\nmapping written to {args.write_map}: edit it, then use --map", file=out)
        reasons = blocking_reasons(plan)
        if reasons:
            print("\nthe plan cannot run:", file=err)
            for reason in reasons:
                print(f"  {reason}", file=err)
            return EXIT_USAGE
        if args.dry_run:
            print("\ndry run: nothing was sent.", file=out)
            return EXIT_OK
        check_room(plan, args.temp_dir)
        if not confirm(plan, client.url, args.yes, out):
            print("nothing imported.", file=out)
            return EXIT_FAILED
        run_report, cancelled = run(plan, client, err, out, args.temp_dir, args.parallel)
    counts = {s: sum(r.status is s for r in run_report.results) for s in ResultStatus}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    print(f"\n{summary}.", file=out)
    if cancelled:
        print(RERUN + ".", file=out)
    if args.report:  # after the import's own lines; a failure here is said, the exit code kept
        write_reports(run_report, args.report, out, err)
    if cancelled:
        return EXIT_CANCELLED
    return EXIT_OK if run_report.ok and run_report.results else EXIT_FAILED
