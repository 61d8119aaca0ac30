"""The strict XNAT adapter.

Two kinds of server:
- `scripted`: a tiny stdlib HTTP server answering exactly what a test tells it (status mapping,
  odd bodies, redirects, TLS, timeouts) and recording what it received;
- `xnat`: the XNAT-compatible local server (tests/conftest.py) for the real workflows.

Every error path also checks that neither str(exc) nor the log holds the password.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import logging
import random
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tls_certs import Certs

from fsxnat_gui import USER_AGENT
from fsxnat_gui.core import errors
from fsxnat_gui.core.model import RemoteExperiment, ServerInfo
from fsxnat_gui.core.pyxnat_config import read_config
from fsxnat_gui.core.transport import CallPolicy
from fsxnat_gui.core.xnat import XnatClient, experiment_web_url

LocalServer = Any  # the `xnat` fixture of tests/conftest.py
PASSWORD = "Pw-that-must-never-leak-42"
UPLOAD_PATH = "/data/projects/P/experiments/E/resources/R/files/bert.zip"


def restlet(message: str) -> str:
    return (
        "<html>\n<head>\n   <title>Status page</title>\n</head>\n<body>\n"
        f'<h3>{message}</h3><p>You can get technical details <a href="x">here</a>.<br>\n'
        "</p>\n</body>\n</html>\n"
    )


TOMCAT_401 = (
    '<!doctype html><html lang="en"><head><title>HTTP Status 401 \u2013 Unauthorized</title></head>'
    "<body><h1>HTTP Status 401 \u2013 Unauthorized</h1><p><b>Message</b> Login attempt failed.</p>"
    "<h3>Apache Tomcat/9.0.54</h3></body></html>"
)


def assert_clean(exc: BaseException, caplog: pytest.LogCaptureFixture | None = None) -> None:
    """One sentence for a user: no secret, no header dump, no traceback text."""
    text = str(exc)
    assert text.endswith("."), text
    assert "\n" not in text
    for forbidden in (PASSWORD, "Authorization", "Basic ", "Cookie", "JSESSIONID", "Traceback"):
        assert forbidden not in text
    if caplog is not None:
        assert PASSWORD not in caplog.text
        assert "Authorization" not in caplog.text


# --- a scripted HTTP server -------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    when_cookie: Reply | None = None  # the answer instead when the request carries a cookie


@dataclass
class Received:
    method: str
    target: str  # path and query
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _ScriptedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.received.append(Received(self.command, self.path, dict(self.headers), body))
        path = self.path.split("?", 1)[0]
        reply = self.server.routes.get((self.command, path)) or Reply(404, restlet("Not here."))
        if reply.when_cookie is not None and "Cookie" in self.headers:
            reply = reply.when_cookie
        if reply.delay:
            time.sleep(reply.delay)
        data = reply.body.encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()


class _ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.routes: dict[tuple[str, str], Reply] = {}
        self.received: list[Received] = []

    def handle_error(self, request: object, client_address: object) -> None:
        return  # refused TLS handshakes and clients that go away are part of these tests


@dataclass
class Scripted:
    url: str
    server: _ScriptedServer

    def route(self, method: str, path: str, reply: Reply) -> None:
        self.server.routes[(method, path)] = reply

    @property
    def received(self) -> list[Received]:
        return self.server.received

    def client(self, **kwargs: object) -> XnatClient:
        kwargs.setdefault("timeout", (2.0, 5.0))
        return XnatClient(self.url, "alice", PASSWORD, **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def _running(tls: ssl.SSLContext | None = None) -> Iterator[Scripted]:
    server = _ScriptedServer(tls)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield Scripted(f"{scheme}://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    with _running() as s:
        s.route("GET", "/data/auth", Reply(200, "User 'alice' is logged in"))
        s.route("GET", "/xapi/siteConfig/buildInfo", Reply(200, json.dumps({"version": "1.8.10"})))
        yield s


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- login, headers, addresses ----------------------------------------------------------------


def test_login_checks_auth_and_reads_the_version(scripted: Scripted) -> None:
    with scripted.client() as client:
        assert client.login() == ServerInfo(url=scripted.url, user="alice", version="1.8.10")
    first, second = scripted.received
    assert (first.method, first.target) == ("GET", "/data/auth")
    assert (second.method, second.target) == ("GET", "/xapi/siteConfig/buildInfo")
    for request in scripted.received:
        assert request.headers["User-Agent"] == USER_AGENT
        assert request.headers["Authorization"].startswith("Basic ")
    assert not any(r.target.startswith("/REST") for r in scripted.received)


def test_login_without_build_info_has_an_empty_version(scripted: Scripted) -> None:
    del scripted.server.routes[("GET", "/xapi/siteConfig/buildInfo")]
    with scripted.client() as client:
        assert client.login().version == ""


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, "<html><body>Please log in: Login.vm</body></html>"),
        Reply(200, "nothing useful"),
    ],
)
def test_login_that_is_not_confirmed_is_an_auth_error(
    scripted: Scripted, reply: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.route("GET", "/data/auth", reply)
    with scripted.client() as client, pytest.raises(errors.AuthError) as info:
        client.login()
    assert_clean(info.value, caplog)


def test_url_is_normalised_and_repr_hides_the_secret() -> None:
    client = XnatClient(f"  https://alice:{PASSWORD}@xnat.example.org/xnat/  ", "alice", PASSWORD)
    with client:
        assert client.url == "https://xnat.example.org/xnat"
        assert PASSWORD not in repr(client)
        assert client.experiment_uri("P", "E1") == "/data/projects/P/experiments/E1"
        assert experiment_web_url(client.url, "P", "E1") == (
            "https://xnat.example.org/xnat/data/projects/P/experiments/E1?format=html"
        )


# --- status codes and bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected", "fragment"),
    [
        (Reply(401, TOMCAT_401), errors.AuthError, "rejected the user name or password/token"),
        (  # well-formed XML error body: pyxnat 1.6.4 dies with UnboundLocalError on it
            Reply(401, '<?xml version="1.0"?><html><body><h3>Denied</h3></body></html>'),
            errors.AuthError,
            "rejected the user name",
        ),
        (
            Reply(403, restlet("User alice doesn't have permission to edit the project P")),
            errors.PermissionDenied,
            "doesn't have permission to edit the project P",
        ),
        (Reply(403, ""), errors.PermissionDenied, "ask the project owner"),
        (Reply(404, restlet("Unable to find it.")), errors.NotFound, "Unable to find it"),
        (Reply(409, restlet("Already assigned.")), errors.Conflict, "Already assigned"),
        (Reply(500, restlet("Boom &amp; <b>bang</b>")), errors.ServerError, "Boom & bang"),
        (Reply(502, ""), errors.ServerError, "HTTP 502"),
        (Reply(504, "<html><body>Gateway Time-out</body></html>"), errors.ServerError, "504"),
        (Reply(418, restlet("x" * 2000)), errors.XnatError, "HTTP 418"),
    ],
)
def test_statuses_map_to_typed_errors_with_one_clean_sentence(
    scripted: Scripted,
    reply: Reply,
    expected: type[errors.XnatError],
    fragment: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    scripted.route("GET", "/data/projects", reply)
    with scripted.client() as client, pytest.raises(errors.XnatError) as info:
        client.list_projects()
    assert type(info.value) is expected
    assert info.value.status == reply.status
    assert fragment in str(info.value)
    assert len(str(info.value)) < 500
    assert info.value.transient == (reply.status >= 500)
    assert_clean(info.value, caplog)


def test_project_exists_reads_only_a_404_as_missing(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    with scripted.client() as client:
        assert client.project_exists("NOPE") is False
        scripted.route("GET", "/data/projects/P", Reply(200, '{"items": []}'))
        assert client.project_exists("P") is True
        scripted.route("GET", "/data/projects/P", Reply(500, restlet("Database down.")))
        with pytest.raises(errors.ServerError) as info:
            client.project_exists("P")
        assert_clean(info.value, caplog)
        scripted.route("GET", "/data/projects/P", Reply(401, TOMCAT_401))
        with pytest.raises(errors.AuthError):
            client.project_exists("P")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<!DOCTYPE html><html><title>XNAT Login</title></html>", errors.AuthError),
        ("<html><body>Welcome to our web site</body></html>", errors.ServerError),
        ("not json at all", errors.ServerError),
        ('{"ResultSet": {"no": "rows"}}', errors.ServerError),
    ],
)
def test_a_2xx_that_is_not_a_listing_is_never_read_as_empty(
    scripted: Scripted, body: str, expected: type[errors.XnatError]
) -> None:
    scripted.route("GET", "/data/projects/P/subjects", Reply(200, body))
    with scripted.client() as client, pytest.raises(expected) as info:
        client.list_subjects("P")
    assert_clean(info.value)


def test_a_401_with_a_stale_cookie_is_retried_once_without_it(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    scripted.route(
        "GET", "/data/auth", Reply(200, "User 'alice' is logged in", {"Set-Cookie": "JSESSIONID=A"})
    )
    listing = json.dumps({"ResultSet": {"Result": [{"ID": "P1"}]}})
    scripted.route(
        "GET",
        "/data/projects",
        Reply(200, listing, {"Set-Cookie": "JSESSIONID=B"}, when_cookie=Reply(401, TOMCAT_401)),
    )
    with scripted.client() as client:
        client.login()
        assert client.list_projects() == ["P1"]
    projects = [r for r in scripted.received if r.target.startswith("/data/projects")]
    assert ["Cookie" in r.headers for r in projects] == [True, False]
    assert all(r.headers["Authorization"].startswith("Basic ") for r in projects)
    assert "logging in again" in caplog.text
    assert "expired and was renewed" in caplog.text


def test_a_redirect_is_an_error_and_an_upload_is_never_replayed_as_get(
    scripted: Scripted, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.route(
        "POST",
        UPLOAD_PATH,
        Reply(302, "", {"Location": "https://xnat.example.org" + UPLOAD_PATH}),
    )
    zip_path = tmp_path / "bert.zip"
    zip_path.write_bytes(b"PK\x05\x06" + bytes(18))
    with scripted.client() as client, pytest.raises(errors.XnatError) as info:
        client.upload_zip("P", "E", "R", zip_path)
    assert "https://xnat.example.org" in str(info.value)
    assert [r.method for r in scripted.received] == ["POST"]
    assert_clean(info.value, caplog)


# --- the network --------------------------------------------------------------------------------


def test_server_down_is_a_network_error_naming_the_host(caplog: pytest.LogCaptureFixture) -> None:
    port = _closed_port()
    client = XnatClient(f"http://127.0.0.1:{port}", "alice", PASSWORD)
    with client, pytest.raises(errors.NetworkError) as info:
        client.login()
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "refused" in str(info.value)
    assert info.value.transient
    assert_clean(info.value, caplog)


@pytest.mark.parametrize("url", ["xnat.example.org", "localhost:8080", "ftp://xnat.example.org"])
def test_url_without_a_usable_scheme(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with XnatClient(url, "alice", PASSWORD) as client, pytest.raises(errors.XnatError) as info:
        client.login()
    assert "must start with https:// or http://" in str(info.value)
    assert_clean(info.value, caplog)


def test_url_without_a_host(caplog: pytest.LogCaptureFixture) -> None:
    with (
        XnatClient("https://", "alice", PASSWORD) as client,
        pytest.raises(errors.XnatError) as info,
    ):
        client.login()
    assert "not a valid address" in str(info.value)
    assert_clean(info.value, caplog)


def test_a_login_page_is_never_read_as_success(scripted: Scripted) -> None:
    """A proxy's single-sign-on page answers 200 to anything: that is not a created project."""
    page = Reply(200, "<html><body><form>Login</form></body></html>")
    scripted.route("PUT", "/data/projects/P", page)
    scripted.route("DELETE", "/data/projects/P/experiments/E/resources/R", page)
    with scripted.client() as client:
        with pytest.raises(errors.AuthError) as info:
            client.create_project("P")
        assert_clean(info.value)
        with pytest.raises(errors.AuthError):
            client.delete_resource("P", "E", "R")


