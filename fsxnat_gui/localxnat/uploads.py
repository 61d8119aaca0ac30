"""Streaming request bodies, multipart parsing and archive extraction.

Everything here works in bounded chunks: a 1 GB upload costs a few MB of memory whether it is
a raw body, a multipart part or a zip expanded entry by entry.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .store import StagedFile

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_MAX_FIELD = 64 * 1024


class UploadError(Exception):
    """An upload the server refuses; `status` and the message go into the Restlet page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyReader:
    """Reads a request body framed by Content-Length or chunked transfer encoding."""

    def __init__(self, rfile: BinaryIO, length: int | None, chunked: bool) -> None:
        self._rfile = rfile
        self._chunked = chunked
        self._left = 0 if chunked else (length or 0)
        self._chunk_left = 0
        self.done = not chunked and self._left == 0
        self.received = 0

    def read(self, size: int = CHUNK) -> bytes:
        if self.done:
            return b""
        if self._chunked:
            data = self._read_chunked(size)
        else:
            data = self._rfile.read(min(size, self._left))
            if not data:
                raise ConnectionError("client closed the connection mid-body")
            self._left -= len(data)
            self.done = self._left == 0
        self.received += len(data)
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._rfile.readline(1024)
            if not line:
                raise ConnectionError("client closed the connection mid-body")
            self._chunk_left = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if self._chunk_left == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self.done = True
                return b""
        data = self._rfile.read(min(size, self._chunk_left))
        if not data:
            raise ConnectionError("client closed the connection mid-body")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile.readline(16)
        return data

    def drain(self) -> None:
        while not self.done:
            self.read()


def copy_hashed(read: Callable[[int], bytes], dest: Path, limit: int | None = None) -> StagedFile:
    """Copy a stream into `dest` in chunks, computing its MD5; `path` is left empty."""
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as out:
        while limit is None or size < limit:
            data = read(CHUNK if limit is None else min(CHUNK, limit - size))
            if not data:
                break
            md5.update(data)
            out.write(data)
            size += len(data)
    return StagedFile(path="", staged=dest, size=size, digest=md5.hexdigest())


# Multipart


def parse_multipart(
    body: BodyReader, boundary: str, staging: Path
) -> tuple[list[tuple[str, StagedFile]], dict[str, str]]:
    """Stream a multipart/form-data body: file parts go to `staging`, fields to a dict.

    Returns `[(filename, staged), ...]` and the form fields. A part whose Content-Disposition has
    a `filename` is a file; a part with `filename=""` is refused.
    """
    stream = _PartStream(body, boundary.encode("latin-1"))
    files: list[tuple[str, StagedFile]] = []
    fields: dict[str, str] = {}
    for number, headers in enumerate(stream.parts()):
        disposition = headers.get("content-disposition", "")
        name = _disposition_param(disposition, "name") or ""
        filename = _disposition_param(disposition, "filename")
        if filename is None:
            value = b""
            for data in stream.iter_part():
                value += data
                if len(value) > _MAX_FIELD:
                    raise UploadError(400, "Form field too large.")
            fields[name] = value.decode("utf-8", "replace")
            continue
        filename = PurePosixPath(filename.replace("\\", "/")).name
        if not filename:
            stream.skip_part()
            raise UploadError(400, "The uploaded file must carry a file name.")
        parts = iter(stream.iter_part())
        staged = copy_hashed(lambda _n, it=parts: next(it, b""), staging / f"part{number}")
        files.append((filename, staged))
    return files, fields


