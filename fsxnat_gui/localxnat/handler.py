"""The HTTP request handler: parse a request, apply fired faults, route it, send the answer,
record it in the fault log.
"""

from __future__ import annotations

import logging
import shutil
import socket
import struct
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from . import injection, routes
from .exchange import Request, Response
from .faults import RequestRecord
from .uploads import CHUNK, BodyReader

if TYPE_CHECKING:
    from .server import LocalXnat, LocalXnatServer

log = logging.getLogger(__name__)


class _DropConnectionError(Exception):
    """Close the connection abruptly without answering (a dropping fault)."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus delayed ACK
    # holds every answer back ~40 ms on keep-alive connections.
    disable_nagle_algorithm = True
    server_version = "localxnat"
    sys_version = ""
    timeout = 120
    server: LocalXnatServer
    app: LocalXnat
    req: Request

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _parse(self) -> Request:
        split = urlsplit(self.path)
        length_header = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            length = None if chunked or length_header is None else int(length_header)
        except ValueError:
            length = 0
        return Request(
            method=self.command,
            path=split.path,
            query_string=split.query,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=BodyReader(self.rfile, length, chunked),
            chunked=chunked,
            length=length,
        )

    def _handle(self) -> None:
        started = time.monotonic()
        self.app = app = self.server.app
        self.req = req = self._parse()
        fired = app.faults.take(req.method, req.path) if app.faults else []
        response: Response | None = None
        try:
            response = injection.respond(
                self, fired, lambda partial: routes.dispatch(app, req, partial)
            )
        except _DropConnectionError:
            self.close_connection = True
        except (ConnectionError, TimeoutError) as exc:
            log.info("connection lost during %s %s: %s", req.method, req.path, exc)
            self.close_connection = True
        if app.faults:
            status = response.status if response is not None else None
            app.faults.record(
                RequestRecord(
                    req.method,
                    req.path,
                    req.query_string,
                    status,
                    req.user,
                    started=started,
                    finished=time.monotonic(),
                )
            )
        if response is None:
            return
        try:
            self._send(response)
        except (ConnectionError, TimeoutError) as exc:
            log.info("connection lost answering %s %s: %s", req.method, req.path, exc)
            self.close_connection = True

    def reset(self, fraction: float) -> None:
        """Read `fraction` of the body, then reset the connection without an answer."""
        body = self.req.body
        total = self.req.length if self.req.length is not None else 2 * CHUNK
        to_read = max(1, int(total * fraction)) if total and fraction > 0 else 0
        while to_read > 0 and not body.done:
            to_read -= len(body.read(min(CHUNK, to_read)))
        with suppress(OSError):  # already shut down when the server is stopping
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        raise _DropConnectionError

    def closing(self) -> bool:
        """Whether the server is shutting down (a held request must let go)."""
        return self.app.closing.is_set()

    def _send(self, response: Response) -> None:
        try:
            self.req.body.drain()
        except (ConnectionError, ValueError):
            self.close_connection = True
        self.send_response(response.status, "")
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        size = response.file.stat().st_size if response.file else len(response.body)
        self.send_header("Content-Length", str(size))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if response.file is None:
            self.wfile.write(response.body)
            return
        with response.file.open("rb") as src:
            shutil.copyfileobj(src, self.wfile, CHUNK)
