"""Where each FreeSurfer folder goes in an existing archive, and why.

Most real projects already hold their subjects and MR sessions (archived from the scanner), with
labels that differ from the FreeSurfer folder names (archive-conventions.md §2). Before anything is
proposed as new, each folder is matched against one listing of the project's subjects and one of
its experiments (`ArchiveIndex`), in this order:

1. an MR session labelled like the folder -> that session (and its subject);
2. a subject labelled like the folder (or its sanitised form, or the `subject` group of the folder
   pattern): the session the experiment template names if it exists, else its only MR session;
   several MR sessions -> AMBIGUOUS (nothing is written until someone chooses); none -> a new
   session from the template under that subject;
3. nothing -> a new subject and session from the template, or REFUSED with `existing_only`.

Exact labels win; a match that differs only in letter case is taken when it is the only one and
says so (XNAT labels are case-sensitive: xnat-rest.md §2.3). Experiments of other types (PET, CT,
...) are listed as candidates' neighbours but never chosen.

Longitudinal runs (freesurfer.md §3.5) follow their time point: `<tp>.long.<base>` goes to the
session `<tp>` resolves to, as resource `<R>_LONG`; a base goes to the subject that all its time
points resolve to, as the subject-level resource `<R>_BASE`.

A mapping row (`Assignment`) wins over matching for the values it gives; empty values are matched.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fsxnat_gui.core.errors import LabelError
from fsxnat_gui.core.labels import label_problem, sanitize
from fsxnat_gui.core.model import Assignment, How, Level, LongRole, RemoteExperiment, Subject

PLACEHOLDERS = ("subject", "folder", "session")
LONG_SUFFIX = "_LONG"
BASE_SUFFIX = "_BASE"


@dataclass(frozen=True)
class ArchiveIndex:
    """One listing of a project's subjects and one of its experiments."""

    exists: bool = False
    subjects: Mapping[str, str] = field(default_factory=dict)  # label -> accession id
    experiments: Sequence[RemoteExperiment] = ()

    def subject_label(self, subject_id: str) -> str:
        for label, sid in self.subjects.items():
            if sid == subject_id:
                return label
        return subject_id

    def experiment(self, label: str) -> RemoteExperiment | None:
        return next((e for e in self.experiments if e.label == label), None)

    def experiments_of(self, subject_label: str) -> list[RemoteExperiment]:
        sid = self.subjects.get(subject_label)
        if sid is None:
            return []
        return sorted((e for e in self.experiments if e.subject_id == sid), key=lambda e: e.label)

    def sessions_of(self, subject_label: str) -> list[RemoteExperiment]:
        """The MR sessions of a subject, by label."""
        return [e for e in self.experiments_of(subject_label) if e.is_mr]


EMPTY_INDEX = ArchiveIndex()


@dataclass(frozen=True)
class Rules:
    """What the user asked for: the labels of new things and whether new things may be made."""

    resource: str = "FREESURFER7"
    experiment_template: str = "{subject}_MR1"
    existing_only: bool = False
    folder_pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Destination:
    """Where one folder goes, and why. `problem` non-empty: nothing is written for it."""

    folder: str
    subject: str  # XNAT subject label ("" when unknown)
    experiment: str  # XNAT experiment label; "" for subject-level resources or undecided rows
    resource: str
    level: Level
    how: How
    reason: str  # a sentence for the preview, the mapping file and the report
    candidates: tuple[str, ...] = ()  # AMBIGUOUS: the subject's MR sessions
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


# --- the template and the folder pattern ------------------------------------------------------


