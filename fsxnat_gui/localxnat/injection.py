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
from .faults import FaultKind, FaultRule

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


Action = Callable[[Exchange, FaultRule], Response | None]


@dataclass(frozen=True)
class Effect:
    stage: Stage
    act: Action
    """Called with the exchange and the rule; an answer it returns replaces the server's."""


def _slow(ex: Exchange, rule: FaultRule) -> None:
    time.sleep(rule.delay)


def _expire_sessions(ex: Exchange, rule: FaultRule) -> None:
    ex.app.accounts.expire_all_sessions()


def _drop_mid_upload(ex: Exchange, rule: FaultRule) -> None:
    ex.reset(rule.fraction)


def _error_500(ex: Exchange, rule: FaultRule) -> Response:
    ex.req.body.drain()
    return restlet_error(500)


def _nothing(ex: Exchange, rule: FaultRule) -> None:
    return None


def _gateway_timeout(ex: Exchange, rule: FaultRule) -> Response:
    return Response(504, pages.gateway_timeout_page(), "text/html")


EFFECTS: dict[FaultKind, Effect] = {
    # Sleep `delay` seconds, then handle the request normally.
    FaultKind.SLOW: Effect(Stage.BEFORE, _slow),
    # Invalidate every session: a cookie-only client gets 401, a Basic-auth one a new session.
    FaultKind.EXPIRE_SESSIONS: Effect(Stage.BEFORE, _expire_sessions),
    # Read `fraction` of the body, then reset the connection; no answer, nothing stored.
    FaultKind.DROP_MID_UPLOAD: Effect(Stage.BEFORE, _drop_mid_upload),
    # Read the whole body, then answer 500 (Restlet page); nothing stored.
    FaultKind.ERROR_500_AFTER_BODY: Effect(Stage.INSTEAD, _error_500),
    # Store only `fraction` of an archive's entries (nothing of a plain file); answer 200.
    FaultKind.PARTIAL_STORE: Effect(Stage.DURING, _nothing),
    # Handle the request normally (everything stored), then answer a proxy's 504 page.
    FaultKind.TIMEOUT_504_AFTER_STORE: Effect(Stage.AFTER, _gateway_timeout),
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
