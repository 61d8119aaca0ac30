"""Fault injection as a client observes it, and the request log."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from fsxnat_gui.localxnat import FaultKind, Faults, serve

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


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


class Background:
    """A request run on a thread, so the test can look at the server while it is held."""

    def __init__(self, call: Callable[[], requests.Response]) -> None:
        self.response: requests.Response | None = None
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], requests.Response]) -> None:
        try:
            self.response = call()
        except requests.RequestException as exc:
            self.error = exc

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the request did not end"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


def test_hang_holds_one_request_until_released(xnat, owner) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    rule = xnat.faults.add("hang", method="PUT", path_regex=r"/subjects/s1$")
    held = Background(lambda: owner.put(f"{xnat.url}/data/projects/P1/subjects/s1", timeout=30))
    wait_for(lambda: rule.fired == 1)
    time.sleep(0.3)
    assert held.running
    with requests.Session() as other:  # the server goes on answering everything else
        other.auth = (xnat.user, xnat.password)
        assert other.get(f"{xnat.url}/data/projects/P1/subjects?format=json").ok
        assert other.get(f"{xnat.url}/data/projects/P1/subjects/s1").status_code == 404
    rule.release()
    held.join()
    assert held.response is not None
    assert held.response.status_code == 201
    assert owner.get(f"{xnat.url}/data/projects/P1/subjects/s1").status_code == 200
    assert owner.put(f"{xnat.url}/data/projects/P1/subjects/s1", timeout=5).status_code == 200


def test_hang_times_out_a_client_then_ends_after_delay(xnat, owner) -> None:
    xnat.faults.add("hang", method="GET", path_regex=r"^/data/projects$", delay=0.5)
    with pytest.raises(requests.ReadTimeout):
        owner.get(f"{xnat.url}/data/projects", timeout=0.2)
    start = time.monotonic()
    assert owner.get(f"{xnat.url}/data/projects", timeout=5).ok  # the rule fired once
    assert time.monotonic() - start < 0.4
    wait_for(lambda: len([r for r in xnat.faults.requests if r.path == "/data/projects"]) == 2)
    held = max(
        (r for r in xnat.faults.requests if r.path == "/data/projects"),
        key=lambda r: r.finished - r.started,
    )
    assert held.status == 200  # answered normally, to a client that had given up
    assert held.finished - held.started >= 0.5


def test_clear_releases_hangs(xnat, owner) -> None:
    rule = xnat.faults.add("hang", path_regex=r"^/data/auth$", count=0)
    held = Background(lambda: owner.get(f"{xnat.url}/data/auth", timeout=30))
    wait_for(lambda: rule.fired == 1)
    time.sleep(0.2)
    assert held.running
    xnat.faults.clear()
    held.join()
    assert held.response is not None
    assert held.response.ok


def test_hang_does_not_block_shutdown(tmp_path: Path) -> None:
    faults = Faults()
    rule = faults.add("hang", method="DELETE", count=0)
    with serve(tmp_path, faults=faults) as url:
        held = Background(
            lambda: requests.delete(f"{url}/data/projects/P1", auth=("admin", "admin"), timeout=30)
        )
        wait_for(lambda: rule.fired == 1)
        start = time.monotonic()
    assert time.monotonic() - start < 2.0
    held.join()
    assert isinstance(held.error, requests.ConnectionError)
    assert faults.requests[-1].status is None


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/data/projects/P1/subjects", {"format": "json"}),
        ("PUT", "/data/projects/P1/subjects/s2", {}),
        ("DELETE", "/data/projects/P1/subjects/s1", {}),
        ("PUT", "/data/projects/P2", {}),
    ],
)
def test_drop_on_metadata_calls(xnat, owner, method: str, path: str, params: dict) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    owner.put(f"{xnat.url}/data/projects/P1/subjects/s1")
    before = owner.get(f"{xnat.url}/data/projects/P1/subjects?format=json").json()
    xnat.faults.clear_requests()
    xnat.faults.add("drop", method=method, path_regex=f"^{path}$")
    with pytest.raises(requests.ConnectionError):
        owner.request(method, f"{xnat.url}{path}", params=params)
    assert owner.get(f"{xnat.url}/data/projects/P1/subjects?format=json").json() == before
    assert owner.get(f"{xnat.url}/data/projects/P2").status_code == 404
    record = next(r for r in xnat.faults.requests if r.method == method and r.path == path)
    assert record.status is None
    assert owner.request(method, f"{xnat.url}{path}", params=params).ok  # once only


def test_drop_after_store(xnat, owner) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    xnat.faults.add(FaultKind.DROP_AFTER_STORE, method="PUT", path_regex=r"/subjects/")
    with pytest.raises(requests.ConnectionError):
        owner.put(f"{xnat.url}/data/projects/P1/subjects/s1")
    assert owner.get(f"{xnat.url}/data/projects/P1/subjects/s1").status_code == 200


def test_drop_an_upload_after_its_whole_body(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    xnat.faults.add("drop", method="POST", path_regex=r"/files")
    with pytest.raises(requests.ConnectionError):
        owner.post(f"{exp}/resources/FS/files/a.zip", params=PARAMS, data=make_zip(ZIP_FILES))
    assert listed(owner, exp) == set()


def test_error_503_with_retry_after(xnat, owner) -> None:
    xnat.faults.add("error_503", method="PUT", path_regex=r"^/data/projects/P1$", retry_after=7)
    refused = owner.put(f"{xnat.url}/data/projects/P1")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "7"
    assert "503 Service Temporarily Unavailable" in refused.text
    assert owner.get(f"{xnat.url}/data/projects/P1").status_code == 404  # nothing created
    assert owner.put(f"{xnat.url}/data/projects/P1").status_code == 200


def test_error_503_default_retry_after_on_uploads(xnat, owner, session_url, make_zip) -> None:
    exp = session_url()
    xnat.faults.add(FaultKind.ERROR_503, method="POST", path_regex=r"/files")
    refused = owner.post(f"{exp}/resources/FS/files/a.zip", params=PARAMS, data=make_zip(ZIP_FILES))
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert listed(owner, exp) == set()


def test_echo_headers_quotes_credentials(xnat, owner) -> None:
    sid = owner.get(f"{xnat.url}/data/JSESSION").text
    xnat.faults.add("echo_headers", path_regex=r"^/data/projects$")
    echoed = owner.get(f"{xnat.url}/data/projects", cookies={"JSESSIONID": sid})
    assert echoed.status_code == 502
    basic = base64.b64encode(f"{xnat.user}:{xnat.password}".encode()).decode()
    assert f"Authorization: Basic {basic}" in echoed.text
    assert f"JSESSIONID={sid}" in echoed.text
    xnat.faults.add("echo_headers", method="PUT", status=400)
    with requests.Session() as cookie_only:
        cookie_only.cookies.set("JSESSIONID", sid)
        page = cookie_only.put(f"{xnat.url}/data/projects/P9")
    assert page.status_code == 400
    assert f"Cookie: JSESSIONID={sid}" in page.text
    assert "Authorization" not in page.text
    assert owner.get(f"{xnat.url}/data/projects/P9").status_code == 404
