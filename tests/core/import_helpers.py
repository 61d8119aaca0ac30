"""Helpers of the import tests (test_jobs.py, test_fault_matrix.py): a plan against the local
XNAT, one run's events split by type, and the files on either side."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from fsxnat_gui.core import archive
from fsxnat_gui.core.compare import compare
from fsxnat_gui.core.jobs import Event, run_import
from fsxnat_gui.core.model import (
    ImportPlan,
    Progress,
    RunReport,
    Subject,
    SubjectResult,
    Target,
)
from fsxnat_gui.core.plan import make_plan
from fsxnat_gui.core.xnat import XnatClient

PROJECT = "FSTEST"
RESOURCE = "FREESURFER7"
UPLOAD = r"/resources/[^/]+/files"  # the upload URL (POST) and the listing (GET)


def plan_for(subjects: Iterable[Subject], client: XnatClient, **target: Any) -> ImportPlan:
    target.setdefault("create_project", True)
    return compare(make_plan(subjects, Target(PROJECT, **target)), client)


class Run:
    """The events of one run_import, split by type."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.progress = [e for e in events if isinstance(e, Progress)]
        self.results = {e.subject: e for e in events if isinstance(e, SubjectResult)}
        assert isinstance(events[-1], RunReport), "the report comes last"
        self.report = events[-1]

    def status(self) -> dict[str, str]:
        return {name: r.status.value for name, r in self.results.items()}


def run(
    plan: ImportPlan,
    client: XnatClient,
    *,
    cancel: threading.Event | None = None,
    on_event: Callable[[Event, threading.Event], None] | None = None,
    **kwargs: Any,
) -> Run:
    cancel = cancel or threading.Event()
    kwargs.setdefault("sleep", lambda s: None)
    # one subject at a time: these tests follow one subject's faults (N streams: test_jobs)
    kwargs.setdefault("parallel", 1)
    events = []
    for event in run_import(plan, client, cancel, **kwargs):
        events.append(event)
        if on_event:
            on_event(event, cancel)
    return Run(events)


def server_files(client: XnatClient, experiment: str) -> dict[str, tuple[int, str]]:
    return {f.path: (f.size, f.digest) for f in client.list_files(PROJECT, experiment, RESOURCE)}


def local_files(subject: Subject) -> dict[str, tuple[int, str]]:
    gen = archive.local_manifest(subject.path, threading.Event())
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return {m.path: (m.size, m.md5) for m in stop.value}


def uploads(xnat: Any) -> list[Any]:
    return [r for r in xnat.faults.requests if r.method == "POST" and "/files" in r.path]
