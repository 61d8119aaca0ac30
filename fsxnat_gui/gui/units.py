"""Display helpers over core.units that accept "unknown" (None)."""

from __future__ import annotations

from fsxnat_gui.core.units import human_bytes, human_duration


def size(n: float | None) -> str:
    return "" if n is None else human_bytes(n)


def speed(bytes_per_second: float | None) -> str:
    return f"{human_bytes(bytes_per_second)}/s" if bytes_per_second else ""


def duration(seconds: float | None) -> str:
    return "" if seconds is None or seconds < 0 else human_duration(seconds)
