"""Small pure parsers that read a judge's verdict out of its text, or say why they cannot.

Each parser takes the judge's raw output and returns a :class:`Verdict` (the value, and the
critique written before it) or a :class:`~assay.types.Failure` of kind ``parse`` with the raw
text kept. They never guess: an output that names two different final verdicts, or that
echoes the verdict template back ("[[A]] if A is better, [[B]] if B is better"), is a
failure, and so is a score outside the scale.

How they read:

1. ``<think>...</think>`` blocks are removed (a reply cut off inside one is a failure:
   the verdict was never written); text after a lone ``</think>`` is kept.
2. Markdown emphasis (``**bold**``, ``__bold__``, backticks) is dropped, so ``**[[A]]**.``
   reads like ``[[A]]``.
3. The verdict is read *from the end*: the last explicit verdict wins. Explicit forms are
   ``[[A]]`` / ``[[B]]`` / ``[[C]]`` / ``[[tie]]``, ``[RESULT] 4``, ``Score: 7/10``,
   ``Rating: [[8]]``, ``\\boxed{...}``, ``Final verdict: B``, and JSON such as
   ``{"score": 4}`` or ``{"winner": "A"}``. Plain sentences ("Response A is better") are
   used only when no explicit form is present; a bare number is not a score (the prompts
   ask for a ``Score: N`` line) unless ``parse_score(..., bare_number=True)``.
4. A verdict inside the judge prompt's own instructions is no verdict: text that matches the
   wording around a verdict in ``prompts/*.txt`` ("...write only your verdict: [[A]] when
   response A"), a verdict offered as a choice ("[[A]]" if ...), and a reply that ends in
   the middle of those instructions (an echoed prompt cut off by ``max_tokens``) are
   ``parse`` failures.

    >>> parse_pairwise("A is terse; B explains the proof.\\n\\nFinal verdict: **[[B]]**.").value
    'b'
    >>> parse_score("Clear and correct. Score: 8/10", 1, 10).value
    8.0
    >>> parse_pairwise("Output [[A]] if A is better or [[B]] if B is better.").kind
    'parse'

``expected_score`` and ``pairwise_probability`` turn token logprobs (when the backend gives
them) into an expected score and P(A) / (P(A) + P(B)) at the verdict the judge wrote;
``next_token_score`` and ``next_token_choice`` read them at the first generated token, for
prompts that end right before the verdict (``score_by: logprobs``, ``verdict_by: logprobs``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from assay.types import Failure

PARSER_VERSION = "2"  # bump when a parser's behaviour changes: it keys the request cache

NUM = r"(-?\d+(?:\.\d+)?)"


@dataclass(frozen=True)
class Verdict:
    """A parsed verdict: ``value``, the ``critique`` written before it, and the form it took."""

    value: Any
    critique: str = ""
    form: str = ""


def _fail(message: str, raw: str) -> Failure:
    return Failure("parse", message, raw)


# --- preparing the text ----------------------------------------------------------------------

_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.I)
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.I)


def strip_thinking(text: str) -> str | None:
    """The text outside reasoning blocks; None when the text ends inside an unclosed block."""
    text = _THINK_BLOCK.sub(" ", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:  # "...reasoning</think> answer": a template opened the block in the prompt
        text = text[closes[-1].end():]
    opened = _THINK_OPEN.search(text)
    if opened:
        before = text[: opened.start()]
        return before.strip() if before.strip() else None
    return text.strip()


def normalize_markup(text: str) -> str:
    """Drop markdown emphasis and code ticks so ``**[[A]]**`` and ``Score: *8*`` read plainly."""
    text = text.replace("**", "").replace("__", "").replace("`", "")
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"\1", text)  # *italic*
    return text.replace("\\[", "[").replace("\\]", "]").replace("\u00a0", " ")


def prepare(raw: str) -> str | Failure:
    """Reasoning removed and markup normalised, or a failure saying why nothing is left."""
    if raw is None or not str(raw).strip():
        return _fail("the judge returned empty output", raw or "")
    visible = strip_thinking(str(raw))
    if visible is None:
        return _fail("the output ends inside a <think> block: no verdict was written (truncated?)", raw)
    if not visible.strip():
        return _fail("nothing follows the reasoning block: no verdict was written", raw)
    return normalize_markup(visible)


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    value: Any
    form: str
    strong: bool = True
    final: bool = False  # labelled "final" / "overall"


def _paragraph_start(text: str, position: int) -> int:
    cut = text.rfind("\n\n", 0, position)
    return 0 if cut < 0 else cut + 2


def _line_bounds(text: str, position: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return start, len(text) if end < 0 else end


def _critique(text: str, hit: _Hit) -> str:
    before = text[: hit.start].strip()
    before = re.sub(r"(?i)(final\s+verdict|verdict|score|rating|result|winner)\s*[:=-]?\s*$", "", before).strip()
    return before


# --- echoed prompts ---------------------------------------------------------------------------

PROMPT_DIR = Path(__file__).resolve().parent / "prompts"
_PLACEHOLDER = re.compile(r"\{\{\s*\w+\s*\}\}")
ECHO_CONTEXT = 16  # characters of template text around a verdict that make it an echo
ECHO_TAIL = 40  # a reply whose last characters are this much template text ends mid-instruction
_ECHO_FOLLOWS = re.compile(  # on the same line: "[[A]] if assistant A is better", "[[C]] for a tie"
    r"""^[ \t"'\u201d\u2019)]*(?:(?:if|when)\s+(?:the\s+)?(?:response|assistant|output|answer|model|they|both|[AB]\b)|for\s+a\s+tie\b)""", re.I
)
_ECHO_PRECEDES = re.compile(
    r"(?:this\s+format|this\s+form|like\s+this|for\s+example|e\.g\.|one\s+of\s+these(?:\s+\w+)*\s+lines"
    r"|reply\s+with\s+the\s+verdict\s+only|write\s+only\s+your\s+verdict)\s*:?\s*[\"'\u201c\u2018(]?\s*$",
    re.I,
)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


