"""XNAT label rules (projects, subjects, experiments, resources) and sanitising of folder names.

XNAT accepts `^[A-Za-z0-9_-]+$` for IDs and labels and stores them in 255-character columns
(reference/xnat-rest.md §2.1, §2.3). A label that breaks the rules is refused late and vaguely
(417, or a bare 500 at save time), so every label is checked here before anything is sent.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

LABEL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_LEN = 255

_BAD_RUN = re.compile(r"[^A-Za-z0-9_-]+")
_CHAR_NAMES = {" ": "space", "\t": "tab", ".": "'.'", "/": "'/'", "\\": "'\\'"}


def _describe(char: str) -> str:
    if char in _CHAR_NAMES:
        return _CHAR_NAMES[char]
    if char.isprintable():
        return f"'{char}'"
    return f"U+{ord(char):04X}"


def label_problem(label: str) -> str | None:
    """A user-facing sentence saying why XNAT would refuse `label`, or None when it is valid."""
    if not label:
        return "the label is empty; use letters, digits, '_' and '-'"
    if len(label) > MAX_LEN:
        return f"'{label[:40]}...' is {len(label)} characters long; XNAT allows at most {MAX_LEN}"
    if LABEL_RE.fullmatch(label):
        return None
    bad = sorted({c for c in label if not LABEL_RE.fullmatch(c)}, key=label.index)
    names = ", ".join(_describe(c) for c in bad)
    return (
        f"'{label}' has characters XNAT does not allow ({names}); use letters, digits, '_' and '-'"
    )


def sanitize(name: str) -> str:
    """A valid label close to `name`: each run of other characters becomes one '_'.

    "sub 01" -> "sub_01", "bert.long.base" -> "bert_long_base", "  " -> "subject".
    """
    label = _BAD_RUN.sub("_", name).strip("_")[:MAX_LEN].strip("_")
    return label or "subject"
