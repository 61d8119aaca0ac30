"""Authentication, sessions, tokens and site information (checklist items 1-7)."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
import requests

from fsxnat_gui.localxnat import serve

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"


@pytest.mark.parametrize(
    "path",
    ["/data/JSESSION", "/data/auth", "/data/projects", "/xapi/siteConfig/buildInfo", "/nowhere"],
)
def test_bad_credentials_get_401_html_everywhere(xnat, path: str) -> None:
    response = requests.get(xnat.url + path, auth=(xnat.user, "wrong"), timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html" in response.text
    assert "WWW-Authenticate" not in response.headers


def test_jsession_cookie_format_and_reuse(xnat, owner) -> None:
    response = owner.get(f"{xnat.url}/data/JSESSION")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert re.fullmatch(r"[0-9A-F]{32}", response.text)
    cookie = response.headers["Set-Cookie"]
    assert cookie == f"JSESSIONID={response.text}; Path=/; HttpOnly"
    with requests.Session() as cookie_only:
        cookie_only.cookies.set("JSESSIONID", response.text)
        again = cookie_only.get(f"{xnat.url}/data/auth")
        assert again.text == f"User '{xnat.user}' is logged in"
        assert "Set-Cookie" not in again.headers


def test_jsession_csrf_and_delete(xnat, owner) -> None:
    text = owner.get(f"{xnat.url}/data/JSESSION", params={"CSRF": "true"}).text
    sid, csrf = re.fullmatch(r"([0-9A-F]{32}); XNAT_CSRF=(.+)", text).groups()
    uuid.UUID(csrf)
    deleted = owner.delete(f"{xnat.url}/data/JSESSION")
    assert deleted.status_code == 200
    assert deleted.content == b""
    with requests.Session() as cookie_only:
        cookie_only.cookies.set("JSESSIONID", sid)
        assert cookie_only.get(f"{xnat.url}/data/auth").status_code == 401


def test_anonymous_jsession_is_a_guest_session(xnat, anonymous) -> None:
    response = anonymous.get(f"{xnat.url}/data/JSESSION")
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9A-F]{32}", response.text)
    assert anonymous.get(f"{xnat.url}/data/auth").status_code == 401


def test_auth_endpoint(xnat, owner, anonymous) -> None:
    response = owner.get(f"{xnat.url}/data/auth")
    assert (response.status_code, response.text) == (200, f"User '{xnat.user}' is logged in")
    refused = anonymous.get(f"{xnat.url}/data/auth")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="XNAT"'


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"User-Agent": "python-requests/2.32"}, 401),
        ({"User-Agent": ""}, 401),
        ({"User-Agent": BROWSER_UA}, 302),
        ({"User-Agent": BROWSER_UA + " XNATDesktopClient"}, 401),
        ({"User-Agent": BROWSER_UA, "X-Requested-With": "XMLHttpRequest"}, 401),
    ],
)
def test_anonymous_non_open_url(xnat, headers: dict[str, str], status: int) -> None:
    response = requests.get(
        f"{xnat.url}/data/projects", headers=headers, allow_redirects=False, timeout=10
    )
    assert response.status_code == status
    if status == 302:
        assert response.headers["Location"] == "/app/template/Login.vm"
    else:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="XNAT"'


@pytest.mark.parametrize(
    "path", ["/data/JSESSION", "/xapi/siteConfig/buildInfo", "/xapi/siteConfig/siteId"]
)
def test_open_urls(xnat, anonymous, path: str) -> None:
    assert anonymous.get(xnat.url + path).status_code == 200


def test_services_auth(xnat, anonymous) -> None:
    ok = anonymous.post(
        f"{xnat.url}/data/services/auth",
        data={"username": xnat.user, "password": xnat.password},
    )
    assert ok.status_code == 200
    assert re.fullmatch(r"[0-9A-F]{32}", ok.text)
    assert anonymous.get(f"{xnat.url}/data/auth").status_code == 200
    bad = requests.put(
        f"{xnat.url}/data/services/auth", data={"username": xnat.user, "password": "x"}, timeout=10
    )
    assert bad.status_code == 401
    assert "<h3>Authentication failed.</h3>" in bad.text
    assert requests.get(f"{xnat.url}/data/services/auth", timeout=10).status_code == 405


def test_session_idle_expiry_and_basic_reauthentication(tmp_path: Path) -> None:
    with (
        serve(tmp_path, users={"u": "p"}, session_timeout=0.3) as url,
        requests.Session() as basic,
        requests.Session() as cookie_only,
    ):
        sid = basic.get(f"{url}/data/JSESSION", auth=("u", "p")).text
        cookie_only.cookies.set("JSESSIONID", sid)
        assert cookie_only.get(f"{url}/data/auth").status_code == 200
        time.sleep(0.5)
        assert cookie_only.get(f"{url}/data/auth").status_code == 401
        again = basic.get(f"{url}/data/auth", auth=("u", "p"))
        assert again.status_code == 200
        new_sid = basic.cookies["JSESSIONID"]
        assert new_sid != sid
        assert again.headers["Set-Cookie"].startswith(f"JSESSIONID={new_sid};")


def test_unknown_cookie_with_basic_gets_new_session(xnat, owner) -> None:
    response = owner.get(f"{xnat.url}/data/auth", headers={"Cookie": "JSESSIONID=" + "0" * 32})
    assert response.status_code == 200
    assert re.match(r"JSESSIONID=[0-9A-F]{32}; Path=/; HttpOnly", response.headers["Set-Cookie"])


def test_alias_token(xnat, owner) -> None:
    before = time.time() * 1000
    response = owner.get(f"{xnat.url}/data/services/tokens/issue")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    token = response.json()
    assert uuid.UUID(token["alias"])
    assert re.fullmatch(r"[A-Za-z0-9]{64}", token["secret"])
    assert token["xdatUserId"] == xnat.user
    assert token["singleUse"] is False
    assert token["validIPAddresses"] == []
    for key in ("id", "enabled", "created", "timestamp", "disabled"):
        assert key in token
    two_days = 2 * 24 * 3600 * 1000
    assert before + two_days <= token["estimatedExpirationTime"] <= time.time() * 1000 + two_days
    with_token = requests.get(
        f"{xnat.url}/data/auth", auth=(token["alias"], token["secret"]), timeout=10
    )
    assert with_token.text == f"User '{xnat.user}' is logged in"
    wrong = requests.get(f"{xnat.url}/data/auth", auth=(token["alias"], "x" * 64), timeout=10)
    assert wrong.status_code == 401
    assert owner.post(f"{xnat.url}/data/services/tokens/issue").status_code == 405


def test_alias_token_expires(tmp_path: Path) -> None:
    with serve(tmp_path, users={"u": "p"}, token_lifetime=0.3) as url:
        token = requests.get(f"{url}/data/services/tokens/issue", auth=("u", "p"), timeout=10)
        credentials = (token.json()["alias"], token.json()["secret"])
        assert requests.get(f"{url}/data/auth", auth=credentials, timeout=10).status_code == 200
        time.sleep(0.4)
        assert requests.get(f"{url}/data/auth", auth=credentials, timeout=10).status_code == 401


def test_build_info_and_missing_version(xnat, anonymous, owner) -> None:
    info = anonymous.get(f"{xnat.url}/xapi/siteConfig/buildInfo").json()
    assert info["version"] == "1.8.10"
    assert all(isinstance(v, str) for v in info.values())
    missing = owner.get(f"{xnat.url}/data/version")
    assert missing.status_code == 404
    assert "<title>Status page</title>" in missing.text
    assert "<h3>The server has not found anything matching the request URI</h3>" in missing.text


def test_restlet_error_template(xnat, owner) -> None:
    body = owner.get(f"{xnat.url}/data/projects/NOPE/subjects/x?format=json").text
    assert body.startswith("<html>\n<head>\n   <title>Status page</title>\n</head>\n<body>\n<h3>")
    assert body.endswith(
        '</h3><p>You can get technical details <a href="http://www.w3.org/Protocols/rfc2616/'
        'rfc2616-sec10.html#sec10.4.5">here</a>.<br>\nPlease continue your visit at our '
        '<a href="/">home page</a>.\n</p>\n</body>\n</html>\n'
    )


def test_browser_login_returns_to_the_saved_page(xnat, owner) -> None:
    owner.put(f"{xnat.url}/data/projects/P1")
    owner.put(
        f"{xnat.url}/data/projects/P1/subjects/s1/experiments/s1_MR1",
        params={"xsiType": "xnat:mrSessionData"},
    )
    with requests.Session() as browser:
        browser.headers["User-Agent"] = BROWSER_UA
        page = browser.get(f"{xnat.url}/data/projects/P1/experiments/s1_MR1?format=html")
        assert page.url == f"{xnat.url}/app/template/Login.vm"
        assert page.history[0].status_code == 302
        assert "<form" in page.text
        failed = browser.post(page.url, data={"username": xnat.user, "password": "nope"})
        assert "Login attempt failed" in failed.text
        done = browser.post(page.url, data={"username": xnat.user, "password": xnat.password})
        assert done.url == f"{xnat.url}/data/projects/P1/experiments/s1_MR1?format=html"
        assert "s1_MR1" in done.text


def test_serve_stops_cleanly_with_open_keep_alive_connections(tmp_path: Path) -> None:
    import threading

    before = set(threading.enumerate())
    with requests.Session() as client:
        with serve(tmp_path) as url:
            assert client.get(f"{url}/data/auth", auth=("admin", "admin")).ok
            assert client.get(f"{url}/data/JSESSION").ok
        assert set(threading.enumerate()) <= before


def test_non_ascii_password(tmp_path: Path) -> None:
    with serve(tmp_path / "root", users={"jürgen": "pässwörd-ß"}) as url:
        ok = requests.get(f"{url}/data/auth", auth=("jürgen".encode(), "pässwörd-ß".encode()))
        assert ok.status_code == 200
        assert ok.content.decode() == "User 'jürgen' is logged in"
        bad = requests.get(f"{url}/data/auth", auth=("jürgen".encode(), "passwörd".encode()))
        assert bad.status_code == 401