def test_missing_credentials_send_nothing(scripted: Scripted) -> None:
    with XnatClient(scripted.url, "alice", "") as client, pytest.raises(errors.AuthError):
        client.login()
    assert scripted.received == []


def test_a_silent_server_times_out(scripted: Scripted) -> None:
    scripted.route("GET", "/data/projects", Reply(200, "{}", delay=1.0))
    with scripted.client(timeout=(2.0, 0.2)) as client:
        with pytest.raises(errors.NetworkError) as info:
            client.list_projects()
        assert "did not answer within 0.2 s" in str(info.value)
        assert_clean(info.value)
        assert client.login().user == "alice"  # still usable


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(certs: Certs) -> Iterator[Scripted]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    with _running(context) as s:
        s.route("GET", "/data/auth", Reply(200, "User 'alice' is logged in"))
        yield s


def test_untrusted_certificate_is_a_tls_error_with_advice(
    tls_server: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    with tls_server.client() as client, pytest.raises(errors.TLSError) as info:
        client.login()
    assert "not trusted" in str(info.value)
    assert "CA bundle" in str(info.value)
    assert_clean(info.value, caplog)


def test_a_ca_bundle_wins_over_the_environment(
    tls_server: Scripted, certs: Certs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other.pem"
    other_ca.write_text("")  # an environment bundle that trusts nothing
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other_ca))
    with tls_server.client(verify=str(certs.ca)) as client:
        assert client.login().user == "alice"


