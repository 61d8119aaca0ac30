"""What each fault kind does: the one table the request handler follows.

A fault acts at one stage of a request:

- `BEFORE` the request is routed (it may sleep, change server state or drop the connection);
- `INSTEAD` of routing it (its answer replaces the server's; nothing is stored);
- `DURING` routing (the routes read it from the `Call`, e.g. `partial_store`);
- `AFTER` normal processing (everything stored; its answer replaces the server's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from . import pages
from .exchange import Request, Response, restlet_error
from .faults import HANG_MAX, FaultKind, FaultRule

if TYPE_CHECKING:
    from .server import LocalXnat


class Stage(IntEnum):
    BEFORE = 1
    INSTEAD = 2
    DURING = 3
    AFTER = 4


class Exchange(Protocol):
    """What a fault may do to the request being handled (implemented by the handler)."""

    app: LocalXnat
    req: Request

    def reset(self, fraction: float) -> None:
        """Read `fraction` of the body, then reset the connection (never returns)."""

    def closing(self) -> bool:
        """Whether the server is shutting down."""


Action = Callable[[Exchange, FaultRule], Response | None]


@dataclass(frozen=True)
class Effect:
    stage: Stage
    act: Action
    """Called with the exchange and the rule; an answer it returns replaces the server's."""


def _slow(ex: Exchange, rule: FaultRule) -> None:
    time.sleep(rule.delay)


def _hang(ex: Exchange, rule: FaultRule) -> None:
    deadline = time.monotonic() + (rule.delay or HANG_MAX)
    while not rule.released.is_set() and time.monotonic() < deadline:
        if ex.closing():
            ex.reset(0.0)
        rule.released.wait(min(0.05, max(0.0, deadline - time.monotonic())))


def _expire_sessions(ex: Exchange, rule: FaultRule) -> None:
    ex.app.accounts.expire_all_sessions()


def _drop_mid_upload(ex: Exchange, rule: FaultRule) -> None:
    ex.reset(rule.fraction)


def _drop(ex: Exchange, rule: FaultRule) -> None:
    ex.reset(1.0)


def _error_500(ex: Exchange, rule: FaultRule) -> Response:
    ex.req.body.drain()
    return restlet_error(500)


def _error_503(ex: Exchange, rule: FaultRule) -> Response:
    ex.req.body.drain()
    page = pages.nginx_page(503, "Service Temporarily Unavailable")
    return Response(503, page, "text/html", [("Retry-After", str(rule.retry_after))])


def _echo_headers(ex: Exchange, rule: FaultRule) -> Response:
    ex.req.body.drain()
    quoted = [
        (name, ex.req.headers[name.lower()])
        for name in ("Authorization", "Cookie")
        if name.lower() in ex.req.headers
    ]
    return Response(rule.status, pages.echo_page(rule.status, quoted), "text/html")


def _nothing(ex: Exchange, rule: FaultRule) -> None:
    return None


def _gateway_timeout(ex: Exchange, rule: FaultRule) -> Response:
    return Response(504, pages.nginx_page(504, "Gateway Time-out"), "text/html")


EFFECTS: dict[FaultKind, Effect] = {
    # Sleep `delay` seconds, then handle the request normally.
    FaultKind.SLOW: Effect(Stage.BEFORE, _slow),
    # Hold the request, body unread, until the rule is released (`FaultRule.release`,
    # `Faults.release` or `Faults.clear`) or `delay` seconds (0: HANG_MAX) pass, then handle
    # it normally; if the server stops meanwhile, drop the connection without an answer.
    FaultKind.HANG: Effect(Stage.BEFORE, _hang),
    # Invalidate every session: a cookie-only client gets 401, a Basic-auth one a new session.
    FaultKind.EXPIRE_SESSIONS: Effect(Stage.BEFORE, _expire_sessions),
    # Read `fraction` of the body, then reset the connection; no answer, nothing stored.
    FaultKind.DROP_MID_UPLOAD: Effect(Stage.BEFORE, _drop_mid_upload),
    # Read the whole body, then reset the connection; no answer, nothing done (any request).
    FaultKind.DROP: Effect(Stage.BEFORE, _drop),
    # Read the whole body, then answer 500 (Restlet page); nothing stored.
    FaultKind.ERROR_500_AFTER_BODY: Effect(Stage.INSTEAD, _error_500),
    # Read the whole body, then answer a proxy's 503 with `Retry-After: retry_after`; nothing
    # stored.
    FaultKind.ERROR_503: Effect(Stage.INSTEAD, _error_503),
    # Read the whole body, then answer `status` with an error page quoting the request's
    # Authorization and Cookie headers verbatim, as some proxies do; nothing stored.
    FaultKind.ECHO_HEADERS: Effect(Stage.INSTEAD, _echo_headers),
    # Store only `fraction` of an archive's entries (nothing of a plain file); answer 200.
    FaultKind.PARTIAL_STORE: Effect(Stage.DURING, _nothing),
    # Handle the request normally (everything stored), then answer a proxy's 504 page.
    FaultKind.TIMEOUT_504_AFTER_STORE: Effect(Stage.AFTER, _gateway_timeout),
    # Handle the request normally (everything stored), then reset the connection: no answer.
    FaultKind.DROP_AFTER_STORE: Effect(Stage.AFTER, _drop),
}


def respond(
    ex: Exchange, fired: list[FaultRule], route: Callable[[float | None], Response]
) -> Response:
    """The answer to the request with the `fired` rules applied; `route(partial)` handles it.

    Faults act in stage order, and in `FaultKind` order within a stage.
    """
    order = list(FaultKind)
    rules = sorted(fired, key=lambda r: (EFFECTS[r.kind].stage, order.index(r.kind)))
    by_stage: dict[Stage, list[FaultRule]] = {stage: [] for stage in Stage}
    for rule in rules:
        by_stage[EFFECTS[rule.kind].stage].append(rule)
    for rule in by_stage[Stage.BEFORE]:
        EFFECTS[rule.kind].act(ex, rule)
    response = None
    for rule in by_stage[Stage.INSTEAD]:
        response = response or EFFECTS[rule.kind].act(ex, rule)
    if response is None:
        partial = next((r.fraction for r in rules if r.kind is FaultKind.PARTIAL_STORE), None)
        response = route(partial)
    for rule in by_stage[Stage.AFTER]:
        response = EFFECTS[rule.kind].act(ex, rule) or response
    return response
