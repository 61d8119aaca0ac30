"""`fsxnat`: the command line over the core.

    fsxnat scan SUBJECTS_DIR [--json]
    fsxnat import SUBJECTS_DIR (--server URL --user NAME | --config FILE) --project P [options]

`import` prints the plan compared with the server, asks for confirmation (or `--yes`), imports
with a progress bar and exits 0 only if every selected subject was verified on the server.
Exit codes: 0 all verified, 1 an error or a subject not verified, 2 a bad command line or a plan
that cannot run (invalid labels, conflicts), 130 cancelled (Ctrl-C).

The password never comes from the command line: the OS keyring, then XNAT_PASS, then a prompt
on a terminal; or a pyxnat JSON config file (server, user, password).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from fsxnat_gui import __version__
from fsxnat_gui.core import credentials, report, scan
from fsxnat_gui.core.compare import compare, fetch_index
from fsxnat_gui.core.errors import FsXnatError, LabelError
from fsxnat_gui.core.jobs import run_import
from fsxnat_gui.core.login import Credentials, insecure_warning, make_client, saved_credentials
from fsxnat_gui.core.mapping import read_mapping, write_mapping
from fsxnat_gui.core.model import (
    ImportPlan,
    OnExisting,
    PlanNode,
    Progress,
    ResultStatus,
    RunReport,
    Stage,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.plan import blocking_reasons, make_plan, resource_label
from fsxnat_gui.core.pyxnat_config import read_config
from fsxnat_gui.core.units import human_bytes, human_duration
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

PROG = "fsxnat"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
PASSWORD_ENV = "XNAT_PASS"
PLAIN_PROGRESS_S = 5.0  # seconds between progress lines when stderr is not a terminal


class UsageError(FsXnatError):
    """A command line that cannot be carried out as given (exit 2)."""


# --- arguments --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Import FreeSurfer recon-all subjects into XNAT, verified."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("scan", help="list the entries of a SUBJECTS_DIR")
    p.add_argument("subjects_dir", type=Path, metavar="SUBJECTS_DIR")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")

    p = commands.add_parser("import", help="import finished subjects into an XNAT project")
    p.add_argument("subjects_dir", type=Path, metavar="SUBJECTS_DIR")
    login = p.add_argument_group("server and login (the password is never an argument)")
    login.add_argument(
        "--server", metavar="URL", help="XNAT base URL, e.g. https://xnat.example.org"
    )
    login.add_argument(
        "--user",
        metavar="NAME",
        help=f"password from the OS keyring, else ${PASSWORD_ENV}, else a prompt",
    )
    login.add_argument(
        "--config", type=Path, metavar="FILE", help="pyxnat JSON config (server, user, password)"
    )
    login.add_argument("--ca-bundle", type=Path, metavar="FILE", help="trust this CA bundle (PEM)")
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
    return parser


# --- scan -------------------------------------------------------------------------------------


def subject_to_dict(s: Subject) -> dict[str, Any]:
    return {
        "name": s.name,
        "path": str(s.path),
        "kind": s.kind.value,
        "state": s.state.value,
        "eligible": s.eligible,
        "reason": s.reason,
        "version": s.version,
        "mixed_version": s.mixed_version,
        "long_role": s.long_role.value,
        "files": s.files,
        "bytes": s.bytes,
        "suggested_resource": s.suggested_resource if s.eligible else None,
        "warnings": list(s.warnings),
    }


def print_table(
    rows: Sequence[Sequence[str]], out: TextIO, right: frozenset[int] = frozenset()
) -> None:
    """Aligned columns; the last column is never padded (it holds free text)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row[:-1], widths, strict=False))
        ]
        print("  ".join([*cells, row[-1]]).rstrip(), file=out)