def test_the_environments_ca_bundle_is_used_when_none_is_given(
    tls_server: Scripted, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUESTS_CA_BUNDLE, as requests reads it (once a client, not on every call)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca))
    with tls_server.client() as client:
        assert client.login().user == "alice"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_wins_over_the_environment(
    tls_server: Scripted, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.cert))
    with tls_server.client(verify=False) as client:
        assert client.login().user == "alice"


def test_missing_ca_bundle_file(tls_server: Scripted, tmp_path: Path) -> None:
    client = tls_server.client(verify=str(tmp_path / "nope.pem"))
    with client, pytest.raises(errors.TLSError) as info:
        client.login()
    assert "does not exist" in str(info.value)
    assert tls_server.received == []


def test_https_on_a_plain_http_port(scripted: Scripted) -> None:
    url = scripted.url.replace("http://", "https://")
    client = XnatClient(url, "alice", PASSWORD, timeout=(2.0, 5.0))
    with client, pytest.raises(errors.TLSError) as info:
        client.login()
    assert "http://" in str(info.value)
    assert_clean(info.value)


# --- uploads against the scripted server ----------------------------------------------------------


def _zip_like(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "bert.zip"
    path.write_bytes(bytes(range(256)) * (size // 256) + bytes(size % 256))
    return path


def test_upload_sends_a_raw_zip_with_content_length(scripted: Scripted, tmp_path: Path) -> None:
    scripted.route("POST", UPLOAD_PATH, Reply(200, ""))
    zip_path = _zip_like(tmp_path, 300_000)
    calls: list[tuple[int, int]] = []
    with scripted.client() as client:
        client.upload_zip("P", "E", "R", zip_path, on_bytes=lambda s, t: calls.append((s, t)))
    (upload,) = scripted.received
    assert upload.method == "POST"
    path, query = upload.target.split("?")
    assert path == UPLOAD_PATH
    assert sorted(query.split("&")) == ["extract=true", "inbody=true", "overwrite=false"]
    assert upload.headers["Content-Length"] == "300000"
    assert upload.headers["Content-Type"] == "application/zip"
    assert "Transfer-Encoding" not in upload.headers
    assert upload.body == zip_path.read_bytes()
    assert calls[-1] == (300_000, 300_000)
    assert [s for s, _ in calls] == sorted({s for s, _ in calls})


def test_upload_of_a_missing_zip_sends_nothing(scripted: Scripted, tmp_path: Path) -> None:
    with scripted.client() as client:
        for path in (tmp_path / "missing.zip", tmp_path):
            with pytest.raises(errors.ArchiveError) as info:
                client.upload_zip("P", "E", "R", path)
            assert_clean(info.value)
    assert scripted.received == []


def test_duplicates_answer_is_a_conflict(scripted: Scripted, tmp_path: Path) -> None:
    body = json.dumps({"duplicates": ["bert/mri/T1.mgz", "bert/mri/aseg.mgz", "bert/x"]})
    scripted.route("POST", UPLOAD_PATH, Reply(200, body, {"Content-Type": "text/html"}))
    with scripted.client() as client, pytest.raises(errors.Conflict) as info:
        client.upload_zip("P", "E", "R", _zip_like(tmp_path, 1000))
    assert str(info.value).startswith("3 files already exist in resource R;")
    assert "replace" in str(info.value)


# --- pyxnat configuration files -------------------------------------------------------------------


def test_a_config_ca_path_is_used_unlike_pyxnat(
    tmp_path: Path, tls_server: Scripted, certs: Certs
) -> None:
    path = tmp_path / "xnat.cfg"
    config = {"server": tls_server.url, "user": "alice", "password": PASSWORD}

    def client() -> XnatClient:
        c = read_config(path)
        return XnatClient(c.server, c.user, c.password, verify=c.verify)

    path.write_text(json.dumps({**config, "verify": str(certs.ca)}))
    with client() as c:
        assert c.login().user == "alice"
    path.write_text(json.dumps({**config, "verify": True}))
    with client() as c, pytest.raises(errors.TLSError):
        c.login()


# --- against the XNAT-compatible local server -----------------------------------------------------

FILES = {
    "bert/mri/T1.mgz": b"T1" * 5000,
    "bert/stats/aseg.stats": b"# aseg\n" * 300,
    "bert/scripts/recon-all.done": b"done\n",
    "bert/label/lh cortex#1.label": b"odd name\n",  # quoted in the server's URIs
}


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def owner(xnat: LocalServer, fast: CallPolicy) -> Iterator[XnatClient]:
    with XnatClient(xnat.url, xnat.user, xnat.password, timeout=(5.0, 30.0), policy=fast) as client:
        client.login()
        yield client


@pytest.fixture
def experiment(owner: XnatClient) -> tuple[str, str]:
    owner.create_project("P1")
    owner.ensure_experiment("P1", "bert", "bert_MR1")
    return "P1", "bert_MR1"


def test_login_against_the_local_server(xnat: LocalServer) -> None:
    with XnatClient(xnat.url, xnat.user, xnat.password) as client:
        info = client.login()
    assert (info.url, info.user) == (xnat.url, xnat.user)
    paths = [r.path for r in xnat.faults.requests]
    assert paths[0] == "/data/auth"
    assert not any(p.startswith("/REST") for p in paths)


def test_wrong_password_is_an_auth_error(xnat: LocalServer, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    with XnatClient(xnat.url, xnat.user, PASSWORD) as client:
        with pytest.raises(errors.AuthError) as info:
            client.login()
        with pytest.raises(errors.AuthError):
            client.project_exists("P1")  # never "does not exist"
    assert xnat.url in str(info.value)
    assert_clean(info.value, caplog)


def test_projects_subjects_and_experiments(owner: XnatClient, xnat: LocalServer) -> None:
    assert not owner.project_exists("P1")
    owner.create_project("P1")
    owner.create_project("P1")  # the owner's re-PUT is a no-op
    assert owner.project_exists("P1")
    assert "P1" in owner.list_projects()

    subject_id = owner.ensure_subject("P1", "bert")
    assert re.fullmatch(r"\w+_S\d{5}", subject_id)
    assert owner.ensure_subject("P1", "bert") == subject_id
    assert owner.list_subjects("P1") == {"bert": subject_id}

    experiment_id = owner.ensure_experiment("P1", "bert", "bert_MR1")
    assert re.fullmatch(r"\w+_E\d{5}", experiment_id)
    assert owner.ensure_experiment("P1", "bert", "bert_MR1") == experiment_id
    assert owner.list_experiments("P1") == {
        "bert_MR1": RemoteExperiment(
            id=experiment_id,
            label="bert_MR1",
            subject_id=subject_id,
            project="P1",
            xsi_type="xnat:mrSessionData",  # the listing says the type: matching picks MR only
        )
    }
    # the experiment PUT creates a missing subject
    other = owner.ensure_experiment("P1", "ernie", "ernie_MR1")
    assert set(owner.list_subjects("P1")) == {"bert", "ernie"}
    assert owner.list_experiments("P1")["ernie_MR1"].id == other


def test_labels_the_server_refuses_are_named(owner: XnatClient) -> None:
    owner.create_project("P1")
    with pytest.raises(errors.XnatError) as info:
        owner.ensure_experiment("P1", "bert", "bert MR1")
    assert "'bert MR1'" in str(info.value)
    assert "space" in str(info.value)
    assert not info.value.transient
    with pytest.raises(errors.XnatError) as info:
        owner.create_project("P 1")
    assert "project ID 'P 1'" in str(info.value)
    assert_clean(info.value)


def test_a_server_error_is_never_read_as_missing(owner: XnatClient, xnat: LocalServer) -> None:
    """A 500 that never clears: tried again (as many times as the policy says), then an error,
    never "does not exist"."""
    xnat.faults.add(
        "error_500_after_body", method="GET", path_regex=r"^/data/projects/P1$", count=0
    )
    with pytest.raises(errors.ServerError) as info:
        owner.project_exists("P1")
    assert info.value.transient
    assert_clean(info.value)
    tries = [r for r in xnat.faults.requests if r.path == "/data/projects/P1"]
    assert [r.status for r in tries] == [500, 500, 500]


def test_read_only_user_is_refused_with_the_servers_message(xnat: LocalServer) -> None:
    with XnatClient(xnat.url, xnat.reader, xnat.reader_password) as reader:
        reader.login()
        with pytest.raises(errors.PermissionDenied) as info:
            reader.create_project("P9")
    assert_clean(info.value)


def test_resources_and_a_verified_upload(
    owner: XnatClient, experiment: tuple[str, str], tmp_path: Path
) -> None:
    project, label = experiment
    owner.create_resource(project, label, "FREESURFER7", format="FS", content="T1", tags="a,b")
    (resource,) = owner.list_resources(project, label)
    assert (resource.label, resource.format, resource.content) == ("FREESURFER7", "FS", "T1")
    assert resource.id
    assert resource.file_count is None
    assert resource.file_size is None
    assert owner.list_files(project, label, "FREESURFER7") == []

    with pytest.raises(errors.Conflict) as info:
        owner.create_resource(project, label, "FREESURFER7")
    assert str(info.value) == f"The resource FREESURFER7 already exists on {label}."

    zip_path = make_zip(tmp_path / "bert.zip", FILES)
    calls: list[tuple[int, int]] = []
    owner.upload_zip(
        project, label, "FREESURFER7", zip_path, on_bytes=lambda s, t: calls.append((s, t))
    )
    size = zip_path.stat().st_size
    assert calls[-1] == (size, size)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(calls))

    files = owner.list_files(project, label, "FREESURFER7")
    assert {f.path: f.size for f in files} == {k: len(v) for k, v in FILES.items()}
    assert {f.path: f.digest for f in files} == {
        k: hashlib.md5(v).hexdigest() for k, v in FILES.items()
    }
    (resource,) = owner.list_resources(project, label)
    assert resource.file_count == len(FILES)
    assert resource.file_size == sum(len(v) for v in FILES.values())


def test_duplicates_then_overwrite_then_delete(
    owner: XnatClient, experiment: tuple[str, str], tmp_path: Path
) -> None:
    project, label = experiment
    owner.upload_zip(project, label, "FS", make_zip(tmp_path / "a.zip", FILES))

    changed = {**FILES, "bert/mri/T1.mgz": b"new T1", "bert/mri/extra.mgz": b"extra"}
    zip_path = make_zip(tmp_path / "b.zip", changed)
    with pytest.raises(errors.Conflict) as info:
        owner.upload_zip(project, label, "FS", zip_path)
    assert str(info.value).startswith(f"{len(FILES)} files already exist in resource FS;")
    assert_clean(info.value)
    sizes = {f.path: f.size for f in owner.list_files(project, label, "FS")}
    assert sizes["bert/mri/T1.mgz"] == len(FILES["bert/mri/T1.mgz"])  # not replaced

    owner.upload_zip(project, label, "FS", zip_path, overwrite=True)
    files = {f.path: f for f in owner.list_files(project, label, "FS")}
    assert files["bert/mri/T1.mgz"].size == len(b"new T1")
    assert files["bert/mri/T1.mgz"].digest == hashlib.md5(b"new T1").hexdigest()

    owner.delete_resource(project, label, "FS")
    assert owner.list_files(project, label, "FS") == []
    assert owner.list_resources(project, label) == []


def test_cancel_mid_upload_leaves_the_client_usable(
    owner: XnatClient, experiment: tuple[str, str], tmp_path: Path
) -> None:
    project, label = experiment
    big = {"bert/mri/big.mgz": random.Random(1).randbytes(8_000_000)}
    zip_path = make_zip(tmp_path / "big.zip", big)
    cancel = threading.Event()
    sent: list[int] = []

    def on_bytes(done: int, total: int) -> None:
        sent.append(done)
        if done >= 16_384:
            cancel.set()

    started = time.monotonic()
    with pytest.raises(errors.Cancelled):
        owner.upload_zip(project, label, "FS", zip_path, cancel=cancel, on_bytes=on_bytes)
    assert time.monotonic() - started < 1.0
    assert sent[-1] < zip_path.stat().st_size
    assert owner.list_files(project, label, "FS") == []

    owner.upload_zip(project, label, "FS", zip_path)  # the same client, still working
    assert [f.path for f in owner.list_files(project, label, "FS")] == ["bert/mri/big.mgz"]


def test_progress_is_throttled(
    owner: XnatClient, experiment: tuple[str, str], tmp_path: Path, xnat: LocalServer
) -> None:
    project, label = experiment
    zip_path = make_zip(tmp_path / "big.zip", {"big": random.Random(2).randbytes(3_000_000)})
    xnat.faults.add("slow", method="POST", delay=0.3)  # the server reads the body late
    calls: list[int] = []
    started = time.monotonic()
    owner.upload_zip(project, label, "FS", zip_path, on_bytes=lambda s, t: calls.append(s))
    elapsed = time.monotonic() - started
    assert len(calls) <= elapsed * 20 + 2
    assert calls[-1] == zip_path.stat().st_size


def test_session_expiry_mid_batch_renews_the_session(
    owner: XnatClient,
    experiment: tuple[str, str],
    xnat: LocalServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    project, label = experiment
    xnat.faults.add("expire_sessions", count=0)  # every request from now on
    for _ in range(3):
        assert owner.list_experiments(project)[label].label == label
    owner.create_resource(project, label, "FS")
    assert "expired and was renewed" in caplog.text
    assert xnat.password not in caplog.text


def test_alias_token_logs_in_a_second_client(owner: XnatClient, xnat: LocalServer) -> None:
    token = owner.issue_token()
    assert token.alias != xnat.user
    assert token.secret != xnat.password
    assert time.time() + 3600 < token.expires < time.time() + 400 * 86400
    with XnatClient(xnat.url, token.alias, token.secret) as client:
        info = client.login()
        assert info.user == xnat.user  # XNAT names the real user
        client.create_project("PT")
    assert owner.project_exists("PT")


def test_non_latin_credentials_are_sent_as_utf8(scripted: Scripted) -> None:
    with XnatClient(scripted.url, "jürgen", "密码-ü") as client:
        client.login()
    encoded = scripted.received[0].headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode("utf-8") == "jürgen:密码-ü"


def test_no_proxy_is_honoured(scripted: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyxnat puts $http_proxy into the session, where it would win over $no_proxy."""
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with scripted.client() as client:
        assert client.login().user == "alice"


# --- issue 10: secrets, messages and the call discipline --------------------------------------

BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


@pytest.mark.parametrize(
    "body",
    [
        f"Bad request. Authorization: Basic {BASIC}",  # a short plain-text echo
        restlet(f"Denied: Authorization: Basic {BASIC}; Cookie: JSESSIONID=ABCDEF0123"),
        restlet(f"Denied for the password {PASSWORD}"),
        restlet(f"Denied for the token {BASIC}"),
    ],
)
def test_a_server_page_echoing_credentials_is_scrubbed(
    scripted: Scripted, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.route("GET", "/data/projects", Reply(400, body))
    with scripted.client() as client, pytest.raises(errors.XnatError) as info:
        client.list_projects()
    assert BASIC not in str(info.value)
    assert "ABCDEF0123" not in str(info.value)
    assert_clean(info.value, caplog)
    assert BASIC not in caplog.text


def test_a_redirect_to_a_sign_in_page_says_so(scripted: Scripted) -> None:
    sso = "https://sso.example.org/idp/profile/SAML2/Redirect/SSO?SAMLRequest=xyz"
    scripted.route("GET", "/data/auth", Reply(302, "", {"Location": sso}))
    with scripted.client() as client, pytest.raises(errors.SignInRedirect) as info:
        client.login()
    text = str(info.value)
    assert "redirects to a sign-in page" in text
    assert "alias token" in text
    assert scripted.url in text, "the XNAT address itself is the one to use"
    assert "SAMLRequest" not in text
    assert info.value.location == "https://sso.example.org/idp/profile/SAML2/Redirect/SSO"


def test_413_names_the_proxy_limit_and_the_size(scripted: Scripted, tmp_path: Path) -> None:
    scripted.route("POST", UPLOAD_PATH, Reply(413, "<html><h1>413 Too Large</h1></html>"))
    with scripted.client() as client, pytest.raises(errors.TooLarge) as info:
        client.upload_zip("P", "E", "R", _zip_like(tmp_path, 2_500_000))
    assert "body-size limit" in str(info.value)
    assert "2.5 MB" in str(info.value)
    assert info.value.size == 2_500_000


def test_retry_after_is_honoured_and_capped(scripted: Scripted) -> None:
    """A 503 asks for 30 s: the pause is capped by the policy."""
    busy = Reply(503, "", {"Retry-After": "30"})
    scripted.route("GET", "/data/projects", busy)
    policy = CallPolicy(attempts=2, backoff=0.01, max_pause=0.4)
    with scripted.client(policy=policy) as client:
        started = time.monotonic()
        with pytest.raises(errors.ServerError):
            client.list_projects()
        assert 0.4 <= time.monotonic() - started < 2.0
    assert [r.target.split("?")[0] for r in scripted.received] == ["/data/projects"] * 2


def test_an_upload_is_never_sent_twice_by_the_transport(scripted: Scripted, tmp_path: Path) -> None:
    scripted.route("POST", UPLOAD_PATH, Reply(503, "", {"Retry-After": "0"}))
    with scripted.client() as client, pytest.raises(errors.ServerError):
        client.upload_zip("P", "E", "R", _zip_like(tmp_path, 1000))
    assert len(scripted.received) == 1


def test_a_metadata_call_has_its_own_read_timeout(scripted: Scripted) -> None:
    """Not the upload's 300 s: a metadata call that does not answer is given up quickly."""
    scripted.route("GET", "/data/projects", Reply(200, "{}", delay=1.0))
    policy = CallPolicy(read=0.2, attempts=2, backoff=0.01)
    with scripted.client(timeout=(2.0, 300.0), policy=policy) as client:
        started = time.monotonic()
        with pytest.raises(errors.NetworkError) as info:
            client.list_projects()
        assert time.monotonic() - started < 1.5
    assert "did not answer within 0.2 s" in str(info.value)


def test_cancel_abandons_a_hung_call_and_the_next_call_works(scripted: Scripted) -> None:
    scripted.route("GET", "/data/projects", Reply(200, "{}", delay=3.0))
    cancel = threading.Event()
    with scripted.client(timeout=(2.0, 30.0)) as client:
        client.login()
        client.cancel = cancel
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(errors.Abandoned):
            client.list_projects()
        assert time.monotonic() - started < 1.0
        assert client.login().user == "alice", "clean-up calls still work, on another session"


@pytest.mark.parametrize(
    ("make", "kind", "fragment"),
    [
        (lambda p: p.mkdir(), "bundle-folder", "is a folder"),
        (lambda p: p.write_bytes(b"\x30\x82\x01\x0a binary DER"), "bundle-invalid", "PEM"),
    ],
)
def test_a_ca_bundle_that_is_not_a_pem_file(
    tls_server: Scripted, tmp_path: Path, make: Any, kind: str, fragment: str
) -> None:
    bundle = tmp_path / "site-ca.crt"
    make(bundle)
    with tls_server.client(verify=str(bundle)) as client, pytest.raises(errors.TLSError) as info:
        client.login()
    assert info.value.kind == kind
    assert fragment in str(info.value)
    assert "does not exist" not in str(info.value)
    assert tls_server.received == []


def test_a_host_name_mismatch_is_said_in_full(tls_server: Scripted, certs: Certs) -> None:
    url = tls_server.url.replace("127.0.0.1", "localhost")
    client = XnatClient(url, "alice", PASSWORD, verify=str(certs.ca), timeout=(2.0, 5.0))
    with client, pytest.raises(errors.TLSError) as info:
        client.login()
    assert info.value.kind == "hostname"
    assert "another host name" in str(info.value)
    assert "'localhost'" in str(info.value), "the host name the certificate does not cover"
    assert "connection settings" not in str(info.value), "the front ends give their own advice"


def test_an_untrusted_certificate_has_its_kind(tls_server: Scripted) -> None:
    with tls_server.client() as client, pytest.raises(errors.TLSError) as info:
        client.login()
    assert info.value.kind == "untrusted"


def test_verify_false_warns_once_not_per_request(
    tls_server: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    """pytest turns every warning into an error here: no InsecureRequestWarning may escape."""
    with caplog.at_level(logging.WARNING), tls_server.client(verify=False) as client:
        for _ in range(3):
            client.login()
    assert caplog.text.count("TLS certificate checking is off") == 1


def test_a_client_skips_pyxnats_plugin_walk() -> None:
    """pyxnat's Interface() imports its derivative plug-ins (pandas, numpy, nibabel: up to
    0.6 s and ~50 MB, pyxnat.md §0), which this client never uses: a client is built without
    them, and an Interface built afterwards by anyone else still gets them."""
    code = (
        "import sys\n"
        "from fsxnat_gui.core.xnat import XnatClient\n"
        "XnatClient('http://127.0.0.1:9', 'u', 'p')\n"
        "heavy = [m for m in ('pandas', 'nibabel', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import pyxnat\n"
        "i = pyxnat.Interface(server='http://127.0.0.1:9', user='u', password='p')\n"
        "assert i._mod_functions, 'the plug-ins of a plain Interface'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
