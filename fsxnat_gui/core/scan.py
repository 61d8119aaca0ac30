"""Find the recon-all subjects of a SUBJECTS_DIR and decide whether each one can be imported.

Implements reference/freesurfer.md, "Subject detection rules" 1-10 and 13. Every check uses
``lstat``: a symlinked entry is reported, never followed, and a link inside a subject counts only
when it resolves to a regular file inside that subject. Recognised subjects are never recursed
into (fsaverage's ``xhemi/`` looks like a subject). Sizes come from ``archive.walk_subject`` so
that the scan counts exactly what the zip will hold.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fsxnat_gui.core.archive import is_utf8, printable, walk_subject
from fsxnat_gui.core.errors import ArchiveError, Cancelled, ScanError
from fsxnat_gui.core.model import EntryKind, LongRole, RunState, Subject

log = logging.getLogger(__name__)

TEMPLATE_NAME_RE = re.compile(r"^(?:fsaverage(?:\d|_sym)?|cvs_avg35(?:_inMNI152)?)$|_average$")
UTILITY_FOLDERS = frozenset({"sbatch", "qa", "QA", "qdec", "tmp", "trash"})
AVERAGE_LOGS = ("scripts/make_average_surface.log", "scripts/make_average_volume.log")
RECON_MARKERS = (
    "scripts/recon-all.log",
    "scripts/recon-all-status.log",
    "scripts/recon-all.done",
    "scripts/build-stamp.txt",
    "scripts/lastcall.build-stamp.txt",
)
FASTSURFER_MARKERS = (
    "scripts/recon-surf.log",
    "scripts/recon-surf.done",
    "mri/aparc.DKTatlas+aseg.deep.mgz",
)
IS_RUNNING = ("scripts/IsRunning.lh+rh", "scripts/IsRunning.lh", "scripts/IsRunning.rh")
FIRST_STAMP, LATEST_STAMP = "scripts/build-stamp.txt", "scripts/lastcall.build-stamp.txt"
DONE, ERROR, STATUS_LOG, LOG = (
    "scripts/recon-all.done",
    "scripts/recon-all.error",
    "scripts/recon-all-status.log",
    "scripts/recon-all.log",
)


def _required_outputs() -> tuple[str, ...]:
    mri = ("orig", "T1", "brainmask", "norm", "aseg", "aparc+aseg", "aparc.a2009s+aseg")
    mri += ("wmparc", "ribbon")
    out = [f"mri/{v}.mgz" for v in mri] + ["mri/transforms/talairach.xfm"]
    for h in ("lh", "rh"):
        surf = ("white", "pial", "inflated", "sphere.reg", "thickness", "curv", "sulc")
        out += [f"surf/{h}.{s}" for s in surf]
        out += [
            f"label/{h}.aparc.annot",
            f"label/{h}.aparc.a2009s.annot",
            f"label/{h}.cortex.label",
        ]
    out += ["stats/aseg.stats", "stats/wmparc.stats"]
    out += [f"stats/{h}.{a}.stats" for h in ("lh", "rh") for a in ("aparc", "aparc.a2009s")]
    return (*out, LOG, STATUS_LOG, DONE)


REQUIRED_OUTPUTS = _required_outputs()
STALE_AFTER_S = 24 * 3600  # IsRunning with nothing logged for a day: most likely a crash
_SHOWN_MISSING = 5

_STAMP_VERSION_RES = (
    re.compile(r"stable-pub-v(\d+\.\d+\.\d+)"),
    re.compile(r"_x86_64-(\d+\.\d+\.\d+)(?:-[a-z0-9]+)?-\d{8}"),
    re.compile(r"darwin-macOS-(\d+\.\d+\.\d+)-"),
)
_STAMP_TOKEN_RE = re.compile(r"freesurfer-[A-Za-z0-9_.+-]+")
_LOG_STAMP_RE = re.compile(r"^build-stamp\.txt: *(\S.*)$", re.MULTILINE)
_LONG_RE = re.compile(r"^(?P<tp>.+)\.long\.(?P<base>.+)$")
_VERDICT_RE = re.compile(r"^.*(?:finished without error|exited with ERRORS).*$", re.MULTILINE)
_KEY_RE = re.compile(r"^([A-Z_]+)[ \t]+(.*?)\s*$", re.MULTILINE)
_ARG_WITH_VALUE = frozenset({"-s", "-subjid", "-sd", "-i", "-openmp", "-threads"})


# --- small filesystem helpers (lstat only) --------------------------------------------------


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _is_file(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def _is_dir(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _read_text(path: Path, limit: int = 1 << 20) -> str | None:
    """The last ``limit`` bytes of a regular file (never through a link), or None."""
    if not _is_file(path):
        return None
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        log.debug("cannot read %s: %s", path, exc)
        return None


def _keys(text: str | None) -> dict[str, str]:
    """``KEY value`` lines of recon-all.done / IsRunning / .error (first occurrence wins)."""
    found: dict[str, str] = {}
    for key, value in _KEY_RE.findall(text or ""):
        found.setdefault(key, value)
    return found


def _inside(path: Path, subject: Path) -> Path | None:
    """Where a link inside ``subject`` resolves to, if that stays inside the subject."""
    target = Path(os.path.realpath(path))
    root = Path(os.path.realpath(subject))
    return target if target.is_relative_to(root) else None


# --- version ----------------------------------------------------------------------------------


def parse_version(stamp: str) -> str | None:
    """major.minor.patch from a FreeSurfer build stamp (freesurfer.md §3.3), or None."""
    for regex in _STAMP_VERSION_RES:
        if m := regex.search(stamp):
            return m.group(1)
    return None


def _stamp_file(path: Path) -> str | None:
    text = _read_text(path, 4096)
    first = text.strip().splitlines()[0].strip() if text and text.strip() else ""
    return first or None


def _done_stamp(done: dict[str, str]) -> str | None:
    """The stamp inside recon-all.done's VERSION (FS 7+); FS 6's FreeSurferEnv.csh is ignored."""
    m = _STAMP_TOKEN_RE.search(done.get("VERSION", ""))
    return m.group(0).rstrip(")") if m else None


def _log_stamp(subject: Path) -> str | None:
    stamps = _LOG_STAMP_RE.findall(_read_text(subject / LOG) or "")
    return stamps[-1].strip() if stamps else None


@dataclass(frozen=True)
class _Version:
    version: str | None = None
    stamp: str | None = None
    mixed: bool = False
    warning: str | None = None


def _version(subject: Path, done: dict[str, str]) -> _Version:
    first, latest = _stamp_file(subject / FIRST_STAMP), _stamp_file(subject / LATEST_STAMP)
    version = stamp = None
    for raw in (first, latest, _done_stamp(done)):
        if raw and (version := parse_version(raw)):
            stamp = raw
            break
    if version is None and (raw := _log_stamp(subject)) and (version := parse_version(raw)):
        stamp = raw
    if first and latest and first != latest:
        warning = (
            f"two FreeSurfer versions worked on this subject: first {parse_version(first) or first}"
            f" ({first}), latest {parse_version(latest) or latest} ({latest})"
        )
        return _Version(version, stamp, mixed=True, warning=warning)
    return _Version(version, stamp)


# --- run state --------------------------------------------------------------------------------


def _ago(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.0f} hours"


def _running_reason(subject: Path, marker: str) -> str:
    info = _keys(_read_text(subject / marker, 64 * 1024))
    host, pid, date = info.get("HOST", "?"), info.get("PROCESSID", "?"), info.get("DATE", "?")
    mtimes = [st.st_mtime for p in (marker, LOG, STATUS_LOG) if (st := _lstat(subject / p))]
    idle = time.time() - max(mtimes)
    if idle > STALE_AFTER_S:
        return (
            f"recon-all was started on host {host} (pid {pid}) on {date} and has written nothing "
            f"for {_ago(idle)}: it probably crashed. If no recon-all runs, remove {marker} and "
            "run recon-all again"
        )
    return (
        f"recon-all is running on host {host} (pid {pid}) since {date}, or it crashed: "
        f"remove {marker} if no recon-all runs"
    )


def _failed_reason(subject: Path) -> str:
    error = _read_text(subject / ERROR, 64 * 1024)
    if error is None:
        return f"recon-all exited with errors: see {LOG}"
    cmd = _keys(error).get("CMD", "")
    if len(cmd) > 60:
        cmd = cmd[:57].rstrip() + " ..."
    return f"recon-all exited with errors: see {ERROR}" + (f" (CMD {cmd})" if cmd else "")


def _last_verdict(subject: Path) -> str | None:
    """'ok', 'error' or None from the last verdict line of recon-all-status.log."""
    verdicts = _VERDICT_RE.findall(_read_text(subject / STATUS_LOG, 256 * 1024) or "")
    if not verdicts:
        return None
    return "error" if "exited with ERRORS" in verdicts[-1] else "ok"


def _valid_done(text: str, done: dict[str, str]) -> bool:
    lines = text.strip().splitlines()
    return bool(lines) and lines[0].startswith("---") and "SUBJECT" in done


def _missing_outputs(subject: Path) -> list[str]:
    missing = []
    for rel in REQUIRED_OUTPUTS:
        path = subject / rel
        st = _lstat(path)
        if st is None:
            missing.append(rel)
        elif stat.S_ISLNK(st.st_mode):
            target = _inside(path, subject)
            if target is None:
                missing.append(f"{rel} (link to outside the subject)")
            elif not target.is_file():
                missing.append(f"{rel} (dangling link)")
        elif not stat.S_ISREG(st.st_mode):
            missing.append(f"{rel} (not a file)")
    if not (_is_file(subject / FIRST_STAMP) or _is_file(subject / LATEST_STAMP)):
        missing.append(f"{FIRST_STAMP} or {LATEST_STAMP}")
    return missing


def _last_run(done: dict[str, str]) -> str:
    """CMDARGS without the subject, input and thread options: '-autorecon1', '-all', ..."""
    args, skip = [], False
    for arg in done.get("CMDARGS", "").split():
        if skip:
            skip = False
        elif arg in _ARG_WITH_VALUE:
            skip = True
        else:
            args.append(arg)
    return " ".join(args)


def _partial_reason(missing: list[str], done: dict[str, str]) -> str:
    shown = ", ".join(missing[:_SHOWN_MISSING])
    if len(missing) > _SHOWN_MISSING:
        shown += f" and {len(missing) - _SHOWN_MISSING} more"
    last = _last_run(done)
    return f"recon-all.done is present but outputs are missing: {shown}" + (
        f" (the last run was '{last}')" if last else ""
    )


@dataclass(frozen=True)
class _State:
    state: RunState
    reason: str
    warnings: tuple[str, ...] = ()


def _run_state(subject: Path, done_text: str | None, done: dict[str, str]) -> _State:
    """Rule 7 (first match wins), then rule 8 for a finished run."""
    if marker := next((m for m in IS_RUNNING if _is_file(subject / m)), None):
        return _State(RunState.RUNNING, _running_reason(subject, marker))
    verdict = _last_verdict(subject)
    failed_done = done_text is not None and done_text.strip() == "1"
    if _is_file(subject / ERROR) or failed_done or verdict == "error":
        return _State(RunState.FAILED, _failed_reason(subject))
    if done_text is None:
        return _State(RunState.INCOMPLETE, "no recon-all.done: recon-all has not finished")
    if not _valid_done(done_text, done):
        return _State(
            RunState.INCOMPLETE,
            f"{DONE} is not in the format recon-all writes: recon-all has not finished properly",
        )
    warnings = () if verdict else (f"{STATUS_LOG} has no 'finished without error' line",)
    if missing := _missing_outputs(subject):
        return _State(RunState.DONE_PARTIAL, _partial_reason(missing, done), warnings)
    finished = done.get("END_TIME") or done.get("DATE")
    reason = "recon-all finished without error" + (f" at {finished}" if finished else "")
    return _State(RunState.DONE, reason, warnings)


# --- classification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Role:
    role: LongRole = LongRole.CROSS
    tp: str = ""
    base: str = ""
    base_tps: tuple[str, ...] = ()


def _long_role(subject: Path, done: dict[str, str]) -> _Role:
    """freesurfer.md rule 10: a `base-tps` file makes a base (its lines are the time points);
    `<tp>.long.<base>` (or `-long <tp> <base>` in CMDARGS, or scripts/long.base) a longitudinal
    run."""
    if (tps := _read_text(subject / "base-tps", 64 * 1024)) is not None:
        return _Role(LongRole.BASE, base_tps=tuple(t for t in tps.split() if t))
    if m := _LONG_RE.match(subject.name):
        return _Role(LongRole.LONG, m["tp"], m["base"])
    args = done.get("CMDARGS", "").split()
    if "-long" in args and len(args) > args.index("-long") + 2:
        i = args.index("-long")
        return _Role(LongRole.LONG, args[i + 1], args[i + 2])
    if (base := _read_text(subject / "scripts" / "long.base", 4096)) is not None:
        cross = _read_text(subject / "scripts" / "long.cross", 4096) or ""
        return _Role(LongRole.LONG, cross.strip(), base.strip())
    return _Role()


def _recon_subject(path: Path) -> Subject:
    done_text = _read_text(path / DONE, 64 * 1024)
    done = _keys(done_text)
    state = _run_state(path, done_text, done)
    version = _version(path, done)
    role = _long_role(path, done)
    warnings = list(state.warnings)
    if version.warning:
        warnings.append(version.warning)
    if (named := done.get("SUBJECT")) and named != path.name:
        warnings.append(
            f"recon-all.done names the subject '{named}' but the folder is '{path.name}' "
            "(renamed or copied subject)"
        )
    return Subject(
        name=path.name,
        path=path,
        kind=EntryKind.SUBJECT,
        state=state.state,
        reason=state.reason,
        version=version.version,
        version_stamp=version.stamp,
        mixed_version=version.mixed,
        long_role=role.role,
        long_tp=role.tp,
        long_base=role.base,
        base_tps=role.base_tps,
        warnings=tuple(warnings),
    )


def _other(path: Path, kind: EntryKind, reason: str) -> Subject:
    return Subject(name=path.name, path=path, kind=kind, reason=reason)


def _linked(path: Path) -> Subject:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    if TEMPLATE_NAME_RE.search(path.name):
        reason = f"linked FreeSurfer template ({path.name} -> {target}), not imported"
    else:
        reason = f"symbolic link to {target}: links are not followed; add the real folder instead"
    return _other(path, EntryKind.LINKED, reason)


def _is_template(path: Path) -> bool:
    return bool(TEMPLATE_NAME_RE.search(path.name)) or any(_is_file(path / p) for p in AVERAGE_LOGS)


def _is_recon_candidate(path: Path) -> bool:
    return (
        _is_dir(path / "mri")
        and _is_dir(path / "scripts")
        and any(_is_file(path / m) for m in RECON_MARKERS)
    )


def classify(path: Path) -> Subject:
    """Kind, run state, reason, version and longitudinal role of one entry (no sizes: fast)."""
    path = Path(path)
    st = _lstat(path)
    if st is None:
        raise ScanError(f"{path} does not exist.")
    if stat.S_ISLNK(st.st_mode):
        return _linked(path)
    if path.name.startswith("."):
        return _other(path, EntryKind.NOT_SUBJECT, "hidden entry")
    if not is_utf8(path.name):
        return _other(
            path,
            EntryKind.NOT_SUBJECT,
            f"the name is not valid UTF-8 text ({printable(path.name)}), which XNAT cannot "
            "store: rename it to import it",
        )
    if not stat.S_ISDIR(st.st_mode):
        return _other(path, EntryKind.NOT_SUBJECT, "a file, not a subject folder")
    if not os.access(path, os.R_OK | os.X_OK):
        return _other(path, EntryKind.NOT_SUBJECT, "the folder cannot be read (permission denied)")
    if _is_template(path):
        return _other(path, EntryKind.TEMPLATE, "FreeSurfer template subject (not imported)")
    if path.name in UTILITY_FOLDERS:
        return _other(path, EntryKind.NOT_SUBJECT, "FreeSurfer utility folder, not a subject")
    if any(_lstat(path / m) for m in FASTSURFER_MARKERS):
        return _other(
            path,
            EntryKind.FASTSURFER,
            "FastSurfer output (recon-surf), not a recon-all subject: not imported",
        )
    if not _is_recon_candidate(path):
        return _other(
            path,
            EntryKind.NOT_SUBJECT,
            "no recon-all outputs (a subject has mri/, scripts/ and recon-all logs or markers)",
        )
    return _recon_subject(path)


def measure(subject: Subject) -> Subject:
    """A copy of ``subject`` with the files and bytes that will be zipped and link warnings.

    A folder that cannot be walked keeps ``files=None`` and gets the reason as a warning."""
    try:
        files, warnings = walk_subject(subject.path)
    except ArchiveError as exc:
        log.warning("cannot measure %s: %s", subject.path, exc)
        return replace(subject, warnings=(*subject.warnings, str(exc)))
    extra = tuple(w for w in warnings if w not in subject.warnings)
    return replace(
        subject,
        files=len(files),
        bytes=sum(f.size for f in files),
        warnings=subject.warnings + extra,
    )


# --- scanning ---------------------------------------------------------------------------------


def _entries(root: Path) -> list[Path]:
    """The sorted entries of a SUBJECTS_DIR; ScanError with a sentence for the user otherwise."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise ScanError(f"The folder {root} does not exist.") from None
    except OSError as exc:
        raise ScanError(f"The folder {root} cannot be read: {exc.strerror}.") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ScanError(
            f"{root} is a file, not a folder: choose the folder that holds the subjects."
        )
    try:
        names = os.listdir(root)
    except PermissionError:
        raise ScanError(f"The folder {root} cannot be read: permission denied.") from None
    except OSError as exc:
        raise ScanError(f"The folder {root} cannot be read: {exc.strerror}.") from None
    return [root / n for n in sorted(names)]


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def subject_folder_hint(root: Path) -> str | None:
    """When `root` is itself a recon-all subject folder (not a SUBJECTS_DIR), the sentence that
    says so and names its parent, the folder to scan; else None."""
    root = Path(root)
    if not _is_dir(root) or not _is_recon_candidate(root):
        return None
    parent = Path(os.path.abspath(root)).parent
    return (
        f"{printable(root.name)} is itself a recon-all subject folder, not a SUBJECTS_DIR: "
        f"scan its parent folder {printable(str(parent))} to import it"
    )


