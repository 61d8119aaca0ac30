"""Entry script of the frozen application (packaging/fsxnat_gui.spec).

It runs fsxnat_gui.app.main(), the same function as the `fsxnat-gui` gui-script, with one
extra option handled here, before the application sees its arguments:

    fsxnat-gui --bundle-check

checks what only a frozen build can get wrong and exits 0 or 1: the Qt platform, SVG image and
icon plugins load the packaged icons, keyring finds its backends (the Secret Service one on
Linux), pyxnat finds its `derivatives` modules (Interface() imports them by walking the package),
the modules the app imports lazily are bundled, and the demo mode works end to end without a
window (local XNAT server in-process, sample subjects, scan, login, create a project). With
FSXNAT_EXPECT_KEYRING=<module> set, the keyring backend in use must be that one (CI sets
keyring.backends.SecretService inside a private gnome-keyring session). The app's own
`--smoke-test` checks the main window; CI runs both (packaging/ci.sh).
"""

from __future__ import annotations

import os
import sys


def demo_round_trip() -> str:
    """What demo mode does, without a window: start the in-process local XNAT, make sample
    subjects, scan them, log in through pyxnat's session and create a project."""
    import secrets
    import tempfile
    from pathlib import Path

    from fsxnat_gui import localxnat, samples
    from fsxnat_gui.core import scan
    from fsxnat_gui.core.xnat import XnatClient

    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory() as tmp:
        subjects = samples.make_demo_subjects_dir(Path(tmp) / "subjects")
        found = scan.scan(subjects)
        with (
            localxnat.serve(Path(tmp) / "archive", users={"demo": password}) as url,
            XnatClient(url, "demo", password) as client,
        ):
            info = client.login()
            client.create_project("BUNDLECHECK")
            projects = client.list_projects()
        if "BUNDLECHECK" not in projects:
            raise RuntimeError(f"the created project is not listed: {projects}")
        return f"{len(found)} sample entries scanned; local XNAT {info.version}; login OK"


def bundle_check() -> int:
    # Qt is fine here: this file is packaging, not the Qt-free core.
    import importlib
    import importlib.resources

    from PySide6.QtGui import QIcon, QImageReader
    from PySide6.QtWidgets import QApplication

    import fsxnat_gui

    problems: list[str] = []
    app = QApplication([sys.argv[0]])
    print(f"platform: {app.platformName()}")

    formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
    if "svg" not in formats:
        problems.append(f"no SVG image format plugin (formats: {sorted(formats)})")
    assets = importlib.resources.files("fsxnat_gui") / "assets"
    svgs = sorted(p.name for p in assets.iterdir() if p.name.endswith(".svg"))
    print(f"assets: {len(svgs)} SVG icons")
    app_icon = f"{fsxnat_gui.APP_NAME}.svg"
    if app_icon not in svgs:
        problems.append(f"the app icon {app_icon} is not in the bundled assets")
    for name in svgs:
        icon = QIcon(str(assets / name))
        if icon.isNull() or icon.pixmap(32, 32).isNull():
            problems.append(f"icon {name} does not render")

    import keyring
    import keyring.backend

    viable = sorted(type(k).__module__ for k in keyring.backend.get_all_keyring())
    chosen = type(keyring.get_keyring()).__module__
    print(f"keyring: {chosen}; viable: {viable}")
    expected = os.environ.get("FSXNAT_EXPECT_KEYRING")
    if expected and chosen != expected:
        problems.append(f"keyring backend {chosen}, expected {expected}")
    if sys.platform.startswith("linux"):
        try:
            importlib.import_module("keyring.backends.SecretService")
        except ImportError as exc:
            problems.append(f"keyring's Secret Service backend is missing: {exc}")

    from pyxnat.core import derivatives, interfaces

    modules = interfaces.__get_modules__(derivatives)
    print(f"pyxnat: {len(modules)} derivatives modules")
    if len(modules) < 10:
        problems.append("pyxnat's derivatives modules are not bundled (Interface() needs them)")

    for name in ("fsxnat_gui.app", "fsxnat_gui.localxnat", "fsxnat_gui.cli"):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            problems.append(f"cannot import {name}: {exc}")
    try:
        print(f"demo: {demo_round_trip()}")
    except Exception as exc:  # noqa: BLE001 (any failure is a finding to report)
        problems.append(f"the demo mode's server round trip failed: {exc!r}")

    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    print("bundle check: " + ("FAILED" if problems else "OK"))
    return 1 if problems else 0


def main() -> None:
    if sys.argv[1:2] == ["--bundle-check"]:
        sys.exit(bundle_check())
    from fsxnat_gui.app import main as app_main

    sys.exit(app_main())


if __name__ == "__main__":
    main()