class _PartStream:
    def __init__(self, body: BodyReader, boundary: bytes) -> None:
        self._body = body
        self._delim = b"\r\n--" + boundary
        self._buf = b"\r\n"  # so the first boundary matches the delimiter form
        self._finished = False

    def _fill(self) -> bool:
        data = self._body.read(CHUNK)
        self._buf += data
        return bool(data)

    def parts(self) -> Iterator[dict[str, str]]:
        # Skip the preamble up to the first delimiter.
        while (index := self._buf.find(self._delim)) < 0:
            self._buf = self._buf[-len(self._delim) :]
            if not self._fill():
                raise UploadError(400, "Malformed multipart body.")
        self._buf = self._buf[index + len(self._delim) :]
        while not self._finished:
            while len(self._buf) < 2 and self._fill():
                pass
            if self._buf.startswith(b"--"):
                self._finished = True
                self._body.drain()
                return
            while b"\r\n\r\n" not in self._buf:
                if len(self._buf) > _MAX_FIELD or not self._fill():
                    raise UploadError(400, "Malformed multipart body.")
            head, self._buf = self._buf.split(b"\r\n\r\n", 1)
            headers = {}
            for line in head.decode("utf-8", "replace").split("\r\n")[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            yield headers

    def iter_part(self) -> Iterator[bytes]:
        """The current part's data in chunks, consuming the delimiter after it."""
        keep = len(self._delim)
        while True:
            index = self._buf.find(self._delim)
            if index >= 0:
                data, self._buf = self._buf[:index], self._buf[index + keep :]
                if data:
                    yield data
                return
            if len(self._buf) > keep:
                data, self._buf = self._buf[:-keep], self._buf[-keep:]
                yield data
            if not self._fill():
                raise UploadError(400, "Malformed multipart body.")

    def skip_part(self) -> None:
        for _ in self.iter_part():
            pass


def _disposition_param(header: str, key: str) -> str | None:
    match = re.search(rf'(?:^|;)\s*{key}="((?:[^"\\]|\\.)*)"', header, re.IGNORECASE)
    if match:
        return match.group(1).replace('\\"', '"')
    match = re.search(rf"(?:^|;)\s*{key}=([^;\s]*)", header, re.IGNORECASE)
    return match.group(1) if match else None


# Archives


def archive_kind(name: str) -> str | None:
    """XNAT's case-sensitive suffix rules for `extract=true`."""
    if name.endswith((".zip", ".zar")):
        return "zip"
    if name.endswith((".tgz", ".tar.gz")):
        return "tgz"
    if name.endswith((".tar", ".xar")):
        return "tar"
    if name.endswith(".gz"):
        return "gz"
    return None


def safe_relpath(name: str) -> str | None:
    """The normalised relative path of an archive entry or URL path, or None if unsafe."""
    if not name or "\\" in name or name.startswith("/") or "\x00" in name:
        return None
    if re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def extract(
    kind: str, archive: Path, name: str, staging: Path, fraction: float = 1.0
) -> list[StagedFile]:
    """Expand `archive` into `staging`; every entry is validated before anything is written.

    `fraction` < 1 keeps only that share of the entries (the `partial_store` fault).
    """
    if kind == "zip":
        staged = _extract_zip(archive, staging, fraction)
    elif kind in ("tar", "tgz"):
        staged = _extract_tar(archive, staging, fraction)
    else:
        target = name[: -len(".gz")]
        with gzip.open(archive, "rb") as src:
            item = copy_hashed(src.read, staging / "x" / "0")
        staged = [_named(item, target)]
    archive.unlink(missing_ok=True)
    return staged


def _keep(names: list[tuple[str, object]], fraction: float) -> list[tuple[str, object]]:
    wanted = [(n, m) for n, m in names if not n.endswith("_catalog.xml")]
    if fraction < 1.0:
        wanted = wanted[: int(len(wanted) * fraction)]
    return wanted


def _extract_zip(archive: Path, staging: Path, fraction: float) -> list[StagedFile]:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(400, f"Unable to read the zip archive: {exc}") from exc
    with zf:
        members: list[tuple[str, object]] = []
        for info in zf.infolist():
            rel = safe_relpath(info.filename)
            if rel is None:
                raise UploadError(
                    400, f"Archive entry '{info.filename}' would land outside the resource folder."
                )
            if not info.is_dir():
                members.append((rel, info))
        staged = []
        for number, (rel, info) in enumerate(_keep(members, fraction)):
            with zf.open(info) as src:  # type: ignore[call-overload]
                item = copy_hashed(src.read, staging / "x" / str(number))
            staged.append(_named(item, rel))
    return staged


def _extract_tar(archive: Path, staging: Path, fraction: float) -> list[StagedFile]:
    try:
        tf = tarfile.open(archive)  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise UploadError(400, f"Unable to read the tar archive: {exc}") from exc
    with tf:
        members: list[tuple[str, object]] = []
        for info in tf.getmembers():
            rel = safe_relpath(info.name)
            if rel is None or info.issym() or info.islnk():
                raise UploadError(
                    400, f"Archive entry '{info.name}' would land outside the resource folder."
                )
            if info.isfile():
                members.append((rel, info))
        staged = []
        for number, (rel, info) in enumerate(_keep(members, fraction)):
            src = tf.extractfile(info)  # type: ignore[arg-type]
            assert src is not None
            with src:
                item = copy_hashed(src.read, staging / "x" / str(number))
            staged.append(_named(item, rel))
    return staged


def _named(item: StagedFile, path: str) -> StagedFile:
    return StagedFile(path=path, staged=item.staged, size=item.size, digest=item.digest)
