"""Metadata (SQLite) and archive layout of the local XNAT server.

Files live where XNAT keeps them (xnat-rest.md §5): experiment resources in
`<root>/<PROJECT>/arc001/<EXPERIMENT_LABEL>/RESOURCES/<label>/`, subject resources in
`<root>/<PROJECT>/subjects/<SUBJECT_LABEL>/<label>/`, each with `<label>_catalog.xml` beside its
files. Metadata is in `<root>/.localxnat.sqlite`, so a server
restarted on the same root still knows every project, subject, experiment, resource and file.
All access goes through one connection guarded by one lock.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

log = logging.getLogger(__name__)

SITE_ID = "XNAT"
ARC = "arc001"
DB_NAME = ".localxnat.sqlite"
STAGING_PREFIX = ".staging-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, name TEXT, secondary_id TEXT, description TEXT,
    owner TEXT, insert_date TEXT);
CREATE TABLE IF NOT EXISTS deleted_projects (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS subjects (
    id TEXT PRIMARY KEY, project TEXT, label TEXT, insert_date TEXT, insert_user TEXT,
    UNIQUE (project, label));
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY, project TEXT, subject_id TEXT, label TEXT, xsi_type TEXT, date TEXT,
    insert_date TEXT, insert_user TEXT, UNIQUE (project, label));
CREATE TABLE IF NOT EXISTS resources (
    -- experiment_id is the owner: an experiment's or (subject-level resources) a subject's id
    id INTEGER PRIMARY KEY, experiment_id TEXT, label TEXT, format TEXT, content TEXT,
    tags TEXT, description TEXT, file_count INTEGER, file_size INTEGER,
    UNIQUE (experiment_id, label));
CREATE TABLE IF NOT EXISTS files (
    resource_id INTEGER, path TEXT, size INTEGER, digest TEXT, format TEXT, content TEXT,
    tags TEXT, created_by TEXT, created_time TEXT, event_id INTEGER,
    PRIMARY KEY (resource_id, path));
"""


def now_text() -> str:
    """XNAT's insert_date form: `YYYY-MM-DD HH:MM:SS.mmm`."""
    return datetime.now().isoformat(sep=" ", timespec="milliseconds")


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    secondary_id: str
    description: str
    owner: str
    insert_date: str


@dataclass(frozen=True)
class Subject:
    id: str
    project: str
    label: str
    insert_date: str
    insert_user: str


@dataclass(frozen=True)
class Experiment:
    id: str
    project: str
    subject_id: str
    label: str
    xsi_type: str
    date: str
    insert_date: str
    insert_user: str


SUBJECT_LEVEL = "subject"
EXPERIMENT_LEVEL = "experiment"


@dataclass(frozen=True)
class Resource:
    """A resource of an experiment or (`level` "subject") of a subject."""

    id: int
    owner_id: str  # the experiment's or subject's accession id
    project: str
    owner_label: str
    level: str  # EXPERIMENT_LEVEL or SUBJECT_LEVEL
    label: str
    format: str
    content: str
    tags: str
    description: str
    file_count: int | None
    file_size: int | None


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    digest: str
    format: str
    content: str
    tags: str
    created_by: str
    created_time: str
    event_id: int


@dataclass(frozen=True)
class StagedFile:
    """A fully received file waiting in a staging folder to be moved into a resource."""

    path: str  # relative path inside the resource
    staged: Path
    size: int
    digest: str


class ResourceExists(Exception):  # noqa: N818 - a state, read as "the resource exists"
    """A resource with that label already exists under the owner."""


