"""Small pure helpers shared by the match rewards: find the answer part of a response, and
normalise answers before comparing them.

Extraction modes (the ``extract`` option of ``exact_match``, ``f1`` and ``choice``):

- ``answer_tag``: the text inside the last ``<answer>...</answer>``;
- ``boxed``: the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced;
- ``last_line``: the last non-empty line;
- ``none``: the whole response;
- ``auto``: the first of answer tag, boxed, ``#### X`` (GSM8K), a final "the answer is X",
  falling back to the whole response.

A custom ``pattern`` (a regex with one group; its last match wins) replaces the mode.

    >>> extract_answer("Thinking... so \\\\boxed{\\\\frac{1}{2}}.").answer
    '\\\\frac{1}{2}'
    >>> extract_answer("<answer> Paris </answer>").method
    'answer_tag'
    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Literal

from assay.text import shorten

ExtractMode = Literal["auto", "none", "answer_tag", "boxed", "last_line"]

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_BOXED_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
_ANSWER_IS = re.compile(
    r"\b(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*:?\s*(.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_DECIMAL_PLACEHOLDER = "\u0000"


@dataclass(frozen=True)
class Extracted:
    """The answer part of a response (None when the chosen mode found nothing) and how it was
    found: ``answer_tag``, ``boxed``, ``hashes``, ``answer_is``, ``last_line``, ``pattern`` or
    ``whole``."""

    answer: str | None
    method: str

    def describe(self) -> str:
        return {
            "answer_tag": "the <answer> tag",
            "boxed": "the last \\boxed{}",
            "hashes": "the text after ####",
            "answer_is": 'the final "the answer is ..."',
            "last_line": "the last line",
            "pattern": "the custom pattern",
            "whole": "the whole response",
        }.get(self.method, self.method)


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``/``\\fbox{...}`` with balanced braces, or None
    (also None when the last one is never closed)."""
    starts = list(_BOXED_START.finditer(text))
    for match in reversed(starts):
        depth = 1
        i = match.end()
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
                i += 2  # an escaped brace \{ or \} does not count
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[match.end() : i].strip()
            i += 1
    return None


def answer_tag(text: str) -> str | None:
    """The content of the last ``<answer>...</answer>``, stripped, or None."""
    found = _ANSWER_TAG.findall(text)
    return found[-1].strip() if found else None


def after_hashes(text: str) -> str | None:
    """What follows the last ``####`` (GSM8K's answer marker) on its line, or None."""
    found = _HASHES.findall(text)
    return found[-1].strip() if found else None


def answer_is(text: str) -> str | None:
    """X in the last "the answer is X" / "Answer: X" of the text, without trailing period or
    Markdown emphasis, or None."""
    found = _ANSWER_IS.findall(text)
    if not found:
        return None
    value = found[-1].strip()
    value = value.strip("*_` ")
    value = re.sub(r"[.。]+$", "", value).strip().strip("*_` $")
    return value or None


def last_line(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a custom extraction pattern; it must have exactly one group. A clear error
    otherwise (raised when the reward is built, not per sample)."""
    try:
        compiled = re.compile(pattern, re.DOTALL)
    except re.error as error:
        raise ValueError(f"extraction pattern {pattern!r} is not a valid regular expression: {error}") from error
    if compiled.groups != 1:
        raise ValueError(f"extraction pattern {pattern!r} must have exactly one group, it has {compiled.groups}")
    return compiled


def extract_answer(text: str, mode: ExtractMode = "auto", pattern: re.Pattern[str] | str | None = None) -> Extracted:
    """The answer part of ``text`` by ``mode`` (or by ``pattern``, whose last match wins).

    ``auto`` never returns None: it falls back to the whole text. The other modes return
    ``Extracted(None, mode)`` when what they look for is absent.
    """
    if pattern is not None:
        compiled = compile_pattern(pattern) if isinstance(pattern, str) else pattern
        found = [m.group(1) for m in compiled.finditer(text)]
        return Extracted(found[-1].strip() if found else None, "pattern")
    if mode == "none":
        return Extracted(text.strip(), "whole")
    if mode == "answer_tag":
        return Extracted(answer_tag(text), "answer_tag")
    if mode == "boxed":
        return Extracted(last_boxed(text), "boxed")
    if mode == "last_line":
        return Extracted(last_line(text), "last_line")
    if mode != "auto":
        raise ValueError(f"unknown extract mode {mode!r}")
    for method, finder in (("answer_tag", answer_tag), ("boxed", last_boxed), ("hashes", after_hashes), ("answer_is", answer_is)):
        value = finder(text)
        if value is not None:
            return Extracted(value, method)
    return Extracted(text.strip(), "whole")


def _is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str, case_sensitive: bool = False) -> str:
    """SQuAD-style normalisation: lowercase, drop punctuation, drop articles (a, an, the),
    collapse whitespace.

    Two deliberate differences from the SQuAD script: Unicode punctuation is dropped too, and
    a decimal point between two digits is kept, so ``3.5`` does not become ``35``.
    ``case_sensitive=True`` skips the lowercasing (articles are then only removed in
    lowercase).
    """
    if not case_sensitive:
        text = text.lower()
    text = _DECIMAL_POINT.sub(_DECIMAL_PLACEHOLDER, text)
    text = "".join(ch for ch in text if not _is_punctuation(ch))
    text = text.replace(_DECIMAL_PLACEHOLDER, ".")
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def light_normalize(text: str, case_sensitive: bool = False) -> str:
    """Only collapse whitespace (and casefold unless ``case_sensitive``): for ``normalize: false``."""
    text = " ".join(text.split())
    return text if case_sensitive else text.casefold()


def clip(text: str, limit: int = 80) -> str:
    """A string for a rationale: quoted, newlines shown as spaces, long ones cut with an ellipsis."""
    return shorten(text, limit, quote=True)


def answer_tokens(text: str, case_sensitive: bool = False) -> list[str]:
    """The tokens SQuAD F1 counts: the normalised answer split on whitespace."""
    return normalize_answer(text, case_sensitive).split()
