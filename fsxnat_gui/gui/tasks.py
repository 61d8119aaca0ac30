"""The background tasks the window runs, as plain generator functions.

Each takes plain inputs (paths, a Session, a plan) plus the cancel event, creates its own
XnatClient in the worker thread when it needs the server (one client per thread), and yields
plain data back. No widget, QSettings or keyring call here.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fsxnat_gui.core import jobs, plan, scan
from fsxnat_gui.core.errors import Cancelled
from fsxnat_gui.core.model import EntryKind, ImportPlan, ServerInfo
from fsxnat_gui.gui.session import ClientFactory, Session

DEMO_USER = "demo"
DEMO_PROJECT = "DEMO"


@dataclass(frozen=True)
class ScanRoot:
    """The dropped folder was a SUBJECTS_DIR: it becomes the current one."""

    path: Path


@dataclass(frozen=True)
class ScanNotes:
    """User-facing messages about dropped paths that were ignored, and why."""

    messages: tuple[str, ...]


@dataclass(frozen=True)
class LoginResult:
    """What a successful login found."""

    info: ServerInfo
    auth_user: str  # the user name, or the alias of the token the app was given
    secret: str = field(repr=False)  # the password, or the token's secret (never in repr)
    token: bool  # True when `secret` belongs to an alias token


@dataclass(frozen=True)
class Projects:
    projects: tuple[str, ...]


@dataclass(frozen=True)
class Compared:
    plan: ImportPlan


@dataclass(frozen=True)
class DemoReady:
    url: str
    password: str = field(repr=False)
    subjects_dir: Path
    info: ServerInfo
    stack: contextlib.ExitStack  # keeps the local server running; closed on quit


def scan_dir(root: Path, cancel: threading.Event) -> Iterator[object]:
    yield from scan.iter_scan(root, cancel)


def scan_dropped(paths: list[Path], cancel: threading.Event) -> Iterator[object]:
    """One dropped folder that is not itself a subject is a SUBJECTS_DIR (scanned
    progressively); anything else goes through `scan.scan_paths`."""
    if len(paths) == 1 and paths[0].is_dir():
        entry = scan.classify(paths[0])
        if entry.kind is EntryKind.NOT_SUBJECT:
            yield ScanRoot(paths[0])
            yield from scan.iter_scan(paths[0], cancel)
            return
    subjects, messages = scan.scan_paths(paths)
    if cancel.is_set():
        raise Cancelled()
    yield from subjects
    if messages:
        yield ScanNotes(tuple(messages))


def login(
    factory: ClientFactory,
    url: str,
    user: str,
    secret: str,
    verify: bool | str,
    want_token: bool,
    cancel: threading.Event,
) -> Iterator[object]:
    """Log in (and, with `want_token`, trade the password for an XNAT alias token)."""
    with factory(url, user, secret, verify) as client:
        info = client.login()
        if cancel.is_set():
            raise Cancelled()
        if want_token:
            token = client.issue_token()
            yield LoginResult(info, token.alias, token.secret, token=True)
        else:
            yield LoginResult(info, user, secret, token=False)


def list_projects(
    factory: ClientFactory, session: Session, cancel: threading.Event
) -> Iterator[object]:
    with factory(session.url, session.auth_user, session.secret, session.profile.verify) as c:
        yield Projects(tuple(sorted(c.list_projects(), key=str.lower)))


def compare_plan(
    factory: ClientFactory, session: Session, the_plan: ImportPlan, cancel: threading.Event
) -> Iterator[object]:
    with factory(session.url, session.auth_user, session.secret, session.profile.verify) as c:
        yield Compared(plan.compare(the_plan, c, cancel))


def run_import(
    factory: ClientFactory,
    session: Session,
    the_plan: ImportPlan,
    workdir: Path | None,
    retries: int,
    backoff: float,
    cancel: threading.Event,
) -> Iterator[object]:
    with factory(session.url, session.auth_user, session.secret, session.profile.verify) as c:
        yield from jobs.run_import(
            the_plan, c, cancel, workdir=workdir, retries=retries, backoff=backoff
        )


def start_demo(
    factory: ClientFactory, folder: Path, password: str, cancel: threading.Event
) -> Iterator[object]:
    """Start the local XNAT-compatible server with a fresh archive and sample subjects."""
    from fsxnat_gui import localxnat, samples  # demo mode only (STYLE: never otherwise)

    archive, subjects = folder / "xnat-archive", folder / "subjects"
    for old in (archive, subjects):
        shutil.rmtree(old, ignore_errors=True)
    stack = contextlib.ExitStack()
    try:
        url = stack.enter_context(localxnat.serve(archive, users={DEMO_USER: password}))
        samples.make_demo_subjects_dir(subjects)
        if cancel.is_set():
            raise Cancelled()
        with factory(url, DEMO_USER, password, True) as client:
            info = client.login()
            if not client.project_exists(DEMO_PROJECT):
                client.create_project(DEMO_PROJECT)
    except BaseException:
        stack.close()
        raise
    yield DemoReady(url, password, subjects, info, stack)
