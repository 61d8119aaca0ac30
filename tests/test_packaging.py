"""Packaging: the wheel carries the package and its icons, an installed wheel finds them, the
desktop metadata matches the names in fsxnat_gui/__init__.py and passes the validators, and the
icon exports in resources/ are complete (packaging/export_icons.py --check).

The frozen bundle and the .deb are checked by packaging/ci.sh, not here (they take a minute).
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

import fsxnat_gui

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fsxnat_gui"
RESOURCES = ROOT / "resources"
DESKTOP = RESOURCES / f"{fsxnat_gui.APP_ID}.desktop"
METAINFO = RESOURCES / f"{fsxnat_gui.APP_ID}.metainfo.xml"


def _source_files(pattern: str) -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob(pattern)
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source (so no build/ or egg-info lands in the shared
    checkout), with pip's isolated build environment."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(PACKAGE, src / "fsxnat_gui", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wheels = list(out.glob("fsxnat_gui-*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        pytest.fail(f"pip wheel failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return wheels[0]


@pytest.mark.slow
def test_wheel_contains_modules_and_assets(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = zf.read(entry_points).decode()
    assert wheel.name.startswith(f"fsxnat_gui-{fsxnat_gui.__version__}-")
    assert _source_files("*.py") <= names, "modules missing from the wheel"
    svgs = _source_files("*.svg")
    assert f"fsxnat_gui/assets/{fsxnat_gui.APP_NAME}.svg" in svgs
    assert svgs <= names, f"assets missing from the wheel: {sorted(svgs - names)}"
    assert not any(n.startswith(("tests/", "resources/", "packaging/")) for n in names)
    assert f"{fsxnat_gui.APP_NAME} = fsxnat_gui.app:main" in scripts
    assert "[gui_scripts]" in scripts


@pytest.mark.slow
def test_installed_wheel_finds_its_icons(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel (without dependencies) into a folder and load every icon from there
    in a fresh interpreter that cannot see the source checkout or the editable install."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = textwrap.dedent(
        """
        import sys
        sys.path.append(sys.argv[2])  # after the standard library, as site-packages would be
        from pathlib import Path
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        import fsxnat_gui
        from fsxnat_gui.gui import icons
        where = Path(fsxnat_gui.__file__).resolve()
        assert where.is_relative_to(Path(sys.argv[1]).resolve()), where
        assert icons.asset_path(icons.APP_ICON).is_file(), icons.asset_path(icons.APP_ICON)
        missing = icons.missing_assets()
        assert not missing, missing
        assert not icons.app_icon().isNull()
        print("OK", where)
        """
    )
    # -S: no site-packages processing, so the editable install's import hook is not active;
    # PySide6 and the other dependencies come from this venv's site-packages, added by hand.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(target))
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, str(target), sysconfig.get_paths()["purelib"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK")


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_file_matches_app_names() -> None:
    entry = _desktop_entry()
    assert entry["Name"] == fsxnat_gui.APP_DISPLAY_NAME
    assert entry["Icon"] == fsxnat_gui.APP_ID
    assert entry["Exec"].split()[0] == fsxnat_gui.APP_NAME
    # Qt sets WM_CLASS's class to the application name (app.py: setApplicationName(APP_NAME)).
    assert entry["StartupWMClass"] == fsxnat_gui.APP_NAME
    assert entry["Terminal"] == "false"


def test_metainfo_matches_app_names() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component"
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == fsxnat_gui.APP_ID
    assert root.findtext("name") == fsxnat_gui.APP_DISPLAY_NAME
    assert root.findtext("launchable[@type='desktop-id']") == DESKTOP.name
    assert root.findtext("provides/binary") == fsxnat_gui.APP_NAME
    assert root.findtext("project_license") == "BSD-3-Clause"
    releases = [r.get("version") for r in root.iterfind("releases/release")]
    assert releases[0] == fsxnat_gui.__version__, "the newest <release> must be __version__"


def test_icon_exports_complete_and_runtime_copy_current() -> None:
    """resources/ holds every PNG/ICO/ICNS export of the master SVG, and the runtime copy in
    fsxnat_gui/assets is byte-identical to the master (run packaging/export_icons.py)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "export_icons.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _validator(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (packaging/ci.sh installs it)")
    return path


def test_desktop_file_validates() -> None:
    tool = _validator("desktop-file-validate")
    result = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.lower(), result.stdout


def test_metainfo_validates() -> None:
    tool = _validator("appstreamcli")
    result = subprocess.run(
        [tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