def iter_scan(root: Path, cancel: threading.Event | None = None) -> Iterator[Subject]:
    """Every entry classified (sorted by name), then each recon-all subject again, measured.
    Pointed at one subject folder, its entries (mri/, surf/, ...) say so and name the parent
    (`subject_folder_hint`)."""
    root = Path(root)
    hint = subject_folder_hint(root)
    subjects = []
    for path in _entries(root):
        _check(cancel)
        entry = classify(path)
        if entry.kind is EntryKind.SUBJECT:
            subjects.append(entry)
        elif hint is not None:
            entry = replace(entry, reason=f"{entry.reason}; {hint}")
        yield entry
    for entry in subjects:
        _check(cancel)
        yield measure(entry)
    log.info("scanned %s: %d subjects", root, len(subjects))


def scan(root: Path) -> list[Subject]:
    """All entries of a SUBJECTS_DIR, recon-all subjects measured, sorted by name."""
    latest = {s.name: s for s in iter_scan(root)}
    return [latest[n] for n in sorted(latest)]


def _is_subjects_dir(path: Path) -> bool:
    for entry in _entries(path):
        kind = classify(entry).kind
        if kind in (EntryKind.SUBJECT, EntryKind.TEMPLATE):
            return True
        if kind is EntryKind.LINKED and TEMPLATE_NAME_RE.search(entry.name):
            return True
    return False


