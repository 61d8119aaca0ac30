"""One subject's import, in order: check it did not change since the scan, ensure its subject
and experiment, apply the policy to an existing resource, zip, create the resource, upload,
verify, and retry when that is worth it. Every outcome becomes its `SubjectResult`.

A subject is IMPORTED only after the server's file list matched the zip's manifest (paths,
sizes, and MD5 where the server has digests).

Existing resource: SKIP skips it when identical to the local folder (paths, sizes, MD5s where
the server has digests) and fails the subject otherwise; REPLACE deletes it, but only once the new
zip is ready; FAIL fails the subject. An empty resource is simply filled.

The sequence yields raw phase events (`Progress` with the phase's done/total; the run's meter,
core/progress.py, adds fractions and ETAs) and moves bytes only through core/transfer.py.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping

from fsxnat_gui.core import archive, scan
from fsxnat_gui.core.errors import (
    AuthError,
    Cancelled,
    ChangedOnDisk,
    Conflict,
    FileChanged,
    FsXnatError,
    NetworkError,
    NotFound,
    ScanError,
    ServerError,
    TLSError,
    VerificationError,
    XnatError,
)
from fsxnat_gui.core.model import (
    ImportPlan,
    Level,
    OnExisting,
    PlanItem,
    Progress,
    RemoteFile,
    ResultStatus,
    Stage,
    SubjectResult,
)
from fsxnat_gui.core.progress import relay
from fsxnat_gui.core.transfer import CancelledWhileProcessing, Transfers, Zipped
from fsxnat_gui.core.units import human_duration
from fsxnat_gui.core.xnat import XnatClient

log = logging.getLogger(__name__)

Steps = Generator[Progress, None, None]
LISTED_NAMES = 5  # file names quoted in a mismatch message
FATAL = (AuthError, TLSError)  # errors that will fail every remaining subject the same way
ZIP_ATTEMPTS = 3  # zips of a subject whose files keep changing on disk before it fails


# --- comparing file lists ---------------------------------------------------------------------


def _names(paths: list[str]) -> str:
    shown = ", ".join(paths[:LISTED_NAMES])
    return (
        f"{shown}, ... ({len(paths) - LISTED_NAMES} more)" if len(paths) > LISTED_NAMES else shown
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def file_differences(local: Mapping[str, tuple[int, str]], remote: Iterable[RemoteFile]) -> str:
    """A sentence naming every difference between local files (path -> (size, md5 or "")) and the
    server's list, or "" when they match. MD5s are compared where both sides have one."""
    theirs = {f.path: f for f in remote}
    missing = sorted(set(local) - set(theirs))
    extra = sorted(set(theirs) - set(local))
    size = sorted(p for p in set(local) & set(theirs) if local[p][0] != theirs[p].size)
    digest = sorted(
        p
        for p in set(local) & set(theirs)
        if p not in size and local[p][1] and theirs[p].digest and local[p][1] != theirs[p].digest
    )
    parts = []
    if missing:
        parts.append(f"{_count(len(missing), 'file')} missing on the server: {_names(missing)}")
    if size:
        parts.append(f"{_count(len(size), 'file')} with another size: {_names(size)}")
    if digest:
        parts.append(f"{_count(len(digest), 'file')} with another MD5: {_names(digest)}")
    if extra:
        parts.append(f"{_count(len(extra), 'file')} on the server only: {_names(extra)}")
    return "; ".join(parts)


# --- what the subjects of a run share ---------------------------------------------------------


@dataclasses.dataclass
class RunContext:
    """The run's parts and what it learned of the project, shared by its subjects."""

    plan: ImportPlan
    client: XnatClient
    cancel: threading.Event
    transfers: Transfers
    retries: int
    backoff: float
    sleep: Callable[[float], object]
    before_upload: Callable[[PlanItem], None]  # called while the client is idle (zip ahead)
    subject_ids: dict[str, str] = dataclasses.field(default_factory=dict)  # label -> id
    experiments: dict[str, str] = dataclasses.field(default_factory=dict)  # label -> subject id

    def __post_init__(self) -> None:
        # A call hung on the server is abandoned when the run is cancelled, and the clean-up
        # calls after it get short timeouts (core/transport.py).
        self.client.cancel = self.cancel

    @property
    def project(self) -> str:
        return self.plan.target.project


# --- one subject ------------------------------------------------------------------------------


