"""Take docs/screenshot.png: the real window, in demo mode, mid-import.

Run under Xvfb so the real xcb platform renders it (./dev.sh screenshot):
    xvfb-run -a -s "-screen 0 1280x900x24" env QT_QPA_PLATFORM=xcb \
        .venv/bin/python tools/screenshot.py
Settings and demo data go to a temporary folder; nothing of the user's is read or written.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from fsxnat_gui import samples
from fsxnat_gui.core.model import NodeStatus, Stage
from fsxnat_gui.gui import MainWindow
from fsxnat_gui.gui.icons import app_icon
from fsxnat_gui.gui.settings import Settings

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"


def wait(condition: Callable[[], bool], timeout_s: float = 60, what: str = "the window") -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: condition() and loop.quit())
    timer.start(5)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError(f"timed out waiting for {what}")


def compared(window: MainWindow) -> bool:
    root = window.target_panel.preview.root
    return root is not None and root.status is not NodeStatus.UNKNOWN


def mid_transfer(window: MainWindow) -> bool:
    """Past a third of the run, with a subject half-way through its upload."""
    rows = window.progress.model.rows
    uploading = any(r.stage is Stage.UPLOADING and 0 < r.done < r.total for r in rows)
    return window.progress.overall.value() > 300 and uploading


def take(window: MainWindow, tmp: Path) -> None:
    ready: list[bool] = []
    window.demo_ready.connect(lambda: ready.append(True))
    window.sessions.start_demo()
    wait(lambda: bool(ready) and not window.jobs.busy(), 120, "the demo server")
    # realistic sizes: full-size synthetic subjects (~330 MB each) on the demo server
    subjects = tmp / "SUBJECTS_DIR"
    for i, name in enumerate(("sub-01", "sub-02", "sub-03")):
        samples.make_subject(subjects, name, size="full", seed=i)
    samples.make_subject(subjects, "sub-04", variant="failed")
    samples.make_subject(subjects, "sub-05", variant="running")
    samples.make_templates(subjects)
    window.set_subjects_dir(subjects)
    names = ["sub-01", "sub-02", "sub-03"]

    def scanned() -> bool:
        if window.jobs.busy("scan"):
            return False
        window.subjects_panel.model.set_checked(names)
        return len(window.subjects_panel.model.checked()) == len(names)

    wait(scanned, 60, "the scan")
    # as a user would: look at the preview once it has been compared with the server
    wait(
        lambda: compared(window) and window.target_panel.import_button.isEnabled(),
        60,
        "the preview",
    )
    window.target_panel.import_button.click()
    wait(lambda: mid_transfer(window), 120, "an upload")
    window.grab().save(str(OUT))


def main() -> int:
    app = QApplication(sys.argv)
    app.setWindowIcon(app_icon())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window = MainWindow(settings=settings, data_dir=Path(tmp))
        window.resize(1280, 860)
        window.show()
        try:
            take(window, Path(tmp))
        finally:
            window.runner.cancel()
            wait(lambda: not window.runner.running, 60, "the import to stop")
            window.runner.shutdown()
            window.close()
    print(f"saved {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