def _key(subject: Subject) -> str:
    return os.path.join(os.path.realpath(subject.path.parent), subject.name)


def _dropped(path: Path) -> tuple[list[Subject], str | None]:
    """What one dropped path contributes: subjects, or a message saying why it is ignored."""
    if _lstat(path) is None:
        return [], f"{path} does not exist"
    real = Path(os.path.realpath(path))
    if not real.is_dir():
        return [], f"{path.name} is a file, not a FreeSurfer subject folder"
    entry = classify(real)
    if entry.kind is EntryKind.SUBJECT:
        return [measure(entry)], None
    if entry.kind is not EntryKind.NOT_SUBJECT:
        return [entry], None
    try:
        if _is_subjects_dir(real):
            return scan(real), None
    except ScanError as exc:
        return [], str(exc)
    return [], f"{path.name} is not a FreeSurfer subject folder and holds none ({entry.reason})"


def scan_paths(paths: Sequence[Path]) -> tuple[list[Subject], list[str]]:
    """Subjects from dropped SUBJECTS_DIRs and subject folders, and messages about the rest."""
    found: dict[str, Subject] = {}
    messages: list[str] = []
    for path in paths:
        subjects, message = _dropped(Path(path))
        if message:
            messages.append(message)
        for subject in subjects:
            found.setdefault(_key(subject), subject)
    return sorted(found.values(), key=lambda s: (s.name, str(s.path))), messages
