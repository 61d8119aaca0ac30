"""The one strict XNAT adapter: every call to the server goes through `XnatClient`.

It is built on pyxnat's `Interface` (non-interactive) but only uses its `requests.Session`
(`interface._http`), because pyxnat's object layer hides failures (reference/pyxnat.md): the
first-request error is swallowed and the API falls back to `/REST`, `exists()` reads any error as
"does not exist", there are no timeouts, XML error bodies end in `UnboundLocalError`, a missing
upload path uploads the path string, and a redirect turns an upload POST into a bodiless GET.

What this adapter does instead:

- URLs are built here under `/data` (never `/REST`); pyxnat's entry point is never resolved.
- One cookie jar and HTTP Basic on every request, so when the XNAT session (JSESSIONID, 15 min
  idle by default) expires during a long batch, the server re-authenticates the next request and
  sets a new cookie. A 401 on a request that carried a cookie is retried once without cookies.
- Connect and read timeouts on every call; a non-browser User-Agent (a browser-like one makes
  XNAT demand CSRF tokens and answer with login pages); no redirects followed.
- Certificate checking (`verify`) is passed on every call so that `REQUESTS_CA_BUNDLE` /
  `CURL_CA_BUNDLE` cannot override the user's choice of a CA bundle or of no checking.
- Every failure is a typed `XnatError` whose `str()` is one sentence fit for the user; a 404 is
  `NotFound` and nothing else is ever read as "does not exist". Messages and logs never contain
  request headers, cookies, passwords or tokens.
- Uploads stream the zip with a Content-Length, report bytes sent, can be cancelled mid-upload,
  and treat the server's `duplicates` answer as a `Conflict`.

The session and transport (the requests session, authentication, timeouts, typed errors from
responses, the upload body) are core/transport.py's; this module holds the XNAT calls.

Thread safety: a client (like the `requests.Session` under it) must be used by one thread at a
time. Create one client per worker thread; the GUI never uses a client while a job runs with it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self
from urllib.parse import unquote

import requests

from fsxnat_gui.core.errors import (
    ArchiveError,
    AuthError,
    Conflict,
    NotFound,
    PermissionDenied,
    ServerError,
    XnatError,
)
from fsxnat_gui.core.labels import label_problem
from fsxnat_gui.core.model import (
    AliasToken,
    Level,
    Owner,
    RemoteExperiment,
    RemoteFile,
    RemoteResource,
    ServerInfo,
)
from fsxnat_gui.core.transport import (
    OK,
    CallPolicy,
    Transport,
    UploadBody,
    normalise_url,
    seg,
    sentence,
)

log = logging.getLogger(__name__)

# Statuses a create-PUT inspects itself before the generic mapping (see XnatClient._refused).
_OK_OR_REFUSED = frozenset((*OK, 400, 417, 422, *range(500, 600)))
# A create-PUT also inspects 409: another importer created the same thing at the same moment.
_CREATE_ANSWERS = _OK_OR_REFUSED | {409}
_LOGGED_IN = re.compile(r"User '([^']+)' is logged in")
_FILE_IN_URI = re.compile(r"/resources/[^/]+/files/(.+)$")


# --- helpers ------------------------------------------------------------------------------------


def _to_int(value: object) -> int | None:
    """ResultSet cells are strings; "" (a null) becomes None."""
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


# --- the client -------------------------------------------------------------------------------


def _experiment_path(project: str, experiment: str) -> str:
    return f"/data/projects/{seg(project)}/experiments/{seg(experiment)}"


def owner_path(project: str, owner: Owner | str) -> str:
    """The REST path of what a resource hangs on (a plain string is an experiment label)."""
    if isinstance(owner, str):
        return _experiment_path(project, owner)
    if owner.level is Level.SUBJECT:
        return f"/data/projects/{seg(project)}/subjects/{seg(owner.label)}"
    return _experiment_path(project, owner.label)


def _name(owner: Owner | str) -> str:
    return owner if isinstance(owner, str) else owner.label


def experiment_web_url(url: str, project: str, experiment: Owner | str) -> str:
    """The page of the experiment (or subject) on the server at `url`, for a browser (no
    request is made)."""
    return f"{normalise_url(url)}{owner_path(project, experiment)}?format=html"


@dataclass(frozen=True)
class Created:
    """What a create-PUT answered: the accession ID, and whether this call created it (201;
    200: it was there, or a concurrent importer or an earlier try of this call created it)."""

    id: str
    new: bool


class XnatClient:
    """A strict client for one XNAT server and one user (a password or an alias token).

    Construction sends nothing; `login()` checks the credentials for real. Use one client per
    thread (see the module docstring), and `close()` it (or use it as a context manager).

    `verify` is True (the system's trusted CAs), False (no certificate check) or the path of a CA
    bundle file. `timeout` is (connect, read) in seconds; the read timeout bounds the wait for
    the answer to an upload, during which XNAT extracts the zip, computes checksums and writes
    its catalog synchronously, so it must allow for that on large zips. Metadata calls wait at
    most `policy.read` (and `timeout[1]`) and are retried as `policy` says (core/transport.py).

    `cancel`: an event that, once set, abandons the call in flight within ~0.1 s (`Abandoned`,
    a `Cancelled`) and gives the calls after it (clean-up) short timeouts and a single try.
    """

    def __init__(
        self,
        url: str,
        user: str,
        secret: str,
        *,
        verify: bool | str = True,
        timeout: tuple[float, float] = (10.0, 300.0),
        policy: CallPolicy | None = None,
    ) -> None:
        self._http = Transport(url, user, secret, verify=verify, timeout=timeout, policy=policy)
        self.url = self._http.url
        self.user = user

    @property
    def cancel(self) -> threading.Event | None:
        return self._http.cancel

    @cancel.setter
    def cancel(self, event: threading.Event | None) -> None:
        self._http.cancel = event

    def scrub(self, text: str) -> str:
        """`text` without this client's secret or any credential it quotes."""
        return self._http.scrub(text)

    def __repr__(self) -> str:
        return f"XnatClient(url={self.url!r}, user={self.user!r})"

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """End the XNAT session (best effort) and close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the one request path -------------------------------------------------------------

    # --- login and server -----------------------------------------------------------------

    def login(self) -> ServerInfo:
        """Check the credentials for real (`/data/auth`) and read the server version."""
        what = f"log in to {self.url}"
        response = self._http.request("GET", "/data/auth", what=what)
        match = _LOGGED_IN.search(response.text)
        if not match:
            raise AuthError(
                f"XNAT at {self.url} did not confirm the login; check the server URL, the user "
                "name and the password/token.",
                response.status_code,
            )
        version = self._server_version()
        log.info("Logged in to %s as %s (XNAT %s)", self.url, match.group(1), version or "?")
        return ServerInfo(url=self.url, user=match.group(1), version=version)

    def _server_version(self) -> str:
        """The version from `/xapi/siteConfig/buildInfo`; "" when the server does not say."""
        what = "read the XNAT version"
        try:
            response = self._http.request("GET", "/xapi/siteConfig/buildInfo", what=what)
        except (NotFound, PermissionDenied) as exc:
            log.info("No XNAT version from %s: %s", self.url, exc)
            return ""
        try:
            info = json.loads(response.text)
        except ValueError:
            return ""
        version = info.get("version", "") if isinstance(info, dict) else ""
        return version if isinstance(version, str) else ""

    def issue_token(self) -> AliasToken:
        """A new alias token (user name = alias, password = secret) for this user."""
        what = "issue an alias token"
        response = self._http.request("GET", "/data/services/tokens/issue", what=what)
        body = self._http.json_body(response, what)
        try:
            alias, secret = body["alias"], body["secret"]
            expires = float(body["estimatedExpirationTime"]) / 1000
        except (KeyError, TypeError, ValueError):
            raise ServerError(
                "XNAT answered the alias token request with an unexpected answer."
            ) from None
        if not isinstance(alias, str) or not isinstance(secret, str) or not alias or not secret:
            raise ServerError("XNAT answered the alias token request with an unexpected answer.")
        return AliasToken(alias=alias, secret=secret, expires=expires)

    # --- projects, subjects, experiments --------------------------------------------------

    def list_projects(self) -> list[str]:
        """IDs of the projects the user can see."""
        rows = self._http.result_set("/data/projects", "list the projects")
        return [r["ID"] for r in rows if r.get("ID")]

    def project_exists(self, project: str) -> bool:
        """True/False from the project's own answer (404 -> False); any other failure raises."""
        try:
            self._http.request(
                "GET",
                f"/data/projects/{seg(project)}",
                what=f"look up the project {project}",
                params={"format": "json"},
            )
        except NotFound:
            return False
        return True

    def create_project(self, project: str) -> None:
        """Create the project (the creator becomes its owner); a no-op for its owner."""
        what = f"create the project {project}"
        response = self._create(f"/data/projects/{seg(project)}", what)
        if response.status_code not in OK:
            raise self._refused(response, what, "project ID", project)

    def list_subjects(self, project: str) -> dict[str, str]:
        """Subject label -> accession ID."""
        rows = self._http.result_set(
            f"/data/projects/{seg(project)}/subjects", f"list the subjects of {project}"
        )
        return {r["label"]: r.get("ID", "") for r in rows if r.get("label")}

    def list_experiments(self, project: str) -> dict[str, RemoteExperiment]:
        """Experiment label -> experiment."""
        # The default columns lack the subject ("xnat:subjectassessordata/id" is the
        # experiment's own ID), so ask for it by name.
        rows = self._http.result_set(
            f"/data/projects/{seg(project)}/experiments",
            f"list the experiments of {project}",
            columns="ID,label,project,subject_ID,xsiType",
        )
        experiments: dict[str, RemoteExperiment] = {}
        for r in rows:
            if not r.get("label"):
                continue
            experiments[r["label"]] = RemoteExperiment(
                id=r.get("ID", ""),
                label=r["label"],
                subject_id=r.get("subject_ID", ""),
                project=r.get("project") or project,
                xsi_type=r.get("xsiType", "") or "",
            )
        return experiments

    def _create(
        self, path: str, what: str, *, params: dict[str, str] | None = None, retry: bool = True
    ) -> requests.Response:
        """A create-PUT. A 409 means another importer created it at the same moment (XNAT
        answers 200 or 409 then): asked once more, the PUT finds it (200 and its ID)."""
        response = self._http.request(
            "PUT", path, what=what, params=params, expected=_CREATE_ANSWERS, retry=retry
        )
        if response.status_code == 409:
            log.info("%s: 409, asking again (created at the same moment?)", what)
            response = self._http.request(
                "PUT", path, what=what, params=params, expected=_CREATE_ANSWERS, retry=retry
            )
        return response

    def _refused(self, response: requests.Response, what: str, noun: str, label: str) -> XnatError:
        """The error for a refused PUT: XNAT reports bad labels late and vaguely (400, 417, or a
        bare 500 at save time), so name the label and the rule when the label breaks it."""
        status = response.status_code
        problem = label_problem(label)
        if status in (400, 417) or (status >= 500 and problem):
            reason = problem or self._http.message(response) or f"HTTP {status}"
            return XnatError(sentence(f"XNAT refused the {noun} '{label}': {reason}"), status)
        return self._http.status_error(response, what)

    def _accession_id(self, response: requests.Response, what: str) -> str:
        text = response.text.strip()
        if not text or "<" in text or len(text) > 255 or any(c.isspace() for c in text):
            raise ServerError(
                f"XNAT did not answer with an ID when trying to {what}.", response.status_code
            )
        return text

    def ensure_subject(self, project: str, label: str) -> str:
        """The subject's accession ID, creating it if needed (201 new, 200 existing)."""
        return self.create_subject(project, label).id

    def create_subject(self, project: str, label: str) -> Created:
        """`ensure_subject`, saying whether this call created it."""
        what = f"create the subject {label} in {project}"
        response = self._create(
            f"/data/projects/{seg(project)}/subjects/{seg(label)}",
            what,
            retry=label_problem(label) is None,
        )
        if response.status_code == 422:
            raise NotFound(f"The project {project} does not exist or you cannot see it.", 422)
        if response.status_code not in OK:
            raise self._refused(response, what, "subject label", label)
        return Created(self._accession_id(response, what), response.status_code == 201)

    def ensure_experiment(self, project: str, subject: str, label: str) -> str:
        """The MR session's accession ID, creating it (xnat:mrSessionData) if needed."""
        return self.create_experiment(project, subject, label).id

    def create_experiment(self, project: str, subject: str, label: str) -> Created:
        """`ensure_experiment`, saying whether this call created it."""
        what = f"create the experiment {label} in {project}"
        path = f"/data/projects/{seg(project)}/subjects/{seg(subject)}/experiments/{seg(label)}"
        response = self._create(
            path,
            what,
            params={"xsiType": "xnat:mrSessionData"},
            retry=label_problem(label) is None and label_problem(subject) is None,
        )
        if response.status_code not in OK:
            raise self._refused(response, what, "experiment label", label)
        return Created(self._accession_id(response, what), response.status_code == 201)

    def list_subject_experiments(self, project: str, subject: str) -> list[str]:
        """The labels of the subject's experiments in the project."""
        rows = self._http.result_set(
            f"/data/projects/{seg(project)}/subjects/{seg(subject)}/experiments",
            f"list the experiments of {subject}",
        )
        return [r["label"] for r in rows if r.get("label")]

    def delete_experiment(self, project: str, experiment: str) -> None:
        """Delete the experiment (and what it holds)."""
        self._http.request(
            "DELETE",
            _experiment_path(project, experiment),
            what=f"delete the experiment {experiment}",
            params={"removeFiles": "true"},
        )

    def delete_subject(self, project: str, subject: str) -> None:
        """Delete the subject (and what it holds)."""
        self._http.request(
            "DELETE",
            f"/data/projects/{seg(project)}/subjects/{seg(subject)}",
            what=f"delete the subject {subject}",
            params={"removeFiles": "true"},
        )

    # --- resources and files --------------------------------------------------------------

    def _resource_path(self, project: str, owner: Owner | str, resource: str) -> str:
        return f"{owner_path(project, owner)}/resources/{seg(resource)}"

    def list_resources(self, project: str, owner: Owner | str) -> list[RemoteResource]:
        """The resources of an experiment, or of a subject (subject-level resources, as a
        longitudinal base's: xnat-rest.md §3)."""
        rows = self._http.result_set(
            f"{owner_path(project, owner)}/resources", f"list the resources of {_name(owner)}"
        )
        return [
            RemoteResource(
                label=r["label"],
                id=r.get("xnat_abstractresource_id", ""),
                file_count=_to_int(r.get("file_count")),
                file_size=_to_int(r.get("file_size")),
                format=r.get("format", "") or "",
                content=r.get("content", "") or "",
                tags=r.get("tags", "") or "",
            )
            for r in rows
            if r.get("label")
        ]

    def list_files(self, project: str, owner: Owner | str, resource: str) -> list[RemoteFile]:
        """Every file of the resource, with its path inside the resource (an unknown resource
        lists no files: XNAT answers that with an empty list, not 404)."""
        what = f"list the files of {resource} on {_name(owner)}"
        files_path = f"{self._resource_path(project, owner, resource)}/files"
        rows = self._http.result_set(files_path, what)
        files = []
        for r in rows:
            match = _FILE_IN_URI.search(r.get("URI", ""))
            path = unquote(match.group(1)) if match else r.get("Name", "")
            size = _to_int(r.get("Size"))
            if not path or size is None:
                raise ServerError(
                    f"XNAT answered with an unexpected file entry when trying to {what}."
                )
            files.append(RemoteFile(path=path, size=size, digest=r.get("digest", "") or ""))
        return files

    def create_resource(
        self,
        project: str,
        owner: Owner | str,
        resource: str,
        *,
        format: str | None = None,
        content: str | None = None,
        tags: str | None = None,
    ) -> None:
        """Create an empty resource folder; `Conflict` when it already exists.

        XNAT refuses a second PUT of a resource (409), so a first try that failed on the way
        (a timeout, a dropped connection, a 5xx) may have created it: when the next try is
        refused, the resource is looked at, and an empty one is the first try's."""
        params = {k: v for k, v in (("format", format), ("content", content), ("tags", tags)) if v}
        what = f"create the resource {resource} on {_name(owner)}"
        retried: list[XnatError] = []
        try:
            self._http.request(
                "PUT",
                self._resource_path(project, owner, resource),
                what=what,
                params=params,
                on_retry=retried.append,
            )
        except Conflict:
            if retried and not self.list_files(project, owner, resource):
                log.info("%s: created by the try that failed (%s)", what, retried[0])
                return
            raise Conflict(
                f"The resource {resource} already exists on {_name(owner)}.", 409
            ) from None

    def delete_resource(self, project: str, owner: Owner | str, resource: str) -> None:
        """Delete the resource and its files (XNAT answers 200 for an unknown label too)."""
        self._http.request(
            "DELETE",
            self._resource_path(project, owner, resource),
            what=f"delete the resource {resource} on {_name(owner)}",
        )

    def upload_zip(
        self,
        project: str,
        owner: Owner | str,
        resource: str,
        zip_path: Path,
        *,
        overwrite: bool = False,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int, int], None] | None = None,
    ) -> None:
        """Upload a zip into the resource and have XNAT extract it (entry paths kept).

        The body streams from disk with a Content-Length; `on_bytes(sent, total)` is called at
        most ~20 times a second and once at the end (it starts again from 0 if the request is
        re-sent after a refused session cookie); setting `cancel` stops the upload at the next
        block (`Cancelled`) and leaves the client usable. After the last byte XNAT extracts,
        checksums and catalogues before it answers (bounded by the read timeout). Files that
        already exist are kept unless `overwrite`; XNAT's `duplicates` answer raises `Conflict`.
        """
        zip_path = Path(zip_path)
        if not zip_path.is_file():
            raise ArchiveError(f"The zip file {zip_path} does not exist or is not a file.")
        with zip_path.open("rb") as file:
            total = os.fstat(file.fileno()).st_size
            self.upload_body(
                project,
                owner,
                resource,
                zip_path,
                file,
                total,
                overwrite=overwrite,
                cancel=cancel,
                on_bytes=on_bytes,
            )

    def upload_body(
        self,
        project: str,
        owner: Owner | str,
        resource: str,
        zip_path: Path,
        file: BinaryIO,
        total: int,
        *,
        overwrite: bool = False,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int, int], None] | None = None,
    ) -> None:
        """`upload_zip` from an open body of `total` bytes named `zip_path.name` (a zip made
        while it is sent, core/zipstream.py); it must support `read(size)` and `seek(0)`."""
        what = f"upload {zip_path.name} into {resource} on {_name(owner)}"
        path = f"{self._resource_path(project, owner, resource)}/files/{seg(zip_path.name)}"
        params = {
            "extract": "true",
            "inbody": "true",
            "overwrite": "true" if overwrite else "false",
        }
        body = UploadBody(file, total, cancel, on_bytes, zip_path)
        response = self._http.request(
            "POST",
            path,
            what=what,
            params=params,
            data=body,
            headers={"Content-Type": "application/zip"},
        )
        duplicates = self._duplicates(response.text)
        if duplicates:
            raise Conflict(
                f"{duplicates} file{'s' if duplicates != 1 else ''} already "
                f"exist{'s' if duplicates == 1 else ''} in resource {resource}; nothing was "
                "replaced.",
                response.status_code,
            )
        log.info(
            "Uploaded %s (%d bytes) into %s on %s", zip_path.name, total, resource, _name(owner)
        )

    @staticmethod
    def _duplicates(text: str) -> int:
        """How many files XNAT reported as already present (`{"duplicates": [...]}`)."""
        if not text.lstrip().startswith("{"):
            return 0
        try:
            body = json.loads(text)
        except ValueError:
            return 0
        duplicates = body.get("duplicates") if isinstance(body, dict) else None
        return len(duplicates) if isinstance(duplicates, list) else 0

    # --- addresses ------------------------------------------------------------------------

    def experiment_uri(self, project: str, experiment: str) -> str:
        """The REST path of the experiment, e.g. /data/projects/P/experiments/L."""
        return _experiment_path(project, experiment)

    def owner_uri(self, project: str, owner: Owner) -> str:
        """The REST path of an experiment, or of a subject."""
        return owner_path(project, owner)
