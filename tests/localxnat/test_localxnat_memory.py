"""Uploads and extraction stream: server memory stays flat for a large body."""

from __future__ import annotations

import hashlib
import tracemalloc
import zipfile
from pathlib import Path

SIZE = 200 * 1024 * 1024
BLOCK = bytes(range(256)) * 64  # 16 KiB


class GeneratedBody:
    """A file-like body of SIZE bytes produced on the fly (requests sends Content-Length)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    def __len__(self) -> int:
        return self.size - self.sent

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.sent if n < 0 else min(n, self.size - self.sent)
        self.sent += n
        return (BLOCK * (n // len(BLOCK) + 1))[:n]


def expected_digest(size: int) -> str:
    md5 = hashlib.md5()
    body = GeneratedBody(size)
    while chunk := body.read(1024 * 1024):
        md5.update(chunk)
    return md5.hexdigest()


def test_large_raw_upload_streams(xnat, owner, session_url) -> None:
    exp = session_url()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        response = owner.put(
            f"{exp}/resources/BIG/files/big.bin",
            params={"inbody": "true"},
            data=GeneratedBody(SIZE),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert peak - base < 16 * 1024 * 1024, f"peak grew by {(peak - base) / 2**20:.1f} MiB"
    row = owner.get(f"{exp}/resources/BIG/files?format=json").json()["ResultSet"]["Result"][0]
    assert row["Size"] == str(SIZE)
    assert row["digest"] == expected_digest(SIZE)


def test_large_zip_extraction_streams(xnat, owner, session_url, tmp_path: Path) -> None:
    exp = session_url()
    archive = tmp_path / "big.zip"
    with (
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("subj01/mri/big.mgz", "w") as out,
    ):
        body = GeneratedBody(64 * 1024 * 1024)
        while chunk := body.read(1024 * 1024):
            out.write(chunk)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        with archive.open("rb") as fh:
            response = owner.post(
                f"{exp}/resources/FS/files/big.zip",
                params={"inbody": "true", "extract": "true"},
                data=fh,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert peak - base < 16 * 1024 * 1024, f"peak grew by {(peak - base) / 2**20:.1f} MiB"
    row = owner.get(f"{exp}/resources/FS/files?format=json").json()["ResultSet"]["Result"][0]
    assert row["Size"] == str(64 * 1024 * 1024)
    assert row["digest"] == expected_digest(64 * 1024 * 1024)
