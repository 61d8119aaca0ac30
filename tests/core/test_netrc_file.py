"""~/.netrc: found by host, refused when others can read it, tokens saved with their expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fsxnat_gui.core.model import AliasToken
from fsxnat_gui.core.netrc_file import NetrcError, find, netrc_path, save_token

URL = "https://XNAT.example.org:8443/xnat"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_an_entry_is_found_by_host(tmp_path: Path) -> None:
    path = write(
        tmp_path / "netrc",
        "machine other login x password y\n"
        'machine xnat.example.org\n  login alice\n  password "s3 cret"\n',
    )
    entry = find(URL, path)
    assert entry is not None
    assert (entry.host, entry.login, entry.password) == ("xnat.example.org", "alice", "s3 cret")
    assert entry.expires is None
    assert "s3 cret" not in repr(entry)
    assert find("https://elsewhere.org", path) is None
    assert find(URL, tmp_path / "missing") is None


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "netrc", "machine xnat.example.org login a password b\n", mode)
    with pytest.raises(NetrcError, match=f"chmod 600 {path}") as info:
        find(URL, path)
    assert "b" not in str(info.value).split("(")[0].split()  # the secret is never echoed


def test_a_malformed_file_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "netrc", "machine xnat.example.org login a password b\nbogus\n")
    with pytest.raises(NetrcError, match="line 2"):
        find(URL, path)


def test_save_token_keeps_the_rest_and_replaces_the_hosts_entry(tmp_path: Path) -> None:
    path = write(
        tmp_path / "netrc",
        "# my hosts\nmachine other login x password y\n"
        "machine xnat.example.org login alice password old\n",
        0o600,
    )
    expires = time.time() + 2 * 86400
    token = AliasToken("3f1e0c9a-aaaa-bbbb-cccc-000000000001", "S" * 64, expires)
    save_token(URL, token, path)
    save_token(URL, token, path)  # twice: still one entry
    text = path.read_text()
    assert text.count("machine xnat.example.org") == 1
    assert "password old" not in text
    assert "# my hosts\nmachine other login x password y" in text
    assert path.stat().st_mode & 0o777 == 0o600
    entry = find(URL, path)
    assert entry is not None
    assert (entry.login, entry.password) == (token.alias, token.secret)
    assert entry.expires == pytest.approx(expires, abs=1)
    assert not entry.expired()
    assert entry.expired(now=expires + 1)


def test_save_token_creates_a_private_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "n"))
    assert netrc_path() == tmp_path / "n"
    save_token(URL, AliasToken("a-b", "secret", time.time() + 60))
    assert (tmp_path / "n").stat().st_mode & 0o777 == 0o600
