"""Compression chosen by the link: deflate (level 1) what deflates only while the upload is
slower than deflating, store everything otherwise.

`Compression.deflate(path)` is asked once per subject, just before its zip is made:

- the deflate speed is measured once per run on up to SAMPLE_BYTES of the first subject's
  deflatable files (what `archive.is_stored` does not store anyway);
- the link's speed is measured from the uploads of the run (`sent(start, end, nbytes)` for
  each upload's first to last byte): bytes sent over the time during which at least one upload
  was sending, so several streams in flight count as one link;
- until the link has been measured, subjects are stored: the first zip is made at disk speed
  and nothing waits for it (on a slow link the next subjects are deflated once measured).

Every change of choice is logged with the two speeds.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from pathlib import Path

from fsxnat_gui.core import archive
from fsxnat_gui.core.errors import ArchiveError

log = logging.getLogger(__name__)

SAMPLE_BYTES = 4 * 1024 * 1024  # deflated once per run to measure the deflate speed
MIN_LINK_BYTES = 8 * 1024 * 1024  # bytes sent before the link's speed is trusted
_MB = 1e6


class Compression:
    """The run's choice between deflate and store (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deflate_speed: float | None = None  # input bytes per second, one core
        self._spans: list[tuple[float, float]] = []  # (first byte, last byte) of each upload
        self._sent = 0
        self._choice: bool | None = None

    def sent(self, start: float, end: float, nbytes: int) -> None:
        """An upload sent `nbytes` from `start` to `end` (time.monotonic())."""
        if end > start and nbytes > 0:
            with self._lock:
                self._spans.append((start, end))
                self._sent += nbytes

    def link_speed(self) -> float | None:
        """Bytes per second over the time some upload was sending; None until measured."""
        with self._lock:
            if self._sent < MIN_LINK_BYTES:
                return None
            busy, reach = 0.0, float("-inf")
            for start, end in sorted(self._spans):
                start = max(start, reach)
                if end > start:
                    busy += end - start
                reach = max(reach, end)
            return self._sent / busy if busy > 0 else None

    def deflate(self, subject: Path) -> bool:
        """Whether the subject's zip deflates what deflates (else it stores every file)."""
        link = self.link_speed()
        deflate_speed = self._deflate_speed
        if link is not None and deflate_speed is None:
            deflate_speed = self._measure(subject)
        choice = link is not None and deflate_speed is not None and link < deflate_speed
        if choice != self._choice:
            self._choice = choice
            if link is None:
                log.info("compression: store (the link is not measured yet)")
            else:
                log.info(
                    "compression: %s (upload %.0f MB/s, deflate level %d %s MB/s)",
                    "deflate" if choice else "store",
                    link / _MB,
                    archive.DEFLATE_LEVEL,
                    f"{deflate_speed / _MB:.0f}" if deflate_speed else "unknown",
                )
        return choice

    def _measure(self, subject: Path) -> float | None:
        """Deflate up to SAMPLE_BYTES of the subject's deflatable files; their input speed."""
        sample = bytearray()
        try:
            files, _warnings = archive.walk_subject(subject)
            for local in files:
                if archive.is_stored(local.arcname) or not local.size:
                    continue
                with open(local.path, "rb") as source:
                    sample += source.read(SAMPLE_BYTES - len(sample))
                if len(sample) >= SAMPLE_BYTES:
                    break
        except (OSError, ArchiveError) as exc:
            log.debug("could not measure the deflate speed on %s: %s", subject, exc)
            return None
        if not sample:
            return None
        started = time.perf_counter()
        zlib.compress(bytes(sample), archive.DEFLATE_LEVEL)
        elapsed = time.perf_counter() - started
        self._deflate_speed = len(sample) / elapsed if elapsed > 0 else None
        return self._deflate_speed
