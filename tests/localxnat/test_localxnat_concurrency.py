"""Uploads are served concurrently, as XNAT serves them (issue 11 item 5).

Each connection has its own thread; receiving, digesting and extracting an upload happen
outside the store's lock, which only guards the short SQLite and catalog updates.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile
from collections.abc import Iterator

import requests

EXPERIMENT_TYPE = "xnat:mrSessionData"
EXTRACT = {"extract": "true", "inbody": "true"}
CHUNK = 256 * 1024


def big_zip(prefix: str, megabytes: int) -> tuple[bytes, dict[str, bytes]]:
    """A stored zip of incompressible files (about `megabytes` MB) and its entries."""
    files = {f"{prefix}/mri/part{i}.mgz": os.urandom(1024 * 1024) for i in range(megabytes)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue(), files


def make_experiment(session: requests.Session, url: str, subject: str) -> str:
    exp = f"{url}/data/projects/P1/subjects/{subject}/experiments/{subject}_MR1"
    response = session.put(exp, params={"xsiType": EXPERIMENT_TYPE})
    assert response.status_code == 201
    return exp


def digests(session: requests.Session, exp: str) -> dict[str, str]:
    rows = session.get(f"{exp}/resources/FS/files?format=json").json()["ResultSet"]["Result"]
    return {r["URI"].split("/files/", 1)[1]: r["digest"] for r in rows}


def test_an_upload_is_served_while_another_is_still_arriving(xnat, owner) -> None:
    """B is received, digested, extracted and stored while A's body is half sent.

    A's sender waits for B's answer before sending the rest: if uploads were served one at a
    time, B would wait for A and A for B, and the test would time out instead.
    """
    assert owner.put(f"{xnat.url}/data/projects/P1").ok
    exp_a = make_experiment(owner, xnat.url, "subjA")
    exp_b = make_experiment(owner, xnat.url, "subjB")
    zip_a, files_a = big_zip("subjA", 16)
    zip_b, files_b = big_zip("subjB", 16)
    a_half_sent, b_answered = threading.Event(), threading.Event()
    result_a: dict[str, object] = {}

    def body_a() -> Iterator[bytes]:
        half = len(zip_a) // 2
        for start in range(0, half, CHUNK):
            yield zip_a[start : min(start + CHUNK, half)]
        a_half_sent.set()  # 8 MB, more than socket buffers hold: the server is reading A
        assert b_answered.wait(30), "B was not answered while A was arriving"
        for start in range(half, len(zip_a), CHUNK):
            yield zip_a[start : start + CHUNK]

    def send_a() -> None:
        with requests.Session() as session:
            session.auth = (xnat.user, xnat.password)
            result_a["response"] = session.post(
                f"{exp_a}/resources/FS/files/subjA.zip",
                params=EXTRACT,
                data=body_a(),  # chunked: the server streams it as it comes
                headers={"Content-Type": "application/zip"},
                timeout=60,
            )

    xnat.faults.clear_requests()
    sender = threading.Thread(target=send_a, daemon=True)
    sender.start()
    assert a_half_sent.wait(30)
    response_b = owner.post(
        f"{exp_b}/resources/FS/files/subjB.zip", params=EXTRACT, data=zip_b, timeout=60
    )
    b_answered.set()
    sender.join(60)
    assert not sender.is_alive()
    assert response_b.status_code == 200
    assert result_a["response"].status_code == 200  # type: ignore[attr-defined]

    uploads = {
        r.path.split("/subjects/")[1][:5]: r for r in xnat.faults.requests if r.method == "POST"
    }
    a, b = uploads["subjA"], uploads["subjB"]
    assert a.started < b.started < b.finished < a.finished  # B entirely within A
    for exp, files in ((exp_a, files_a), (exp_b, files_b)):
        assert digests(owner, exp) == {n: hashlib.md5(d).hexdigest() for n, d in files.items()}


def test_parallel_uploads_into_one_resource_and_many_keep_every_file(xnat, owner) -> None:
    """Eight uploads at once (four into the same resource, which the first upload creates:
    xnat-rest.md §3.3 "Auto-creation", every upload answered 200): every file catalogued once."""
    assert owner.put(f"{xnat.url}/data/projects/P1").ok
    shared = make_experiment(owner, xnat.url, "shared")
    targets = [shared] * 4 + [make_experiment(owner, xnat.url, f"s{i}") for i in range(4)]
    jobs = []
    for number, exp in enumerate(targets):
        files = {f"part{number}/f{i}.dat": os.urandom(50_000) for i in range(20)}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
        jobs.append((exp, number, buffer.getvalue(), files))
    start = threading.Barrier(len(jobs))
    statuses: list[int] = []

    def upload(exp: str, number: int, data: bytes) -> None:
        with requests.Session() as session:
            session.auth = (xnat.user, xnat.password)
            start.wait(10)
            url = f"{exp}/resources/FS/files/up{number}.zip"
            statuses.append(session.post(url, params=EXTRACT, data=data, timeout=60).status_code)

    threads = [threading.Thread(target=upload, args=job[:3], daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * len(jobs)
    expected: dict[str, dict[str, str]] = {}
    for exp, _number, _data, files in jobs:
        expected.setdefault(exp, {}).update(
            {n: hashlib.md5(d).hexdigest() for n, d in files.items()}
        )
    for exp, wanted in expected.items():
        assert digests(owner, exp) == wanted
        row = owner.get(f"{exp}/resources?format=json").json()["ResultSet"]["Result"][0]
        assert row["file_count"] == str(len(wanted))
        catalog = owner.get(f"{exp}/resources/FS").text
        assert catalog.count("<cat:entry ") == len(wanted)
