"""The Qt-free core: scanning, planning, zipping, talking to XNAT, running imports.

Nothing under this package imports PySide6 (ruff TID251 and tests/core/test_qt_free.py enforce it).
"""
