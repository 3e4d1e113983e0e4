"""Reading a stated confidence from a response, in linear time and without regular expressions.

A model trained to say how sure it is writes it in one of a few shapes; ``ConfidenceReader``
finds the *last* one in the text (the final statement wins over a figure quoted mid-reasoning):

- a tag: ``<confidence>0.8</confidence>`` (tag names configurable, ``tags``),
- a label and a separator: ``Confidence: 80%``, ``**Confidence level:** 0.8``, ``certainty = 70``
  (``labels``; the separator is ``:`` or ``=``, with spaces and ``*`` around it),
- a phrase with one ``{}`` for the number: ``I am 70% sure``, ``I'm 0.7 confident`` (``phrases``).

The number is ``0.8``, ``80%``, ``80 percent``, ``.8`` or a fraction ``8/10``. ``scale`` says how a bare number
reads: ``auto`` (a ``%`` or "percent" means per cent; else a number up to 1 is a probability
and one above 1 up to 100 is per cent), ``unit`` (always a probability) or ``percent``.

Absent (no marker) or unreadable (a marker whose content is no number in [0, 1] after scaling,
such as ``Confidence: high`` or ``<confidence>1.7</confidence>`` on the unit scale) is a
failure, never a confidence of 0: ``read`` returns a ``Stated`` with ``value`` None and the
reason. Matching is on the lower-cased text with whitespace runs read as one space, by
``str.rfind`` from the end: no backtracking, so hostile text (a megabyte of ``<confidence>``)
costs linear time.

    >>> reader = ConfidenceReader()
    >>> reader.read("... so x = 4.\\nConfidence: 80%").value
    0.8
    >>> reader.read("<confidence>0.35</confidence>").value
    0.35
    >>> reader.read("The answer is 12. I am 70% sure.").value
    0.7
    >>> reader.read("Confidence: high").reason
    "the last stated confidence ('confidence: high') holds no number"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from assay.reward import Options

Scale = Literal["auto", "unit", "percent"]

DEFAULT_TAGS = ["confidence"]
DEFAULT_LABELS = ["confidence", "confidence level", "confidence score", "certainty"]
DEFAULT_PHRASES = ["i am {} sure", "i'm {} sure", "i am {} confident", "i'm {} confident", "i am {} certain", "i'm {} certain"]

_NUMBER_MAX = 24  # characters of a number; longer digit runs are not a confidence
_SEPARATOR_SPAN = 12  # characters of spaces, '*', '_' and one ':' or '=' between a label and its number


class ConfidenceOptions(Options):
    """Where a stated confidence is read from (shared by every reward that reads one)."""

    tags: list[str] = Field(default_factory=lambda: list(DEFAULT_TAGS))  # <NAME>0.8</NAME>
    labels: list[str] = Field(default_factory=lambda: list(DEFAULT_LABELS))  # NAME: 80%
    phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_PHRASES))  # "i am {} sure"
    scale: Scale = "auto"

    @field_validator("tags", "labels")
    @classmethod
    def _plain_words(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value.strip() or any(c in value for c in "<>"):
                raise ValueError(f"{value!r}: expected a non-empty name without '<' or '>'")
        return values

    @field_validator("phrases")
    @classmethod
    def _one_slot(cls, values: list[str]) -> list[str]:
        for value in values:
            before = value.partition("{}")[0]
            if value.count("{}") != 1 or not before.strip():
                raise ValueError(f"{value!r}: a phrase needs exactly one '{{}}' for the number, with words before it (e.g. 'i am {{}} sure')")
        return values


@dataclass(frozen=True)
class Stated:
    """What was read: ``value`` in [0, 1], or None with ``reason``; ``marker`` is the text found."""

    value: float | None
    reason: str
    marker: str = ""
    kind: str = ""  # tag, label or phrase


def _normalise(text: str) -> str:
    """Lower case, curly apostrophes straight, every whitespace run one space (linear)."""
    return " ".join(text.lower().replace("\u2019", "'").split())


def _word_edge(text: str, index: int) -> bool:
    return index <= 0 or not text[index - 1].isalnum()


def _number_at(text: str, start: int) -> tuple[str, str, int] | None:
    """A number starting at ``start`` (after optional spaces): (digits, how it reads, end), or
    None. How it reads: ``percent`` (a ``%`` or "percent" follows), ``fraction`` (``8/10``,
    whose value's digits come back: ``0.8``; a zero denominator is no number) or ``plain``."""
    found = _plain_number_at(text, start)
    if found is None or found[1] != "plain" or not text.startswith("/", found[2]):
        return found
    denominator = _plain_number_at(text, found[2] + 1)
    if denominator is None or denominator[1] != "plain" or float(denominator[0]) == 0:
        return None
    return repr(float(found[0]) / float(denominator[0])), "fraction", denominator[2]


def _plain_number_at(text: str, start: int) -> tuple[str, str, int] | None:
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    j = i
    seen_digit = seen_dot = False
    while j < len(text) and j - i < _NUMBER_MAX:
        c = text[j]
        if c.isdigit() and c.isascii():
            seen_digit = True
        elif c == "." and not seen_dot and j + 1 < len(text) and text[j + 1].isdigit():
            seen_dot = True
        else:
            break
        j += 1
    if not seen_digit or (j < len(text) and text[j].isdigit()):
        return None
    digits = text[i:j]
    k = j
    while k < len(text) and text[k] == " " and k - j < 2:
        k += 1
    if text.startswith("%", k):
        return digits, "percent", k + 1
    if text.startswith("percent", k):
        return digits, "percent", k + len("percent")
    return digits, "plain", j


class ConfidenceReader:
    """Finds the last stated confidence in a text (see the module docstring)."""

    def __init__(self, options: ConfidenceOptions | None = None) -> None:
        self.options = options or ConfidenceOptions()
        self._tags = [_normalise(t) for t in self.options.tags]
        self._labels = sorted({_normalise(t) for t in self.options.labels}, key=len, reverse=True)
        self._phrases: dict[str, list[str]] = {}  # phrases by the words before the number: each prefix scanned once
        for phrase in self.options.phrases:
            before, after = (_normalise(part) for part in phrase.split("{}"))
            self._phrases.setdefault(before, []).append(after)

    def read(self, text: str) -> Stated:
        norm = _normalise(text)
        found: list[tuple[int, Stated]] = []
        for tag in self._tags:
            if (hit := self._last_tag(norm, tag)) is not None:
                found.append(hit)
        for label in self._labels:
            if (hit := self._last_label(norm, label)) is not None:
                found.append(hit)
        for before, afters in self._phrases.items():
            if (hit := self._last_phrase(norm, before, afters)) is not None:
                found.append(hit)
        if not found:
            return Stated(None, "no stated confidence found (looked for tags " + ", ".join(f"<{t}>" for t in self._tags)
                          + "; labels " + ", ".join(f"'{t}:'" for t in self._labels) + f"; {len(self.options.phrases)} phrases)")
        return max(found, key=lambda hit: hit[0])[1]

    # --- one marker kind each, scanning from the end ---------------------------------------
    def _last_tag(self, text: str, tag: str) -> tuple[int, Stated] | None:
        opening, closing = f"<{tag}>", f"</{tag}>"
        end = len(text)
        # from the last closing tag back to the opening nearest before it: every rfind moves
        # left of the one before, so the scan is linear however many tags the text holds
        while (close := text.rfind(closing, 0, end)) >= 0:
            start = text.rfind(opening, 0, close)
            if start >= 0:
                body = text[start + len(opening): close].strip()
                return start, self._value(body, text[start: close + len(closing)], "tag", whole=True)
            end = close  # a stray closing tag: look further back
        return None  # no closed tag (a cut-off response's "<confidence>0.8" is no statement)

    def _last_label(self, text: str, label: str) -> tuple[int, Stated] | None:
        end = len(text)
        while (start := text.rfind(label, 0, end)) >= 0:
            end = start
            if not _word_edge(text, start):
                continue
            i = start + len(label)
            stop = min(len(text), i + _SEPARATOR_SPAN)
            separators = 0
            while i < stop and text[i] in " *_:=":
                separators += text[i] in ":="
                i += 1
            if separators != 1:
                continue  # "confidence in the result": prose, not a statement
            marker = text[start: min(len(text), i + _NUMBER_MAX)]
            number = _number_at(text, i)
            if number is None:
                return start, Stated(None, f"the last stated confidence ({marker.strip()!r}) holds no number", marker, "label")
            return start, self._scaled(number, text[start: number[2]], "label")
        return None

    def _last_phrase(self, text: str, before: str, afters: list[str]) -> tuple[int, Stated] | None:
        end = len(text)
        while (start := text.rfind(before, 0, end)) >= 0:
            end = start
            if not _word_edge(text, start):
                continue
            number = _number_at(text, start + len(before))
            if number is None:
                continue
            k = number[2]
            while k < len(text) and text[k] == " ":
                k += 1
            after = next((a for a in afters if text.startswith(a, k)), None)
            if after is None:
                continue
            return start, self._scaled(number, text[start: k + len(after)], "phrase")
        return None

    # --- the number -----------------------------------------------------------------------------
    def _value(self, body: str, marker: str, kind: str, whole: bool) -> Stated:
        number = _number_at(body, 0)
        if number is None or (whole and body[number[2]:].strip()):
            return Stated(None, f"the last stated confidence ({marker[:80]!r}) holds no number" if number is None
                          else f"the last stated confidence ({marker[:80]!r}) is not just a number", marker[:200], kind)
        return self._scaled(number, marker, kind)

    def _scaled(self, number: tuple[str, str, int], marker: str, kind: str) -> Stated:
        digits, reads, _ = number
        raw = float(digits)
        scale = self.options.scale
        if reads == "fraction":
            value, how = raw, "a fraction"
        elif scale == "percent" or reads == "percent" or (scale == "auto" and raw > 1):
            value, how = raw / 100, "per cent"
        else:
            value, how = raw, "a probability"
        marker = marker[:200]
        if not 0.0 <= value <= 1.0:
            return Stated(None, f"the last stated confidence ({marker!r}) reads {raw:g} as {how}, outside [0, 1]", marker, kind)
        return Stated(value, f"stated confidence {value:.4g} (from {marker!r})", marker, kind)
