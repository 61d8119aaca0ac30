"""A local, XNAT 1.8-compatible HTTP server for tests, benchmarks and the demo mode.

Standard library only (http.server, sqlite3, zipfile...), Qt-free. It implements what
fsxnat-gui, pyxnat and a requests-based client use, following shared/reference/xnat-rest.md:
Basic auth and JSESSIONID sessions (15-minute idle timeout), alias tokens, projects, subjects and
MR sessions created by PUT, ResultSet listings (JSON and pyxnat's CSV), experiment and
subject resources (`.../subjects/{S}/resources/{R}`, stored in `<root>/<P>/subjects/<label>/<R>/`),
raw and multipart uploads streamed to disk with `extract=true`, duplicates and `overwrite`, MD5
digests, file listings, downloads and deletes, in XNAT's archive layout under `root`.

In-process use::

    from fsxnat_gui.localxnat import Faults, serve

    faults = Faults()
    with serve(tmp_path, users={"owner": "pw"}, readonly_users={"reader": "pw2"},
               faults=faults) as url:          # "http://127.0.0.1:PORT"
        ...

`serve(root, *, users=None, readonly_users=None, host="127.0.0.1", port=0,
session_timeout=900, token_lifetime=172800, faults=None)`: `users` own the projects they create
(only the owner may change a project; `users=None` means `{"admin": "admin"}`); read-only users
see every project, their creates and deletes answer 403 and their uploads answer 200 and store
nothing, as in XNAT. `session_timeout` and `token_lifetime` are in seconds.

Fault injection (off unless a rule is added; the object may be changed while serving)::

    rule = faults.add(kind, method="POST", path_regex=r"/files", nth=1, count=1, delay=0.0,
                      fraction=0.5, retry_after=1, status=502)

The `nth` request matching `method` and `path_regex` (and the next `count - 1`; `count=0` means
all from then on) gets the fault `kind`, a `FaultKind` or its string value. What each kind does
is the one table `injection.EFFECTS`:

- `slow`: sleep `delay` seconds before handling the request.
- `hang`: hold the request (body unread) until `rule.release()`, `faults.release()` or
  `faults.clear()`, or `delay` seconds (0: 10 minutes), then handle it; a server that stops
  meanwhile drops it without an answer (shutdown is never blocked).
- `expire_sessions`: every session is invalidated before the request is handled, so a
  cookie-only client gets 401 and a Basic-auth client gets a new session.
- `drop_mid_upload`: `fraction` of the body is read, then the connection is reset; no answer.
- `drop`: the whole body is read, then the connection is reset; no answer, nothing done. Any
  request: listings, creates, deletes, uploads.
- `error_500_after_body`: the whole body is read, then 500 (Restlet page); nothing is stored.
- `error_503`: the whole body is read, then a proxy's 503 with `Retry-After: retry_after`.
- `echo_headers`: the whole body is read, then `status` with an error page quoting the
  request's Authorization and Cookie headers verbatim (as some proxies do).
- `partial_store`: only `fraction` of an archive's entries are stored (nothing of a plain
  file), yet the answer is the normal empty 200.
- `timeout_504_after_store`: normal processing (everything stored), then a proxy's 504 page.
- `drop_after_store`: normal processing (everything stored), then the connection is reset.

`rule.fired` counts the requests a rule hit (e.g. to wait until a `hang` holds one).
`faults.requests` is the log of every request served, as `RequestRecord(method, path, query,
status, user, started, finished)` (`status` is None for a dropped connection; `started` and
`finished` are the server's `time.monotonic()` when the request arrived and when its answer was
ready); `faults.clear()` releases hangs and removes the rules, `faults.clear_requests()`
empties the log.

Command line: `fsxnat-localxnat --root DIR` or `python -m fsxnat_gui.localxnat` (see cli.py).
"""

from .faults import FaultKind, FaultRule, Faults, RequestRecord
from .server import LocalXnatServer, make_server, serve

__all__ = [
    "FaultKind",
    "FaultRule",
    "Faults",
    "LocalXnatServer",
    "RequestRecord",
    "make_server",
    "serve",
]