class SubjectImport:
    """The sequence of one subject (see the module docstring). `run()` yields its raw phase
    events and returns its result; `fatal` is then True when the error will fail every
    remaining subject the same way (a refused login, an untrusted certificate)."""

    def __init__(self, ctx: RunContext, item: PlanItem) -> None:
        self.ctx = ctx
        self.item = item
        self.index = ctx.plan.items.index(item)
        self.client = ctx.client
        self.project = ctx.project
        self.fatal = False
        self.files = item.subject.files or 0
        self.bytes = item.subject.bytes or 0
        self.started = time.monotonic()
        self.reuse_empty = False  # an empty resource of that label is already there
        self.replaces = 0  # files of the existing resource that the REPLACE policy will delete
        self.created_resource = False  # this run created the resource: it may delete it
        self.created_subject = False  # this run asked XNAT to create the subject
        self.created_experiment = False  # ... and the experiment
        self.new_owner = False  # XNAT created the resource's owner just now (201): it is empty
        self.left_out: list[str] = []  # files of the folder not on the server, and why
        self.uploaded = 0  # bytes sent, every attempt counted
        self.notes: list[str] = []  # -> SubjectResult.detail

    def run(self) -> Generator[Progress, None, SubjectResult]:
        item, subject = self.item, self.item.subject
        log.info("importing %s as %s/%s", subject.name, item.owner.label, item.resource_label)
        status, error = ResultStatus.FAILED, ""
        try:
            self._check_unchanged()
            self._ensure_experiment()
            if (yield from self._existing_resource()):
                status = ResultStatus.SKIPPED
            else:
                yield from self._zip_upload_verify()
                status = ResultStatus.IMPORTED
        except Cancelled as exc:
            status, error = ResultStatus.CANCELLED, "cancelled by the user"
            self.ctx.transfers.drop_ahead()
            self._discard()
            if not isinstance(exc, CancelledWhileProcessing):
                self._remove_created()
        except FsXnatError as exc:
            error = str(exc)
            self.fatal = isinstance(exc, FATAL)
            self._discard()
        except Exception as exc:  # a bug: logged with its traceback; the others still run
            log.exception("unexpected error while importing %s", subject.name)
            error = f"unexpected error: {exc}"
            self._discard()
        self.ctx.transfers.drop_ahead(item)  # skipped or failed before its zip was used
        if error:
            log.warning("%s %s: %s", subject.name, status.value, error)
        experiment_uri = self.client.owner_uri(self.project, item.owner)
        return SubjectResult(
            subject=subject.name,
            status=status,
            verified=status in (ResultStatus.IMPORTED, ResultStatus.SKIPPED),
            files=self.files,
            bytes=self.bytes,
            uploaded_bytes=self.uploaded,
            experiment_uri=experiment_uri,
            resource_uri=f"{experiment_uri}/resources/{item.resource_label}",
            error=error,
            detail="; ".join(self.notes),
            seconds=time.monotonic() - self.started,
            left_out=tuple(dict.fromkeys(self.left_out)),
        )

    # --- the steps, in order --------------------------------------------------------------

    def _check_unchanged(self) -> None:
        """recon-all may have started again on the subject since the scan."""
        now = scan.classify(self.item.subject.path)
        if not now.eligible:
            why = now.reason or now.state.value
            raise ScanError(f"{self.item.subject.name} changed since the scan: {why}")

    def _ensure_experiment(self) -> None:
        """Create the subject and the MR session unless they exist (only the subject for a
        subject-level resource); never move an experiment."""
        item, ctx = self.item, self.ctx
        subject_level = item.level is Level.SUBJECT
        owner = None if subject_level else ctx.experiments.get(item.experiment_label)
        subject_id = ctx.subject_ids.get(item.subject_label)
        if owner is not None and owner != subject_id:
            labels = {sid: label for label, sid in ctx.subject_ids.items()}
            other = labels.get(owner, owner)
            raise Conflict(
                f"experiment {item.experiment_label} belongs to subject {other} on the server; "
                f"importing would move it: give '{item.subject.name}' subject {other}, or "
                "another session"
            )
        if subject_id is None:
            self.created_subject = True
            subject = self.client.create_subject(self.project, item.subject_label)
            subject_id = ctx.subject_ids[item.subject_label] = subject.id
            self.new_owner = subject_level and subject.new
        if owner is None and not subject_level:
            self.created_experiment = True
            label = item.experiment_label
            experiment = self.client.create_experiment(self.project, item.subject_label, label)
            ctx.experiments[label] = subject_id
            self.new_owner = experiment.new

    def _existing_resource(self) -> Generator[Progress, None, bool]:
        """Apply the policy to a resource that is already there. True = skip the subject."""
        if self.new_owner:
            return False  # created by this run just now: nothing is in it (one listing less)
        resource = self.item.resource_label
        labels = [r.label for r in self.client.list_resources(self.project, self.item.owner)]
        if resource not in labels:
            return False
        remote = self._list_files()
        if not remote:
            self.reuse_empty = True
            return False
        policy = self.item.on_existing or self.ctx.plan.target.on_existing
        if policy is OnExisting.REPLACE:
            self.replaces = len(remote)  # deleted only once the new zip is ready
            return False
        on = self.item.owner.label
        there = f"a {resource} resource already exists on {on} ({len(remote)} files)"
        if policy is OnExisting.FAIL:
            raise Conflict(f"{there}; the policy for existing resources is to stop")
        differences = yield from self._local_differences(remote)
        if differences:
            raise Conflict(f"{there} and differs: {differences}; choose replace to overwrite it")
        self.notes.append("skipped: an identical resource is already on the server")
        return True

    def _local_differences(self, remote: list[RemoteFile]) -> Generator[Progress, None, str]:
        """Local folder vs the server's files: paths and sizes first (cheap), then MD5s when
        the server keeps digests."""
        src = self.item.subject.path
        files, warnings = archive.walk_subject(src)
        self.left_out.extend(w for w in warnings if w.endswith(archive.NOT_INCLUDED))
        differences = file_differences({f.arcname: (f.size, "") for f in files}, remote)
        if differences or not any(f.digest for f in remote):
            return differences
        checking = archive.local_manifest(src, self.ctx.cancel)
        manifest = yield from relay(checking, self.item.subject.name)
        return file_differences({m.path: (m.size, m.md5) for m in manifest}, remote)

    def _zip_upload_verify(self) -> Steps:
        """Zip, upload, verify; and the server holds the folder as it is on disk: a file that
        changed after it was read into the zip (before the upload, while it is streamed, or
        before the subject is reported) means zipping and uploading again, at most
        ZIP_ATTEMPTS times."""
        path, cancel = self.item.subject.path, self.ctx.cancel
        zip_path = self.ctx.transfers.zip_path(self.index)
        try:
            for attempt in range(1, ZIP_ATTEMPTS + 1):
                sent = False
                try:
                    zipped = yield from self.ctx.transfers.zip(self.item, self.index)
                    self._zipped(zipped)
                    # a streamed zip checks each file as it is sent; one on disk is checked now
                    changed = None
                    if zipped.result is not None:
                        changed = archive.changed_on_disk(path, zipped.result.manifest)
                    if changed is None:
                        sent = True
                        yield from self._send_zip(zipped)
                        changed = archive.changed_on_disk(path, zipped.manifest(cancel))
                        if changed is None:
                            return
                except FileChanged as exc:  # noticed while reading it (a zip streamed as sent)
                    changed = exc.path
                if sent:
                    self._start_over()
                self.ctx.transfers.discard(zip_path)
                self._changed(changed, attempt)
        finally:
            self.ctx.transfers.discard(zip_path)

    def _zipped(self, zipped: Zipped) -> None:
        self.files = zipped.files
        self.bytes = zipped.nbytes
        self.notes.extend(w for w in zipped.warnings if w not in self.notes)
        self.left_out.extend(w for w in zipped.warnings if w.endswith(archive.NOT_INCLUDED))

    def _send_zip(self, zipped: Zipped) -> Steps:
        if self.replaces:
            # Every file read to the end (a streamed zip's MD5 pass ended) before the old copy
            # goes: a folder that cannot be read leaves the server's resource as it was.
            yield Progress(Stage.ZIPPING, self.item.subject.name, 0, self.bytes)
            zipped.manifest(self.ctx.cancel)
            self._delete_old()
            self.replaces = 0
        try:
            if not self.reuse_empty and not self.created_resource:
                self._create_resource()
            yield from self._upload_until_verified(zipped)
        except Conflict as exc:
            # Another writer's files are in the resource (a duplicates answer), or it was
            # there first: this run must not delete it as its own (`_discard`).
            self.created_resource = False
            item = self.item
            raise Conflict(
                f"{str(exc).rstrip('.')}: another import seems to be writing to "
                f"{item.resource_label} on {item.owner.label} at the same time; run again "
                "once it has ended (a new run compares what the server holds with the folder)",
                exc.status,
            ) from None

    def _start_over(self) -> None:
        """Empty the resource this run filled, before the folder's new state is sent."""
        item = self.item
        self.client.delete_resource(self.project, item.owner, item.resource_label)
        self.reuse_empty = False
        self.created_resource = False

    def _changed(self, path: str, attempt: int) -> None:
        name = archive.printable(path)
        if attempt >= ZIP_ATTEMPTS:
            raise ChangedOnDisk(
                f"{name} kept changing on disk while the subject was zipped and sent "
                f"({attempt} times); the server's copy would not be the folder as it is: import "
                "it again once nothing writes to it",
                path,
            )
        log.info("%s changed on disk after it was zipped: zipping it again", name)
        self.notes.append(f"{name} changed on disk after it was zipped: zipped and sent again")

    def _delete_old(self) -> None:
        item = self.item
        log.info(
            "replacing %s of %s (%d files)",
            item.resource_label,
            item.owner.label,
            self.replaces,
        )
        self.client.delete_resource(self.project, item.owner, item.resource_label)
        self.notes.append(f"replaced the previous {item.resource_label} ({self.replaces} files)")

    def _create_resource(self) -> None:
        target, item = self.ctx.plan.target, self.item
        self.client.create_resource(
            self.project,
            item.owner,
            item.resource_label,
            format=target.resource_format,
            content=target.resource_content,
            tags=target.resource_tags,
        )
        self.created_resource = True

    # --- upload, verify, retry ------------------------------------------------------------

    def _upload_until_verified(self, zipped: Zipped) -> Steps:
        """At most 1 + retries attempts; a transient error or a mismatch starts another one
        after a pause of backoff, 2 x backoff, 4 x backoff, ... seconds."""
        attempts = self.ctx.retries + 1
        last: XnatError | None = None
        for attempt in range(attempts):
            if attempt:
                yield from self._pause(attempt, str(last))
            try:
                differences = yield from self._attempt(zipped, retry=attempt > 0)
            except (ServerError, NetworkError) as exc:
                last = exc
                continue
            if not differences:
                return
            last = VerificationError(differences)
        assert last is not None
        raise type(last)(f"gave up after {attempts} attempts: {last}", last.status)

    def _attempt(self, zipped: Zipped, retry: bool) -> Generator[Progress, None, str]:
        """One upload and its verification ("" = verified, else what differs).

        A retry first lists the resource: the server may have finished the previous upload
        after answering 5xx or timing out. If the files are all there, nothing is sent again;
        if some are, the resource is emptied so the new upload starts clean."""
        item = self.item
        if retry and (remote := self._list_files()):
            if not file_differences(self._expected(zipped), remote):
                self.notes.append("the server finished storing an earlier attempt")
                return ""
            log.info("emptying %s of %s before the retry", item.resource_label, item.subject.name)
            self.client.delete_resource(self.project, item.owner, item.resource_label)
            self._create_resource()
        upload_error: XnatError | None = None
        try:
            yield from self._upload(zipped)
        except (ServerError, NetworkError) as exc:
            upload_error = exc
            log.warning("upload of %s: %s; listing what the server has", item.subject.name, exc)
        except Conflict as exc:
            if not retry:
                raise
            # The earlier attempt was still being processed when this one was sent, and has
            # stored its files since (a proxy timeout): what the server holds is checked now.
            upload_error = exc
            log.warning("upload of %s: %s; an earlier attempt finished", item.subject.name, exc)
        return (yield from self._verify(zipped, upload_error))

    def _expected(self, zipped: Zipped) -> dict[str, tuple[int, str]]:
        """What the server must hold: the zip's manifest (a streamed zip's MD5 pass runs
        while the server works on the upload)."""
        return {m.path: (m.size, m.md5) for m in zipped.manifest(self.ctx.cancel)}

    def _verify(
        self, zipped: Zipped, upload_error: XnatError | None
    ) -> Generator[Progress, None, str]:
        """The server's list against the zip's manifest; after a 5xx or a network error too,
        since the server may have stored everything before the answer was lost."""
        name, n = self.item.subject.name, zipped.files
        yield Progress(Stage.VERIFYING, name, 0, n)
        expected = self._expected(zipped)
        differences = file_differences(expected, self._list_files())
        if differences:
            return f"{upload_error}; then {differences}" if upload_error else differences
        if upload_error is not None:
            self.notes.append(f"the server finished storing the files despite: {upload_error}")
        yield Progress(Stage.VERIFYING, name, n, n)
        return ""

    def _pause(self, attempt: int, problem: str) -> Steps:
        delay = self.ctx.backoff * 2 ** (attempt - 1)
        message = (
            f"attempt {attempt + 1} of {self.ctx.retries + 1} in {human_duration(delay)} "
            f"after: {problem}"
        )
        log.info("%s: %s", self.item.subject.name, message)
        yield Progress(Stage.RETRYING, self.item.subject.name, 0, 0, message=message)
        self.ctx.sleep(delay)
        if self.ctx.cancel.is_set():
            raise Cancelled()

    def _upload(self, zipped: Zipped) -> Steps:
        """One upload, yielding UPLOADING, then PROCESSING while the server works after the
        last byte."""
        name = self.item.subject.name
        self.ctx.before_upload(self.item)
        sent = 0
        processing = False
        try:
            sending = self.ctx.transfers.send(self.item, zipped)
            while True:
                try:
                    look = next(sending)
                except StopIteration as stop:
                    sent = stop.value
                    break
                sent = look.sent
                if look.processing is None:
                    yield Progress(Stage.UPLOADING, name, look.sent, look.total)
                    continue
                if not processing:
                    processing = True
                    yield Progress(Stage.UPLOADING, name, look.total, look.total)
                waited = human_duration(look.processing)
                message = f"the server is extracting and cataloguing the files ({waited})"
                yield Progress(Stage.PROCESSING, name, look.total, look.total, message=message)
        except CancelledWhileProcessing:
            # Every byte was sent and the server is storing them: a delete now could be undone
            # by the server finishing. Leave the resource alone, say so. (With part of the body
            # unsent, the server stores nothing: it is deleted.)
            self.created_resource = False
            resource, experiment = self.item.resource_label, self.item.owner.label
            self.notes.append(
                f"the server was still storing the upload when it was cancelled: {resource} "
                f"may appear on {experiment}; a new run compares it with the folder and skips "
                "the subject if they are identical"
            )
            raise
        finally:
            self.uploaded += sent

    def _list_files(self) -> list[RemoteFile]:
        item = self.item
        return self.client.list_files(self.project, item.owner, item.resource_label)

    def _remove_created(self) -> None:
        """After a cancel: delete the experiment and the subject this run created, if they are
        empty (never anything that was there before the run). Calls are short then."""
        item, ctx = self.item, self.ctx
        try:
            if self.created_experiment and self._empty_experiment():
                self.client.delete_experiment(self.project, item.experiment_label)
                ctx.experiments.pop(item.experiment_label, None)
                self.notes.append(
                    f"the experiment {item.experiment_label} created by this run was deleted"
                )
            if self.created_subject and self._subject_experiments() == []:
                self.client.delete_subject(self.project, item.subject_label)
                ctx.subject_ids.pop(item.subject_label, None)
                self.notes.append(
                    f"the subject {item.subject_label} created by this run was deleted"
                )
        except XnatError as exc:
            log.warning("could not delete what the run created for %s: %s", item.subject.name, exc)
            self.notes.append(
                f"the empty subject or experiment created by this run could not be deleted ({exc})"
            )

    def _empty_experiment(self) -> bool:
        try:
            return not self.client.list_resources(self.project, self.item.experiment_label)
        except NotFound:
            return False  # never created (the call was abandoned before the server did it)

    def _subject_experiments(self) -> list[str] | None:
        """The subject's experiments; None (not empty) when the subject is not there."""
        try:
            labels = self.client.list_subject_experiments(self.project, self.item.subject_label)
        except NotFound:
            return None
        return labels if labels else []

    def _discard(self) -> None:
        """Best effort: delete the resource this run created for a subject that did not finish,
        so nothing partial is left and a rerun starts clean."""
        if not self.created_resource:
            return
        item = self.item
        try:
            self.client.delete_resource(self.project, item.owner, item.resource_label)
        except XnatError as exc:
            log.warning(
                "could not delete %s of %s: %s", item.resource_label, item.subject.name, exc
            )
            self.notes.append(
                f"the {item.resource_label} resource created by this run could not be deleted "
                f"({exc}); delete it, or choose replace next time"
            )
        else:
            self.notes.append(f"the {item.resource_label} resource created by this run was deleted")