@lru_cache(maxsize=1)
def template_segments() -> tuple[str, ...]:
    """The fixed text of every judge prompt (``prompts/*.txt``), cut at its ``{{placeholders}}``
    and whitespace-normalised: what a judge that echoes its prompt writes back."""
    segments: list[str] = []
    for path in sorted(PROMPT_DIR.glob("*.txt")):
        text = re.sub(r"^=== \w+ ===$", "", path.read_text(encoding="utf-8"), flags=re.M)
        segments += [_norm(part).strip() for part in _PLACEHOLDER.split(text) if len(part.strip()) >= ECHO_CONTEXT]
    return tuple(segments)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def echoed_at(text: str, start: int, end: int) -> bool:
    """Whether the verdict at ``text[start:end]`` sits inside a judge prompt's own
    instructions: the text around it is the template's text around that verdict for at least
    ``ECHO_CONTEXT`` characters ("write only your verdict: [[A]] when response A"), or it is
    offered as a choice ("[[A]]" if ..., "... in this format: [[A]]")."""
    if _ECHO_FOLLOWS.match(text[end:]) or _ECHO_PRECEDES.search(text[max(0, start - 80):start]):
        return True
    hit = _norm(text[start:end])
    before, after = _norm(text[max(0, start - 80):start]), _norm(text[end:end + 80])
    for segment in template_segments():
        position = segment.find(hit)
        while position >= 0:
            back = _common_prefix(before[::-1], segment[:position][::-1])
            forward = _common_prefix(after, segment[position + len(hit):])
            if back + forward >= ECHO_CONTEXT:
                return True
            position = segment.find(hit, position + 1)
    return False


def ends_mid_instruction(text: str) -> bool:
    """Whether the text ends inside a judge prompt's instructions (an echoed prompt cut off by
    ``max_tokens``): its last ``ECHO_TAIL`` characters are template text."""
    tail = _norm(text).rstrip()
    if len(tail) < ECHO_TAIL:
        return False
    tail = tail[-ECHO_TAIL:]
    return any(tail in segment for segment in template_segments())


_ECHO_MESSAGE = "the verdict appears inside the judge prompt's own instructions: the prompt was echoed back"
_TAIL_MESSAGE = "the output ends in the middle of the judge prompt's instructions: the prompt was echoed back and cut off (max_tokens?)"