def cmd_scan(args: argparse.Namespace, out: TextIO) -> int:
    subjects = scan.scan(args.subjects_dir)
    if args.json:
        json.dump([subject_to_dict(s) for s in subjects], out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not subjects:
        print(f"{args.subjects_dir}: empty", file=out)
        return EXIT_OK
    rows = [("NAME", "KIND", "STATE", "IMPORT", "VERSION", "FILES", "SIZE", "REASON")]
    for s in subjects:
        rows.append(
            (
                s.name,
                s.kind.value,
                s.state.value,
                "yes" if s.eligible else "no",
                s.version or "-",
                "-" if s.files is None else str(s.files),
                "-" if s.bytes is None else human_bytes(s.bytes),
                "; ".join(filter(None, (s.reason, *s.warnings))),
            )
        )
    print_table(rows, out, right=frozenset({5, 6}))
    eligible = [s for s in subjects if s.eligible]
    size = human_bytes(sum(s.bytes or 0 for s in eligible))
    print(f"\n{len(eligible)} of {len(subjects)} entries can be imported ({size}).", file=out)
    return EXIT_OK


# --- import -----------------------------------------------------------------------------------


def login_for(url: str, user: str) -> Credentials:
    """The login saved in the OS keyring (a password or an alias token the window stored),
    then $XNAT_PASS, then a prompt when on a terminal."""
    saved = saved_credentials(url, user)
    if saved is not None:
        log.info("login for %s from the keyring (%s)", user, credentials.backend_name())
        return saved
    if secret := os.environ.get(PASSWORD_ENV, ""):
        return Credentials(user, secret)
    if sys.stdin.isatty():
        return Credentials(user, getpass.getpass(f"XNAT password for {user} at {url}: "))
    raise UsageError(f"no password: set {PASSWORD_ENV}, store it in the keyring, or use --config")


def client_for(args: argparse.Namespace, err: TextIO) -> XnatClient:
    """The client the command line asks for (a pyxnat config file, or server and user)."""
    if args.config:
        if args.server or args.user or args.ca_bundle:
            raise UsageError(
                "--config holds the server, user and password (and 'verify' for a CA bundle); "
                "do not combine it with --server, --user or --ca-bundle"
            )
        config = read_config(args.config)
        url, login, verify = config.server, Credentials(config.user, config.password), config.verify
    else:
        if not args.server or not args.user:
            raise UsageError("give --server URL and --user NAME, or --config FILE")
        verify = True
        if args.ca_bundle:
            if not args.ca_bundle.is_file():
                raise UsageError(f"the CA bundle {args.ca_bundle} does not exist")
            verify = str(args.ca_bundle)
        url, login = args.server, login_for(args.server, args.user)
    if verify is False:
        print(f"{PROG}: warning: {insecure_warning(url)}", file=err)
    return make_client(url, login.auth_user, login.secret, verify)


def select(subjects: Sequence[Subject], names: Sequence[str] | None, root: Path) -> list[Subject]:
    by_name = {s.name: s for s in subjects}
    if not names:
        chosen = [s for s in subjects if s.eligible]
        if not chosen:
            raise UsageError(f"no finished recon-all subject in {root} (see 'fsxnat scan')")
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


class ProgressView:
    """A one-line bar on a terminal (overwritten in place); otherwise a plain line when a
    subject enters a new phase and every few seconds within one. Reads the overall events
    (item == "") and the subject's own ones."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.tty = err.isatty()
        self.overall: Progress | None = None
        self.last_plain: tuple[str, Stage, float] | None = None
        self.width = 0

    def show(self, event: Progress) -> None:
        if not event.item:
            self.overall = event
            return
        line = self._line(event)
        if self.tty:
            line = line[: shutil.get_terminal_size().columns - 1]
            self.err.write("\r" + line.ljust(self.width))
            self.width = max(self.width, len(line))
            self.err.flush()
            return
        now = time.monotonic()
        if self.last_plain is not None:
            item, stage, when = self.last_plain
            if (item, stage) == (event.item, event.stage) and now - when < PLAIN_PROGRESS_S:
                return
        self.last_plain = (event.item, event.stage, now)
        print(line, file=self.err, flush=True)

    def _line(self, event: Progress) -> str:
        parts = []
        if self.overall is not None and self.overall.total:
            share = self.overall.done / self.overall.total
            filled = round(20 * share)
            parts.append(f"[{'#' * filled}{'.' * (20 - filled)}] {share:4.0%}")
        parts.append(f"{event.item}: {event.stage.value}")
        if event.total and event.stage in (Stage.ZIPPING, Stage.UPLOADING):
            parts.append(f"{human_bytes(event.done)}/{human_bytes(event.total)}")
        if event.speed:
            parts.append(f"{human_bytes(event.speed)}/s")
        if event.eta is not None:
            parts.append(f"ETA {human_duration(event.eta)}")
        if event.message:
            parts.append(event.message)
        return "  ".join(parts)

    def clear(self) -> None:
        if self.tty and self.width:
            self.err.write("\r" + " " * self.width + "\r")
            self.err.flush()
            self.width = 0


@contextmanager
def ctrl_c_cancels(cancel: threading.Event, err: TextIO) -> Iterator[None]:
    """The first Ctrl-C asks the run to stop cleanly; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\ncancelling (Ctrl-C again to stop at once)...", file=err, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(plan: ImportPlan, client: XnatClient, err: TextIO, out: TextIO) -> tuple[RunReport, bool]:
    """Run the import with progress; returns the report and whether it was cancelled."""
    cancel = threading.Event()
    view = ProgressView(err)
    final: RunReport | None = None
    with ctrl_c_cancels(cancel, err):
        for event in run_import(plan, client, cancel):
            if isinstance(event, Progress):
                view.show(event)
            elif isinstance(event, SubjectResult):
                view.clear()
                print(result_line(event), file=out, flush=True)
            else:
                final = event
    view.clear()
    assert final is not None, "run_import always ends with its report"
    return final, cancel.is_set()


def result_line(r: SubjectResult) -> str:
    size = f"{r.files} files, {human_bytes(r.bytes)}"
    if r.status is ResultStatus.IMPORTED:
        return f"{r.subject}: imported and verified ({size}) in {human_duration(r.seconds)}"
    if r.status is ResultStatus.SKIPPED:
        return f"{r.subject}: skipped, identical on the server ({size})"
    return f"{r.subject}: {r.status.value.upper()}: {r.error}" + (
        f" ({r.detail})" if r.detail else ""
    )


def write_reports(run_report: RunReport, path: Path, out: TextIO) -> None:
    if path.suffix.lower() == ".csv":  # the CSV goes beside the JSON, never over it
        path = path.with_suffix(".json")
    report.write_json(run_report, path)
    csv_path = path.with_suffix(".csv")
    report.write_csv(run_report, csv_path)
    print(f"report: {path} and {csv_path}", file=out)


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    client = client_for(args, err)
    with client:
        subjects = scan.scan(args.subjects_dir)
        chosen = select(subjects, args.subject, args.subjects_dir)
        try:
            resource = resource_label(chosen, args.resource or None)
        except LabelError as exc:
            raise UsageError(str(exc)) from None
        target = Target(
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
        if not confirm(plan, client.url, args.yes, out):
            print("nothing imported.", file=out)
            return EXIT_FAILED
        run_report, cancelled = run(plan, client, err, out)
    if args.report:
        write_reports(run_report, args.report, out)
    counts = {s: sum(r.status is s for r in run_report.results) for s in ResultStatus}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    print(f"\n{summary}.", file=out)
    if cancelled:
        return EXIT_CANCELLED
    return EXIT_OK if run_report.ok and run_report.results else EXIT_FAILED


# --- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=(logging.ERROR, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "scan":
            return cmd_scan(args, sys.stdout)
        return cmd_import(args, sys.stdout, sys.stderr)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FsXnatError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `fsxnat scan DIR | head`: the reader left, no complaint
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # e.g. the report file cannot be written
        print(
            f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return EXIT_FAILED
    except EOFError:  # Ctrl-D at a prompt
        print(f"\n{PROG}: error: no answer (end of input): nothing was done", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
