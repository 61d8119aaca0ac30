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

from fsxnat_gui.core.model import NodeStatus
from fsxnat_gui.gui import MainWindow
from fsxnat_gui.gui.icons import app_icon
from fsxnat_gui.gui.settings import Settings

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"


def wait(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: condition() and loop.quit())
    timer.start(5)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    timer.stop()
    if not condition():
        raise SystemExit("timed out")


def compared(window: MainWindow) -> bool:
    root = window.preview.root
    return root is not None and root.status is not NodeStatus.UNKNOWN


def main() -> int:
    app = QApplication(sys.argv)
    app.setWindowIcon(app_icon())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window = MainWindow(settings=settings, data_dir=Path(tmp))
        window.resize(1280, 860)
        window.show()
        ready = []
        window.demo_ready.connect(lambda: ready.append(True))
        window.start_demo()
        wait(lambda: bool(ready) and window.import_button.isEnabled())
        # as a user would: look at the preview once it has been compared with the server
        wait(lambda: compared(window))
        window.import_button.click()
        bar = window.progress.overall
        wait(lambda: 450 <= bar.value() <= 750, 120)
        window.grab().save(str(OUT))
        wait(lambda: not window.runner.running, 120)
        window.close()
    print(f"saved {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
