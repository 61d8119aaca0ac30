"""The local XNAT server: its state, the threading HTTP server and `serve`/`make_server`.

Requests are handled by `handler.Handler` (one thread per connection), routed by `routes`,
authenticated by `accounts`; what each route answers is in `hierarchy` and `resources`.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import ThreadingHTTPServer
from pathlib import Path

from .accounts import Accounts
from .faults import Faults
from .handler import Handler
from .store import Store

log = logging.getLogger(__name__)

DEFAULT_SESSION_TIMEOUT = 15 * 60
DEFAULT_TOKEN_LIFETIME = 2 * 24 * 3600


class LocalXnat:
    """Server state shared by the request handlers: store, accounts, faults, base URL."""

    def __init__(self, root: Path, accounts: Accounts, faults: Faults | None) -> None:
        self.store = Store(root)
        self.accounts = accounts
        self.faults = faults
        self.base_url = ""
        self.closing = threading.Event()  # set when the server stops: held requests let go


class LocalXnatServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its open connections, so it can stop cleanly."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: LocalXnat) -> None:
        self.app = app
        self._active_lock = threading.Lock()
        self._active: dict[threading.Thread, socket.socket] = {}
        super().__init__(address, Handler)
        host, port = self.server_address[:2]
        self.url = f"http://{_url_host(str(host))}:{port}"
        app.base_url = self.url

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        thread = threading.Thread(
            target=self._run_request,
            args=(request, client_address),
            name="localxnat-request",
            daemon=True,
        )
        with self._active_lock:
            self._active[thread] = request
        thread.start()

    def _run_request(self, request: socket.socket, client_address: object) -> None:
        try:
            self.process_request_thread(request, client_address)  # type: ignore[arg-type]
        finally:
            with self._active_lock:
                self._active.pop(threading.current_thread(), None)

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut open keep-alive connections, wait for handlers, close."""
        self.app.closing.set()
        self.shutdown()
        with self._active_lock:
            active = dict(self._active)
        for sock in active.values():
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in active:
            thread.join(timeout)
        self.server_close()
        self.app.store.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def make_server(
    root: Path,
    *,
    users: dict[str, str] | None = None,
    readonly_users: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
    faults: Faults | None = None,
) -> LocalXnatServer:
    """Bind a server (not yet serving). `users=None` means the single account admin:admin."""
    accounts = Accounts(
        {"admin": "admin"} if users is None else users,
        readonly_users or {},
        session_timeout=session_timeout,
        token_lifetime=token_lifetime,
    )
    return LocalXnatServer((host, port), LocalXnat(Path(root), accounts, faults))


@contextmanager
def serve(
    root: Path,
    *,
    users: dict[str, str] | None = None,
    readonly_users: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
    faults: Faults | None = None,
) -> Iterator[str]:
    """Run a server in a background thread; yield its base URL; stop it cleanly on exit."""
    server = make_server(
        root,
        users=users,
        readonly_users=readonly_users,
        host=host,
        port=port,
        session_timeout=session_timeout,
        token_lifetime=token_lifetime,
        faults=faults,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="localxnat", daemon=True
    )
    thread.start()
    log.info("local XNAT serving %s on %s", root, server.url)
    try:
        yield server.url
    finally:
        server.close()
        thread.join()