def check_template(template: str, pattern: re.Pattern[str] | None = None) -> None:
    """Raise LabelError unless `template` is well formed and its placeholders can be filled."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise LabelError(f"experiment label template '{template}': {exc}") from None
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    for name in names:
        if name not in PLACEHOLDERS:
            shown = "{" + name + "}"
            raise LabelError(
                f"experiment label template '{template}' uses {shown}; known are {known}"
            )
        if name == "session" and (pattern is None or "session" not in pattern.groupindex):
            raise LabelError(
                f"experiment label template '{template}' uses {{session}}, which comes from a "
                "folder pattern with a 'session' group (e.g. '(?P<subject>sub-[^_]+)_"
                "(?P<session>ses-[^_]+)')"
            )


def compile_pattern(text: str) -> re.Pattern[str]:
    """The folder pattern, checked: a valid regex with a named group `subject`."""
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise LabelError(
            f"folder pattern '{text}' is not a valid regular expression: {exc}"
        ) from None
    if "subject" not in pattern.groupindex:
        raise LabelError(
            f"folder pattern '{text}' has no group named 'subject'; write it as "
            "(?P<subject>...), and (?P<session>...) for the session"
        )
    return pattern


@dataclass(frozen=True)
class _Name:
    """What a folder name says: the subject key and the session key of the folder pattern."""

    folder: str
    subject: str
    session: str = ""


def _read_name(folder: str, rules: Rules) -> _Name | str:
    """The keys of a folder name, or the reason the folder pattern does not fit it."""
    if rules.folder_pattern is None:
        return _Name(folder, folder)
    m = rules.folder_pattern.fullmatch(folder)
    if m is None or not m.group("subject"):
        return f"the folder name does not match the folder pattern '{rules.folder_pattern.pattern}'"
    session = m.group("session") if "session" in m.re.groupindex else ""
    return _Name(folder, m.group("subject"), session or "")


def _render(rules: Rules, name: _Name, subject_label: str) -> str:
    return rules.experiment_template.format(
        subject=subject_label,
        folder=sanitize(name.folder),
        session=sanitize(name.session) if name.session else "",
    )


def new_session_label(key: str, subject_label: str, rules: Rules) -> str:
    """The label a new MR session gets for the folder (or time point) `key` under the subject
    (the experiment template), "" when the folder pattern does not fit `key`."""
    name = _read_name(key, rules)
    return "" if isinstance(name, str) else _render(rules, name, subject_label)


# --- lookups --------------------------------------------------------------------------------


def _find(labels: Iterable[str], wanted: Sequence[str]) -> tuple[str, bool] | None:
    """The label equal to one of `wanted` (exact first), else the only one equal ignoring case.
    The bool says whether the match ignored letter case."""
    labels = list(labels)
    for w in wanted:
        if w in labels:
            return w, False
    lowered = {w.lower() for w in wanted}
    folded = [label for label in labels if label.lower() in lowered]
    return (folded[0], True) if len(folded) == 1 else None


def _case_note(ignored_case: bool) -> str:
    return " (letter case differs)" if ignored_case else ""


# --- one cross-sectional name ---------------------------------------------------------------


def _resolve_name(
    folder: str, key: str, index: ArchiveIndex, rules: Rules, given: Assignment, resource: str
) -> Destination:
    """Where the session named `key` (a folder or a time point) is: rules 1-3 of the module."""

    def dest(
        subject: str,
        experiment: str,
        how: How,
        reason: str,
        candidates: tuple[str, ...] = (),
        problem: str = "",
    ) -> Destination:
        return Destination(
            folder, subject, experiment, resource, Level.EXPERIMENT, how, reason, candidates,
            problem,
        )  # fmt: skip

    if given.experiment:
        return _given_experiment(folder, given, index, resource)
    name = _read_name(key, rules)
    if isinstance(name, str):
        return dest("", "", How.REFUSED, name, problem=name)
    sessions = [e for e in index.experiments if e.is_mr]
    if not given.subject and (hit := _find((e.label for e in sessions), [key])):
        label, folded = hit
        remote = index.experiment(label)
        assert remote is not None
        owner = index.subject_label(remote.subject_id)
        reason = f"existing session {label} — matched by session label{_case_note(folded)}"
        return dest(owner, label, How.SESSION_LABEL, reason)
    if given.subject:
        found: tuple[str, bool] | None = (given.subject, False)
        if given.subject not in index.subjects:
            found = None
    else:
        found = _find(index.subjects, [name.subject, sanitize(name.subject)])
    if found is None:
        subject = given.subject or sanitize(name.subject)
        experiment = _render(rules, name, subject)
        if rules.existing_only:
            why = (
                f"no subject or MR session on the server matches '{key}', and only existing "
                "sessions may be used"
            )
            return dest(subject, "", How.REFUSED, why, problem=why)
        how = How.MAPPED if given.subject else How.NEW_SUBJECT
        return dest(subject, experiment, how, f"new subject {subject}, new session {experiment}")
    subject, folded = found
    how_subject = "given in the mapping" if given.subject else "matched by subject label"
    note = f"{how_subject}{_case_note(folded)}"
    own = index.sessions_of(subject)
    wanted = _render(rules, name, subject)
    if any(e.label == wanted for e in own):
        return dest(subject, wanted, How.TEMPLATE, f"existing session {wanted} — {note}")
    if len(own) == 1 and not name.session:
        only = own[0].label
        return dest(subject, only, How.ONLY_SESSION, f"existing session {only} — {note}")
    if own:
        candidates = tuple(e.label for e in own)
        why = (
            f"subject {subject} has {len(own)} MR sessions ({', '.join(candidates)}); "
            f"choose one, or a new session {wanted}"
        )
        return dest(subject, "", How.AMBIGUOUS, why, candidates=candidates, problem=why)
    if rules.existing_only:
        why = f"subject {subject} has no MR session, and only existing sessions may be used"
        return dest(subject, "", How.REFUSED, why, problem=why)
    others = index.experiments_of(subject)
    extra = (
        f"; its other experiments ({', '.join(e.label for e in others)}) are not MR"
        if others
        else ""
    )
    return dest(
        subject,
        wanted,
        How.NEW_SESSION,
        f"new session {wanted} under existing subject {subject} — {note}{extra}",
    )


def _given_experiment(
    folder: str, given: Assignment, index: ArchiveIndex, resource: str
) -> Destination:
    """A mapping row that names the experiment: it must not belong to another subject."""
    remote = index.experiment(given.experiment)
    if remote is None:
        subject = given.subject or ""
        reason = f"new session {given.experiment}" + (
            f" under {'existing' if subject in index.subjects else 'new'} subject {subject}"
            if subject
            else ""
        )
        problem = (
            ""
            if subject
            else f"the mapping names the new session {given.experiment} but no subject"
        )
        return Destination(
            folder,
            subject,
            given.experiment,
            resource,
            Level.EXPERIMENT,
            How.MAPPED,
            reason,
            problem=problem,
        )
    owner = index.subject_label(remote.subject_id)
    if given.subject and given.subject != owner:
        problem = (
            f"experiment {remote.label} belongs to subject {owner} on the server, "
            f"not {given.subject}"
        )
        return Destination(
            folder,
            given.subject,
            remote.label,
            resource,
            Level.EXPERIMENT,
            How.MAPPED,
            problem,
            problem=problem,
        )
    kind = "session" if remote.is_mr else f"experiment ({remote.xsi_type})"
    return Destination(
        folder,
        owner,
        remote.label,
        resource,
        Level.EXPERIMENT,
        How.MAPPED,
        f"existing {kind} {remote.label} — given in the mapping",
    )


# --- all folders ----------------------------------------------------------------------------


def resolve(
    subjects: Sequence[Subject],
    index: ArchiveIndex,
    rules: Rules,
    mapping: Mapping[str, Assignment] | None = None,
) -> dict[str, Destination]:
    """The destination of every folder, by folder name (cross-sectional first, then longitudinal
    runs through their time point, then bases through all of theirs)."""
    check_template(rules.experiment_template, rules.folder_pattern)
    mapping = mapping or {}
    out: dict[str, Destination] = {}
    order = {LongRole.CROSS: 0, LongRole.LONG: 1, LongRole.BASE: 2}
    for s in sorted(subjects, key=lambda s: order[s.long_role]):
        given = mapping.get(s.name, Assignment())
        if s.long_role is LongRole.CROSS:
            out[s.name] = _resolve_name(
                s.name, s.name, index, rules, given, given.resource or rules.resource
            )
        elif s.long_role is LongRole.LONG:
            out[s.name] = _resolve_long(s, index, rules, given, out)
        else:
            out[s.name] = _resolve_base(s, index, rules, given, out)
    return {s.name: out[s.name] for s in subjects}


def _time_point(
    tp: str, folder: str, index: ArchiveIndex, rules: Rules, done: Mapping[str, Destination]
) -> Destination:
    """Where time point `tp` goes: its own folder's destination when it is in the batch."""
    if tp in done:
        return done[tp]
    return _resolve_name(folder, tp, index, rules, Assignment(), rules.resource)


