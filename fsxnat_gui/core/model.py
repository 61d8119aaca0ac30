"""Plain data shared by the scanner, the planner, the archiver, the runner, the CLI and the GUI.

Everything here is immutable and Qt-free. Long operations in the core are generators that
yield the events defined at the bottom of this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class EntryKind(Enum):
    """What an entry of a SUBJECTS_DIR is (freesurfer.md, "Subject detection rules")."""

    SUBJECT = "subject"  # a recon-all subject folder
    TEMPLATE = "template"  # fsaverage*, *_average, copied templates
    LINKED = "linked"  # a symlinked entry (e.g. fsaverage -> $FREESURFER_HOME/...)
    FASTSURFER = "fastsurfer"  # FastSurfer output: looks like a subject, is not recon-all
    NOT_SUBJECT = "not-subject"  # files, hidden entries, utility folders, other folders


class RunState(Enum):
    """How far recon-all got in a subject. Only DONE is eligible for import."""

    DONE = "done"
    DONE_PARTIAL = "done-partial"  # recon-all.done exists but required outputs are missing
    FAILED = "failed"
    RUNNING = "running"  # IsRunning.* present: running now, or crashed/killed
    INCOMPLETE = "incomplete"  # never finished (no recon-all.done)
    NOT_APPLICABLE = "n/a"  # for entries that are not recon-all subjects


class LongRole(Enum):
    CROSS = "cross"
    BASE = "base"
    LONG = "long"


@dataclass(frozen=True)
class Subject:
    """One entry of a scanned SUBJECTS_DIR (or one dropped folder)."""

    name: str  # folder name (the key everywhere)
    path: Path
    kind: EntryKind
    state: RunState = RunState.NOT_APPLICABLE
    reason: str = ""  # why it is in that state / why it cannot be imported, fit for a user
    version: str | None = None  # FreeSurfer version "7.4.1", from the build stamps
    version_stamp: str | None = None  # the raw stamp
    mixed_version: bool = False  # first and latest stamps disagree
    long_role: LongRole = LongRole.CROSS
    long_tp: str = ""  # LONG: the time point of `<tp>.long.<base>`
    long_base: str = ""  # LONG: the base (template) it was run against
    base_tps: tuple[str, ...] = ()  # BASE: the time points listed in its `base-tps` file
    files: int | None = None  # regular files that will be zipped (None = not measured yet)
    bytes: int | None = None  # their total size
    warnings: tuple[str, ...] = ()  # e.g. dangling or outside symlinks, renamed subject

    @property
    def eligible(self) -> bool:
        return self.kind is EntryKind.SUBJECT and self.state is RunState.DONE

    @property
    def role_text(self) -> str:
        """Its longitudinal role in words ("" for entries that are not recon-all subjects)."""
        if self.kind is not EntryKind.SUBJECT:
            return ""
        if self.long_role is LongRole.BASE:
            return f"base of {', '.join(self.base_tps)}" if self.base_tps else "longitudinal base"
        if self.long_role is LongRole.LONG:
            return f"longitudinal run of {self.long_tp}" if self.long_tp else "longitudinal run"
        return "cross-sectional"

    @property
    def suggested_resource(self) -> str:
        """FREESURFER6, FREESURFER7, ... from the major version; FREESURFER when unknown."""
        if self.version and (m := re.match(r"(\d+)", self.version)):
            return f"FREESURFER{m.group(1)}"
        return "FREESURFER"


MR_SESSION = "xnat:mrSessionData"


class OnExisting(Enum):
    """Policy when the target resource already exists on the server."""

    SKIP = "skip"  # skip when identical (paths, sizes, MD5s where known), else conflict
    REPLACE = "replace"  # delete the resource, upload again
    FAIL = "fail"  # stop: report the subject as failed/conflict


class NodeKind(Enum):
    PROJECT = "project"
    SUBJECT = "subject"
    EXPERIMENT = "experiment"
    RESOURCE = "resource"


class NodeStatus(Enum):
    NEW = "new"  # will be created
    EXISTS = "exists"  # already on the server, will be used as it is
    CONFLICT = "conflict"  # exists and differs / policy forbids / label collision
    INVALID = "invalid"  # a label that XNAT would refuse
    UNKNOWN = "unknown"  # not compared with the server (offline / not logged in)
    UNRESOLVED = "choose"  # no destination yet (ambiguous, or refused): nothing is written


class Level(Enum):
    """Where a resource hangs: on an experiment (MR session) or on the subject itself."""

    EXPERIMENT = "experiment"
    SUBJECT = "subject"


class How(Enum):
    """How a folder's destination was found (core/matching.py): the report's `match`."""

    SESSION_LABEL = "session label"  # an MR session labelled like the folder
    TEMPLATE = "experiment template"  # the subject's session that the template names
    ONLY_SESSION = "subject label"  # the only MR session of the subject labelled like the folder
    NEW_SESSION = "new session"  # the subject exists with no MR session
    NEW_SUBJECT = "new subject"  # nothing matched
    TIME_POINT = "time point"  # a longitudinal run or a base, through its time point(s)
    MAPPED = "mapping"  # a mapping row (a file, or a choice made in the window)
    AMBIGUOUS = "ambiguous"  # several candidate sessions: someone must choose
    REFUSED = "refused"  # nothing may be written (existing-only, unresolvable base, ...)


@dataclass(frozen=True)
class PlanNode:
    """A node of the preview tree: project -> subject -> experiment -> resource."""

    kind: NodeKind
    label: str
    status: NodeStatus
    detail: str = ""  # e.g. "exists: 341 files, 330.2 MB" or the reason of a conflict
    source: str | None = None  # local subject folder name for subject/experiment/resource nodes
    children: tuple[PlanNode, ...] = ()


@dataclass(frozen=True)
class Target:
    """Where and how subjects go. The template may use {subject} (the subject label), {folder}
    (the sanitised folder name) and {session} (the folder pattern's `session` group)."""

    project: str
    experiment_template: str = "{subject}_MR1"
    resource: str = "FREESURFER7"
    on_existing: OnExisting = OnExisting.SKIP
    create_project: bool = False
    resource_format: str | None = None
    resource_content: str | None = None
    resource_tags: str | None = None
    existing_only: bool = False  # only attach to existing sessions: never a new subject/session
    folder_pattern: str | None = None  # regex with groups `subject` (and `session`)


@dataclass(frozen=True)
class Owner:
    """What a resource hangs on: an experiment (MR session), or the subject itself."""

    level: Level
    label: str  # the experiment's label, or the subject's

    @property
    def noun(self) -> str:
        return "experiment" if self.level is Level.EXPERIMENT else "subject"


@dataclass(frozen=True)
class Assignment:
    """A mapping row or a choice made in the window: the values given win over matching;
    "" (or None) means "match it"."""

    subject: str = ""
    experiment: str = ""
    resource: str = ""
    on_existing: OnExisting | None = None


@dataclass(frozen=True)
class PlanItem:
    """One folder of an import plan: where it goes (resolved labels) and why."""

    subject: Subject
    subject_label: str
    experiment_label: str  # "" for a subject-level resource, or while unresolved
    resource_label: str
    problems: tuple[str, ...] = ()  # invalid/colliding labels: the item cannot run until fixed
    level: Level = Level.EXPERIMENT
    how: How = How.NEW_SUBJECT
    match: str = ""  # why it goes there, a sentence ("existing session X — matched by ...")
    candidates: tuple[str, ...] = ()  # AMBIGUOUS: the MR sessions to choose from
    sessions: tuple[str, ...] = ()  # the subject's MR sessions on the server (to choose from)
    new_session: str = ""  # the label a new MR session would get (the experiment template)
    held: str = ""  # why nothing will be written for it (ambiguous, refused): not a plan error
    on_existing: OnExisting | None = None  # this row's policy; None: the target's

    @property
    def ok(self) -> bool:
        return not self.problems and not self.held

    @property
    def owner(self) -> Owner:
        """Where its resource goes: the experiment, or the subject for a subject-level one."""
        if self.level is Level.SUBJECT:
            return Owner(Level.SUBJECT, self.subject_label)
        return Owner(Level.EXPERIMENT, self.experiment_label)


@dataclass(frozen=True)
class ImportPlan:
    target: Target
    items: tuple[PlanItem, ...]
    tree: PlanNode | None = None  # filled by the server comparison
    assignments: Mapping[str, Assignment] = field(default_factory=dict)  # by folder: what won

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # path inside the resource, "/"-separated, starting with the subject folder name
    size: int
    md5: str
    # the file's modification time (ns) when it was read: checked again before the subject is
    # reported imported (not part of equality: two manifests of the same content are equal)
    mtime_ns: int = field(default=0, compare=False)


class Stage(Enum):
    CHECKING = "checking"  # comparing with the server
    ZIPPING = "zipping"
    UPLOADING = "uploading"
    PROCESSING = "server processing"  # bytes sent, server extracting/cataloguing
    VERIFYING = "verifying"
    RETRYING = "retrying"
    DONE = "done"


@dataclass(frozen=True)
class Progress:
    """A throttled progress event.

    `done`/`total` count the work of the phase (`stage`): bytes zipped, checked or sent, or
    files listed while verifying; `speed` is that phase's. `fraction` (0..1) and `eta` are how
    far the whole item is and the time it still needs: in `run_import`'s events, the subject's
    (the server's processing included) and, for `item == ""`, the run's, whose `done`/`total`
    are the local bytes of the run and `speed` their rate (core/progress.py computes them all;
    front ends display them as they are)."""

    stage: Stage
    item: str  # subject folder name, "" for the whole run
    done: int
    total: int
    speed: float | None = None  # bytes per second
    eta: float | None = None  # seconds
    message: str = ""
    fraction: float = 0.0


class ResultStatus(Enum):
    IMPORTED = "imported"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOT_IMPORTED = "not imported"  # nothing written: its destination is undecided or refused


@dataclass(frozen=True)
class SubjectResult:
    """The outcome of one subject: reported "imported" only after the server's list matched."""

    subject: str  # folder name
    status: ResultStatus
    verified: bool
    files: int = 0
    bytes: int = 0  # local bytes of the subject's files
    uploaded_bytes: int = 0  # bytes sent to the server (the zip, every attempt counted)
    experiment_uri: str = ""
    resource_uri: str = ""
    error: str = ""  # user-facing reason when not imported
    detail: str = ""  # e.g. "skipped: identical resource already on the server"
    seconds: float = 0.0
    # files of the folder that are not on the server and why, one sentence each (special files,
    # links that are not followed or loop, names that are not UTF-8), for the subject's line
    left_out: tuple[str, ...] = ()
    # where it went (or would have gone), and why: the report's destination columns
    subject_label: str = ""
    experiment: str = ""  # "" for a subject-level resource
    resource: str = ""
    level: Level = Level.EXPERIMENT
    match: str = ""

    @property
    def on_server(self) -> bool:
        """The subject is on the server as the local folder holds it: imported, or skipped as
        identical, and verified against the server's file list."""
        return self.verified and self.status in (ResultStatus.IMPORTED, ResultStatus.SKIPPED)


@dataclass(frozen=True)
class RunReport:
    server: str
    project: str
    started: str  # ISO 8601
    finished: str
    results: tuple[SubjectResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(r.on_server for r in self.results)


@dataclass(frozen=True)
class LocalFile:
    """A regular file of a subject as it will be zipped (symlinks inside the subject resolved)."""

    arcname: str  # "<subject folder>/mri/T1.mgz": the path inside the zip and the resource
    path: str  # where to read it
    size: int
    mtime_ns: int = 0  # its modification time when walked (a link: its target's)


# --- what the XNAT adapter returns ------------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    url: str
    user: str
    version: str  # from /xapi/siteConfig/buildInfo, "" when the server does not say


@dataclass(frozen=True)
class AliasToken:
    alias: str
    secret: str = field(repr=False)  # never in a log line or a traceback
    expires: float  # epoch seconds


@dataclass(frozen=True)
class RemoteExperiment:
    id: str  # accession id, e.g. XNAT_E00001
    label: str
    subject_id: str
    project: str
    xsi_type: str = ""  # e.g. "xnat:mrSessionData"; "" when the server did not say

    @property
    def is_mr(self) -> bool:
        """An MR session (or of unknown type: older listings may not say)."""
        return self.xsi_type in ("", MR_SESSION)


@dataclass(frozen=True)
class RemoteResource:
    label: str
    id: str  # xnat_abstractresource_id
    file_count: int | None  # None when the server has no statistics yet
    file_size: int | None
    format: str = ""
    content: str = ""
    tags: str = ""


@dataclass(frozen=True)
class RemoteFile:
    path: str  # path inside the resource, e.g. "bert/mri/T1.mgz"
    size: int
    digest: str = ""  # MD5 hex; "" when the server keeps no checksums
