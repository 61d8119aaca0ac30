"""Synthetic FreeSurfer recon-all subjects for the tests, the benchmarks and the demo mode.

Nothing here is real FreeSurfer output and none of it is meant to be read by FreeSurfer. The
generator reproduces what the importer cares about (reference/freesurfer.md, "Synthetic subject
recipe"): the folder layout and exact file names, the run-state markers and build stamps of each
FreeSurfer series, the intra-subject symlinks, realistic file sizes and, for the full size,
content kinds whose deflate ratios match real recon-all files (surfaces with a ``FF FF FE``
header, float32 vertices and near-index faces, curv files, annots, ASCII labels, gzip-magic
volumes of tunable entropy, text logs). Content is deterministic for a given ``seed`` and subject
name; the vertex count varies with the seed so that two subjects never produce the same archive.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

VARIANTS = (
    "done",
    "running",
    "crashed",
    "failed",
    "incomplete",
    "partial",
    "fs6",
    "fs5",
    "long",
    "base",
    "fastsurfer",
    "dangling-link",
    "outside-link",
)
SIZES = ("small", "full")
HEMIS = ("lh", "rh")

_CHUNK = 65536
_BASE_DATE = datetime(2023, 6, 12, 9, 14, 3, tzinfo=UTC)
_HOST, _USER, _PID = "node12", "jdoe", 4242
_CRASH_AGE = timedelta(days=3)

# The 8 FS 7.x links (surf/<link> -> <target>, relative, same folder), per hemisphere.
_LINKS = (
    ("pial", "pial.T1"),
    ("white.H", "white.preaparc.H"),
    ("white.K", "white.preaparc.K"),
    ("fsaverage.sphere.reg", "sphere.reg"),
)


@dataclass(frozen=True)
class _Spec:
    """One regular file to write: kind selects the content writer, arg tunes it."""

    rel: str
    kind: str  # mgz | surf | surf_nofix | curv | curv_const | mgh | annot | label | text | log
    size: int = 0
    arg: float = 0.0  # mgz: random fraction r; curv: 0 = thickness-like, 1 = curvature-like


@dataclass(frozen=True)
class _Params:
    name: str
    variant: str
    size: str
    version: str
    stamp: str
    vertices: int
    date: datetime


# --- build stamps ---------------------------------------------------------------------------


def build_stamp(version: str) -> str:
    """A plausible ``build-stamp.txt`` line (without newline) for a FreeSurfer version."""
    major = _major(version)
    if major <= 5:
        return f"freesurfer-Linux-centos6_x86_64-stable-pub-v{version}"
    if major == 6:
        return f"freesurfer-Linux-centos6_x86_64-stable-pub-v{version}-2beb96c"
    if major == 7:
        return f"freesurfer-linux-centos7_x86_64-{version}-20230613-7eb8460"
    return f"freesurfer-linux-ubuntu22_x86_64-{version}-20250204-0f2bd3a"


def _major(version: str) -> int:
    m = re.match(r"(\d+)\.\d+\.\d+$", version)
    if not m:
        raise ValueError(f"version must look like '7.4.1', not {version!r}")
    return int(m.group(1))


# --- layout ---------------------------------------------------------------------------------


def _per_hemi(pattern: str, kind: str, size: int = 0, arg: float = 0.0) -> list[_Spec]:
    return [_Spec(pattern.format(h=h), kind, size, arg) for h in HEMIS]


def _many(paths: Iterable[str], kind: str, size: int = 0, arg: float = 0.0) -> list[_Spec]:
    return [_Spec(p, kind, size, arg) for p in paths]


def _full_mri() -> list[_Spec]:
    mgz = [
        ("orig/001.mgz", 30_000_000, 1.0),
        ("rawavg.mgz", 30_000_000, 1.0),
        ("transforms/talairach.m3z", 32_200_000, 0.97),
        ("orig.mgz", 4_500_000, 0.99),
        ("orig_nu.mgz", 4_600_000, 0.99),
        ("nu.mgz", 4_400_000, 0.99),
        ("T1.mgz", 4_300_000, 0.99),
        ("brainmask.auto.mgz", 1_450_000, 0.985),
        ("brainmask.mgz", 1_450_000, 0.985),
        ("brain.mgz", 1_400_000, 0.985),
        ("brain.finalsurfs.mgz", 1_420_000, 0.985),
        ("antsdn.brain.mgz", 1_500_000, 0.985),
        ("norm.mgz", 1_350_000, 0.985),
        ("aseg.auto_noCCseg.mgz", 330_000, 0.90),
        ("aseg.auto.mgz", 330_000, 0.90),
        ("aseg.presurf.mgz", 330_000, 0.90),
        ("aseg.presurf.hypos.mgz", 330_000, 0.90),
        ("aseg.mgz", 360_000, 0.82),
        ("aparc+aseg.mgz", 420_000, 0.83),
        ("aparc.DKTatlas+aseg.mgz", 420_000, 0.83),
        ("aparc.a2009s+aseg.mgz", 450_000, 0.84),
        ("wmparc.mgz", 470_000, 0.84),
        ("wm.seg.mgz", 390_000, 0.94),
        ("wm.asegedit.mgz", 360_000, 0.95),
        ("wm.mgz", 360_000, 0.95),
        ("filled.mgz", 130_000, 0.88),
        ("ribbon.mgz", 220_000, 0.88),
        ("lh.ribbon.mgz", 110_000, 0.88),
        ("rh.ribbon.mgz", 110_000, 0.88),
        ("surface.defects.mgz", 90_000, 0.88),
        ("ctrl_pts.mgz", 650_000, 0.43),
    ]
    text = [
        ("transforms/talairach.xfm", 194),
        ("transforms/talairach.auto.xfm", 194),
        ("transforms/talairach.xfm.lta", 1_600),
        ("transforms/talairach.auto.xfm.lta", 1_600),
        ("transforms/talairach.lta", 1_600),
        ("transforms/talairach_with_skull.lta", 1_600),
        ("transforms/cc_up.lta", 1_600),
        ("transforms/talairach_avi.log", 86_000),
        ("transforms/talairach_avi_QA.log", 92),
        ("transforms/talsrcimg_to_711-2C_as_mni_average_305_t4_vox2vox.txt", 355),
        ("orig/001.lta", 1_560),
        ("orig/001-iscale.txt", 8),
        ("mri_nu_correct.mni.log", 4_000),
        ("mri_nu_correct.mni.log.bak", 4_000),
        ("segment.dat", 40),
        ("talairach.log", 3_200),
        ("talairach_with_skull.log", 3_400),
        ("talairach.label_intensities.txt", 2_700),
        ("aseg.auto_noCCseg.label_intensities.txt", 2_700),
    ]
    return [_Spec(f"mri/{p}", "mgz", s, r) for p, s, r in mgz] + [
        _Spec(f"mri/{p}", "text", s) for p, s in text
    ]


_SURFACES = ("orig", "orig.premesh", "smoothwm", "inflated", "sphere", "sphere.reg")
_SURFACES += ("white.preaparc", "white", "pial.T1")
_NOFIX = ("orig.nofix", "smoothwm.nofix", "inflated.nofix", "qsphere.nofix")
_CURVS = ("curv", "curv.pial", "sulc", "thickness", "area", "area.mid", "area.pial", "volume")
_CURVS += ("avg_curv", "jacobian_white", "inflated.H", "inflated.K")
_CURVS += ("white.preaparc.H", "white.preaparc.K")
_CURVS += tuple(f"smoothwm.{c}.crv" for c in ("BE", "C", "FI", "H", "K", "K1", "K2", "S"))


def _full_surf() -> list[_Spec]:
    specs: list[_Spec] = []
    for h in HEMIS:
        specs += [_Spec(f"surf/{h}.{s}", "surf") for s in _SURFACES]
        specs += [_Spec(f"surf/{h}.{s}", "surf_nofix") for s in _NOFIX]
        specs += [_Spec(f"surf/{h}.{c}", "curv", arg=float(c != "thickness")) for c in _CURVS]
        specs += [_Spec(f"surf/{h}.defect_{d}", "curv_const") for d in ("borders", "chull")]
        specs += [_Spec(f"surf/{h}.defect_labels", "curv_const")]
        specs += [
            _Spec(f"surf/{h}.w-g.pct.mgh", "mgh"),
            _Spec(f"surf/{h}.defects.pointset", "text", 4_000),
        ]
        specs += [_Spec(f"surf/autodet.gw.stats.{h}.dat", "text", 993)]
    return specs


_EXVIVO = {
    "BA1": (131_729, 33_814),
    "BA2": (259_511, 67_784),
    "BA3a": (115_841, 42_657),
    "BA3b": (180_133, 61_167),
    "BA4a": (193_197, 81_492),
    "BA4p": (130_077, 48_909),
    "BA6": (429_719, 211_378),
    "BA44": (129_644, 61_347),
    "BA45": (160_833, 58_221),
    "V1": (231_290, 164_078),
    "V2": (448_545, 191_438),
    "MT": (91_510, 24_238),
    "entorhinal": (41_107, 16_091),
    "perirhinal": (39_202, 14_264),
}
_VPNL = {"FG1": 22_476, "FG2": 34_821, "FG3": 74_841, "FG4": 99_959}
_VPNL |= {"hOc1": 186_911, "hOc2": 171_257, "hOc3v": 83_339, "hOc4v": 58_541}
_ANNOTS = ("aparc", "aparc.a2009s", "aparc.DKTatlas", "BA_exvivo", "BA_exvivo.thresh", "mpm.vpnl")
_CTABS = {"aparc.annot.ctab": 1_944, "aparc.annot.DKTatlas.ctab": 1_944}
_CTABS |= {"aparc.annot.a2009s.ctab": 4_104, "BA_exvivo.ctab": 810, "BA_exvivo.thresh.ctab": 810}


def _full_label() -> list[_Spec]:
    specs: list[_Spec] = []
    for h in HEMIS:
        specs += [_Spec(f"label/{h}.{a}.annot", "annot") for a in _ANNOTS]
        specs += [_Spec(f"label/{h}.cortex.label", "label", 4_400_000)]
        specs += [_Spec(f"label/{h}.cortex+hipamyg.label", "label", 4_500_000)]
        specs += [_Spec(f"label/{h}.nofix.cortex.label", "label", 4_300_000)]
        for area, (size, thresh) in _EXVIVO.items():
            specs += [_Spec(f"label/{h}.{area}_exvivo.label", "label", size)]
            specs += [_Spec(f"label/{h}.{area}_exvivo.thresh.label", "label", thresh)]
        specs += [_Spec(f"label/{h}.{a}.mpm.vpnl.label", "label", s) for a, s in _VPNL.items()]
    return specs + [_Spec(f"label/{c}", "text", s) for c, s in _CTABS.items()]


_HEMI_STATS = {"aparc": 9_100, "aparc.pial": 9_100, "aparc.a2009s": 16_400}
_HEMI_STATS |= {"aparc.DKTatlas": 8_600, "BA_exvivo": 5_300, "BA_exvivo.thresh": 5_300}
_HEMI_STATS |= {"curv": 4_300, "w-g.pct": 11_000}


def _full_stats() -> list[_Spec]:
    specs = [
        _Spec(f"stats/{h}.{s}.stats", "text", n) for h in HEMIS for s, n in _HEMI_STATS.items()
    ]
    whole = {"aseg": 9_600, "wmparc": 11_100, "brainvol": 1_720}
    return specs + [_Spec(f"stats/{s}.stats", "text", n) for s, n in whole.items()]


def _full_scripts() -> list[_Spec]:
    logs = {"recon-all.local-copy": 340_000, "recon-all.cmd": 49_000, "recon-all.env": 5_200}
    logs |= {"recon-config.yaml": 2_800, "unknown-args.txt": 1, "defect2seg.log": 1_500}
    logs |= {"pctsurfcon.log": 2_000, "pctsurfcon.log.old": 2_000, "ponscc.cut.log": 300}
    logs |= {"patchdir.txt": 60}
    return [_Spec(f"scripts/{n}", "log", s) for n, s in logs.items()]


_TOUCH_GLOBAL = [
    "conform", "nu", "talairach", "inorm1", "skull_strip", "em_register", "ca_normalize",
    "ca_register", "remove_neck", "skull.lta", "ca_label", "asegmerge", "inorm2", "wmsegment",
    "fill", "cortical_ribbon", "relabelhypos", "aparc2aseg", "apas2aseg", "segstats", "wmaparc",
    "wmaparc.stats",
]  # fmt: skip
_TOUCH_HEMI = [
    "tessellate", "smoothwm1", "inflate1", "qsphere", "fix", "white.preaparc", "smoothwm2",
    "inflate2", "curvHK", "sphmorph", "sphreg", "jacobian_white", "avgcurv", "cortex_label",
    "white.H.K", "pial", "pial.area.mid", "curv.pial", "aparc", "aparcstats", "aparc2",
    "aparcstats2", "aparc3", "aparcstats3", "wpctsurfcon",
]  # fmt: skip


def _touch_specs(small: bool) -> list[_Spec]:
    if small:
        names = ["conform", "nu", "talairach", "skull_strip", "lh.pial", "rh.pial"]
        return [_Spec(f"touch/{n}.touch", "touch", 60) for n in names]
    names = _TOUCH_GLOBAL + [f"{h}.{n}" for h in HEMIS for n in _TOUCH_HEMI]
    return [_Spec(f"touch/{n}.touch", "touch", 0) for n in names]


def _full_layout() -> list[_Spec]:
    return (
        _full_mri()
        + _full_surf()
        + _full_label()
        + _full_stats()
        + _full_scripts()
        + _touch_specs(small=False)
    )


def _small_layout() -> list[_Spec]:
    specs = _many(["mri/orig/001.mgz", "mri/rawavg.mgz"], "mgz", 60_000, 1.0)
    specs += _many(
        [f"mri/{v}.mgz" for v in ("orig", "T1", "brainmask", "norm", "brain")], "mgz", 20_000, 0.99
    )
    labels = ("aseg", "aparc+aseg", "aparc.a2009s+aseg", "wmparc", "ribbon")
    specs += _many([f"mri/{v}.mgz" for v in labels], "mgz", 5_000, 0.85)
    specs += [_Spec("mri/transforms/talairach.m3z", "mgz", 50_000, 0.97)]
    specs += [_Spec("mri/transforms/talairach.xfm", "text", 194)]
    specs += [_Spec("mri/transforms/talairach.lta", "text", 1_570)]
    for h in HEMIS:
        surfs = ("white", "pial.T1", "inflated", "sphere", "sphere.reg", "orig")
        specs += [_Spec(f"surf/{h}.{s}", "surf") for s in surfs]
        curvs = ("thickness", "curv", "sulc", "area", "white.preaparc.H", "white.preaparc.K")
        specs += [_Spec(f"surf/{h}.{c}", "curv", arg=float(c != "thickness")) for c in curvs]
        specs += [_Spec(f"label/{h}.{a}.annot", "annot") for a in ("aparc", "aparc.a2009s")]
        specs += [_Spec(f"label/{h}.cortex.label", "label", 76_000)]
        specs += [_Spec(f"label/{h}.V1_exvivo.label", "label", 4_500)]
    stats = ["aseg", "wmparc"] + [f"{h}.{a}" for h in HEMIS for a in ("aparc", "aparc.a2009s")]
    specs += _many([f"stats/{s}.stats" for s in stats], "text", 2_000)
    specs += [
        _Spec("scripts/recon-all.cmd", "log", 2_000),
        _Spec("scripts/recon-all.env", "log", 1_000),
    ]
    return specs + _touch_specs(small=True)


_FS6_DROPPED = re.compile(
    r"(antsdn\.brain|surface\.defects)\.mgz$|\.orig\.premesh$|cortex\+hipamyg|nofix\.cortex"
    r"|mpm\.vpnl|brainvol\.stats$|recon-config\.yaml$"
)


def _versioned(specs: list[_Spec], major: int, small: bool) -> list[_Spec]:
    """Adapt the FS 7 layout to FS 6 / 5.3 names (no pial.T1, no 7.x-only files)."""
    if major >= 7:
        return specs
    out = [
        replace(s, rel=s.rel.replace("pial.T1", "pial"))
        for s in specs
        if not _FS6_DROPPED.search(s.rel)
    ]
    if major >= 6:
        return out
    out = [
        replace(s, rel=s.rel.replace("_exvivo", "").replace("DKTatlas", "DKTatlas40")) for s in out
    ]
    if not small:
        inv = [f"mri/transforms/talairach.m3z.inv.{a}.mgz" for a in "xyz"]
        out += _many(inv, "mgz", 25_000_000, 0.99)
    return out


def _variant_filter(specs: list[_Spec], variant: str) -> list[_Spec]:
    if variant == "partial":
        return [s for s in specs if s.rel.split("/")[0] not in ("surf", "label", "stats")]
    if variant == "long":
        return [s for s in specs if not s.rel.startswith("mri/orig/0")]
    return specs


# --- content writers ------------------------------------------------------------------------


class _Writer:
    """Writes one subject's files; holds the per-hemisphere geometry shared by its files."""

    def __init__(self, subject: Path, p: _Params, rng: np.random.Generator) -> None:
        self.subject, self.p, self.rng = subject, p, rng
        self._geometry: dict[tuple[str, int], tuple[np.ndarray, bytes]] = {}
        self._label_pool: dict[str, tuple[bytes, np.ndarray]] = {}
        self.small = p.size == "small"

    def write(self, spec: _Spec) -> None:
        writers: dict[str, Callable[[_Spec], bytes]] = {
            "mgz": self._mgz,
            "surf": self._surface,
            "surf_nofix": self._surface,
            "curv": self._curv,
            "curv_const": self._curv,
            "mgh": self._mgh,
            "annot": self._annot,
            "label": self._label,
            "text": self._table,
            "log": self._log,
            "touch": self._touch,
        }
        _write(self.subject / spec.rel, writers[spec.kind](spec))

    def random_bytes(self, n: int) -> bytes:
        words = self.rng.bit_generator.random_raw((n + 7) // 8)
        return np.asarray(words, dtype=np.uint64).tobytes()[:n]

    # volumes: gzip magic + per 64 KiB chunk a fraction r of random bytes, then zeros
    def _mgz(self, spec: _Spec) -> bytes:
        header = (
            b"\x1f\x8b\x08\x00" + int(self.p.date.timestamp()).to_bytes(4, "little") + b"\x00\x03"
        )
        n = max(spec.size - len(header), 0)
        if spec.arg >= 1.0:
            return header + self.random_bytes(n)
        body = np.zeros(n, dtype=np.uint8)
        k = round(spec.arg * _CHUNK)
        full = n // _CHUNK
        if full:
            noise = np.frombuffer(self.random_bytes(full * k), dtype=np.uint8)
            body[: full * _CHUNK].reshape(full, _CHUNK)[:, :k] = noise.reshape(full, k)
        tail = min(n - full * _CHUNK, k)
        body[full * _CHUNK : full * _CHUNK + tail] = np.frombuffer(
            self.random_bytes(tail), np.uint8
        )
        return header + body.tobytes()

    def _vertex_count(self, spec: _Spec) -> int:
        nofix = spec.kind == "surf_nofix" or "defect_" in spec.rel
        return round(self.p.vertices * 1.012) if nofix else self.p.vertices

    def _hemi_geometry(self, hemi: str, v: int) -> tuple[np.ndarray, bytes]:
        """Vertices on a noisy 70 mm sphere (Fibonacci order) and near-index faces."""
        key = (hemi, v)
        if key not in self._geometry:
            i = np.arange(v, dtype=np.float64)
            z = 1 - 2 * (i + 0.5) / v
            phi = i * np.pi * (3 - np.sqrt(5))
            r = 70 + self.rng.normal(0, 3, v)
            s = np.sqrt(1 - z * z)
            xyz = np.stack([r * s * np.cos(phi), r * s * np.sin(phi), r * z], axis=1)
            xyz[:, 0] += -30 if hemi == "lh" else 30
            f = 2 * v - 4
            base = np.arange(f) // 2
            faces = np.empty((f, 3), dtype=">i4")
            faces[:, 0] = base
            faces[:, 1:] = np.minimum(base[:, None] + self.rng.integers(1, 301, (f, 2)), v - 1)
            self._geometry[key] = (xyz, faces.tobytes())
        return self._geometry[key]

    def _surface(self, spec: _Spec) -> bytes:
        hemi = Path(spec.rel).name[:2]
        v = self._vertex_count(spec)
        xyz, faces = self._hemi_geometry(hemi, v)
        verts = (xyz * self.rng.uniform(0.9, 1.1) + self.rng.normal(0, 0.05, xyz.shape)).astype(
            ">f4"
        )
        created = f"created by synth on {_fs_date(self.p.date)}\n\n".encode()
        head = b"\xff\xff\xfe" + created + np.array([v, 2 * v - 4], dtype=">i4").tobytes()
        extra = (358 if self.small else 700) - len(head)
        return head + verts.tobytes() + faces + _surface_tags(self.p.name, spec.rel, extra)

    def _curv_values(self, spec: _Spec, v: int) -> np.ndarray:
        if spec.kind == "curv_const":
            return np.full(v, -1.0)
        if spec.arg == 0.0:
            return np.clip(self.rng.normal(2.5, 0.7, v), 0, 5)
        return self.rng.normal(0, 0.15, v)

    def _curv(self, spec: _Spec) -> bytes:
        v = self._vertex_count(spec)
        head = b"\xff\xff\xff" + np.array([v, 2 * v - 4, 1], dtype=">i4").tobytes()
        return head + self._curv_values(spec, v).astype(">f4").tobytes()

    def _mgh(self, spec: _Spec) -> bytes:
        v = self.p.vertices
        header = np.array([1, v, 1, 1, 1, 3, 0], dtype=">i4").tobytes().ljust(284, b"\0")
        return header + self.rng.normal(20, 8, v).astype(">f4").tobytes() + bytes(16)

    def _annot(self, spec: _Spec) -> bytes:
        v = self.p.vertices
        runs = self.rng.geometric(1 / 40, v // 10 + 10)
        colours = self.rng.integers(0, 35, len(runs))
        ids = np.repeat(colours, runs)[:v]
        pairs = np.empty((v, 2), dtype=">i4")
        pairs[:, 0] = np.arange(v)
        pairs[:, 1] = _ANNOT_COLOURS[ids]
        return np.array([v], dtype=">i4").tobytes() + pairs.tobytes() + _ANNOT_CTAB

    def _pool(self, hemi: str) -> tuple[bytes, np.ndarray]:
        """All vertices of a hemisphere as label lines, and each line's end offset."""
        if hemi not in self._label_pool:
            xyz, _ = self._hemi_geometry(hemi, self.p.vertices)
            lines = [
                f"{i}  {x:.3f}  {y:.3f}  {z:.3f} 0.0000000000\n"
                for i, (x, y, z) in enumerate(xyz.tolist())
            ]
            ends = np.cumsum([len(line) for line in lines])
            self._label_pool[hemi] = ("".join(lines).encode(), ends)
        return self._label_pool[hemi]

    def _label(self, spec: _Spec) -> bytes:
        blob, ends = self._pool(Path(spec.rel).name[:2])
        header = f"#!ascii label  , from subject {self.p.name} vox2ras=TkReg\n"
        budget = spec.size - len(header) - 8
        start = int(self.rng.integers(0, max(1, len(ends) - budget // 40)))
        offset = int(ends[start - 1]) if start else 0
        stop = min(int(np.searchsorted(ends, offset + budget)), len(ends) - 1)
        body = blob[offset : int(ends[stop])]
        return f"{header}{stop - start + 1}\n".encode() + body

    def _table(self, spec: _Spec) -> bytes:
        rng = self.rng
        rows = []
        size = 0
        while size < spec.size:
            a, b = rng.integers(0, 5000, 2)
            x, y = rng.normal(0, 50, 2)
            row = (
                f"{len(rows):4d} {a:6d} {b:7d} {_REGIONS[len(rows) % 35]:<28s} {x:9.4f} {y:8.3f}\n"
            )
            rows.append(row)
            size += len(row)
        return _exact(f"# Title synthetic table for {self.p.name}\n" + "".join(rows), spec.size)

    def _log(self, spec: _Spec) -> bytes:
        return _exact(_log_text(self.rng, self.p, spec.size), spec.size)

    def _touch(self, spec: _Spec) -> bytes:
        step = Path(spec.rel).name.removesuffix(".touch")
        options = "-openmp 1 " * int(self.rng.integers(0, 12))
        line = f"mri_{step.replace('.', '_')} {self.p.name} {options}\n"
        return _exact(line, spec.size) if spec.size else line.encode()


_REGIONS = [
    "bankssts", "caudalanteriorcingulate", "caudalmiddlefrontal", "cuneus", "entorhinal",
    "fusiform", "inferiorparietal", "inferiortemporal", "isthmuscingulate", "lateraloccipital",
    "lateralorbitofrontal", "lingual", "medialorbitofrontal", "middletemporal", "parahippocampal",
    "paracentral", "parsopercularis", "parsorbitalis", "parstriangularis", "pericalcarine",
    "postcentral", "posteriorcingulate", "precentral", "precuneus", "rostralanteriorcingulate",
    "rostralmiddlefrontal", "superiorfrontal", "superiorparietal", "superiortemporal",
    "supramarginal", "frontalpole", "temporalpole", "transversetemporal", "insula", "unknown",
]  # fmt: skip


def _make_ctab() -> tuple[np.ndarray, bytes]:
    rgb = [((i * 67) % 256, (i * 131) % 256, (i * 29 + 20) % 256) for i in range(35)]
    colours = np.array([r + g * 256 + b * 65536 for r, g, b in rgb], dtype=np.int64)
    parts = [np.array([1, -2, 35], dtype=">i4").tobytes()]
    fname = b"/usr/local/freesurfer/average/colortable_desikan_killiany.txt\0"
    parts += [np.array([len(fname)], ">i4").tobytes(), fname, np.array([35], ">i4").tobytes()]
    for i, (name, (r, g, b)) in enumerate(zip(_REGIONS, rgb, strict=True)):
        raw = name.encode() + b"\0"
        parts += [np.array([i, len(raw)], ">i4").tobytes(), raw]
        parts += [np.array([r, g, b, 0], ">i4").tobytes()]
    ctab = b"".join(parts)
    return colours, ctab.ljust(2_600, b"\0")[:2_600]


_ANNOT_COLOURS, _ANNOT_CTAB = _make_ctab()

_LOG_LINES = (
    "#--------------------------------------------\n#@# {step} {date}\n",
    "\n mri_convert {subject}/mri/{step}.mgz {subject}/mri/{step}.mgz --conform\n",
    "reading from {subject}/mri/{step}.mgz...\nTR={a:.2f}, TE={b:.2f}, TR={c:.2f}\n",
    "iter {i}, gcam->neg = {n}, sse = {a:.1f}, rms = {b:.4f} ({c:.2f}%)\n",
    "{step}: {n} voxels changed in iteration {i} of unlikely voxel relabeling\n",
    "@#@FSTIME  {date} mri_{step} N {i} e {a:.2f} S {b:.2f} U {c:.2f} P {n}% M {m} F 0 R {m}\n",
    "setenv SUBJECTS_DIR /data/derivatives/freesurfer\ncd /data/derivatives/freesurfer/{subject}\n",
)
_STEPS = ("MotionCor", "Talairach", "Nu Intensity Correction", "Intensity Normalization")
_STEPS += ("Skull Stripping", "EM Registration", "CA Reg", "SubCort Seg", "Fill", "Tessellate")
_STEPS += ("Smooth1", "Inflation1", "QSphere", "Fix Topology", "Make White Surf", "Sphere")
_STEPS += ("Surf Reg", "Cortical Parc", "Make Pial Surf", "Parcellation Stats", "WMParc")


def _log_text(rng: np.random.Generator, p: _Params, size: int) -> str:
    out = [f"build-stamp.txt: {p.stamp}\n"]
    total = len(out[0])
    while total < size:
        step = _STEPS[int(rng.integers(0, len(_STEPS)))]
        template = _LOG_LINES[int(rng.integers(0, len(_LOG_LINES)))]
        a, b, c = rng.uniform(0, 100, 3)
        line = template.format(
            step=step, date=_fs_date(p.date), subject=p.name, a=a, b=b, c=c,
            i=int(rng.integers(0, 60)), n=int(rng.integers(0, 9999)), m=int(rng.integers(0, 10**6)),
        )  # fmt: skip
        out.append(line)
        total += len(line)
    return "".join(out)


def _surface_tags(name: str, rel: str, length: int) -> bytes:
    tags = (
        "valid = 1  # volume info valid\nfilename = ../mri/filled-pretess255.mgz\n"
        "volume = 256 256 256\nvoxelsize = 1.000000000000000e+00 1.000000000000000e+00 "
        "1.000000000000000e+00\nxras   = -1.0e+00 0.0e+00 0.0e+00\nyras   = 0.0e+00 0.0e+00 "
        "-1.0e+00\nzras   = 0.0e+00 1.0e+00 0.0e+00\ncras   = 1.5e+00 1.8e+01 2.2e+01\n"
        f"mris_make_surfaces --s {name} --out {rel} synth-version 7 ProgramVersion: 7\n"
    )
    return tags.encode().ljust(max(length, 0), b" ")[: max(length, 0)]


def _exact(text: str, size: int) -> bytes:
    """text truncated/padded to size bytes, ending with a newline."""
    raw = text.encode()
    if size <= 1:
        return raw[:size]
    return raw[: size - 1].ljust(size - 1, b" ") + b"\n"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _fs_date(d: datetime) -> str:
    return d.strftime("%a %b %d %H:%M:%S UTC %Y")


# --- markers --------------------------------------------------------------------------------


def _done_text(p: _Params, cmdargs: str) -> str:
    major = _major(p.version)
    uname = f"Linux {_HOST} 3.10.0-1160.el7.x86_64 #1 SMP x86_64 x86_64 x86_64 GNU/Linux"
    if major <= 5:
        return (
            f"------------------------------\nSUBJECT {p.name}\nDATE {_fs_date(p.date)}\n"
            f"USER {_USER}\nHOST {_HOST}\nPROCESSOR x86_64\nOS Linux\n{uname}\n"
            "$Id: recon-all,v 1.313.2.32 2010/12/30 18:42:13 nicks Exp $\n"
            "/usr/local/freesurfer/bin/recon-all\n"
        )
    end = p.date + timedelta(hours=6.764)
    version = (
        "$Id: FreeSurferEnv.csh,v 1.89 2016/06/09 18:20:26 zkaufman Exp $"
        if major == 6
        else f"{p.version} ({p.stamp})"
    )
    return (
        f"------------------------------\nSUBJECT {p.name}\nSTART_TIME {_fs_date(p.date)}\n"
        f"END_TIME {_fs_date(end)}\nRUNTIME_HOURS 6.764\nUSER {_USER}\nHOST {_HOST}\n"
        f"PROCESSOR x86_64\nOS Linux\nUNAME {uname}\nVERSION {version}\n"
        f"CMDPATH /usr/local/freesurfer/{p.version}/bin/recon-all\nCMDARGS {cmdargs}\n"
    )


def _cmdargs(p: _Params) -> str:
    if p.variant == "partial":
        return f"-s {p.name} -autorecon1"
    if p.variant == "long":
        tp, base = _long_parts(p.name)
        return f"-long {tp} {base} -all -openmp 4"
    if p.variant == "base":
        tps = " ".join(f"-tp {t}" for t in _base_tps(p.name))
        return f"-base {p.name} {tps} -all -openmp 4"
    return f"-s {p.name} -i /data/rawdata/{p.name}/anat/{p.name}_T1w.nii.gz -all -openmp 4"


def _long_parts(name: str) -> tuple[str, str]:
    m = re.match(r"^(.+)\.long\.(.+)$", name)
    return (m.group(1), m.group(2)) if m else (name, f"{name}_base")


def _base_tps(name: str) -> list[str]:
    return [f"{name}_ses-1", f"{name}_ses-2"]


def _status_log(p: _Params, verdict: str | None) -> str:
    lines = [f"#New# invocation of recon-all {_fs_date(p.date)}\n"]
    lines += [
        f"#@# {s} {_fs_date(p.date + timedelta(minutes=17 * i))}\n" for i, s in enumerate(_STEPS)
    ]
    end = _fs_date(p.date + timedelta(hours=6.764))
    if verdict == "ok":
        lines.append(
            "\n#@#%# recon-all-run-time-hours 6.764\n"
            f"recon-all -s {p.name} finished without error at {end}\n"
        )
    elif verdict == "error":
        lines.append(f"\nrecon-all -s {p.name} exited with ERRORS at {end}\n")
    return "".join(lines)


def _is_running_text(p: _Params, started: datetime, hemi: str) -> str:
    return (
        f"------------------------------\nSUBJECT {p.name}\nHEMI {hemi}\nDATE {_fs_date(started)}\n"
        f"USER {_USER}\nHOST {_HOST}\nPROCESSID {_PID}\nPROCESSOR x86_64\nOS Linux\n"
        f"Linux {_HOST} 3.10.0-1160.el7.x86_64 #1 SMP x86_64 GNU/Linux\n{p.stamp}\n"
    )


def _error_text(p: _Params) -> str:
    return (
        f"------------------------------\nSUBJECT {p.name}\nDATE {_fs_date(p.date)}\nUSER {_USER}\n"
        f"HOST {_HOST}\nPROCESSOR x86_64\nOS Linux\nLinux {_HOST} 3.10.0 x86_64 GNU/Linux\n"
        f"{p.stamp}\n/usr/local/freesurfer/{p.version}/bin/recon-all\n"
        f"PWD /data/derivatives/freesurfer/{p.name}/mri\n"
        "CMD mri_ca_register -rusage ../touch/rusage.mri_ca_register.dat -nobigventricles "
        "-T transforms/talairach.lta -align-after -mask brainmask.mgz norm.mgz "
        "/usr/local/freesurfer/average/RB_all_2020-01-02.gca transforms/talairach.m3z\n"
    )


def _write_markers(subject: Path, p: _Params) -> None:
    scripts = subject / "scripts"
    major = _major(p.version)
    _write(scripts / "build-stamp.txt", f"{p.stamp}\n".encode())
    if major >= 6:
        _write(scripts / "lastcall.build-stamp.txt", f"{p.stamp}\n".encode())
    log_size = 5_000 if p.size == "small" else 640_000
    verdict = {"failed": "error", "running": None, "crashed": None, "incomplete": None}
    status = verdict.get(p.variant, "ok")
    rng = np.random.default_rng(p.vertices)
    log_text = _log_text(rng, p, log_size - 200) + _status_log(p, status).splitlines()[-1] + "\n"
    _write(scripts / "recon-all.log", log_text.encode())
    _write(scripts / "recon-all-status.log", _status_log(p, status).encode())
    if status == "ok":
        _write(scripts / "recon-all.done", _done_text(p, _cmdargs(p)).encode())
    elif status == "error":
        _write(scripts / "recon-all.done", b"1\n")
        _write(scripts / "recon-all.error", _error_text(p).encode())


def _make_links(subject: Path, p: _Params) -> None:
    if _major(p.version) < 7 or p.variant == "partial":
        return
    for hemi in HEMIS:
        for link, target in _LINKS:
            os.symlink(f"{hemi}.{target}", subject / "surf" / f"{hemi}.{link}")


def _apply_variant(subject: Path, p: _Params, outside_dir: Path) -> None:
    scripts = subject / "scripts"
    if p.variant in ("running", "crashed"):
        started = datetime.now(UTC) - (_CRASH_AGE if p.variant == "crashed" else timedelta(hours=2))
        _write(scripts / "IsRunning.lh+rh", _is_running_text(p, started, "lh rh").encode())
    elif p.variant == "long":
        tp, base = _long_parts(p.name)
        _write(scripts / "long.base", f"{base}\n".encode())
        _write(scripts / "long.cross", f"{tp}\n".encode())
    elif p.variant == "base":
        _write(subject / "base-tps", "".join(f"{t}\n" for t in _base_tps(p.name)).encode())
        (scripts / "build-stamp.txt").unlink()
    elif p.variant == "fastsurfer":
        _write(scripts / "recon-surf.done", f"recon-surf.sh {p.name} finished\n".encode())
        _write(scripts / "recon-surf.log", f"recon-surf.sh --sid {p.name} --t1 orig.mgz\n".encode())
        _write(scripts / "deep-seg.log", b"python3 FastSurferCNN/run_prediction.py\n")
        _write(subject / "mri" / "aparc.DKTatlas+aseg.deep.mgz", b"\x1f\x8b\x08\x00" + bytes(996))
    elif p.variant == "dangling-link":
        _relink(subject / "surf" / "lh.pial", "lh.pial.T1")
        (subject / "surf" / "lh.pial.T1").unlink(missing_ok=True)
    elif p.variant == "outside-link":
        target = outside_dir / p.name / "lh.pial"
        _write(target, (subject / "surf" / "lh.white").read_bytes())
        _relink(subject / "surf" / "lh.pial", str(target.resolve()))


def _relink(link: Path, target: str) -> None:
    link.unlink(missing_ok=True)
    os.symlink(target, link)


def _age(subject: Path, delta: timedelta) -> None:
    """Set every mtime under subject (links themselves, not their targets) back by delta."""
    when = time.time() - delta.total_seconds()
    for dirpath, dirnames, filenames in os.walk(subject):
        for entry in dirnames + filenames:
            os.utime(os.path.join(dirpath, entry), (when, when), follow_symlinks=False)
    os.utime(subject, (when, when))


# --- public API -----------------------------------------------------------------------------


def make_subject(
    root: Path,
    name: str,
    *,
    variant: str = "done",
    size: str = "small",
    version: str = "7.4.1",
    seed: int = 0,
    outside_dir: Path | None = None,
) -> Path:
    """Write a synthetic recon-all subject ``root/name`` and return its path.

    ``variant`` is one of VARIANTS (freesurfer.md, end of the recipe); ``fs6`` and ``fs5`` imply
    versions 6.0.0 and 5.3.0 unless ``version`` already has that major. ``outside-link`` writes
    its link target under ``outside_dir`` (default: a sibling folder of ``root``).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected 'small' or 'full'")
    version = _variant_version(variant, version)
    subject = Path(root) / name
    subject.mkdir(parents=True, exist_ok=False)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    nominal = 2_562 if size == "small" else 135_000
    jitter = int(rng.integers(-nominal // 100, nominal // 100 + 1)) if seed else 0
    p = _Params(name, variant, size, version, build_stamp(version), nominal + jitter,
                _BASE_DATE + timedelta(hours=seed))  # fmt: skip
    specs = _layout(p)
    writer = _Writer(subject, p, rng)
    for spec in specs:
        writer.write(spec)
    for empty in ("tmp", "trash", "mri/transforms/bak"):
        (subject / empty).mkdir(parents=True, exist_ok=True)
    _write_markers(subject, p)
    _make_links(subject, p)
    _apply_variant(subject, p, outside_dir or Path(root).parent / f"{Path(root).name}-outside")
    if variant == "crashed":
        _age(subject, _CRASH_AGE)
    log.debug("synthetic subject %s (%s, %s, FS %s) written", subject, variant, size, version)
    return subject


def _variant_version(variant: str, version: str) -> str:
    major = _major(version)
    if variant == "fs6" and major != 6:
        return "6.0.0"
    if variant == "fs5" and major != 5:
        return "5.3.0"
    return version


def _layout(p: _Params) -> list[_Spec]:
    small = p.size == "small"
    specs = _small_layout() if small else _full_layout()
    specs = _versioned(specs, _major(p.version), small)
    return _variant_filter(specs, p.variant)


def _make_template_tree(folder: Path) -> None:
    _write(
        folder / "scripts" / "make_average_surface.log", b"make_average_surface --out fsaverage\n"
    )
    _write(folder / "scripts" / "make_average_volume.log", b"make_average_volume --out fsaverage\n")
    _write(folder / "mri" / "orig.mgz", b"\x1f\x8b\x08\x00" + bytes(2_000))
    _write(folder / "surf" / "lh.sphere.reg", b"\xff\xff\xfe" + bytes(2_000))
    _write(folder / "label" / "lh.aparc.annot", bytes(1_000))


def make_templates(root: Path) -> None:
    """Add template subjects and clutter to the SUBJECTS_DIR ``root``.

    ``fsaverage`` and ``?h.EC_average`` are absolute symlinks into a fake FREESURFER_HOME next to
    root (``root.parent / "freesurfer_home"``); ``fsaverage5/`` is a copied template folder; plus
    ``fs-allowed-versions.txt``, ``.DS_Store`` and a ``qa/`` folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    home = root.parent / "freesurfer_home" / "subjects"
    if not (home / "fsaverage").is_dir():
        _make_template_tree(home / "fsaverage")
    os.symlink(str((home / "fsaverage").resolve()), root / "fsaverage")
    for hemi in HEMIS:
        (home / f"{hemi}.EC_average").mkdir(parents=True, exist_ok=True)
        os.symlink(str((home / f"{hemi}.EC_average").resolve()), root / f"{hemi}.EC_average")
    shutil.copytree(home / "fsaverage", root / "fsaverage5")
    _write(root / "fs-allowed-versions.txt", b"7.4.1\n")
    _write(root / ".DS_Store", bytes(6_148))
    _write(root / "qa" / "index.html", b"<html><body>QA</body></html>\n")


def make_demo_subjects_dir(root: Path, n: int = 4, size: str = "small", *, seed: int = 0) -> Path:
    """A SUBJECTS_DIR for the demo mode: ``sub-01``…``sub-0n`` finished (FS 7.4.1), one failed and
    one running subject after them, and the templates/clutter of make_templates(). Returns root."""
    root = Path(root)
    for i in range(1, n + 1):
        make_subject(root, f"sub-{i:02d}", size=size, seed=seed + i)
    make_subject(root, f"sub-{n + 1:02d}", variant="failed", size=size, seed=seed + n + 1)
    make_subject(root, f"sub-{n + 2:02d}", variant="running", size=size, seed=seed + n + 2)
    make_templates(root)
    return root


def finish_subject(subject: Path, *, version: str = "7.4.1") -> Path:
    """Make a `running` subject finish as recon-all does at its end: the IsRunning files go, the
    logs say "finished without error" and recon-all.done is written last (for watch and SLURM
    tests that need a subject to finish while they run)."""
    subject = Path(subject)
    scratch = Path(tempfile.mkdtemp(prefix="fsxnat-finish-"))
    try:
        done = make_subject(scratch, subject.name, version=version)
        for running in (subject / "scripts").glob("IsRunning*"):
            running.unlink()
        for name in ("recon-all.log", "recon-all-status.log", "recon-all.done"):
            shutil.copyfile(done / "scripts" / name, subject / "scripts" / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return subject
