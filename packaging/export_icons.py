"""Export the application icon from its master SVG.

    python packaging/export_icons.py            # write every export
    python packaging/export_icons.py --check    # exit 1 if an export is missing or stale

Master: resources/<APP_ID>.svg. Outputs:
  resources/<APP_ID>-<N>.png   for N in 16 32 48 64 128 256 512
  resources/<APP_ID>.ico       Windows: 16 24 32 48 64 128 256, PNG payloads (Vista and later)
  resources/<APP_ID>.icns      macOS: PNG chunks 16 to 1024
  fsxnat_gui/assets/fsxnat-gui.svg   the runtime copy the window uses (byte-identical)

Rendering uses QtSvg from PySide6-Essentials; ICO and ICNS are written here (both formats are a
small header around PNG payloads), so no other dependency is needed. The "stale" check compares
the SVG copy byte for byte and each raster file's structure and sizes, not pixels: anti-aliasing
may differ slightly between Qt versions.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fsxnat_gui import APP_ID, APP_NAME  # noqa: E402

RESOURCES = ROOT / "resources"
MASTER = RESOURCES / f"{APP_ID}.svg"
RUNTIME_COPY = ROOT / "fsxnat_gui" / "assets" / f"{APP_NAME}.svg"

PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS chunk types that hold PNG data, and their pixel size (Apple's icns type table).
ICNS_TYPES = (
    ("icp4", 16),
    ("icp5", 32),
    ("icp6", 64),
    ("ic07", 128),
    ("ic08", 256),
    ("ic09", 512),
    ("ic10", 1024),  # 512x512@2x
    ("ic11", 32),  # 16x16@2x
    ("ic12", 64),  # 32x32@2x
    ("ic13", 256),  # 128x128@2x
    ("ic14", 512),  # 256x256@2x
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_path(size: int) -> Path:
    return RESOURCES / f"{APP_ID}-{size}.png"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    if data[:8] != PNG_MAGIC or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def build_ico(pngs: dict[int, bytes]) -> bytes:
    """ICONDIR + one ICONDIRENTRY per image + the PNG payloads."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, payload = b"", b""
    for size in sizes:
        data = pngs[size]
        dim = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        payload += data
        offset += len(data)
    return header + entries + payload


def parse_ico(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of each PNG image in an ICO file; raises ValueError if malformed."""
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    if reserved != 0 or kind != 1 or count == 0:
        raise ValueError("not an ICO file")
    result = []
    for i in range(count):
        w, h, _, _, _, _, length, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * i)
        dims = png_size(data[offset : offset + length])
        if dims != (w or 256, h or 256):
            raise ValueError(f"ICO entry {i}: directory says {w}x{h}, image is {dims}")
        result.append(dims)
    return result


def build_icns(pngs: dict[int, bytes]) -> bytes:
    body = b""
    for kind, size in ICNS_TYPES:
        data = pngs[size]
        body += kind.encode("ascii") + struct.pack(">I", 8 + len(data)) + data
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def parse_icns(data: bytes) -> dict[str, tuple[int, int]]:
    """{chunk type: PNG (width, height)}; raises ValueError if malformed."""
    if data[:4] != b"icns" or struct.unpack(">I", data[4:8])[0] != len(data):
        raise ValueError("not an ICNS file")
    result, pos = {}, 8
    while pos < len(data):
        kind = data[pos : pos + 4].decode("ascii")
        (length,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        if length < 8 or pos + length > len(data):
            raise ValueError(f"ICNS chunk {kind!r} overruns the file")
        result[kind] = png_size(data[pos + 8 : pos + length])
        pos += length
    return result


def render(sizes: set[int]) -> dict[int, bytes]:
    """Render the master SVG to PNG bytes at each size (square, transparent background)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # A build tool, not the core: Qt is fine here (ruff bans PySide6 outside gui/ and app.py).
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(MASTER))
    if not renderer.isValid():
        raise SystemExit(f"{MASTER}: QtSvg cannot render this file")
    result = {}
    for size in sorted(sizes):
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        out = QByteArray()
        buffer = QBuffer(out)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        # Non-premultiplied ARGB gives a standard RGBA PNG; compression 9 keeps the files small.
        image.convertToFormat(QImage.Format.Format_ARGB32).save(buffer, "PNG", 0)
        buffer.close()
        result[size] = bytes(out.data())
    return result


def check() -> list[str]:
    """Problems with the committed exports (empty when up to date)."""
    problems = []
    if not RUNTIME_COPY.is_file() or RUNTIME_COPY.read_bytes() != MASTER.read_bytes():
        problems.append(f"{RUNTIME_COPY.relative_to(ROOT)} differs from the master SVG")
    for size in PNG_SIZES:
        path = png_path(size)
        try:
            if png_size(path.read_bytes()) != (size, size):
                problems.append(f"{path.name}: wrong size")
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: {exc}")
    ico, icns = RESOURCES / f"{APP_ID}.ico", RESOURCES / f"{APP_ID}.icns"
    try:
        if sorted(w for w, _ in parse_ico(ico.read_bytes())) != list(ICO_SIZES):
            problems.append(f"{ico.name}: sizes differ from {ICO_SIZES}")
    except (OSError, ValueError, struct.error) as exc:
        problems.append(f"{ico.name}: {exc}")
    try:
        found = parse_icns(icns.read_bytes())
        if found != {kind: (s, s) for kind, s in ICNS_TYPES}:
            problems.append(f"{icns.name}: chunks differ from {[k for k, _ in ICNS_TYPES]}")
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
        problems.append(f"{icns.name}: {exc}")
    return problems


def export() -> None:
    pngs = render(set(PNG_SIZES) | set(ICO_SIZES) | {s for _, s in ICNS_TYPES})
    for size in PNG_SIZES:
        png_path(size).write_bytes(pngs[size])
    (RESOURCES / f"{APP_ID}.ico").write_bytes(build_ico({s: pngs[s] for s in ICO_SIZES}))
    (RESOURCES / f"{APP_ID}.icns").write_bytes(build_icns(pngs))
    RUNTIME_COPY.parent.mkdir(parents=True, exist_ok=True)
    RUNTIME_COPY.write_bytes(MASTER.read_bytes())
    for path in [
        *map(png_path, PNG_SIZES),
        RESOURCES / f"{APP_ID}.ico",
        RESOURCES / f"{APP_ID}.icns",
        RUNTIME_COPY,
    ]:
        print(f"{path.stat().st_size:>8}  {path.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the committed exports")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    export()
    return 0


if __name__ == "__main__":
    sys.exit(main())
