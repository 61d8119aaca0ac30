"""XNAT label rules and the sanitised labels proposed for folder names."""

from __future__ import annotations

import pytest

from fsxnat_gui.core.labels import LABEL_RE, MAX_LEN, label_problem, sanitize


@pytest.mark.parametrize("label", ["bert", "sub-01", "SUB_01", "0", "a" * MAX_LEN, "-x_"])
def test_valid_labels(label: str) -> None:
    assert label_problem(label) is None
    assert LABEL_RE.fullmatch(label)


@pytest.mark.parametrize(
    ("label", "named"),
    [
        ("sub 01", "(space)"),
        ("bert.long", "('.')"),
        ("a/b", "('/')"),
        ("x\n", "(U+000A)"),
        ("émile", "('é')"),
        ("a b.c d", "(space, '.')"),
    ],
)
def test_invalid_characters_are_named(label: str, named: str) -> None:
    problem = label_problem(label)
    assert problem is not None
    assert named in problem
    assert "use letters, digits, '_' and '-'" in problem


def test_exact_message() -> None:
    assert label_problem("sub 01") == (
        "'sub 01' has characters XNAT does not allow (space); use letters, digits, '_' and '-'"
    )


def test_empty_and_too_long() -> None:
    assert "empty" in (label_problem("") or "")
    assert f"at most {MAX_LEN}" in (label_problem("a" * (MAX_LEN + 1)) or "")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("bert", "bert"),
        ("sub 01", "sub_01"),
        ("bert.long.base", "bert_long_base"),
        ("  weird  name!! ", "weird_name"),
        ("__x__", "x"),
        ("émile", "mile"),
        ("...", "subject"),
        ("", "subject"),
        ("sub-01_a", "sub-01_a"),
    ],
)
def test_sanitize(name: str, label: str) -> None:
    assert sanitize(name) == label


def test_sanitize_always_valid_and_bounded() -> None:
    for name in ["a" * 300, "x" * 254 + " y", "ü" * 10, "a\tb", "x" * 254 + "__y"]:
        label = sanitize(name)
        assert label_problem(label) is None, (name, label)
        assert len(label) <= MAX_LEN
