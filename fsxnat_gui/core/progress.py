"""Progress accounting: the one place where fractions, speeds and ETAs are computed.

- `Throttle` lets an event through at most every interval (per key), and always the last one.
- `ByteMeter` counts the bytes of one pass over files (zipping, checking) and makes its events.
- `Rate` is a speed over the last few seconds.
- `RunMeter` keeps the accounts of an import run: it turns the raw phase events of the subjects
  in progress (several may be in flight) into that subject's event and the run's event, with
  the numbers the front ends display as they are (`Progress.fraction`, `eta`, `speed`); no
  front end recomputes them.

A subject's fraction weighs its phases by the time they are expected to take (zipping its
bytes, sending the zip, the server extracting it), from the speeds measured so far in the run
(guesses until measured). Its ETA is the time those phases still need, the server's processing
included: neither a subject nor the run reaches 100 % before the subject's result, and the run's
ETA is that of the subjects in flight plus the subjects still to come (at the pace measured,
with the run's streams in parallel).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Generator, Hashable
from typing import TypeVar

from fsxnat_gui.core.model import Progress, Stage

EVENT_INTERVAL_S = 0.1  # at most ~10 events per second per phase (and per pass over files)
# Until measured in the run, in bytes per second (a fast disk and link, XNAT extracting).
ZIP_SPEED_GUESS = 150e6
UPLOAD_SPEED_GUESS = 50e6
PROCESS_SPEED_GUESS = 100e6
LAST_STEP = 0.99  # the highest fraction before the subject's result (verifying)
R = TypeVar("R")


def relay(steps: Generator[Progress, None, R], item: str) -> Generator[Progress, None, R]:
    """Relay a core generator's events as `item`'s; return the generator's result."""
    while True:
        try:
            event = next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        yield dataclasses.replace(event, item=item)


class Throttle:
    """`due(key)` is True at most every `interval` seconds per key, and always when `final`."""

    def __init__(
        self, interval: float = EVENT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}

    def due(self, key: Hashable = None, *, final: bool = False) -> bool:
        now = self._clock()
        if final or now - self._last.get(key, -self.interval) >= self.interval:
            self._last[key] = now
            return True
        return False


class ByteMeter:
    """Counts the bytes of one pass and makes a Progress event at most every EVENT_INTERVAL_S
    and 1 % step; speed and ETA are those of the pass so far. The clock is read only once a
    1 % step is reached, not for every chunk."""

    def __init__(self, stage: Stage, item: str, total: int) -> None:
        self.stage, self.item, self.total = stage, item, total
        self.done = 0
        self._step = max(total // 100, 1)
        self._next = self._step
        self._start = self._last = time.monotonic()

    def advance(self, nbytes: int) -> Progress | None:
        self.done += nbytes
        if self.done < self._next:
            return None
        now = time.monotonic()
        if now - self._last < EVENT_INTERVAL_S:
            return None
        self._last = now
        self._next = self.done + self._step
        return self.event(now)

    def event(self, now: float | None = None) -> Progress:
        elapsed = (time.monotonic() if now is None else now) - self._start
        speed = self.done / elapsed if elapsed > 0 and self.done else None
        eta = (self.total - self.done) / speed if speed else None
        fraction = self.done / self.total if self.total else 1.0
        return Progress(self.stage, self.item, self.done, self.total, speed, eta, fraction=fraction)


class Rate:
    """Speed over the last few seconds."""

    WINDOW_S = 3.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, done: int) -> float | None:
        now = self._clock()
        if self._samples and done < self._samples[-1][1]:
            self._samples.clear()  # started again (a retry)
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW_S:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        if now - t0 < 0.05 or done <= d0:
            return None
        return (done - d0) / (now - t0)


