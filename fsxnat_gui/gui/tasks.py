"""The background tasks the window runs, as plain functions of the worker thread.

Each takes plain inputs (paths, a Session, a plan) plus the cancel event, creates its own
XnatClient in the worker thread when it needs the server (one client per thread), and
`return`s what it produces; the generators among them yield progress on the way (STYLE §3.3).
No widget, QSettings or keyring call here.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from fsxnat_gui.core import jobs, mapping, plan, scan
from fsxnat_gui.core.compare import compare, fetch_index
from fsxnat_gui.core.errors import Cancelled
from fsxnat_gui.core.login import ClientFactory, Credentials, LoginResult, log_in
from fsxnat_gui.core.model import (
    Assignment,
    EntryKind,
    ImportPlan,
    PlanItem,
    RunReport,
    ServerInfo,
    Subject,
)
from fsxnat_gui.gui.session import Session

DEMO_USER = "demo"
DEMO_PROJECT = "DEMO"
EXISTING_PROJECT = "EXISTING"  # the demo's archive whose subjects and sessions already exist


@dataclass(frozen=True)
class ScanRoot:
    """The dropped folder was a SUBJECTS_DIR: it becomes the current one."""

    path: Path


@dataclass(frozen=True)
class DemoReady:
    url: str
    password: str = field(repr=False)
    subjects_dir: Path
    info: ServerInfo
    stack: contextlib.ExitStack  # keeps the local server running; closed on quit
    existing_dir: Path  # folders whose subjects and sessions project EXISTING already holds


Notes = tuple[str, ...]  # user-facing messages about dropped paths that were ignored, and why


def scan_dir(root: Path, cancel: threading.Event) -> Generator[Subject, None, Notes]:
    yield from scan.iter_scan(root, cancel)
    return ()


def scan_dropped(
    paths: list[Path], cancel: threading.Event
) -> Generator[Subject | ScanRoot, None, Notes]:
    """One dropped folder that is not itself a subject is a SUBJECTS_DIR (scanned
    progressively); anything else goes through `scan.scan_paths`."""
    if len(paths) == 1 and paths[0].is_dir():
        entry = scan.classify(paths[0])
        if entry.kind is EntryKind.NOT_SUBJECT:
            yield ScanRoot(paths[0])
            yield from scan.iter_scan(paths[0], cancel)
            return ()
    subjects, messages = scan.scan_paths(paths)
    if cancel.is_set():
        raise Cancelled()
    yield from subjects
    return tuple(messages)


def login(
    factory: ClientFactory,
    url: str,
    given: Credentials,
    verify: bool | str,
    want_token: bool,
    cancel: threading.Event,
) -> LoginResult:
    """Log in (and, with `want_token`, trade the password for an XNAT alias token)."""
    with factory(url, given.auth_user, given.secret, verify) as client:
        if cancel.is_set():
            raise Cancelled()
        return log_in(client, given, want_token=want_token)


def list_projects(factory: ClientFactory, session: Session, cancel: threading.Event) -> list[str]:
    with factory(session.url, session.auth_user, session.secret, session.profile.verify) as c:
        return sorted(c.list_projects(), key=str.lower)


def compare_plan(
    factory: ClientFactory, session: Session, the_plan: ImportPlan, cancel: threading.Event
) -> ImportPlan:
    with factory(session.url, session.auth_user, session.secret, session.profile.verify) as c:
        return compare(the_plan, c, cancel)


def load_mapping(
    factory: ClientFactory,
    session: Session | None,
    path: Path,
    folders: list[str],
    project: str,
    cancel: threading.Event,
) -> dict[str, Assignment]:
    """A mapping file's rows, checked against the project when logged in."""
    if session is None or not project:
        return mapping.read_mapping(path, folders)
    with factory(session.url, session.auth_user, session.secret, session.profile.verify) as c:
        c.cancel = cancel
        return mapping.read_mapping(path, folders, fetch_index(c, project))


def save_mapping(items: tuple[PlanItem, ...], path: Path, cancel: threading.Event) -> None:
    mapping.write_mapping(items, path)


def run_import(
    factory: ClientFactory,
    session: Session,
    the_plan: ImportPlan,
    workdir: Path | None,
    retries: int,
    backoff: float,
    parallel: int,
    cancel: threading.Event,
) -> Generator[object, None, RunReport | None]:
    """Compare the plan with the server again (the preview may be older) and refuse it as the
    CLI would (`plan.PlanRefusedError`); else import, yielding progress and results, and return the
    report. `workdir`: where the zips go; `parallel`: how many subjects upload at once."""
    with factory(session.url, session.auth_user, session.secret, session.profile.verify) as c:
        the_plan = compare(the_plan, c, cancel)  # matched again: the server may have changed
        if reasons := plan.blocking_reasons(the_plan):
            raise plan.PlanRefusedError(reasons)
        report = None
        for event in jobs.run_import(
            the_plan,
            c,
            cancel,
            workdir=workdir,
            retries=retries,
            backoff=backoff,
            parallel=parallel,
        ):
            if isinstance(event, RunReport):
                report = event
            else:
                yield event
        return report


def start_demo(
    factory: ClientFactory, folder: Path, password: str, cancel: threading.Event
) -> DemoReady:
    """Start the local XNAT-compatible server with a fresh archive and sample subjects: an empty
    project DEMO for `subjects`, and a project EXISTING that already holds subjects and MR
    sessions, as a scanner archive does, for the folders of `existing` (matching at work)."""
    from fsxnat_gui import demo_archive, localxnat, samples  # demo mode only (STYLE)

    archive, subjects = folder / "xnat-archive", folder / "subjects"
    existing = folder / "existing-archive-subjects"
    for old in (archive, subjects, existing):
        shutil.rmtree(old, ignore_errors=True)
    stack = contextlib.ExitStack()
    try:
        url = stack.enter_context(localxnat.serve(archive, users={DEMO_USER: password}))
        samples.make_demo_subjects_dir(subjects)
        demo_archive.make_existing_archive_dir(existing)
        if cancel.is_set():
            raise Cancelled()
        with factory(url, DEMO_USER, password, True) as client:
            info = client.login()
            if not client.project_exists(DEMO_PROJECT):
                client.create_project(DEMO_PROJECT)
            demo_archive.seed_existing_archive(client, EXISTING_PROJECT)
    except BaseException:
        stack.close()
        raise
    return DemoReady(url, password, subjects, info, stack, existing)
