"""Secrets never reach a message, a log or a report: server addresses carrying a user name and
password are refused without quoting them, and a server's text is scrubbed of credentials."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path
from typing import Any

import pytest
from import_helpers import plan_for, run

from fsxnat_gui.core import errors, report
from fsxnat_gui.core.model import Subject
from fsxnat_gui.core.redact import check_server_url, scrub
from fsxnat_gui.core.transport import normalise_url
from fsxnat_gui.core.xnat import XnatClient

PW = "S3cret-Pw-99"


@pytest.mark.parametrize(
    "url",
    [
        f"admin:{PW}@host:8080",  # no scheme
        f"http://admin:{PW}@[::1",  # an unclosed IPv6 bracket
        f"admin:{PW}@",  # nothing after it
        f"https://admin:{PW}@xnat.example.org/xnat",
        f"  //admin:{PW}@xnat.example.org  ",
        "https://admin@xnat.example.org",
    ],
)
def test_an_address_with_credentials_is_refused_without_quoting_them(url: str) -> None:
    with pytest.raises(errors.CredentialsInURL) as info:
        check_server_url(url)
    assert PW not in str(info.value)
    assert "admin" not in str(info.value)
    assert str(info.value).endswith(".")


def test_an_address_without_credentials_is_accepted_as_it_is() -> None:
    assert check_server_url("  https://xnat.example.org:8443/xnat ") == (
        "https://xnat.example.org:8443/xnat"
    )


def test_a_malformed_address_never_echoes_the_password() -> None:
    with pytest.raises(errors.XnatError) as info:
        normalise_url(f"http://admin:{PW}@[::1")
    assert PW not in str(info.value)
    assert normalise_url(f"admin:{PW}@host:8080") == "host:8080"


def test_scrub_takes_out_every_form_of_a_credential() -> None:
    basic = base64.b64encode(f"admin:{PW}".encode()).decode()
    text = (
        f"password {PW}; Authorization: Basic {basic}\nCookie: JSESSIONID=0123ABCD; x=1\n"
        f"set JSESSIONID=FEDC3210 and Bearer abcdef123456"
    )
    clean = scrub(text, [PW, basic])
    for secret in (PW, basic, "0123ABCD", "FEDC3210", "abcdef123456", "Authorization"):
        assert secret not in clean


def test_reports_never_hold_what_a_proxy_echoed(
    subjects: list[Subject], xnat: Any, tmp_path: Path
) -> None:
    """A proxy answers the subject PUT with a page quoting the request's headers."""
    with XnatClient(xnat.url, xnat.user, xnat.password, timeout=(5.0, 30.0)) as client:
        plan = plan_for(subjects[:1], client)
        xnat.faults.add(
            "echo_headers", method="PUT", path_regex=r"/subjects/[^/]+$", status=400, count=0
        )
        r = run(plan, client)
    assert r.status() == {"sub-01": "failed"}
    report.write_json(r.report, tmp_path / "r.json")
    report.write_csv(r.report, tmp_path / "r.csv")
    basic = base64.b64encode(f"{xnat.user}:{xnat.password}".encode()).decode()
    for name in ("r.json", "r.csv"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert xnat.password not in text
        assert basic not in text
        assert "JSESSIONID=" not in text
    assert json.loads((tmp_path / "r.json").read_text())["subjects"][0]["status"] == "failed"
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as f:
        assert next(csv.DictReader(f))["status"] == "failed"
