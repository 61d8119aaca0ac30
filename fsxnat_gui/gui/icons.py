"""Icons: small SVGs shipped in fsxnat_gui/assets, and Qt's standard icons where one fits."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

from fsxnat_gui.core.model import EntryKind, NodeStatus, ResultStatus, RunState, Subject

APP_ICON = "fsxnat-gui"
ASSET_ICONS = (
    "done",
    "failed",
    "running",
    "incomplete",
    "partial",
    "template",
    "not-subject",
    "new",
    "exists",
    "conflict",
    "invalid",
    "unknown",
    "skipped",
    "cancelled",
    "choose",  # a folder with no destination yet: someone must choose
    "not-imported",
    "import",  # the main action: a coloured asset, legible on light and dark palettes
)

_STANDARD = {
    "open": QStyle.StandardPixmap.SP_DirOpenIcon,
    "folder": QStyle.StandardPixmap.SP_DirIcon,
    "refresh": QStyle.StandardPixmap.SP_BrowserReload,
    "login": QStyle.StandardPixmap.SP_DialogYesButton,
    "logout": QStyle.StandardPixmap.SP_DialogNoButton,
    "cancel": QStyle.StandardPixmap.SP_BrowserStop,
    "save": QStyle.StandardPixmap.SP_DialogSaveButton,
    "retry": QStyle.StandardPixmap.SP_BrowserReload,
    "web": QStyle.StandardPixmap.SP_DriveNetIcon,
    "server": QStyle.StandardPixmap.SP_DriveNetIcon,
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "close": QStyle.StandardPixmap.SP_TitleBarCloseButton,
    "quit": QStyle.StandardPixmap.SP_DialogCloseButton,
    "about": QStyle.StandardPixmap.SP_DialogHelpButton,
}


def asset_path(name: str) -> Path:
    return Path(str(files("fsxnat_gui") / "assets" / f"{name}.svg"))


@cache
def _asset_icon(name: str) -> QIcon:
    path = asset_path(name)
    return QIcon(str(path)) if path.is_file() else QIcon()


def icon(name: str) -> QIcon:
    """An icon by name: an asset SVG if there is one, else a standard Qt icon (needs a
    QApplication). Unknown names give a null QIcon."""
    found = _asset_icon(name)
    if found.isNull() and name in _STANDARD and QApplication.instance() is not None:
        return QApplication.style().standardIcon(_STANDARD[name])
    return found


def app_icon() -> QIcon:
    return icon(APP_ICON)


def subject_icon_name(subject: Subject) -> str:
    if subject.kind in (EntryKind.TEMPLATE, EntryKind.LINKED):
        return "template"
    if subject.kind is not EntryKind.SUBJECT:
        return "not-subject"
    return {
        RunState.DONE: "done",
        RunState.DONE_PARTIAL: "partial",
        RunState.FAILED: "failed",
        RunState.RUNNING: "running",
        RunState.INCOMPLETE: "incomplete",
    }.get(subject.state, "unknown")


def node_icon_name(status: NodeStatus) -> str:
    return status.value


def result_icon_name(status: ResultStatus) -> str:
    return {
        ResultStatus.IMPORTED: "done",
        ResultStatus.SKIPPED: "skipped",
        ResultStatus.FAILED: "failed",
        ResultStatus.CANCELLED: "cancelled",
        ResultStatus.NOT_IMPORTED: "not-imported",
    }[status]


def missing_assets() -> list[str]:
    """Names of shipped icons that do not load (the smoke test of a frozen bundle)."""
    return [
        n
        for n in (APP_ICON, *ASSET_ICONS)
        if _asset_icon(n).isNull() or _asset_icon(n).pixmap(16).isNull()
    ]
