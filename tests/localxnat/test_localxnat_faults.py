"""Fault injection as a client observes it, and the request log."""

from __future__ import annotations

import time

import pytest
import requests

from fsxnat_gui.localxnat import Faults

ZIP_FILES = {f"subj01/f{i}.txt": f"file {i}\n".encode() for i in range(6)}
PARAMS = {"extract": "true", "inbody": "true"}


def listed(owner: requests.Session, exp: str) -> set[str]:
    rows = owner.get(f"{exp}/resources/FS/files?format=json").json()["ResultSet"]["Result"]
    return {r["URI"].split("/files/", 1)[1] for r in rows}


def test_error_500_after_body_stores_nothing(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    xnat.faults.add("error_500_after_body", method="POST", path_regex=r"/files")
    response = owner.post(
        f"{exp}/resources/FS/files/a.zip", params=PARAMS, data=make_zip(ZIP_FILES)
    )
    assert response.status_code == 500
    assert "<h3>" in response.text
    assert listed(owner, exp) == set()
    again = owner.post(f"{exp}/resources/FS/files/a.zip", params=PARAMS, data=make_zip(ZIP_FILES))
    assert again.status_code == 200
    assert listed(owner, exp) == set(ZIP_FILES)


def test_drop_mid_upload(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    xnat.faults.add("drop_mid_upload", method="PUT", path_regex=r"/files", fraction=0.1)
    body = make_zip(ZIP_FILES) + b"\0" * 4_000_000
    with pytest.raises(requests.ConnectionError):
        owner.put(f"{exp}/resources/FS/files/a.bin", params=PARAMS, data=body)
    assert listed(owner, exp) == set()
    record = next(r for r in xnat.faults.requests if r.method == "PUT" and "/files" in r.path)
    assert record.status is None


def test_timeout_504_after_store(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    xnat.faults.add("timeout_504_after_store", path_regex=r"/files/")
    response = owner.put(f"{exp}/resources/FS/files/a.zip", params=PARAMS, data=make_zip(ZIP_FILES))
    assert response.status_code == 504
    assert "504 Gateway Time-out" in response.text
    assert listed(owner, exp) == set(ZIP_FILES)


def test_partial_store(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    xnat.faults.add("partial_store", method="POST", fraction=0.5)
    response = owner.post(
        f"{exp}/resources/FS/files/a.zip", params=PARAMS, data=make_zip(ZIP_FILES)
    )
    assert (response.status_code, response.content) == (200, b"")
    stored = listed(owner, exp)
    assert len(stored) == 3
    assert stored < set(ZIP_FILES)


def test_expire_sessions(xnat, owner) -> None:
    sid = owner.get(f"{xnat.url}/data/JSESSION").text
    xnat.faults.add("expire_sessions", path_regex=r"/data/auth", count=0)
    with requests.Session() as cookie_only:
        cookie_only.headers["Cookie"] = f"JSESSIONID={sid}"
        assert cookie_only.get(f"{xnat.url}/data/auth").status_code == 401
    response = owner.get(f"{xnat.url}/data/auth")
    assert response.status_code == 200
    assert "JSESSIONID=" in response.headers["Set-Cookie"]


def test_slow(xnat, owner) -> None:
    xnat.faults.add("slow", path_regex=r"^/data/auth$", delay=0.6)
    with pytest.raises(requests.ReadTimeout):
        owner.get(f"{xnat.url}/data/auth", timeout=0.3)
    start = time.monotonic()
    assert owner.get(f"{xnat.url}/data/auth", timeout=5).status_code == 200
    assert time.monotonic() - start < 0.5


def test_nth_and_count(xnat, owner) -> None:
    xnat.faults.add("error_500_after_body", method="GET", path_regex=r"/data/auth", nth=2, count=2)
    codes = [owner.get(f"{xnat.url}/data/auth").status_code for _ in range(5)]
    assert codes == [200, 500, 500, 200, 200]


def test_request_log(xnat, owner) -> None:
    owner.get(f"{xnat.url}/data/projects", params={"format": "csv", "columns": "ID"})
    owner.get(f"{xnat.url}/data/nothing")
    log = xnat.faults.requests
    assert [(r.method, r.path, r.query, r.status, r.user) for r in log[-2:]] == [
        ("GET", "/data/projects", "format=csv&columns=ID", 200, xnat.user),
        ("GET", "/data/nothing", "", 404, xnat.user),
    ]
    xnat.faults.clear_requests()
    assert xnat.faults.requests == []


def test_unknown_fault_kind() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Faults().add("explode")
