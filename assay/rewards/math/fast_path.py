"""The ``math`` reward's decisions made without sympy: plain numbers, equal strings, and word
answers.

Why: most answers in grade-school sets are plain numbers, and comparing ``1,234`` with
``1234`` does not need a LaTeX parser or a process pool. The rule that keeps this sound is the
**fast-path invariant**: the fast path says "wrong" only when math-verify could not say
"right" (both sides plain numbers, clearly different); everything it is unsure of goes to
math-verify. ``tests/test_math_fast_path_probe.py`` checks the invariant on every pair of a
grid of number formats against math-verify itself.

Word answers (``listen``, ``forty two``, ``Even``) are not mathematics: math-verify reads them
as products of one-letter symbols, which commute, so ``listen`` would equal ``silent``. A
reference that is a word or words is compared as text instead (:func:`word_answer`).

What this module does not do: extraction (``assay.rewards.rules.extraction``) or math-verify
(``worker.py``).

    >>> fast_compare("1,000", "1000").equal
    True
    >>> fast_compare("0,111", "111") is None   # a decimal comma: not for the fast path
    True
    >>> word_answer("$\\\\text{Even}$"), word_answer("x"), word_answer("4a-2")
    ('even', None, None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["FastVerdict", "PlainNumber", "decimal_comma_reference", "fast_compare", "normalise_latex", "plain_number", "word_answer"]

# a first thousands group never starts with 0 ("0,111" is a decimal comma, not 111)
_PLAIN_NUMBER = re.compile(r"^([-+]?)([1-9]\d{0,2}(?:,\d{3})+|\d+)?(\.\d+)?$")
_TEXT_WRAP = re.compile(r"^\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}$")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")
_THOUSANDS = re.compile(r"^[-+]?[1-9]\d{0,2}(?:,\d{3})+$")
_WORDS = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")
_TWO_LETTERS = re.compile(r"[^\W\d_]{2}")
_LIST_SEPARATOR = re.compile(r"\s*[,;]\s*")


@dataclass(frozen=True)
class PlainNumber:
    value: Decimal
    percent: bool
    is_integer_literal: bool


def _unwrap(text: str) -> str:
    """Drop math delimiters (``$...$``, ``\\(...\\)``, ``\\[...\\]``) and one ``\\text{}``-like
    wrapper around the whole text."""
    s = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
            s = s[len(left) : -len(right)].strip()
            break
    wrapped = _TEXT_WRAP.match(s)
    if wrapped:
        s = wrapped.group(1).strip()
    return s


def plain_number(text: str) -> PlainNumber | None:
    """``text`` as a plain number (``1,234``, ``-0.5``, ``$18``, ``\\$18.00``, ``45\\%``), or None
    when it is anything else (fractions, expressions, units, words, decimal commas, scientific
    notation)."""
    s = text.strip()
    s = s.replace("\u2212", "-").replace("\\!", "").replace("{,}", ",").replace("\\,", "")
    s = _unwrap(s)
    s = s.rstrip(".").strip()
    percent = False
    for suffix in ("\\%", "%"):
        if s.endswith(suffix):
            s, percent = s[: -len(suffix)].strip(), True
            break
    sign = ""
    if s and s[0] in "+-":
        sign, s = s[0], s[1:].strip()
    for prefix in ("\\$", "$"):
        if s.startswith(prefix):
            s = s[len(prefix) :].strip()
            break
    s = sign + s
    match = _PLAIN_NUMBER.match(s)
    if not match or not (match.group(2) or match.group(3)):
        return None
    try:
        value = Decimal(s.replace(",", ""))
    except InvalidOperation:
        return None
    return PlainNumber(value, percent, match.group(3) is None)


def decimal_comma_reference(text: str) -> str | None:
    """A bare reference written with a decimal comma (``1,22``, ``0,111``, ``1000,99``) in
    decimal-point form, as math-verify reads a bare number; None for anything else (``1,222``
    is a thousands separator, as math-verify reads it too)."""
    s = text.strip()
    if _DECIMAL_COMMA.match(s) and not _THOUSANDS.match(s):
        return s.replace(",", ".")
    return None


def word_answer(text: str) -> str | None:
    """The words of an answer that is only words (``listen``, ``forty two``, ``$\\text{Even}$``,
    ``Yes.``), case-folded with spaces collapsed; a list of such items (``red, blue``) as its
    sorted items, since math-verify would read it as a set. None when it is anything else (a
    single letter such as ``x`` or ``A`` is a symbol, not a word)."""
    s = " ".join(_unwrap(text).split()).rstrip(".!?").strip()
    items = [item.strip() for item in _LIST_SEPARATOR.split(s)]
    if not items or not all(item and _WORDS.match(item) for item in items) or not _TWO_LETTERS.search(s):
        return None
    return ", ".join(sorted({item.casefold() for item in items}))


_NORMALISE_DROP = ("\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "$", "\\displaystyle")


def normalise_latex(text: str) -> str:
    """A light, meaning-preserving normalisation for string equality (never for inequality)."""
    s = text
    for token in _NORMALISE_DROP:
        s = s.replace(token, "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\u2212", "-")
    s = "".join(s.split())
    return s.rstrip(".")


@dataclass(frozen=True)
class FastVerdict:
    equal: bool
    how: str  # words for the rationale


def fast_compare(gold: str, answer: str, precision: int = 6) -> FastVerdict | None:
    """Settle ``answer`` against ``gold`` without sympy when that is sound, else None.

    Equal plain numbers or equal normalised strings match. Two plain numbers that differ by
    more than math-verify's rounding could absorb (``precision`` decimals, 15 significant
    digits) do not match. Anything in between (percentages that differ, near-equal decimals)
    is left to math-verify, so the fast path never says "wrong" where math-verify would say
    "right".
    """
    g, a = plain_number(gold), plain_number(answer)
    if g is not None and a is not None:
        if g.value == a.value:
            return FastVerdict(True, "numeric fast path")
        if g.percent or a.percent:
            return None  # 50% vs 0.5: math-verify decides
        diff = abs(g.value - a.value)
        scale = max(abs(g.value), abs(a.value), Decimal(1))
        if diff > Decimal(15) * Decimal(10) ** (-precision - 1) and diff > scale * Decimal("1e-9"):
            return FastVerdict(False, "numeric fast path")
        return None
    ng, na = normalise_latex(gold), normalise_latex(answer)
    if ng and ng == na:
        return FastVerdict(True, "equal after normalisation, fast path")
    return None