class _Subject:
    """The accounts of a subject in progress."""

    def __init__(self, name: str, size: int, now: float, clock: Callable[[], float]) -> None:
        self.name, self.size, self.started = name, size, now
        self.upload_rate = Rate(clock)
        self.eta: float | None = None  # the last one given
        self.read = 0  # bytes zipped (or checked)
        self.zip_size = 0  # the zip's size once sending starts (else its size is guessed)
        self.sent = 0
        self.sending_since: float | None = None
        self.processing_since: float | None = None
        self.processed = False  # the server answered (verifying, or done)
        self.fraction = 0.0  # never goes back (a retry sends again)


class RunMeter:
    """The run's accounts; see the module docstring.

    `begin(name, size)` when a subject's turn starts, `events(raw)` for each raw phase event of
    a subject in progress (returns the subject's and the run's events, throttled: possibly
    none), and `end(name)` when its result is known, then `run_event()` for the run after it.
    Several subjects may be in progress at once (`streams` of them at most).
    """

    def __init__(
        self, total: int, clock: Callable[[], float] = time.monotonic, *, streams: int = 1
    ) -> None:
        self.total = total  # local bytes of the subjects that will run
        self.streams = max(1, streams)
        self._clock = clock
        self._started = clock()
        self._finished = 0  # local bytes of the subjects that ended
        self._imported_bytes = 0
        self._imported_seconds = 0.0  # wall time of the subjects that were sent
        self._zip_speed: float | None = None
        self._upload_speed: float | None = None
        self._process_speed: float | None = None  # zip bytes the server handles per second
        self._subjects: dict[str, _Subject] = {}  # in progress, by name
        self._throttle = Throttle(clock=clock)

    # --- the subject's turn ---------------------------------------------------------------

    def begin(self, name: str, size: int) -> None:
        self._subjects[name] = _Subject(name, size, self._clock(), self._clock)

    def end(self, name: str) -> None:
        s = self._subjects.pop(name, None)
        if s is None:
            return
        self._finished += s.size
        if s.sent:
            self._imported_bytes += s.size
            self._imported_seconds += self._clock() - s.started

    def events(self, raw: Progress) -> list[Progress]:
        """The subject's event (raw's phase numbers, the subject's fraction and ETA) and the
        run's, or nothing when throttled."""
        s = self._subjects.get(raw.item)
        if s is None:
            return [raw]
        self._account(s, raw)
        if not self._throttle.due((s.name, raw.stage), final=raw.done >= raw.total):
            return []
        eta = s.eta = self._subject_eta(s, raw)
        fraction = max(s.fraction, min(LAST_STEP, self._subject_fraction(s, raw)))
        s.fraction = fraction
        speed = raw.speed
        if raw.stage is Stage.UPLOADING:
            speed = self._upload_speed if raw.done < raw.total else None
        subject = Progress(
            raw.stage,
            s.name,
            raw.done,
            raw.total,
            speed=speed,
            eta=eta,
            message=raw.message,
            fraction=fraction,
        )
        return [subject, self.run_event(raw.stage, eta)]

    def run_event(self, stage: Stage = Stage.DONE, subject_eta: float | None = None) -> Progress:
        """The run as a whole: local bytes done of the total, their rate, the time left."""
        current = sum(s.fraction * s.size for s in self._subjects.values())
        fraction = (self._finished + current) / self.total if self.total else 0.0
        if not self._subjects and self._finished >= self.total:
            fraction = 1.0
        elif self._subjects:
            fraction = min(fraction, LAST_STEP)
        done = round(fraction * self.total)
        elapsed = self._clock() - self._started
        speed = done / elapsed if done and elapsed > 0 else None
        eta = self._run_eta(subject_eta)
        return Progress(stage, "", done, self.total, speed=speed, eta=eta, fraction=fraction)

    # --- arithmetic -----------------------------------------------------------------------

    def _account(self, s: _Subject, raw: Progress) -> None:
        now = self._clock()
        if raw.stage in (Stage.ZIPPING, Stage.CHECKING):
            s.read = raw.done
            if raw.speed and raw.stage is Stage.ZIPPING:
                self._zip_speed = raw.speed
        elif raw.stage is Stage.UPLOADING:
            s.read, s.zip_size, s.sent = s.size, raw.total, raw.done
            if s.sending_since is None or raw.done == 0:
                s.sending_since = now
            s.processing_since = None
            speed = raw.speed if raw.speed is not None else s.upload_rate.add(raw.done)
            if speed:
                self._upload_speed = speed
        elif raw.stage is Stage.PROCESSING:
            s.sent = s.zip_size = raw.total
            if s.processing_since is None:
                s.processing_since = now
                if s.sending_since is not None and now > s.sending_since:
                    self._upload_speed = raw.total / (now - s.sending_since)  # the average
        elif raw.stage is Stage.VERIFYING:
            if s.processing_since is not None and not s.processed and s.zip_size:
                waited = now - s.processing_since
                if waited > 0:
                    self._process_speed = s.zip_size / waited
            s.processed = True

    def _phases(self, s: _Subject) -> tuple[float, float, float, float]:
        """(time spent, zipping left, sending left, server left) in expected seconds."""
        zip_speed = self._zip_speed or ZIP_SPEED_GUESS
        upload_speed = self._upload_speed or UPLOAD_SPEED_GUESS
        process_speed = self._process_speed or PROCESS_SPEED_GUESS
        zip_size = s.zip_size or s.size
        zipping = s.size / zip_speed
        sending = zip_size / upload_speed
        processing = zip_size / process_speed
        if s.processed:
            return zipping + sending + processing, 0.0, 0.0, 0.0
        server_left = processing
        if s.processing_since is not None:
            waited = self._clock() - s.processing_since
            # Longer than expected: it will take a while yet, never "no time left".
            server_left = max(processing - waited, 0.25 * waited, 0.5)
            processing = waited + server_left
        zip_left = (s.size - min(s.read, s.size)) / zip_speed
        send_left = (zip_size - min(s.sent, zip_size)) / upload_speed
        spent = zipping + sending + processing - zip_left - send_left - server_left
        return spent, zip_left, send_left, server_left

    def _subject_fraction(self, s: _Subject, raw: Progress) -> float:
        if raw.stage is Stage.RETRYING:
            return s.fraction
        spent, *left = self._phases(s)
        whole = spent + sum(left)
        return spent / whole if whole > 0 else 0.0

    def _subject_eta(self, s: _Subject, raw: Progress) -> float | None:
        """The time the subject still needs; None until the phase in progress was measured."""
        if raw.stage is Stage.RETRYING:
            return None
        if raw.stage is Stage.ZIPPING and not self._zip_speed:
            return None
        if raw.stage is Stage.UPLOADING and not self._upload_speed:
            return None
        _spent, *left = self._phases(s)
        return sum(left)

    def _run_eta(self, subject_eta: float | None) -> float | None:
        """The subjects in flight (the longest of their ETAs) plus the subjects to come at the
        pace measured so far, `streams` at a time."""
        flying = list(self._subjects.values())
        rest = self.total - self._finished - sum(s.size for s in flying)
        etas = [s.eta for s in flying if s.eta is not None]
        if subject_eta is not None:
            etas.append(subject_eta)
        elif flying and not etas:
            return None  # the phases in progress are not measured yet
        subject_eta = max(etas, default=0.0)
        if rest <= 0:
            return subject_eta
        if self._imported_bytes:
            per_byte = self._imported_seconds / self._imported_bytes
        else:  # no subject sent yet: its phases at the speeds measured (or guessed) so far
            per_byte = (
                1 / (self._zip_speed or ZIP_SPEED_GUESS)
                + 1 / (self._upload_speed or UPLOAD_SPEED_GUESS)
                + 1 / (self._process_speed or PROCESS_SPEED_GUESS)
            )
        return (subject_eta or 0.0) + rest * per_byte / self.streams
