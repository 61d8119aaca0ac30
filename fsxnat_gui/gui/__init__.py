"""The desktop window (PySide6). A thin layer over fsxnat_gui.core."""

from fsxnat_gui.gui.main_window import MainWindow

__all__ = ["MainWindow"]
