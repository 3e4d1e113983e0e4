"""The one final-answer extractor (used by ``exact_match``, ``f1``, ``choice`` and ``math``),
and the small normalisation helpers of the match rewards.

Why one module: the match rewards and the ``math`` reward used to carry two regex sets for the
same job ("where is the final answer?"), and both had super-linear patterns. Every scanner here
is linear in the length of its input (plain ``str.find`` loops, or regexes whose every
repetition is followed by a literal that cannot be backtracked into), so no model output can
make extraction itself slow; ``tests/test_extraction_hostile.py`` pins this at 1 MB per shape.
What this module does not do: compare answers (``match.py`` and ``math/`` do that).

Extraction modes of the match rewards (their ``extract`` option):

- ``answer_tag``: the text inside the last ``<answer>...</answer>``;
- ``boxed``: the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced;
- ``last_line``: the last non-empty line;
- ``none``: the whole response;
- ``auto``: the first of answer tag, boxed, ``#### X`` (GSM8K), a final "the answer is X",
  falling back to the whole response.

A custom ``pattern`` (a regex with one group; its last match wins) replaces the mode.

The ``math`` reward reads a response with :func:`extract_final_answer`, which follows
math-verify's precedence: the last group of ``\\boxed{}`` (several boxes joined by ``,``,
"and", "or" or nothing count together, as math-verify reads them), unless a "final answer is X"
comes after it (math-verify gives the two the same priority and takes the rightmost); then
``#### X``, a final ``A: X`` / ``Answer: X`` line, a final "the answer is X" sentence.

    >>> extract_answer("Thinking... so \\\\boxed{\\\\frac{1}{2}}.").answer
    '\\\\frac{1}{2}'
    >>> extract_answer("<answer> Paris </answer>").method
    'answer_tag'
    >>> extract_final_answer("\\\\boxed{(2,2)} and \\\\boxed{(6,2)}").parts
    ('(2,2)', '(6,2)')
    >>> extract_final_answer("\\\\boxed{255}. Final Answer: The final answer is $10,455$. I hope it is correct.").answer
    '$10,455$'
    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import regex

from assay.text import shorten

ExtractMode = Literal["auto", "none", "answer_tag", "boxed", "last_line"]

_ANSWER_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"</answer>", re.IGNORECASE)
_BOXED_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
# "answer is" / "answer:" (the match rewards' claim). One repetition, followed by a literal:
# on a long run of spaces it backtracks at most once over that run.
_ANSWER_WORD = re.compile(r"\banswer\s*(?:is|:)", re.IGNORECASE)
# "the (final) answer is" (the math reward's sentence)
_THE_ANSWER_IS = re.compile(r"the\s+(?:final\s+)?answer\s+is", re.IGNORECASE)
# math-verify's "final answer ... is" (up to 100 characters between, as math-verify allows)
_FINAL_ANSWER = re.compile(r"final\s+answer", re.IGNORECASE)
_FINAL_IS = re.compile(r"[^\n]{0,100}?\sis\b", re.IGNORECASE)
_I_HOPE = re.compile(r"\.?\s?I hope")
# at a line start (leading blanks of that line only, so a run of newlines is never rescanned)
_A_LINE_HEAD = re.compile(r"^[ \t\r\f\v]*(?:\*\*)?(?:A|Answer|Final Answer)(?:\*\*)?\s*:(?:\*\*)?", re.IGNORECASE | re.MULTILINE)
_SEPARATOR = re.compile(r"\b(?:and|or)\b|,|;")
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_TRAILING_DOTS = re.compile(r"[.。]+$")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_DECIMAL_PLACEHOLDER = "\u0000"
_WHITESPACE = " \t\n\r\f\v"
_BLANK = " \t\r\f\v"  # whitespace that is not a line break


@dataclass(frozen=True)
class Extracted:
    """The answer part of a response (None when the chosen mode found nothing) and how it was
    found: ``answer_tag``, ``boxed``, ``hashes``, ``a_line``, ``answer_is``, ``last_line``,
    ``pattern`` or ``whole``. ``parts`` holds the contents of every box of a final group of
    several ``\\boxed{}`` (``answer`` is then those contents joined by ", ")."""

    answer: str | None
    method: str
    parts: tuple[str, ...] = ()

    def describe(self) -> str:
        return {
            "answer_tag": "the <answer> tag",
            "boxed": "the last \\boxed{}" if len(self.parts) < 2 else f"the last {len(self.parts)} \\boxed{{}}",
            "hashes": "the text after ####",
            "a_line": "the final 'A: ...' line",
            "answer_is": 'the final "the answer is ..."',
            "final_answer": 'the "final answer is ..." after the last \\boxed{}',
            "last_line": "the last line",
            "pattern": "the custom pattern",
            "whole": "the whole response",
        }.get(self.method, self.method)


# --- boxes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """One closed ``\\boxed{...}``: where it starts (the backslash), its content, where it ends
    (after the closing brace)."""

    start: int
    content: str
    end: int


def closed_boxes(text: str) -> list[Box]:
    """Every ``\\boxed{...}``/``\\fbox{...}`` whose braces close, in order of their start.

    One pass with a stack of open braces (escaped ``\\{``/``\\}`` do not count), so a text of
    unclosed ``\\boxed{`` costs what its length costs."""
    openings = {m.end() - 1: m.start() for m in _BOXED_START.finditer(text)}  # "{" position -> "\\" position
    if not openings:
        return []
    found: list[Box] = []
    stack: list[int] = []  # positions of the open "{"
    # braces before the first box cannot change where a box closes: start there
    i, n = min(openings.values()), len(text)
    while i < n:
        # jump to the next brace or backslash
        j = _next_special(text, i)
        if j < 0:
            break
        ch = text[j]
        if ch == "\\":
            i = j + 2 if j + 1 < n and text[j + 1] in "{}" else j + 1
            continue
        if ch == "{":
            stack.append(j)
        elif stack:
            opened = stack.pop()
            start = openings.get(opened)
            if start is not None:
                found.append(Box(start, text[opened + 1 : j].strip(), j + 1))
        i = j + 1
    found.sort(key=lambda box: box.start)
    return found


_SPECIAL = re.compile(r"[\\{}]")


def _next_special(text: str, start: int) -> int:
    match = _SPECIAL.search(text, start)
    return match.start() if match else -1


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``/``\\fbox{...}`` with balanced braces, or None
    (also None when none is closed). Linear time."""
    boxes = closed_boxes(text)
    return boxes[-1].content if boxes else None


def last_boxed_group(text: str) -> list[Box]:
    """The last closed box and the boxes before it that math-verify reads together with it
    (``\\boxed{(2,2)} and \\boxed{(6,2)}``, ``$\\boxed{1}\\boxed{2}$``). Walking back from the
    last box, an earlier box joins the group when the text between the two is under 10
    characters, or under 70 characters with a separator in it (``,``, ``;``, "and", "or") and
    a different content; a repeat of the same content counts once. Empty when there is no
    closed box. A box nested in another ends the group."""
    boxes = closed_boxes(text)
    if not boxes:
        return []
    group = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        head = group[0]
        if box.end > head.start:  # the head is nested in this box: the group ends here
            break
        gap = text[box.end : head.start]
        if len(gap) >= 10 and not (len(gap) < 70 and box.content != head.content and _SEPARATOR.search(gap)):
            break
        if box.content == head.content:
            group[0] = box  # the same answer twice: once
        else:
            group.insert(0, box)
    return group


# --- markers ----------------------------------------------------------------------------------


def answer_tag(text: str) -> str | None:
    """The content of the last ``<answer>...</answer>``, stripped, or None. Each opening tag
    pairs with the first closing tag after it; linear time."""
    found: str | None = None
    pos = 0
    while True:
        opened = _ANSWER_OPEN.search(text, pos)
        if opened is None:
            break
        closed = _ANSWER_CLOSE.search(text, opened.end())
        if closed is None:
            break
        found = text[opened.end() : closed.start()]
        pos = closed.end()
    return found.strip() if found is not None else None


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _rest_of_line(text: str, pos: int) -> tuple[str | None, int]:
    """From ``pos``: skip whitespace (newlines included), then the rest of that line without
    trailing whitespace; None when only whitespace is left. Also returns where the line ends."""
    start = _skip_space(text, pos)
    if start >= len(text):
        return None, len(text)
    end = _line_end(text, start)
    return text[start:end].rstrip(), end


def after_hashes(text: str) -> str | None:
    """What follows the last ``####`` (GSM8K's answer marker) on its line, or None. The first
    ``####`` of a line takes the rest of that line; blank space after the marker is skipped,
    line breaks included."""
    found: str | None = None
    pos = 0
    while True:
        at = text.find("####", pos)
        if at < 0:
            break
        value, end = _rest_of_line(text, at + 4)
        if value is None:
            # only blank space left: an empty answer when that space is more than line breaks
            # (what the earlier regex gave, kept so exact_match/f1 scores do not move)
            if any(ch in _BLANK for ch in text[at + 4 :]):
                found = ""
            break
        found = value
        pos = end
    return found.strip() if found is not None else None


def _clean(answer: str) -> str:
    answer = answer.strip().strip("*_` ").strip()
    return _TRAILING_DOTS.sub("", answer).strip()


def answer_is(text: str) -> str | None:
    """X in the last "the answer is X" / "Answer: X" of the text, without trailing period or
    Markdown emphasis, or None (the match rewards' claim). The first claim of a line takes
    the rest of that line."""
    found: str | None = None
    pos = 0
    while True:
        claim = _ANSWER_WORD.search(text, pos)
        if claim is None:
            break
        at = _skip_space(text, claim.end())
        colon = text.startswith(":", at)
        value, end = _rest_of_line(text, at + 1 if colon else at)
        if value is None:
            # only blank space left: keep what the earlier regex read there, so exact_match/f1
            # scores do not move (blank, which counts as no answer, or the colon itself)
            tail = text[at + 1 :] if colon else text[claim.end() :]
            if any(ch in _BLANK for ch in tail):
                found = ""
            elif colon:
                found = ":"
            break
        found = value
        pos = end
    if found is None:
        return None
    value = found.strip().strip("*_` ")
    value = _TRAILING_DOTS.sub("", value).strip().strip("*_` $")
    return value or None


def answer_sentence(text: str) -> str | None:
    """X in the last "the (final) answer is X" sentence (cut at the first ". "), or None."""
    found: str | None = None
    pos = 0
    while True:
        claim = _THE_ANSWER_IS.search(text, pos)
        if claim is None:
            break
        at = _skip_space(text, claim.end())
        if text.startswith(":", at):
            at += 1
        at = _skip_space(text, at)
        if at >= len(text) or text[at] == "\n":
            pos = claim.end()
            continue
        end = _line_end(text, at)
        rest = text[at:end]
        stop = _SENTENCE_END.search(rest)
        value = _clean(rest[: stop.start()] if stop else rest)
        if value:
            found = value
        pos = end
    return found


@dataclass(frozen=True)
class FinalAnswerClaim:
    """The last "final answer ... is X" of a text: X, where the claim starts, and whether it is
    math-verify's strongest form ("... is X. I hope it is correct")."""

    value: str
    start: int
    hope: bool


def final_answer_claim(text: str) -> FinalAnswerClaim | None:
    """The last "final answer (up to 100 characters) is X" on one line, X cut at the first
    ". ", or None. Linear: each "final answer" is examined over a bounded window."""
    found: FinalAnswerClaim | None = None
    pos = 0
    while True:
        head = _FINAL_ANSWER.search(text, pos)
        if head is None:
            break
        pos = head.end()
        tail = _FINAL_IS.match(text, head.end(), min(len(text), head.end() + 104))
        if tail is None:
            continue
        at = tail.end()
        if text.startswith(":", at):
            at += 1
        while at < len(text) and text[at] in " \t":
            at += 1
        end = _line_end(text, at)
        rest = text[at:end]
        stop = _SENTENCE_END.search(rest)
        value = _clean(rest[: stop.start()] if stop else rest)
        if value:
            hope = bool(_I_HOPE.match(rest, stop.start())) if stop else False
            found = FinalAnswerClaim(value, head.start(), hope)
        pos = max(pos, at)
    return found


def answer_line(text: str) -> str | None:
    """X in the last line that starts with ``A:``, ``Answer:`` or ``Final Answer:`` (bold
    allowed), as in GSM8K's example solutions; an empty line after the colon lets the answer
    sit on the next line. None when there is no such line."""
    found: str | None = None
    pos = 0
    while True:
        head = _A_LINE_HEAD.search(text, pos)
        if head is None:
            break
        value, value_end = _rest_of_line(text, head.end())
        if value is not None and _clean(value):
            found = _clean(value)
        pos = max(value_end, head.end())
    return found


def last_line(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def compile_pattern(pattern: str) -> Any:
    """Compile a custom extraction pattern with the ``regex`` module, the engine that runs it
    (under a time limit, ``bounds.BoundedPattern``); it must have exactly one group. A clear
    error otherwise (raised when the reward is built, not per sample)."""
    try:
        compiled = regex.compile(pattern, regex.DOTALL)
    except regex.error as error:
        raise ValueError(f"extraction pattern {pattern!r} is not a valid regular expression: {error}") from error
    if compiled.groups != 1:
        raise ValueError(f"extraction pattern {pattern!r} must have exactly one group, it has {compiled.groups}")
    return compiled


# --- the two profiles ---------------------------------------------------------------------------


def extract_answer(text: str, mode: ExtractMode = "auto", pattern: re.Pattern[str] | str | None = None) -> Extracted:
    """The answer part of ``text`` by ``mode`` (or by ``pattern``, whose last match wins): the
    match rewards' reading.

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


def extract_final_answer(text: str) -> Extracted:
    """The final answer of a worked solution: the ``math`` reward's reading (module docstring).
    ``Extracted(None, "none")`` when no marker is present (math-verify then reads the whole
    text)."""
    group = [box for box in last_boxed_group(text) if box.content]
    claim = final_answer_claim(text)
    if claim is not None and (claim.hope or (group and claim.start > group[-1].end)):
        return Extracted(claim.value, "final_answer")
    if group:
        parts = tuple(box.content for box in group)
        return Extracted(", ".join(parts), "boxed", parts if len(parts) > 1 else ())
    for method, finder in (("hashes", after_hashes), ("a_line", answer_line), ("answer_is", answer_sentence)):
        value = finder(text)
        if value is not None and _clean(value):
            return Extracted(_clean(value), method)
    if claim is not None:
        return Extracted(claim.value, "final_answer")
    return Extracted(None, "none")


# --- normalisation --------------------------------------------------------------------------------


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
