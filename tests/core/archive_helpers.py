"""Folders and archives for the matching and mapping tests."""

from __future__ import annotations

from pathlib import Path

from fsxnat_gui.core.matching import ArchiveIndex
from fsxnat_gui.core.model import (
    MR_SESSION,
    EntryKind,
    LongRole,
    RemoteExperiment,
    RunState,
    Subject,
)

PET = "xnat:petSessionData"


def folder(name: str, role: LongRole = LongRole.CROSS, **kw: object) -> Subject:
    return Subject(
        name,
        Path("/sd") / name,
        EntryKind.SUBJECT,
        RunState.DONE,
        long_role=role,
        **kw,  # type: ignore[arg-type]
    )


def long_run(tp: str, base: str) -> Subject:
    return folder(f"{tp}.long.{base}", LongRole.LONG, long_tp=tp, long_base=base)


def base(name: str, *tps: str) -> Subject:
    return folder(name, LongRole.BASE, base_tps=tps)


def archive(sessions: dict[str, list[tuple[str, str]]]) -> ArchiveIndex:
    """{subject label: [(experiment label, xsiType), ...]} -> an index with made-up ids."""
    subjects = {label: f"XNAT_S{i:05d}" for i, label in enumerate(sessions, 1)}
    experiments = [
        RemoteExperiment(f"XNAT_E{i:05d}{j}", label, subjects[s], "REAL", xsi)
        for i, (s, exps) in enumerate(sessions.items(), 1)
        for j, (label, xsi) in enumerate(exps)
    ]
    return ArchiveIndex(True, subjects, experiments)


REAL = archive(
    {
        "CAPS_001": [("CAPS_001_MR_20190311", MR_SESSION)],
        "CAPS_002": [("CAPS_002_MR_20190312", MR_SESSION), ("CAPS_002_PET_20190312", PET)],
        "CAPS_003": [("CAPS_003_MR_20190313", MR_SESSION), ("CAPS_003_MR_20200401", MR_SESSION)],
        "CAPS_004": [],
        "CAPS_005": [("CAPS_005_PET", PET)],
        "Sub_A": [("Sub_A_MR", MR_SESSION)],
        "sub-07": [("sub-07_ses-1", MR_SESSION), ("sub-07_ses-2", MR_SESSION)],
    }
)
