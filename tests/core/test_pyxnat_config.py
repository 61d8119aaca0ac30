"""pyxnat configuration files, read once for the window and the CLI (core.pyxnat_config)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fsxnat_gui.core.pyxnat_config import ConfigError, read_config

PASSWORD = "cfg-Secret-9q"

# (file content, a fragment of the error); None content: no file at all. The window and the
# CLI show these sentences as they are (tests/gui/test_same_answers.py).
BAD_CONFIGS = [
    (None, "does not exist"),
    ('{"server": "https://x", "user": "alice", "password": "' + PASSWORD, "not valid JSON"),
    ('["server"]', "JSON object"),
    ('{"server": "https://x", "password": "' + PASSWORD + '"}', "lacks user"),
    ('{"server": "https://x", "user": "a", "password": "p", "verify": "/no/ca.pem"}', "does not"),
    ('{"server": "https://x", "user": "a", "password": "p", "verify": 1}', "verify must"),
]


def write(tmp_path: Path, content: str | None) -> Path:
    path = tmp_path / ".xnat_test.cfg"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(("content", "fragment"), BAD_CONFIGS)
def test_bad_files_are_one_sentence_naming_the_file(
    tmp_path: Path, content: str | None, fragment: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as info:
        read_config(path)
    message = str(info.value)
    assert fragment in message
    assert str(path) in message
    assert message.endswith(".")
    assert PASSWORD not in message
    assert PASSWORD not in caplog.text


def test_a_config_and_its_verify_setting(tmp_path: Path) -> None:
    base = {"server": "https://xnat.example.org/", "user": "alice", "password": PASSWORD}
    config = read_config(write(tmp_path, json.dumps(base)))
    assert (config.server, config.user, config.password) == (
        "https://xnat.example.org",
        "alice",
        PASSWORD,
    )
    assert config.verify is True
    assert config.ca_bundle == ""
    assert PASSWORD not in repr(config)

    config = read_config(write(tmp_path, json.dumps({**base, "verify": False})))
    assert config.verify is False
    assert config.ca_bundle == ""

    ca = tmp_path / "site-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    config = read_config(write(tmp_path, json.dumps({**base, "verify": str(ca)})))
    assert config.verify == str(ca)  # a CA bundle file, unlike pyxnat (which ignores it)
    assert config.ca_bundle == str(ca)


def test_a_password_in_the_server_url_is_dropped(tmp_path: Path) -> None:
    data = {"server": f"https://bob:{PASSWORD}@xnat.example.org", "user": "alice", "password": "p"}
    config = read_config(write(tmp_path, json.dumps(data)))
    assert config.server == "https://xnat.example.org"
    assert config.user == "alice"
