"""Answer bodies in XNAT's shapes: ResultSet listings (JSON, pyxnat's CSV, HTML), item JSON
(`items`/`data_fields`), item XML and the site's build info (xnat-rest.md §1.5, §2.4).

Catalog XML is written by `store.Store.write_catalog`; HTML pages are in `pages`.
"""

from __future__ import annotations

import csv
import io
import json
import socket
from collections.abc import Callable
from xml.sax.saxutils import quoteattr

from . import pages
from .exchange import CONTENT_TYPES, Request, Response

XNAT_VERSION = "1.8.10"


def listing(
    req: Request,
    rows: list[dict[str, str]],
    *,
    title: str,
    total: bool,
    columns: list[dict[str, str]] | None = None,
    extras: Callable[[dict[str, str]], dict[str, str]] | None = None,
) -> Response:
    """A ResultSet in JSON (default), CSV or HTML, with any requested `columns` added.

    `extras(row)` supplies the values of columns a caller may ask for that are not in the rows.
    """
    requested = [c for c in req.query.get("columns", "").split(",") if c]
    defaults = list(rows[0]) if rows else []
    wanted = requested + [c for c in defaults if c not in requested]
    out = []
    for row in rows:
        extra = extras(row) if extras else {}
        out.append({c: row.get(c, extra.get(c, "")) for c in wanted})
    fmt = req.fmt("json")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(wanted)
        writer.writerows([[row[c] for c in wanted] for row in out])
        return Response(200, buffer.getvalue().encode(), CONTENT_TYPES["csv"])
    if fmt == "html":
        table = [wanted] + [[row[c] for c in wanted] for row in out]
        return Response(200, pages.item_page(title, [], [(title, table)]), CONTENT_TYPES["html"])
    result_set: dict[str, object] = {"Result": out, "title": title}
    if columns:
        result_set["Columns"] = columns
    if total:
        result_set["totalRecords"] = str(len(out))
    return json_response({"ResultSet": result_set})


def json_response(data: object) -> Response:
    return Response(200, json.dumps(data).encode(), CONTENT_TYPES["json"])


def html_response(body: bytes) -> Response:
    return Response(200, body, CONTENT_TYPES["html"])


def cell(value: int | None) -> str:
    """A ResultSet cell: every value a string, null as ``""``."""
    return "" if value is None else str(value)


def item(xsi_type: str, data: dict[str, object], start: str, children: list) -> dict:
    """One item in XNAT's `format=json` item shape."""
    return {
        "items": [
            {
                "children": children,
                "meta": {
                    "create_event_id": 1,
                    "xsi:type": xsi_type,
                    "isHistory": False,
                    "start_date": start,
                },
                "data_fields": data,
            }
        ]
    }


def xml_item(tag: str, data: dict[str, str]) -> Response:
    attrs = " ".join(f"{k}={quoteattr(str(v))}" for k, v in data.items())
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag} {attrs} '
        'xmlns:xnat="http://nrg.wustl.edu/xnat" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>\n'
    )
    return Response(200, body.encode(), "text/xml")


def build_info() -> dict[str, str]:
    return {
        "version": XNAT_VERSION,
        "buildNumber": "localxnat",
        "buildDate": "Thu Jan 01 00:00:00 UTC 2024",
        "sha": "0000000",
        "isDirty": "false",
        "timestamp": "0",
        "hostName": socket.gethostname(),
        "displayHostName": "localxnat",
        "nodeId": "",
        "branch": "localxnat",
        "commit": "0000000",
        "tag": XNAT_VERSION,
        "shaFull": "0" * 40,
    }
