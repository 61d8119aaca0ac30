"""Credentials without a desktop keyring: ~/.netrc, XNAT_USER/XNAT_PASS, `fsxnat login
--save-token`, and what an import says about an expiring, expired or refused netrc token."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fsxnat_gui import cli
from fsxnat_gui.core import credentials, netrc_file
from fsxnat_gui.core.model import AliasToken
from fsxnat_gui.samples import make_subject


@pytest.fixture
def subjects_dir(tmp_path: Path) -> Path:
    make_subject(tmp_path / "subjects", "sub-01")
    return tmp_path / "subjects"


@pytest.fixture(autouse=True)
def no_env_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XNAT_PASS", raising=False)


def fsxnat(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def dry_run(xnat: Any, subjects_dir: Path, *login: str) -> list[str]:
    return ["import", str(subjects_dir), "--server", xnat.url, *login, "--project", "P",
            "--create-project", "--dry-run"]  # fmt: skip


def write_netrc(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    path.chmod(mode)


def test_a_netrc_entry_logs_in_without_user_or_password(
    xnat: Any, subjects_dir: Path, isolated_netrc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_netrc(isolated_netrc, f"machine 127.0.0.1 login {xnat.user} password {xnat.password}\n")
    code, out, err = fsxnat(capsys, *dry_run(xnat, subjects_dir))
    assert code == 0, err
    assert f"logged in as {xnat.user}" in out


def test_a_netrc_file_others_can_read_is_refused(
    xnat: Any, subjects_dir: Path, isolated_netrc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_netrc(isolated_netrc, f"machine 127.0.0.1 login u password {xnat.password}\n", 0o644)
    code, _, err = fsxnat(capsys, *dry_run(xnat, subjects_dir, "--user", xnat.user))
    assert code == 1
    assert "can be read by other users" in err
    assert f"chmod 600 {isolated_netrc}" in err
    assert xnat.password not in err
    assert xnat.faults.requests == []  # refused before anything was sent


def test_netrc_comes_before_the_environment_and_the_keyring(
    xnat: Any, subjects_dir: Path, isolated_netrc: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("XNAT_PASS", "wrong-from-env")
    credentials.save_secret(xnat.url, xnat.user, "wrong-from-keyring")
    write_netrc(isolated_netrc, f"machine 127.0.0.1 login {xnat.user} password {xnat.password}\n")
    assert fsxnat(capsys, *dry_run(xnat, subjects_dir, "--user", xnat.user))[0] == 0
    isolated_netrc.unlink()  # then the environment, before the keyring
    monkeypatch.setenv("XNAT_PASS", xnat.password)
    assert fsxnat(capsys, *dry_run(xnat, subjects_dir, "--user", xnat.user))[0] == 0


def test_xnat_user_replaces_the_user_option(
    xnat: Any, subjects_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("XNAT_USER", xnat.user)
    monkeypatch.setenv("XNAT_PASS", xnat.password)
    code, out, err = fsxnat(capsys, *dry_run(xnat, subjects_dir))
    assert code == 0, err
    assert f"logged in as {xnat.user}" in out
    monkeypatch.delenv("XNAT_USER")
    code, _, err = fsxnat(capsys, *dry_run(xnat, subjects_dir))
    assert code == 2
    assert "give --user NAME (or set XNAT_USER)" in err


def test_login_save_token_then_import_with_it(
    xnat: Any, subjects_dir: Path, isolated_netrc: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    isolated_netrc.write_text("machine other.example.org login me password keep-me\n")
    isolated_netrc.chmod(0o600)
    monkeypatch.setenv("XNAT_PASS", xnat.password)
    code, out, err = fsxnat(
        capsys, "login", "--server", xnat.url, "--user", xnat.user, "--save-token"
    )
    assert code == 0, err
    assert f"alias token saved in {isolated_netrc} (mode 600)" in out
    assert "expires on " in out
    assert xnat.password not in out + err
    assert isolated_netrc.stat().st_mode & 0o777 == 0o600
    text = isolated_netrc.read_text()
    assert "keep-me" in text  # the rest of the file is kept
    assert xnat.password not in text  # a token, never the password
    entry = netrc_file.find(xnat.url)
    assert entry is not None
    assert entry.login != xnat.user
    assert entry.expires is not None
    assert entry.expires > time.time() + 3600
    monkeypatch.delenv("XNAT_PASS")
    code, out, err = fsxnat(capsys, *dry_run(xnat, subjects_dir, "--user", xnat.user))
    assert code == 0, err
    assert "warning" not in err


def save(url: str, secret: str, expires_in: float) -> None:
    netrc_file.save_token(url, AliasToken("alias-1", secret, time.time() + expires_in))


def test_an_expired_token_fails_before_contacting_the_server(
    xnat: Any, subjects_dir: Path, isolated_netrc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save(xnat.url, "any-secret", -60)
    code, _, err = fsxnat(capsys, *dry_run(xnat, subjects_dir, "--user", xnat.user))
    assert code == 1
    assert f"in {isolated_netrc} expired on " in err
    assert "--save-token" in err
    assert err.count("\n") == 1
    assert xnat.faults.requests == []


def test_a_token_expiring_within_the_hour_is_a_warning(
    xnat: Any, subjects_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with cli_client(xnat) as client:
        token = client.issue_token()
    netrc_file.save_token(xnat.url, AliasToken(token.alias, token.secret, time.time() + 1200))
    code, _, err = fsxnat(capsys, *dry_run(xnat, subjects_dir))
    assert code == 0, err
    assert "fsxnat: warning: the alias token in" in err
    assert "renew it in time" in err


def test_a_refused_token_names_the_netrc_file_and_the_fix(
    xnat: Any, subjects_dir: Path, isolated_netrc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save(xnat.url, "revoked-secret", 86400)
    code, _, err = fsxnat(capsys, *dry_run(xnat, subjects_dir, "--user", xnat.user))
    assert code == 1
    assert f"The login came from {isolated_netrc}" in err
    assert f"fsxnat login --server {xnat.url} --user NAME --save-token" in err
    assert "revoked-secret" not in err
    assert err.count("\n") == 1


def cli_client(xnat: Any) -> Any:
    from fsxnat_gui.core.xnat import XnatClient

    return XnatClient(xnat.url, xnat.user, xnat.password)
