"""Fault rules and the request log of the local XNAT server.

Tests create a `Faults`, pass it to `serve(...)` and mutate it while the server runs. Nothing
is injected unless a rule was added. `FaultKind` names the faults; what each one does is the
table in `injection.py`.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger(__name__)

HANG_MAX = 600.0  # seconds a `hang` holds a request when its rule sets no `delay`


class FaultKind(StrEnum):
    """The faults a rule can inject; `Faults.add` also takes their string values."""

    SLOW = "slow"
    HANG = "hang"
    EXPIRE_SESSIONS = "expire_sessions"
    DROP_MID_UPLOAD = "drop_mid_upload"
    DROP = "drop"
    ERROR_500_AFTER_BODY = "error_500_after_body"
    ERROR_503 = "error_503"
    ECHO_HEADERS = "echo_headers"
    PARTIAL_STORE = "partial_store"
    TIMEOUT_504_AFTER_STORE = "timeout_504_after_store"
    DROP_AFTER_STORE = "drop_after_store"


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. `status` is None when the connection was dropped.

    `started` (the request arrived) and `finished` (its answer was ready, or it was dropped)
    are `time.monotonic()` values of the server's process.
    """

    method: str
    path: str
    query: str
    status: int | None
    user: str | None
    started: float = 0.0
    finished: float = 0.0


@dataclass
class FaultRule:
    """Fire `kind` on matching requests number `nth` .. `nth + count - 1` (1-based)."""

    kind: FaultKind
    method: str | None = None
    path_regex: str | None = None
    nth: int = 1
    count: int = 1
    delay: float = 0.0
    fraction: float = 0.5
    retry_after: int = 1
    status: int = 502
    seen: int = 0
    fired: int = 0
    released: threading.Event = field(default_factory=threading.Event, repr=False)
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    def release(self) -> None:
        """Let the requests a `hang` holds go on; the rule holds none after this."""
        self.released.set()


class Faults:
    """Thread-safe set of fault rules plus a log of every request served.

    `add(kind, method=None, path_regex=None, nth=1, count=1, delay=0.0, fraction=0.5,
    retry_after=1, status=502)`: the Nth request matching `method` (any if None) and
    `path_regex` (searched in the URL path, any if None) and the `count - 1` matching requests
    after it get the fault. `count=0` means every matching request from the Nth on.
    `delay` is the sleep of `slow` and the longest hold of `hang` (0: `HANG_MAX`); `fraction`
    is the share of the body read by `drop_mid_upload` and the share of archive entries kept
    by `partial_store`; `retry_after` is the `Retry-After` seconds of `error_503`; `status` is
    the status of `echo_headers`. The returned rule's `fired` counts the requests it hit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._requests: list[RequestRecord] = []

    def add(
        self,
        kind: FaultKind | str,
        *,
        method: str | None = None,
        path_regex: str | None = None,
        nth: int = 1,
        count: int = 1,
        delay: float = 0.0,
        fraction: float = 0.5,
        retry_after: int = 1,
        status: int = 502,
    ) -> FaultRule:
        try:
            kind = FaultKind(kind)
        except ValueError:
            expected = sorted(k.value for k in FaultKind)
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {expected}") from None
        if nth < 1 or count < 0 or delay < 0 or retry_after < 0:
            raise ValueError("nth must be >= 1 and count, delay and retry_after >= 0")
        rule = FaultRule(
            kind=kind,
            method=method,
            path_regex=path_regex,
            nth=nth,
            count=count,
            delay=delay,
            fraction=fraction,
            retry_after=retry_after,
            status=status,
            _pattern=re.compile(path_regex) if path_regex else None,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def release(self) -> None:
        """Release every `hang` (the rules stay, holding nothing more)."""
        with self._lock:
            rules = list(self._rules)
        for rule in rules:
            rule.release()

    def clear(self) -> None:
        """Release every `hang` and remove every rule (the request log is kept)."""
        with self._lock:
            rules, self._rules = self._rules, []
        for rule in rules:
            rule.release()

    def take(self, method: str, path: str) -> list[FaultRule]:
        """Count this request against every rule; return the rules that fire for it."""
        fired = []
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.seen >= rule.nth and (rule.count == 0 or rule.fired < rule.count):
                    rule.fired += 1
                    fired.append(rule)
        for rule in fired:
            log.info("fault %s fires on %s %s", rule.kind.value, method, path)
        return fired

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self._requests.append(entry)

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
