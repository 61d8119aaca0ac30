"""Matching folders to an existing archive: realistic archives, one rule at a time."""

from __future__ import annotations

import pytest
from archive_helpers import REAL, archive, base, folder, long_run

from fsxnat_gui.core.errors import LabelError
from fsxnat_gui.core.matching import (
    EMPTY_INDEX,
    ArchiveIndex,
    Assignment,
    How,
    Level,
    Rules,
    check_template,
    compile_pattern,
    resolve,
)
from fsxnat_gui.core.model import MR_SESSION, Subject


def one(name: str | Subject, index: ArchiveIndex = REAL, **rules: object):
    s = folder(name) if isinstance(name, str) else name
    return resolve([s], index, Rules(**rules))[s.name]  # type: ignore[arg-type]


def test_a_session_labelled_like_the_folder_is_used_with_its_subject() -> None:
    d = one("CAPS_003_MR_20200401")
    assert (d.subject, d.experiment, d.how) == (
        "CAPS_003",
        "CAPS_003_MR_20200401",
        How.SESSION_LABEL,
    )
    assert d.ok
    assert "matched by session label" in d.reason


def test_a_subject_with_one_mr_session_gets_the_results_on_it() -> None:
    d = one("CAPS_001")
    assert (d.subject, d.experiment, d.how) == (
        "CAPS_001",
        "CAPS_001_MR_20190311",
        How.ONLY_SESSION,
    )
    assert d.reason == "existing session CAPS_001_MR_20190311 — matched by subject label"


def test_other_experiment_types_are_never_chosen() -> None:
    d = one("CAPS_002")  # one MR and one PET session: the MR one
    assert d.experiment == "CAPS_002_MR_20190312"
    d = one("CAPS_005")  # only a PET session: a new MR session, and the PET one is named
    assert (d.how, d.experiment) == (How.NEW_SESSION, "CAPS_005_MR1")
    assert "CAPS_005_PET" in d.reason
    assert "not MR" in d.reason
    d = one("CAPS_005_PET")  # a folder named like a PET session does not land on it
    assert d.how is How.NEW_SUBJECT


def test_several_sessions_are_ambiguous_and_name_their_candidates() -> None:
    d = one("CAPS_003")
    assert d.how is How.AMBIGUOUS
    assert not d.ok
    assert d.experiment == ""
    assert d.candidates == ("CAPS_003_MR_20190313", "CAPS_003_MR_20200401")
    assert "CAPS_003_MR_20190313" in d.problem
    assert "new session CAPS_003_MR1" in d.problem


def test_the_template_decides_among_several_sessions() -> None:
    d = one("sub-07", experiment_template="{subject}_ses-2")
    assert (d.experiment, d.how) == ("sub-07_ses-2", How.TEMPLATE)


def test_a_subject_without_session_gets_a_new_one_from_the_template() -> None:
    d = one("CAPS_004", experiment_template="{folder}_FS")
    assert (d.subject, d.experiment, d.how) == ("CAPS_004", "CAPS_004_FS", How.NEW_SESSION)
    assert d.ok


def test_nothing_matches_a_new_subject_unless_existing_only() -> None:
    d = one("CAPS_099")
    assert (d.subject, d.experiment, d.how) == ("CAPS_099", "CAPS_099_MR1", How.NEW_SUBJECT)
    d = one("CAPS_099", existing_only=True)
    assert d.how is How.REFUSED
    assert "only existing sessions" in d.problem
    d = one("CAPS_004", existing_only=True)
    assert d.how is How.REFUSED
    assert "has no MR session" in d.problem


def test_letter_case_matches_only_when_unique_and_says_so() -> None:
    d = one("caps_001")
    assert d.experiment == "CAPS_001_MR_20190311"
    assert "letter case differs" in d.reason
    index = archive({"ab": [("ab_MR", MR_SESSION)], "AB": [("AB_MR", MR_SESSION)]})
    assert one("Ab", index).how is How.NEW_SUBJECT  # two case variants: no guess
    assert one("ab", index).experiment == "ab_MR"  # the exact label wins


def test_sanitised_folder_names_match_subject_labels() -> None:
    d = one("Sub A")  # "Sub A" -> "Sub_A"
    assert (d.subject, d.experiment) == ("Sub_A", "Sub_A_MR")


def test_a_mapping_naming_a_session_of_another_subject_is_a_problem() -> None:
    s = folder("CAPS_001")
    mapping = {"CAPS_001": Assignment("CAPS_002", "CAPS_001_MR_20190311")}
    d = resolve([s], REAL, Rules(), mapping)["CAPS_001"]
    assert not d.ok
    assert "belongs to subject CAPS_001" in d.problem


def test_a_mapping_row_resolves_an_ambiguous_folder() -> None:
    s = folder("CAPS_003")
    d = resolve([s], REAL, Rules(), {"CAPS_003": Assignment("", "CAPS_003_MR_20200401")})[
        "CAPS_003"
    ]
    assert d.ok
    assert (d.subject, d.experiment, d.how) == (
        "CAPS_003",
        "CAPS_003_MR_20200401",
        How.MAPPED,
    )
    d = resolve([s], REAL, Rules(), {"CAPS_003": Assignment("CAPS_003", "CAPS_003_FS")})["CAPS_003"]
    assert d.ok
    assert d.experiment == "CAPS_003_FS"
    assert "new session" in d.reason


