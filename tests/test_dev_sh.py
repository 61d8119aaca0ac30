"""./dev.sh says what it does while it installs (a first run is otherwise a silent minute)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("bash"), reason="dev.sh is a bash script")
def test_a_first_setup_says_what_it_is_doing_before_it_starts(tmp_path: Path) -> None:
    """A fresh environment (FSXNAT_VENV) is announced before it is created. pip is kept off
    the network (PIP_NO_INDEX), so the install itself fails quickly, and says where its log is.
    The system packages are those `./dev.sh test` already installed: nothing is asked of apt."""
    venv = tmp_path / "venv"
    env = {**os.environ, "FSXNAT_VENV": str(venv), "PIP_NO_INDEX": "1"}
    run = subprocess.run(
        ["bash", str(ROOT / "dev.sh"), "setup"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    first = run.stdout.splitlines()[0] if run.stdout else ""
    assert first == (
        f"Creating the Python environment in {venv} and installing fsxnat-gui "
        "(first run: about a minute)..."
    )
    assert (venv / "bin" / "python").exists()
    assert run.returncode == 1
    assert f"pip install failed (full log: {venv}/pip-install.log)" in run.stderr