def _echo_failure(text: str, hits: list[_Hit], raw: str) -> tuple[list[_Hit], Failure | None]:
    """Hits with the echoed ones removed, or a failure when the text ends mid-instruction or
    every verdict found was an echo."""
    if ends_mid_instruction(text):
        return [], _fail(_TAIL_MESSAGE, raw)
    echoed = [h for h in hits if echoed_at(text, h.start, h.end)]
    kept = [h for h in hits if h not in echoed]
    if hits and not kept:
        return [], _fail(_ECHO_MESSAGE, raw)
    if echoed:
        last = max(kept, key=lambda h: h.start)
        paragraph = _paragraph_start(text, last.start)
        if any(h.start >= paragraph for h in echoed):  # the template's choices beside the "verdict"
            return [], _fail(_ECHO_MESSAGE, raw)
    return kept, None


# --- JSON anywhere in the text ------------------------------------------------------------------


def json_objects(text: str) -> list[tuple[int, int, Any]]:
    """Every JSON object or array embedded in the text, as (start, end, value), in order."""
    decoder = json.JSONDecoder()
    found: list[tuple[int, int, Any]] = []
    position = 0
    while True:
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            return found
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        if isinstance(value, (dict, list)):
            found.append((start, end, value))
            position = end
        else:
            position = start + 1


def _json_field(obj: Any, keys: Sequence[str]) -> Any:
    if isinstance(obj, dict):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        for key in keys:
            if key in lowered:
                return lowered[key]
    return None


# --- pairwise: A, B or tie ------------------------------------------------------------------------

_LABEL = r"(?-i:A|B|C)|tie|draw|(?-i:A\s*=\s*B)"  # case-sensitive letters: "a tie" is not A
_ANY_LABEL = r"A|B|C|tie|draw|A\s*=\s*B"  # inside [[...]] any case is a label
_PAIR_STRONG = [
    ("brackets", re.compile(r"\[\[\s*(" + _ANY_LABEL + r")\s*\]\]", re.I)),
    ("boxed", re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?(?:Response\s+|Assistant\s+)?(" + _LABEL + r")\s*\}?\s*\}", re.I)),
    ("result", re.compile(r"\[RESULT\]\s*:?\s*\(?(" + _LABEL + r")\)?(?![\w])", re.I)),
    (
        "labelled",
        re.compile(
            r"\b(?:final\s+verdict|verdict|winner|better\s+response|preferred\s+response|preference|final\s+answer|decision)"
            r"\s*(?:is|:|=|-)\s*:?\s*(?:that\s+)?(?:a\s+(?=tie))?(?:(?:response|assistant|output|answer|model)\s+)?\(?[\"']?"
            r"(" + _LABEL + r")[\"']?\)?(?=[\s.,;!)\]]|$)",
            re.I,
        ),
    ),
]
_PAIR_WEAK = [
    ("sentence", re.compile(r"\b(?:response|assistant|output|answer)\s+\(?((?-i:A|B))\)?\s+is\s+(?:clearly\s+|slightly\s+|much\s+)?(?:the\s+)?"
                            r"(?:better|superior|preferred|stronger|more\s+helpful)", re.I)),
    ("sentence", re.compile(r"\b(?:it\s+is\s+a\s+|it'?s\s+a\s+)(tie)\b|\bboth\s+(?:responses|answers)\s+are\s+equally\s+(?:good|bad|helpful|correct)", re.I)),
]


_PAIR_ECHO = re.compile(r"\s*(?:/|\||,|\bor\b)\s*(?:response\s+|assistant\s+)?(?:\[\[\s*)?(?:A|B|C|tie)\b", re.I)


def _pair_label(token: str) -> str | None:
    token = re.sub(r"\s+", "", str(token)).strip("\"'()[]{}.").lower()
    token = re.sub(r"^(response|assistant|output|answer|model)", "", token)
    if token in ("a",):
        return "a"
    if token in ("b",):
        return "b"
    if token in ("c", "tie", "draw", "a=b", "equal", "none"):
        return "tie"
    return None


