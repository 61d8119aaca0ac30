"""One wording per import result, for every place the window shows one: the transfer rows, the
summary and the log. The core's texts may already start with the status ("skipped: an
identical resource…", "cancelled by the user"): they are never prefixed with it again."""

from __future__ import annotations

from fsxnat_gui.core.model import ResultStatus, SubjectResult

STATUS_WORDS = {
    ResultStatus.IMPORTED: "imported",
    ResultStatus.SKIPPED: "skipped",
    ResultStatus.FAILED: "failed",
    ResultStatus.CANCELLED: "cancelled",
    ResultStatus.NOT_IMPORTED: "not imported",  # no destination yet (ambiguous, or refused)
}


def _core_text(result: SubjectResult) -> str:
    return (result.error or result.detail).strip()


def reason(result: SubjectResult) -> str:
    """Why the subject ended so, without its status word: "" when the core's text only
    restates the status ("cancelled") or continues it ("cancelled by the user")."""
    text, word = _core_text(result), STATUS_WORDS[result.status]
    if text.lower().startswith(word):
        rest = text[len(word) :]
        return rest.lstrip(" :").strip() if rest.startswith(":") else ""
    return text


def describe(result: SubjectResult) -> str:
    """The status and why, for a log line: "failed: the server said…", "cancelled by the user",
    "skipped: an identical resource is already on the server", "imported"."""
    text, word = _core_text(result), STATUS_WORDS[result.status]
    if text.lower().startswith(word):
        return text
    return f"{word}: {text}" if text else word