def _resolve_long(
    s: Subject,
    index: ArchiveIndex,
    rules: Rules,
    given: Assignment,
    done: Mapping[str, Destination],
) -> Destination:
    resource = given.resource or rules.resource + LONG_SUFFIX
    if given.subject or given.experiment:
        return _resolve_name(s.name, s.long_tp or s.name, index, rules, given, resource)
    if not s.long_tp:
        why = "the time point of this longitudinal run is not known (no '<tp>.long.<base>' name)"
        return Destination(
            s.name, "", "", resource, Level.EXPERIMENT, How.REFUSED, why, problem=why
        )
    tp = _time_point(s.long_tp, s.name, index, rules, done)
    reason = f"longitudinal run of {s.long_tp}: {tp.reason}"
    how = tp.how if tp.how in (How.AMBIGUOUS, How.REFUSED) else How.TIME_POINT
    problem = f"time point {s.long_tp}: {tp.problem}" if tp.problem else ""
    return Destination(
        s.name,
        tp.subject,
        tp.experiment,
        resource,
        Level.EXPERIMENT,
        how,
        reason,
        candidates=tp.candidates,
        problem=problem,
    )


def _resolve_base(
    s: Subject,
    index: ArchiveIndex,
    rules: Rules,
    given: Assignment,
    done: Mapping[str, Destination],
) -> Destination:
    resource = given.resource or rules.resource + BASE_SUFFIX

    def dest(subject: str, how: How, reason: str, problem: str = "") -> Destination:
        return Destination(
            s.name, subject, "", resource, Level.SUBJECT, how, reason, problem=problem
        )

    if given.subject:
        known = given.subject in index.subjects
        return dest(
            given.subject,
            How.MAPPED,
            f"{'existing' if known else 'new'} subject {given.subject} — given in the mapping",
        )
    if not s.base_tps:
        why = "the base lists no time points (empty base-tps file)"
        return dest("", How.REFUSED, why, why)
    found = {tp: _time_point(tp, s.name, index, rules, done) for tp in s.base_tps}
    lost = [tp for tp, d in found.items() if not d.subject]
    if lost:
        why = f"time point {', '.join(lost)} resolves to no subject ({found[lost[0]].reason})"
        return dest("", How.REFUSED, why, why)
    owners = sorted({d.subject for d in found.values()})
    if len(owners) > 1:
        pairs = ", ".join(f"{tp} → {d.subject}" for tp, d in found.items())
        why = f"its time points resolve to different subjects ({pairs})"
        return dest("", How.REFUSED, why, why)
    subject = owners[0]
    if rules.existing_only and subject not in index.subjects:
        why = f"subject {subject} does not exist, and only existing sessions may be used"
        return dest(subject, How.REFUSED, why, why)
    state = "existing" if subject in index.subjects else "new"
    return dest(
        subject,
        How.TIME_POINT,
        f"{state} subject {subject} — base of {', '.join(s.base_tps)}",
    )


def label_problems(dest: Destination) -> list[str]:
    """The label rules a destination breaks (only the labels it would write)."""
    problems = []
    checks = [("subject label", dest.subject), ("resource label", dest.resource)]
    if dest.level is Level.EXPERIMENT:
        checks.insert(1, ("experiment label", dest.experiment))
    for what, label in checks:
        if (problem := label_problem(label)) is not None:
            problems.append(f"{what}: {problem}")
    return problems