def _pair_hits(text: str, patterns: Sequence[tuple[str, re.Pattern[str]]], strong: bool) -> list[_Hit]:
    hits = []
    for form, pattern in patterns:
        for match in pattern.finditer(text):
            label = _pair_label(match.group(1) or "tie")
            if label:
                hits.append(_Hit(match.start(), match.end(), label, form, strong))
    return hits


def parse_pairwise(raw: str, allow_tie: bool = True) -> Verdict | Failure:
    """``a``, ``b`` or ``tie`` from a pairwise judge's output; see the module docstring."""
    text = prepare(raw)
    if isinstance(text, Failure):
        return text
    hits = _pair_hits(text, _PAIR_STRONG, True)
    for start, end, obj in json_objects(text):
        value = _json_field(obj, ("winner", "verdict", "preference", "better", "choice", "preferred"))
        if isinstance(value, str) and (label := _pair_label(value)):
            hits.append(_Hit(start, end, label, "json"))
    if not hits:
        hits = _pair_hits(text, _PAIR_WEAK, False)
    hits, echoed = _echo_failure(text, hits, raw)
    if echoed:
        return echoed
    if not hits:
        return _fail("no verdict found: expected [[A]], [[B]] or [[C]] (tie) at the end", raw)
    hits.sort(key=lambda h: h.start)
    last = hits[-1]
    final_paragraph = [h for h in hits if h.start >= _paragraph_start(text, last.start) and h.strong == last.strong]
    labels = {h.value for h in final_paragraph}
    if len(labels) > 1:
        names = " and ".join(sorted(f"[[{label.upper() if label != 'tie' else 'C'}]]" for label in labels))
        echoed = re.search(r"\b(if|or|either)\b", text[_paragraph_start(text, last.start):], re.I)
        why = "the verdict template seems echoed back" if echoed else "two different final verdicts"
        return _fail(f"ambiguous verdict: {names} both appear in the final paragraph ({why})", raw)
    if last.form in ("labelled", "result") and _PAIR_ECHO.match(text, last.end):
        return _fail("the verdict template seems echoed back (several verdicts offered as choices)", raw)
    if last.value == "tie" and not allow_tie:
        return _fail("the judge declared a tie, which this comparison does not allow", raw)
    return Verdict(last.value, _critique(text, last), last.form)


# --- pointwise: a score on a scale --------------------------------------------------------------------

_OUT_OF = r"(?:\s*(?:/|out\s+of)\s*" + NUM + r")?"
_SCORE_STRONG = [
    ("result", re.compile(r"\[RESULT\]\s*:?\s*\(?" + NUM + r"\)?" + _OUT_OF, re.I)),
    ("brackets", re.compile(r"\[\[\s*" + NUM + _OUT_OF + r"\s*\]\]", re.I)),
    ("boxed", re.compile(r"\\boxed\{\s*" + NUM + _OUT_OF + r"\s*\}", re.I)),
    (
        "labelled",
        re.compile(
            r"\b((?:final|overall|total)\s+)?(?:score|rating|grade)\s*(?:is|of|:|=|-)?\s*:?\s*(?:\[\s*)?" + NUM + r"(?:\s*\])?" + _OUT_OF,
            re.I,
        ),
    ),
]
_SCORE_WEAK = [("bare", re.compile(r"(?:^|\n)\s*" + NUM + r"\s*(?:/\s*" + NUM + r")?\s*\.?\s*$"))]
_TEMPLATE_AFTER = re.compile(r"\s*(?:-|–|—|to|or|and)\s*-?\d")


def _score_hits(text: str, patterns: Sequence[tuple[str, re.Pattern[str]]], strong: bool) -> list[_Hit]:
    hits = []
    for form, pattern in patterns:
        for match in pattern.finditer(text):
            index = 2 if form == "labelled" else 1  # the group of the score itself
            final = form == "labelled" and bool(match.group(1))
            value = match.group(index)
            denominator = match.group(index + 1) if (match.re.groups or 0) > index else None
            if value is None:
                continue
            if _TEMPLATE_AFTER.match(text, match.end(index + 1) if denominator is not None else match.end(index)):
                continue  # "Score: 1-10", "[RESULT] 1 to 5": the scale, not a score
            hits.append(_Hit(match.start(), match.end(), (float(value), float(denominator) if denominator else None), form, strong, final))
    return hits