class Store:
    """Projects, subjects, experiments, resources and files; thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._db = sqlite3.connect(
            self.root / DB_NAME, check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        # WAL with NORMAL sync survives a killed server and avoids an fsync per statement.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def _all(self, sql: str, args: Iterable[object] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def _one(self, sql: str, args: Iterable[object] = ()) -> sqlite3.Row | None:
        rows = self._all(sql, args)
        return rows[0] if rows else None

    def _exec(self, sql: str, args: Iterable[object] = ()) -> None:
        with self.lock:
            self._db.execute(sql, tuple(args))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Hold the lock and batch the statements into one commit (one WAL write, not one per
        row); what ran before an error is committed too, as it would be statement by statement.
        """
        with self.lock:
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def _next(self, kind: str) -> int:
        """Next value of a counter that never goes back, even after deletions."""
        with self.lock:
            row = self._one("SELECT value FROM counters WHERE kind = ?", (kind,))
            value = (row["value"] if row else 0) + 1
            self._exec("INSERT OR REPLACE INTO counters (kind, value) VALUES (?, ?)", (kind, value))
            return value

    # Projects

    def project(self, pid: str) -> Project | None:
        row = self._one("SELECT * FROM projects WHERE id = ?", (pid,))
        return Project(**row) if row else None

    def projects(self) -> list[Project]:
        return [Project(**r) for r in self._all("SELECT * FROM projects ORDER BY id")]

    def project_clash(self, pid: str, candidates: Iterable[str]) -> str | None:
        """The first candidate equal, ignoring case, to a field of a project other than `pid`."""
        wanted = [c.lower() for c in candidates if c]
        for other in self.projects():
            if other.id == pid:
                continue
            taken = {other.id.lower(), other.name.lower(), other.secondary_id.lower()}
            for value in wanted:
                if value in taken:
                    return value
        return None

    def was_deleted(self, pid: str) -> bool:
        return self._one("SELECT id FROM deleted_projects WHERE id = ?", (pid,)) is not None

    def create_project(
        self, pid: str, *, name: str, secondary_id: str, description: str, owner: str
    ) -> Project:
        with self.lock:
            self._exec(
                "INSERT INTO projects VALUES (?, ?, ?, ?, ?, ?)",
                (pid, name, secondary_id, description, owner, now_text()),
            )
            (self.root / pid / ARC).mkdir(parents=True, exist_ok=True)
            project = self.project(pid)
        assert project is not None
        return project

    def update_project(self, pid: str, **fields: str) -> None:
        for key, value in fields.items():
            self._exec(f"UPDATE projects SET {key} = ? WHERE id = ?", (value, pid))

    def delete_project(self, pid: str, *, remove_files: bool) -> None:
        with self.lock:
            for subject in self.subjects(pid):
                self.delete_subject(subject, remove_files=remove_files)
            for experiment in self.experiments(project=pid):  # none left, unless orphaned
                self.delete_experiment(experiment, remove_files=remove_files)
            self._exec("DELETE FROM projects WHERE id = ?", (pid,))
            self._exec("INSERT OR IGNORE INTO deleted_projects VALUES (?)", (pid,))
            if remove_files:
                shutil.rmtree(self.root / pid, ignore_errors=True)

    # Subjects

    def subject(self, project: str, ident: str) -> Subject | None:
        """A subject of `project` by label or accession ID (case-sensitive)."""
        row = self._one(
            "SELECT * FROM subjects WHERE project = ? AND (label = ? OR id = ?) "
            "ORDER BY label = ? DESC",
            (project, ident, ident, ident),
        )
        return Subject(**row) if row else None

    def subject_by_id(self, sid: str) -> Subject | None:
        row = self._one("SELECT * FROM subjects WHERE id = ?", (sid,))
        return Subject(**row) if row else None

    def subjects(self, project: str) -> list[Subject]:
        rows = self._all("SELECT * FROM subjects WHERE project = ? ORDER BY id", (project,))
        return [Subject(**r) for r in rows]

    def create_subject(self, project: str, label: str, user: str) -> Subject:
        with self.lock:
            sid = f"{SITE_ID}_S{self._next('subject'):05d}"
            self._exec(
                "INSERT INTO subjects VALUES (?, ?, ?, ?, ?)",
                (sid, project, label, now_text(), user),
            )
            subject = self.subject_by_id(sid)
        assert subject is not None
        return subject

    def delete_subject(self, subject: Subject, *, remove_files: bool) -> None:
        with self.lock:
            for experiment in self.experiments(project=subject.project, subject_id=subject.id):
                self.delete_experiment(experiment, remove_files=remove_files)
            for resource in self.resources(subject.id):
                self.delete_resource(resource, remove_files=remove_files)
            self._exec("DELETE FROM subjects WHERE id = ?", (subject.id,))
            if remove_files:
                shutil.rmtree(self.subject_dir(subject), ignore_errors=True)

    def subject_dir(self, subject: Subject) -> Path:
        return self.root / subject.project / "subjects" / subject.label

    # Experiments

    def experiment(self, project: str, ident: str) -> Experiment | None:
        """An experiment of `project` by label or accession ID (case-sensitive)."""
        row = self._one(
            "SELECT * FROM experiments WHERE project = ? AND (label = ? OR id = ?) "
            "ORDER BY label = ? DESC",
            (project, ident, ident, ident),
        )
        return Experiment(**row) if row else None

    def experiment_by_id(self, eid: str) -> Experiment | None:
        row = self._one("SELECT * FROM experiments WHERE id = ?", (eid,))
        return Experiment(**row) if row else None

    def experiments(
        self, *, project: str | None = None, subject_id: str | None = None
    ) -> list[Experiment]:
        sql, args = "SELECT * FROM experiments WHERE 1 = 1", []
        if project is not None:
            sql += " AND project = ?"
            args.append(project)
        if subject_id is not None:
            sql += " AND subject_id = ?"
            args.append(subject_id)
        return [Experiment(**r) for r in self._all(sql + " ORDER BY id", args)]

    def create_experiment(
        self, project: str, subject_id: str, label: str, *, xsi_type: str, date: str, user: str
    ) -> Experiment:
        with self.lock:
            eid = f"{SITE_ID}_E{self._next('experiment'):05d}"
            self._exec(
                "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (eid, project, subject_id, label, xsi_type, date, now_text(), user),
            )
            experiment = self.experiment_by_id(eid)
        assert experiment is not None
        return experiment

    def move_experiment(self, experiment: Experiment, subject_id: str) -> None:
        self._exec(
            "UPDATE experiments SET subject_id = ? WHERE id = ?", (subject_id, experiment.id)
        )

    def delete_experiment(self, experiment: Experiment, *, remove_files: bool) -> None:
        with self.lock:
            for resource in self.resources(experiment.id):
                self.delete_resource(resource, remove_files=remove_files)
            self._exec("DELETE FROM experiments WHERE id = ?", (experiment.id,))
            if remove_files:
                shutil.rmtree(self.session_dir(experiment), ignore_errors=True)

    def session_dir(self, experiment: Experiment) -> Path:
        return self.root / experiment.project / ARC / experiment.label

    # Resources

    # Either join finds the owner: experiment ids (XNAT_E...) and subject ids (XNAT_S...) differ.
    _RESOURCE_SQL = (
        "SELECT r.id, r.experiment_id AS owner_id, "
        "COALESCE(e.project, s.project) AS project, COALESCE(e.label, s.label) AS owner_label, "
        f"CASE WHEN e.id IS NULL THEN '{SUBJECT_LEVEL}' ELSE '{EXPERIMENT_LEVEL}' END AS level, "
        "r.label, r.format, r.content, r.tags, r.description, r.file_count, r.file_size "
        "FROM resources r LEFT JOIN experiments e ON e.id = r.experiment_id "
        "LEFT JOIN subjects s ON s.id = r.experiment_id"
    )

    def resources(self, owner_id: str) -> list[Resource]:
        """The resources of the experiment or subject `owner_id`."""
        rows = self._all(
            self._RESOURCE_SQL + " WHERE r.experiment_id = ? ORDER BY r.id", (owner_id,)
        )
        return [Resource(**r) for r in rows]

    def resource(self, owner_id: str, ident: str) -> Resource | None:
        """A resource of `owner_id` by exact label, or by numeric id if all digits."""
        if ident.isdigit():
            sql, arg = " WHERE r.experiment_id = ? AND r.id = ?", int(ident)
        else:
            sql, arg = " WHERE r.experiment_id = ? AND r.label = ?", ident
        row = self._one(self._RESOURCE_SQL + sql, (owner_id, arg))
        return Resource(**row) if row else None

    def create_resource(
        self,
        owner: Experiment | Subject,
        label: str,
        *,
        fmt: str,
        content: str,
        tags: str,
        desc: str,
        exist_ok: bool = False,
    ) -> Resource:
        """A new resource; when one with that label exists (two requests racing to create it),
        that one with `exist_ok` (an upload auto-creates its resource and answers 200:
        xnat-rest.md §3.3), else ResourceExists (a PUT of an existing label is 409: §3.1)."""
        with self.lock:
            if (found := self.resource(owner.id, label)) is not None:
                if exist_ok:
                    return found
                raise ResourceExists(label)
            rid = self._next("resource")
            self._exec(
                "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (rid, owner.id, label, fmt, content, tags, desc),
            )
            resource = self.resource(owner.id, str(rid))
            assert resource is not None
            self.resource_dir(resource).mkdir(parents=True, exist_ok=True)
            self.write_catalog(resource)
        return resource

    def delete_resource(self, resource: Resource, *, remove_files: bool = True) -> None:
        with self.lock:
            self._exec("DELETE FROM files WHERE resource_id = ?", (resource.id,))
            self._exec("DELETE FROM resources WHERE id = ?", (resource.id,))
            if remove_files:
                shutil.rmtree(self.resource_dir(resource), ignore_errors=True)

    def _resources_area(self, project: str, level: str, owner_label: str) -> Path:
        """The folder holding an owner's resource folders."""
        if level == SUBJECT_LEVEL:
            return self.root / project / "subjects" / owner_label
        return self.root / project / ARC / owner_label / "RESOURCES"

    def resource_dir(self, resource: Resource) -> Path:
        area = self._resources_area(resource.project, resource.level, resource.owner_label)
        folder = area / resource.label
        if not folder.resolve().is_relative_to(self.root.resolve()):  # never outside the archive
            raise ValueError(f"resource folder {folder} is outside the archive root")
        return folder

    def staging_dir(self, owner: Experiment | Subject) -> Path:
        """A fresh folder beside the owner's resource folders for one upload."""
        level = SUBJECT_LEVEL if isinstance(owner, Subject) else EXPERIMENT_LEVEL
        base = self._resources_area(owner.project, level, owner.label)
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=base))

    # Files

    def files(self, resource: Resource) -> list[FileEntry]:
        rows = self._all(
            "SELECT path, size, digest, format, content, tags, created_by, created_time, event_id "
            "FROM files WHERE resource_id = ? ORDER BY path",
            (resource.id,),
        )
        return [FileEntry(**r) for r in rows]

    def file(self, resource: Resource, path: str) -> FileEntry | None:
        return next((f for f in self.files(resource) if f.path == path), None)

    def add_files(
        self,
        resource: Resource,
        staged: list[StagedFile],
        *,
        overwrite: bool,
        user: str,
        fmt: str,
        content: str,
        tags: str,
    ) -> list[str]:
        """Move staged files into the resource; return the paths kept as duplicates."""
        duplicates = []
        with self._transaction():
            existing = {f.path for f in self.files(resource)}
            event_id = self._next("event")
            folder = self.resource_dir(resource)
            for item in staged:
                if item.path in existing and not overwrite:
                    duplicates.append(item.path)
                    continue
                target = folder / item.path
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item.staged, target)
                self._exec(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        resource.id,
                        item.path,
                        item.size,
                        item.digest,
                        fmt,
                        content,
                        tags,
                        user,
                        datetime.now().isoformat(timespec="milliseconds"),
                        event_id,
                    ),
                )
            self._refresh(resource)
        return duplicates

    def delete_files(self, resource: Resource, path: str, *, remove_files: bool) -> int:
        """Remove the file `path` or every file under the folder `path`; return how many."""
        prefix = path.rstrip("/") + "/"
        with self.lock:
            matched = [
                f for f in self.files(resource) if f.path == path or f.path.startswith(prefix)
            ]
            folder = self.resource_dir(resource)
            for entry in matched:
                self._exec(
                    "DELETE FROM files WHERE resource_id = ? AND path = ?",
                    (resource.id, entry.path),
                )
                if remove_files:
                    (folder / entry.path).unlink(missing_ok=True)
            if matched:
                self._refresh(resource)
        return len(matched)

    def _refresh(self, resource: Resource) -> None:
        """Recompute file_count/file_size and rewrite the catalog."""
        row = self._one(
            "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS s FROM files WHERE resource_id = ?",
            (resource.id,),
        )
        assert row is not None
        self._exec(
            "UPDATE resources SET file_count = ?, file_size = ? WHERE id = ?",
            (row["n"], row["s"], resource.id),
        )
        self.write_catalog(resource)

    def catalog_path(self, resource: Resource) -> Path:
        return self.resource_dir(resource) / f"{resource.label}_catalog.xml"

    def write_catalog(self, resource: Resource) -> None:
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f"<cat:Catalog ID={quoteattr(resource.label)} "
            'xmlns:arc="http://nrg.wustl.edu/arc" xmlns:cat="http://nrg.wustl.edu/catalog" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        ]
        entries = self.files(resource)
        if entries:
            audit = ",".join(
                f"{e.event_id}:{e.created_time}=Added:1"
                for e in {f.event_id: f for f in entries}.values()
            )
            lines.append(
                f'<cat:metaFields><cat:metaField name="AUDIT">{_text(audit)}</cat:metaField>'
                "</cat:metaFields>"
            )
        lines.append("<cat:entries>")
        for e in entries:
            extra = "".join(
                f" {name}={quoteattr(value)}"
                for name, value in (("format", e.format), ("content", e.content))
                if value
            )
            lines.append(
                f"<cat:entry ID={quoteattr(e.path)} URI={quoteattr(e.path)} "
                f"name={quoteattr(Path(e.path).name)} digest={quoteattr(e.digest)} "
                f"createdBy={quoteattr(e.created_by)} createdTime={quoteattr(e.created_time)} "
                f'createdEventId="{e.event_id}"{extra} xsi:type="cat:entry">'
                f'<cat:metaFields><cat:metaField name="size_in_bytes">{e.size}</cat:metaField>'
                "</cat:metaFields></cat:entry>"
            )
        lines += ["</cat:entries>", "</cat:Catalog>", ""]
        path = self.catalog_path(resource)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join(lines), encoding="utf-8")
        os.replace(tmp, path)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
