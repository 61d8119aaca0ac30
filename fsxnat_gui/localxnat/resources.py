"""Resources and their files: create, list, upload (raw, multipart, `extract=true`), download,
digest and delete (xnat-rest.md §3).

The owner is an experiment or a subject: subject-level resources
(`/data/projects/{P}/subjects/{S}/resources/...`) follow the same rules as experiment resources
(§3.1-§3.5) and live in `<root>/<P>/subjects/<label>/<R>/` (§5, "Subject resources").
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from urllib.parse import quote, unquote

from .exchange import Call, HttpError, Response
from .render import cell, item, listing
from .store import Experiment, Resource, StagedFile, Subject
from .uploads import UploadError, archive_kind, copy_hashed, extract, parse_multipart, safe_relpath

log = logging.getLogger(__name__)

_RAW_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/zip",
        "application/x-gzip",
        "application/x-gtar",
        "application/x-tar",
        "text/plain",
        "text/xml",
        "text/csv",
        "application/dicom",
        "application/xar",
        "application/pdf",
    }
)
_UPLOAD_SUFFIX = {
    "application/zip": ".zip",
    "application/x-gzip": ".gz",
    "application/x-gtar": ".tar.gz",
    "application/x-tar": ".tar",
    "text/plain": ".txt",
    "text/xml": ".xml",
    "text/csv": ".csv",
    "application/pdf": ".pdf",
}
_NO_EDIT = "User account doesn't have permission to modify this session."

Owner = Experiment | Subject


def below(call: Call, owner: Owner, tail: list[str], base: str) -> Response:
    """What lies below an experiment or subject URL: `resources[/{R}[/files[/{path}]]]`.

    `base` is the owner's URL as the caller addressed it; file URIs in listings start with it.
    """
    match tail:
        case ["resources"] | ["resources", ""]:
            call.methods("GET")
            return _resource_list(call, owner)
        case ["resources", ident] | ["resources", ident, ""]:
            return _resource(call, owner, ident)
        case ["resources", ident, "files", *path]:
            return _files(call, owner, ident, "/".join(path), base)
        case ["resources", _ident, *_other] if call.req.method in ("PUT", "POST"):
            raise HttpError(
                400,
                "This resource works at the catalog level only and does not accept file paths. "
                "Use the files sub-resource to work with files.",
            )
    raise HttpError(404)


def _resource_list(call: Call, owner: Owner) -> Response:
    rows = [
        {
            "xnat_abstractresource_id": str(r.id),
            "label": r.label,
            "element_name": "xnat:resourceCatalog",
            "category": "resources",
            "cat_id": owner.id,
            "cat_desc": " ",
            "file_count": cell(r.file_count),
            "file_size": cell(r.file_size),
            "tags": r.tags,
            "content": r.content,
            "format": r.format,
        }
        for r in call.store.resources(owner.id)
    ]
    return listing(call.req, rows, title="Resources", total=True)


def _resource(call: Call, owner: Owner, ident: str) -> Response:
    req, store = call.req, call.store
    resource = store.resource(owner.id, ident)
    if req.method == "GET":
        if resource is None:
            raise HttpError(404)
        return Response(200, store.catalog_path(resource).read_bytes(), "text/xml")
    if req.method == "DELETE":
        call.require_edit(owner, _NO_EDIT)
        if resource is not None:
            store.delete_resource(resource)
        return Response(200)
    call.methods("PUT", "POST")
    call.require_edit(owner, _NO_EDIT)
    if resource is not None:
        raise HttpError(409, "Specified resource already exists.")
    _create_resource(call, owner, ident)
    return Response(200)


def _create_resource(call: Call, owner: Owner, label: str) -> Resource:
    # The label becomes a folder name: one plain path segment, never a way out of the archive.
    if label in ("", ".", "..") or any(c in label for c in "/\\\0"):
        raise HttpError(400, f"Invalid resource label: {label!r}.")
    q = call.req.query
    return call.store.create_resource(
        owner,
        label,
        fmt=q.get("format", ""),
        content=q.get("content", ""),
        tags=q.get("tags", ""),
        desc=q.get("description", ""),
    )


def _files(call: Call, owner: Owner, ident: str, path: str, base: str) -> Response:
    req, store = call.req, call.store
    if req.method in ("PUT", "POST"):
        return _upload(call, owner, ident, path)
    resource = store.resource(owner.id, ident)
    if req.method == "DELETE":
        if resource is None:
            raise HttpError(400, "Unable to determine resource, parent, or security.")
        call.require_edit(owner, _NO_EDIT)
        removed = store.delete_files(
            resource, path.rstrip("/"), remove_files=req.flag("removeFiles", default=True)
        )
        if not removed:
            raise HttpError(404, "No matched files")
        return Response(200)
    call.methods("GET")
    if path and not path.endswith("/"):
        entry = store.file(resource, path) if resource is not None else None
        if resource is None or entry is None:
            raise HttpError(404, "Unable to find catalog entry for given uri.")
        target = store.resource_dir(resource) / entry.path
        if not target.is_file():
            raise HttpError(404, "Unable to find file.")
        return Response(200, content_type="application/octet-stream", file=target)
    return _file_list(call, resource, path, base)


def _file_list(call: Call, resource: Resource | None, folder: str, base: str) -> Response:
    rows = []
    if resource is not None:
        recursive = call.req.flag("recursive", default=True)
        for entry in call.store.files(resource):
            if folder and not entry.path.startswith(folder):
                continue
            if not recursive and "/" in entry.path[len(folder) :]:
                continue
            rows.append(
                {
                    "Name": Path(entry.path).name,
                    "Size": str(entry.size),
                    "URI": f"{base}/resources/{resource.id}/files/{quote(entry.path)}",
                    "collection": resource.label,
                    "file_tags": entry.tags,
                    "file_format": entry.format,
                    "file_content": entry.content,
                    "cat_ID": str(resource.id),
                    "digest": entry.digest,
                }
            )
    return listing(
        call.req,
        rows,
        title="Files",
        total=False,
        columns=[{"key": "URI", "serverRoot": ""}],
        extras=lambda r: {"path": unquote(r["URI"].split("/files/", 1)[1])},
    )


def _upload(call: Call, owner: Owner, ident: str, path: str) -> Response:
    req, store = call.req, call.store
    project = store.project(owner.project)
    assert project is not None
    if not call.can_edit(project):
        req.body.drain()  # XNAT silently ignores an upload the caller may not make
        return Response(200)
    staging = store.staging_dir(owner)
    try:
        staged: list[StagedFile] = []
        for name, received in _receive(call, path, staging):
            rel = safe_relpath(name)
            if rel is None:
                raise UploadError(400, f"Invalid file path '{name}'.")
            kind = archive_kind(name) if req.flag("extract") else None
            if kind:
                staged += extract(kind, received.staged, name, staging, call.partial or 1.0)
            elif call.partial is None:
                staged.append(StagedFile(rel, received.staged, received.size, received.digest))
        resource = store.resource(owner.id, ident) or _create_resource(call, owner, ident)
        q = req.query
        assert req.user is not None
        duplicates = store.add_files(
            resource,
            staged,
            overwrite=req.flag("overwrite"),
            user=req.user,
            fmt=q.get("format", ""),
            content=q.get("content", ""),
            tags=q.get("tags", ""),
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "stored %d file(s) in %s/%s (%d duplicate(s))",
        len(staged) - len(duplicates),
        owner.label,
        resource.label,
        len(duplicates),
    )
    if duplicates:
        return Response(200, json.dumps({"duplicates": duplicates}).encode(), "text/html")
    return Response(200)


def _receive(call: Call, path: str, staging: Path) -> list[tuple[str, StagedFile]]:
    """Stream the body into `staging`; return `(stored name, staged file)` pairs."""
    req = call.req
    content_type = req.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    inbody = req.flag("inbody")
    size = -1 if req.chunked else (req.length or 0)
    no_data = (
        f"You tried to {req.method} a payload of {max(size, 0)} to this service, but didn't "
        "provide any data{detail}. If you think you sent data to upload, you can try to "
        f"{req.method} with the query-string parameter inbody=true or use multipart/form-data "
        "encoding."
    )
    if media == "multipart/form-data":
        if inbody:
            raise UploadError(
                406,
                "In-body File posts must include the file directly as the body of the message "
                "(not as part of multi-part form data).",
            )
        boundary = _header_param(content_type, "boundary")
        if not boundary:
            raise UploadError(400, "Multipart body without a boundary.")
        files, _fields = parse_multipart(req.body, boundary, staging)
        if not files:
            raise UploadError(400, no_data.format(detail=""))
        if path and len(files) == 1:
            return [(path, files[0][1])]
        return files
    if size == 0:
        raise UploadError(400, no_data.format(detail=" (found request entity size of 0)"))
    if not (inbody or media in _RAW_TYPES or media.startswith(("image/", "video/"))):
        raise UploadError(400, no_data.format(detail=""))
    if size < 0 and media != "application/zip":
        raise UploadError(
            500,
            "In-body File posts must include the file directly as the body of the message. In "
            f"this case, the request entity size is -1 but the media type is not "
            f"application/zip ({media or 'none'}).",
        )
    name = path or "upload" + _UPLOAD_SUFFIX.get(media, "")
    return [(name, copy_hashed(req.body.read, staging / "raw"))]


def _header_param(header: str, name: str) -> str | None:
    match = re.search(rf'{name}=(?:"([^"]*)"|([^;\s]*))', header, re.IGNORECASE)
    return (match.group(1) or match.group(2)) if match else None


def item_children(held: list[Resource], start: str) -> list[dict]:
    """The `children` of an item's `format=json` shape listing its resources."""
    if not held:
        return []
    rows = [
        item(
            "xnat:resourceCatalog",
            {
                "xnat_abstractresource_id": r.id,
                "label": r.label,
                "format": r.format,
                "content": r.content,
                "file_count": r.file_count,
                "file_size": r.file_size,
            },
            start,
            [],
        )["items"][0]
        for r in held
    ]
    return [{"field": "resources/resource", "items": rows}]


def html_table(held: list[Resource]) -> list[list[str]]:
    """An item page's table of resources."""
    return [["Resource", "Files", "Bytes"]] + [
        [r.label, cell(r.file_count), cell(r.file_size)] for r in held
    ]