def parse_score(raw: str, minimum: float, maximum: float, bare_number: bool = False) -> Verdict | Failure:
    """A number on the scale ``minimum..maximum`` from a pointwise judge's output. A reply that
    is only a bare number ("10", no ``Score:`` line) is a ``parse`` failure, since the judge
    prompt asks for a score line; ``bare_number=True`` accepts it (a prompt that asks for the
    number alone)."""
    text = prepare(raw)
    if isinstance(text, Failure):
        return text
    hits = _score_hits(text, _SCORE_STRONG, True)
    for start, end, obj in json_objects(text):
        value = _json_field(obj, ("score", "rating", "grade", "overall_score", "final_score"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            hits.append(_Hit(start, end, (float(value), None), "json"))
        elif isinstance(value, str) and re.fullmatch(r"\s*" + NUM + r"\s*", value):
            hits.append(_Hit(start, end, (float(value), None), "json"))
    if not hits:
        weak = _score_hits(text, _SCORE_WEAK, False)
        if weak and not bare_number:
            shown = f"{weak[-1].value[0]:g}"
            return _fail(f"a bare number ({shown}) without a 'Score: N' line, which the prompt asks for: not read as a score", raw)
        hits = weak
    hits, echoed = _echo_failure(text, hits, raw)
    if echoed:
        return echoed
    if not hits:
        return _fail(f"no score found: expected e.g. 'Score: N' with N from {minimum:g} to {maximum:g} at the end", raw)
    hits.sort(key=lambda h: h.start)
    finals = [h for h in hits if h.final]
    chosen = finals[-1] if finals else hits[-1]
    line_start, line_end = _line_bounds(text, chosen.start)
    same_line = {h.value[0] for h in hits if line_start <= h.start <= line_end and h.strong == chosen.strong}
    if len(same_line) > 1:
        values = ", ".join(f"{v:g}" for v in sorted(same_line))
        return _fail(f"ambiguous score: {values} on the same final line", raw)
    value, denominator = chosen.value
    if denominator is not None and denominator != maximum:
        return _fail(f"the score {value:g}/{denominator:g} is not on the scale {minimum:g}-{maximum:g}", raw)
    if not (minimum <= value <= maximum) or math.isnan(value):
        return _fail(f"the score {value:g} is outside the scale {minimum:g}-{maximum:g}", raw)
    return Verdict(value, _critique(text, chosen), chosen.form)


# --- rubric criterion: met, not met, cannot assess ------------------------------------------------------

_CRITERION_WORD = r"not\s+met|unmet|cannot\s+assess|can'?t\s+assess|cannot_assess|not_met|met|yes|no|pass|fail|n/?a|unknown"
_CRITERION = [
    ("brackets", re.compile(r"\[\[\s*(" + _CRITERION_WORD + r")\s*\]\]", re.I)),
    ("labelled", re.compile(r"\b(?:verdict|decision|answer|result|criterion)\s*(?:is|:|=|-)\s*:?\s*[\"']?(" + _CRITERION_WORD + r")[\"']?(?=[\s.,;!)\]]|$)", re.I)),
]


_CRITERION_ECHO = re.compile(r"\s*(?:/|\||,|\bor\b)\s*(?:not\s+met|met|cannot|unmet|yes|no)\b", re.I)


def _criterion_label(word: Any) -> str | None:
    if isinstance(word, bool):
        return "met" if word else "not_met"
    word = re.sub(r"[\s_]+", " ", str(word)).strip().lower().strip(".\"'")
    if word in ("met", "yes", "pass", "true", "satisfied"):
        return "met"
    if word in ("not met", "unmet", "no", "fail", "false", "not satisfied"):
        return "not_met"
    if word in ("cannot assess", "can't assess", "cant assess", "n/a", "na", "unknown", "cannot be assessed"):
        return "cannot_assess"
    return None


def parse_criterion(raw: str) -> Verdict | Failure:
    """``met``, ``not_met`` or ``cannot_assess`` for one rubric criterion."""
    text = prepare(raw)
    if isinstance(text, Failure):
        return text
    hits = []
    for form, pattern in _CRITERION:
        for match in pattern.finditer(text):
            if label := _criterion_label(match.group(1)):
                hits.append(_Hit(match.start(), match.end(), label, form))
    for start, end, obj in json_objects(text):
        value = _json_field(obj, ("verdict", "met", "result", "decision"))
        if value is not None and (label := _criterion_label(value)):
            hits.append(_Hit(start, end, label, "json"))
    hits, echoed = _echo_failure(text, hits, raw)
    if echoed:
        return echoed
    if not hits:
        return _fail("no verdict found: expected 'Verdict: MET', 'Verdict: NOT MET' or 'Verdict: CANNOT ASSESS'", raw)
    hits.sort(key=lambda h: h.start)
    last = hits[-1]
    if _CRITERION_ECHO.match(text, last.end):
        return _fail("the verdict template seems echoed back (several verdicts offered as choices)", raw)
    line_start, line_end = _line_bounds(text, last.start)
    labels = {h.value for h in hits if line_start <= h.start <= line_end}
    if len(labels) > 1:
        return _fail(f"ambiguous verdict: {' and '.join(sorted(labels))} on the same final line (template echoed?)", raw)
    return Verdict(last.value, _critique(text, last), last.form)


# --- listwise: scores and a ranking of N responses --------------------------------------------------------


def parse_listwise(raw: str, n: int, minimum: float, maximum: float) -> Verdict | Failure:
    """``{"scores": [s_1..s_n], "ranking": [best..worst] (1-based)}`` from a listwise judge.

    Reads the last JSON object with ``scores`` (a list, or a mapping from response number to
    score) and/or ``ranking``; every response must get a score on the scale, and a ranking
    must be a permutation of 1..n. With a ranking but no scores, scores are derived from
    ranks (best = maximum, worst = minimum).
    """
    text = prepare(raw)
    if isinstance(text, Failure):
        return text
    candidates = [(s, e, o) for s, e, o in json_objects(text) if isinstance(o, dict) and ({"scores", "ranking", "rank"} & {str(k).lower() for k in o})]
    if ends_mid_instruction(text):
        return _fail(_TAIL_MESSAGE, raw)
    if candidates and all(echoed_at(text, s, e) for s, e, _ in candidates):
        return _fail(_ECHO_MESSAGE, raw)
    candidates = [(s, e, o) for s, e, o in candidates if not echoed_at(text, s, e)]
    if not candidates:
        return _fail(f'no JSON verdict found: expected {{"scores": {{...}}, "ranking": [...]}} for {n} responses', raw)
    start, _, obj = candidates[-1]
    critique = text[:start].strip()
    scores_raw = _json_field(obj, ("scores",))
    ranking_raw = _json_field(obj, ("ranking", "rank"))
    ranking: list[int] | None = None
    if isinstance(ranking_raw, dict):
        return _fail(f"the ranking {ranking_raw!r} is a mapping; expected a list of response numbers, best first", raw)
    if ranking_raw is not None:
        try:
            ranking = [int(str(x).strip().strip("[]#").replace("Response", "").strip()) for x in ranking_raw]
        except (TypeError, ValueError):
            return _fail(f"the ranking {ranking_raw!r} is not a list of response numbers", raw)
        if sorted(ranking) != list(range(1, n + 1)):
            return _fail(f"the ranking {ranking} is not an ordering of responses 1..{n}", raw)
    scores: list[float] | None = None
    if scores_raw is not None:
        if isinstance(scores_raw, dict):
            by_number: dict[int, Any] = {}
            for key, value in scores_raw.items():
                digits = re.sub(r"\D", "", str(key))
                if digits:
                    by_number[int(digits)] = value
            if sorted(by_number) != list(range(1, n + 1)):
                return _fail(f"scores are given for responses {sorted(by_number)}, expected 1..{n}", raw)
            values = [by_number[i] for i in range(1, n + 1)]
        elif isinstance(scores_raw, list):
            values = scores_raw
        else:
            return _fail(f"scores {scores_raw!r} is neither a list nor a mapping", raw)
        if len(values) != n:
            return _fail(f"{len(values)} scores for {n} responses", raw)
        scores = []
        for i, value in enumerate(values, start=1):
            try:
                number = float(value)
            except (TypeError, ValueError):
                return _fail(f"the score of response {i} ({value!r}) is not a number", raw)
            if not (minimum <= number <= maximum):
                return _fail(f"the score {number:g} of response {i} is outside the scale {minimum:g}-{maximum:g}", raw)
            scores.append(number)
    if scores is None and ranking is None:
        return _fail("the JSON verdict has neither scores nor a ranking", raw)
    from_ranking = scores is None
    if scores is None:
        assert ranking is not None
        if n == 1:
            return _fail("a ranking of one response says nothing about its score; the verdict gave no scores", raw)
        step = (maximum - minimum) / (n - 1)
        scores = [0.0] * n
        for place, number in enumerate(ranking):
            scores[number - 1] = maximum - place * step
    if ranking is None:
        ranking = sorted(range(1, n + 1), key=lambda i: -scores[i - 1])
    return Verdict({"scores": scores, "ranking": ranking, "from_ranking": from_ranking}, critique, "json")


# --- logprobs ------------------------------------------------------------------------------------------------


def _clean_token(token: str) -> str:
    return token.strip().strip("[]()*\"'.:").strip()


def score_token_mass(top: dict[str, float], minimum: float, maximum: float) -> dict[str, float]:
    """Probability (not renormalised) of each integer score token of the scale among ``top``.

    Tokens are compared after stripping whitespace and bracket/quote/colon marks, so ``" 7"``
    and ``"7"`` both count for 7. Tokens that are not an integer in ``minimum..maximum`` are
    left out.
    """
    mass: dict[str, float] = {}
    for token, logprob in top.items():
        cleaned = _clean_token(token)
        if re.fullmatch(r"-?\d+", cleaned) and minimum <= int(cleaned) <= maximum:
            mass[cleaned] = mass.get(cleaned, 0.0) + math.exp(logprob)
    return mass


def _mean_and_distribution(mass: dict[str, float]) -> tuple[float, dict[str, float]] | None:
    total = sum(mass.values())
    if total <= 0:
        return None
    mean = sum(int(k) * p for k, p in mass.items()) / total
    return mean, {k: round(p / total, 6) for k, p in sorted(mass.items(), key=lambda kv: int(kv[0]))}


def expected_score(logprobs: Sequence[Any] | None, minimum: float, maximum: float, parsed: float) -> tuple[float, dict[str, float]] | None:
    """The expected score under the judge's distribution at the token where it wrote ``parsed``.

    Scans the generated tokens from the end for the token that spells the parsed integer
    score, then averages the integer score tokens among its top alternatives, weighted by
    probability. None when the score is not one token (e.g. "10" split in digits), is not an
    integer, or no alternatives were given.
    """
    if not logprobs or parsed != int(parsed):
        return None
    target = str(int(parsed))
    for entry in reversed(list(logprobs)):
        if _clean_token(entry.token) != target:
            continue
        top = dict(entry.top) or {entry.token: entry.logprob}
        return _mean_and_distribution(score_token_mass(top, minimum, maximum))
    return None


@dataclass(frozen=True)
class TokenReading:
    """What the next-token distribution says: ``value`` (an expected score, or P(A) / (P(A) + P(B))),
    ``mass`` (the absolute probability of each counted token among the top-k), ``distribution``
    (``mass`` renormalised), ``covered`` (their total probability) and ``top_k`` (how many
    alternatives the backend gave)."""

    value: float
    mass: dict[str, float]
    distribution: dict[str, float]
    covered: float
    top_k: int


def _first_top(logprobs: Sequence[Any] | None) -> tuple[dict[str, float], str] | Failure:
    if not logprobs:
        return Failure("backend", "the backend returned no token logprobs (a server that gives them is needed: vLLM, SGLang, OpenAI, or `assay llama-server --logprobs`)")
    first = list(logprobs)[0]
    return (dict(first.top) or {first.token: first.logprob}), first.token


def next_token_score(logprobs: Sequence[Any] | None, minimum: float, maximum: float) -> TokenReading | Failure:
    """The expected score over the scale's score tokens at the *first* generated position.

    For prompts that end right before the score (``Score (1-9): ``): the judge writes no
    text, so nothing is parsed; the score is sum(s * p(s)) / sum(p(s)) over the integer score
    tokens s among that position's top-k alternatives. No score token in the top-k is a
    ``parse`` failure (the token alternatives are kept in the raw text), no logprobs at all a
    ``backend`` failure. Never a made-up number.

    >>> from assay.backends.base import TokenLogprob
    >>> import math
    >>> top = {"7": math.log(0.6), "8": math.log(0.2), "The": math.log(0.1)}
    >>> reading = next_token_score([TokenLogprob("7", math.log(0.6), top)], 1, 9)
    >>> round(reading.value, 3), round(reading.covered, 3)
    (7.25, 0.8)
    """
    first = _first_top(logprobs)
    if isinstance(first, Failure):
        return first
    top, chosen = first
    mass = score_token_mass(top, minimum, maximum)
    found = _mean_and_distribution(mass)
    if found is None:
        shown = ", ".join(f"{t!r}: {math.exp(lp):.3f}" for t, lp in sorted(top.items(), key=lambda kv: -kv[1]))
        return _fail(f"no score token ({minimum:g}-{maximum:g}) among the {len(top)} most likely next tokens", f"next token {chosen!r}; top-{len(top)}: {shown}")
    return TokenReading(found[0], {k: round(v, 6) for k, v in sorted(mass.items(), key=lambda kv: int(kv[0]))}, found[1], sum(mass.values()), len(top))


def next_token_choice(logprobs: Sequence[Any] | None, allow_tie: bool = False) -> TokenReading | Failure:
    """P(A) / (P(A) + P(B)) at the *first* generated position (a prompt ending in ``[[``).

    ``mass`` holds P(A), P(B) (and P(C), the tie letter, when ``allow_tie``) among the top-k.
    Neither A nor B in the top-k is a ``parse`` failure.
    """
    first = _first_top(logprobs)
    if isinstance(first, Failure):
        return first
    top, chosen = first
    letters = ("A", "B", "C") if allow_tie else ("A", "B")
    mass = dict.fromkeys(letters, 0.0)
    for token, logprob in top.items():
        cleaned = _clean_token(token)
        if cleaned in mass:
            mass[cleaned] += math.exp(logprob)
    if mass["A"] + mass["B"] <= 0:
        shown = ", ".join(f"{t!r}: {math.exp(lp):.3f}" for t, lp in sorted(top.items(), key=lambda kv: -kv[1]))
        return _fail(f"neither A nor B among the {len(top)} most likely next tokens", f"next token {chosen!r}; top-{len(top)}: {shown}")
    total = sum(mass.values())
    return TokenReading(mass["A"] / (mass["A"] + mass["B"]), {k: round(v, 6) for k, v in mass.items()}, {k: round(v / total, 6) for k, v in mass.items()}, total, len(top))


def pairwise_probability(logprobs: Sequence[Any] | None, winner: str) -> tuple[float, dict[str, float]] | None:
    """P(A) / (P(A) + P(B)) at the last generated token that spells the verdict letter.

    ``winner`` is the parsed verdict (``a``/``b``/``tie``); the token used must spell it (for a
    tie, the ``C`` token), so a stray "A" after the verdict is not read as one.
    """
    if not logprobs:
        return None
    wanted = {"a": "A", "b": "B", "tie": "C"}.get(winner)
    for entry in reversed(list(logprobs)):
        if _clean_token(entry.token) != wanted:
            continue
        top = dict(entry.top) or {entry.token: entry.logprob}
        mass = {"A": 0.0, "B": 0.0, "C": 0.0}
        for token, logprob in top.items():
            cleaned = _clean_token(token)
            if cleaned in mass:
                mass[cleaned] += math.exp(logprob)
        if mass["A"] + mass["B"] <= 0:
            return None
        return mass["A"] / (mass["A"] + mass["B"]), {k: round(v, 6) for k, v in mass.items()}
    return None
