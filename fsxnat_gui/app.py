"""The desktop application: `fsxnat-gui` and `python -m fsxnat_gui`.

main() sets up logging (a rotating file in the app's data folder, plus stderr), the
QApplication and its names, the exception hook and the Qt message handler, then opens the
window. `--smoke-test` checks that a (frozen) build is complete and exits.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import logging.handlers
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from fsxnat_gui import APP_DISPLAY_NAME, APP_ID, APP_NAME, ORG_NAME, __version__

log = logging.getLogger("fsxnat_gui")
qt_log = logging.getLogger("qt")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
LOG_BYTES, LOG_BACKUPS = 2_000_000, 3

# The keyring backend module a build for this platform must contain.
PLATFORM_KEYRING = {
    "linux": "keyring.backends.SecretService",
    "win32": "keyring.backends.Windows",
    "darwin": "keyring.backends.macOS",
}


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The app's options, and the rest: Qt's own options (-platform, -style ...)."""
    return _parser().parse_known_args(argv)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=APP_NAME,
        description=f"{APP_DISPLAY_NAME}: import FreeSurfer recon-all subjects into XNAT.",
    )
    parser.add_argument("--subjects-dir", type=Path, metavar="DIR", help="SUBJECTS_DIR to open")
    parser.add_argument("--server", metavar="URL", help="XNAT server to log in to")
    parser.add_argument("--user", metavar="NAME", help="XNAT user name")
    parser.add_argument("--project", metavar="ID", help="XNAT project to import into")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start a local demo XNAT server with sample subjects (nothing leaves this computer)",
    )
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="open the window, check the keyring backend and the icons, and exit (0 = fine)",
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    return parser


def setup_logging(log_dir: Path | None) -> Path | None:
    """INFO to stderr and, when the folder can be made, to a rotating file. Returns the file."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    stderr = logging.StreamHandler()
    stderr.setFormatter(fmt)
    root.addHandler(stderr)
    if log_dir is None:
        return None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"{APP_NAME}.log"
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        log.warning("No log file in %s: %s", log_dir, exc)
        return None
    handler.setFormatter(fmt)
    root.addHandler(handler)
    return path


def _install_qt_message_handler() -> None:
    from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
        qt_log.log(levels.get(mode, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)


def _install_excepthook() -> None:
    """Log every uncaught exception; in the GUI thread, also tell the user, one box at a time
    (an exception while a box is open, or in another thread, is logged only: widgets belong to
    the GUI thread, and a flood of errors must not stack dialogs)."""
    box_open = False

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        nonlocal box_open
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.critical("Unexpected error", exc_info=(exc_type, exc, tb))
        from PySide6.QtCore import QThread
        from PySide6.QtWidgets import QApplication, QMessageBox

        app = QApplication.instance()
        if app is None or QThread.currentThread() is not app.thread() or box_open:
            return
        box = QMessageBox(QMessageBox.Icon.Critical, APP_DISPLAY_NAME, "Something went wrong.")
        box.setInformativeText(
            f"{exc_type.__name__}: {exc}\n\nThe app may keep working; the details are in the log."
        )
        box.setDetailedText("".join(traceback.format_exception(exc_type, exc, tb)))
        box_open = True
        try:
            box.exec()
        finally:
            box_open = False

    sys.excepthook = hook


def smoke_check(window: object) -> list[str]:
    """What is missing from this build: keyring backends and icons. Empty when all is well."""
    from fsxnat_gui.gui import icons

    problems = []  # the backend in use is logged once at start-up and printed at the end
    module = PLATFORM_KEYRING.get(sys.platform)
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.append(f"the keyring backend {module} is missing ({exc})")
    if missing := icons.missing_assets():
        problems.append(f"icons that do not load: {', '.join(missing)}")
    if window is None:
        problems.append("the main window could not be created")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args, qt_args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.smoke_test and sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings, QStandardPaths, Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from fsxnat_gui.core import credentials

    app = QApplication.instance()
    if app is None:
        # Follow fractional scale factors (125 %, 150 %) exactly instead of rounding them.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication([sys.argv[0], *qt_args])
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_DISPLAY_NAME)
    app.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName(APP_ID)

    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    log_file = setup_logging(Path(data) / "logs" if data else None)
    _install_qt_message_handler()
    _install_excepthook()
    log.info("%s %s starting; log file %s", APP_NAME, __version__, log_file)
    log.info("Keyring backend: %s", credentials.backend_name())

    from fsxnat_gui.gui import MainWindow
    from fsxnat_gui.gui.icons import app_icon
    from fsxnat_gui.gui.settings import Settings

    app.setWindowIcon(app_icon())

    if args.smoke_test:
        # Settings of its own: a smoke test never logs in with the user's saved account.
        with tempfile.TemporaryDirectory() as tmp:
            qs = QSettings(str(Path(tmp) / "smoke.ini"), QSettings.Format.IniFormat)
            window = MainWindow(settings=Settings(qs), data_dir=Path(tmp))
            window.show()
            app.processEvents()
            problems = smoke_check(window)
            window.close()
            del window
        if problems:
            print(f"{APP_NAME} smoke test FAILED: " + "; ".join(problems), file=sys.stderr)
            return EXIT_FAILED
        print(f"{APP_NAME} smoke test OK (keyring: {credentials.backend_name()})")
        return EXIT_OK

    window = MainWindow()
    if args.project:
        window.target_panel.project_combo.setEditText(args.project)
    if args.subjects_dir:
        window.set_subjects_dir(args.subjects_dir.expanduser().resolve())
    elif window.settings.subjects_dir and not args.demo:
        window.set_subjects_dir(Path(window.settings.subjects_dir))  # the last one
    if args.demo:
        window.sessions.start_demo()
    elif args.server:
        window.sessions.use_server(args.server, args.user or "")
    window.show()
    return int(app.exec())