def test_folder_pattern_supplies_subject_and_session() -> None:
    pattern = compile_pattern(r"(?P<subject>sub-\d+)_(?P<session>ses-\d+)")
    d = one("sub-07_ses-2", experiment_template="{subject}_{session}", folder_pattern=pattern)
    # a session label equal to the folder wins first
    assert d.experiment == "sub-07_ses-2"
    assert d.how is How.SESSION_LABEL
    d = one("sub-08_ses-1", experiment_template="{subject}_{session}", folder_pattern=pattern)
    assert (d.subject, d.experiment, d.how) == ("sub-08", "sub-08_ses-1", How.NEW_SUBJECT)
    d = one("sub-07_ses-3", experiment_template="{subject}_{session}", folder_pattern=pattern)
    assert d.how is How.AMBIGUOUS  # sub-07 has sessions, none is ses-3
    d = one("bert", folder_pattern=pattern)
    assert d.how is How.REFUSED
    assert "does not match the folder pattern" in d.problem


def test_template_and_pattern_are_checked() -> None:
    with pytest.raises(LabelError, match="known are"):
        check_template("{subjekt}_MR")
    with pytest.raises(LabelError, match="'session' group"):
        check_template("{subject}_{session}")
    with pytest.raises(LabelError, match="no group named 'subject'"):
        compile_pattern(r"sub-\d+")
    with pytest.raises(LabelError, match="not a valid regular expression"):
        compile_pattern(r"(?P<subject>")


def test_longitudinal_runs_follow_their_time_point_and_the_base_its_subject() -> None:
    index = archive({"CAPS_001": [("CAPS_001_tp1", MR_SESSION), ("CAPS_001_tp2", MR_SESSION)]})
    folders = [
        base("CAPS_001_base", "CAPS_001_tp1", "CAPS_001_tp2"),
        long_run("CAPS_001_tp1", "CAPS_001_base"),
        long_run("CAPS_001_tp2", "CAPS_001_base"),
        folder("CAPS_001_tp1"),
    ]
    out = resolve(folders, index, Rules(resource="FREESURFER7"))
    assert list(out) == [f.name for f in folders]  # in the order given
    tp1 = out["CAPS_001_tp1.long.CAPS_001_base"]
    assert (tp1.experiment, tp1.resource, tp1.level) == (
        "CAPS_001_tp1",
        "FREESURFER7_LONG",
        Level.EXPERIMENT,
    )
    assert tp1.how is How.TIME_POINT
    assert "longitudinal run of CAPS_001_tp1" in tp1.reason
    assert out["CAPS_001_tp2.long.CAPS_001_base"].experiment == "CAPS_001_tp2"
    b = out["CAPS_001_base"]
    assert (b.subject, b.experiment, b.resource, b.level) == (
        "CAPS_001",
        "",
        "FREESURFER7_BASE",
        Level.SUBJECT,
    )
    assert b.ok
    assert "base of CAPS_001_tp1, CAPS_001_tp2" in b.reason
    assert out["CAPS_001_tp1"].resource == "FREESURFER7"


def test_a_long_run_follows_its_time_point_folder_mapping() -> None:
    folders = [folder("tpA"), long_run("tpA", "baseA")]
    out = resolve(folders, REAL, Rules(), {"tpA": Assignment("CAPS_003", "CAPS_003_MR_20200401")})
    assert out["tpA.long.baseA"].experiment == "CAPS_003_MR_20200401"


def test_a_base_whose_time_points_disagree_or_resolve_nowhere_is_refused() -> None:
    d = one(base("mixed", "CAPS_001", "CAPS_002"))
    assert d.how is How.REFUSED
    assert "different subjects" in d.problem
    assert "CAPS_001 → CAPS_001" in d.problem
    d = one(base("lost", "CAPS_001", "nobody"), existing_only=True)
    assert d.how is How.REFUSED
    assert "nobody" in d.problem
    d = one(base("empty"))
    assert d.how is How.REFUSED


def test_an_ambiguous_time_point_makes_the_long_run_ambiguous_but_not_the_base() -> None:
    d = one(long_run("CAPS_003", "CAPS_003_base"))
    assert d.how is How.AMBIGUOUS
    assert d.candidates
    assert "time point CAPS_003" in d.problem
    d = one(base("CAPS_003_base", "CAPS_003"))
    assert d.ok
    assert d.subject == "CAPS_003"


def test_an_empty_project_proposes_todays_labels() -> None:
    d = one("bert", EMPTY_INDEX)
    assert (d.subject, d.experiment, d.resource) == ("bert", "bert_MR1", "FREESURFER7")
    d = one(long_run("bert", "bert_base"), EMPTY_INDEX)
    assert (d.subject, d.experiment, d.resource) == ("bert", "bert_MR1", "FREESURFER7_LONG")
