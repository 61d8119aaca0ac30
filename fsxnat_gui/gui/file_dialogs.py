"""The window's file choosers (None when the user cancels)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget


def choose_subjects_dir(parent: QWidget, start: str) -> Path | None:
    path = QFileDialog.getExistingDirectory(parent, "Choose the SUBJECTS_DIR", start)
    return Path(path) if path else None


def choose_temp_dir(parent: QWidget, start: str) -> Path | None:
    path = QFileDialog.getExistingDirectory(parent, "Choose the temporary folder for zips", start)
    return Path(path) if path else None


def choose_pyxnat_config(parent: QWidget) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(
        parent,
        "Import pyxnat config",
        str(Path.home()),
        "pyxnat config (*.cfg *.json);;All files (*)",
    )
    return Path(path) if path else None


def choose_report_file(parent: QWidget) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(
        parent,
        "Save the import report",
        str(Path.home() / "fsxnat-import-report.json"),
        "JSON (*.json);;CSV (*.csv)",
    )
    return Path(path) if path else None


def choose_mapping_to_load(parent: QWidget, start: Path) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(
        parent, "Load a mapping", str(start), "Mapping (*.csv);;All files (*)"
    )
    return Path(path) if path else None


def choose_mapping_to_save(parent: QWidget, start: Path) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(
        parent, "Save the mapping", str(start / "fsxnat-mapping.csv"), "Mapping (*.csv)"
    )
    return Path(path) if path else None
