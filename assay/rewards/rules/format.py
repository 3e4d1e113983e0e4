"""Format rewards: a regular expression (``regex``) and a tag layout (``tag_format``).

``regex`` is the R1-style format reward (DeepSeek-AI 2025; Open-R1's ``format_reward``):
1 when the response matches, else 0. ``tag_format`` checks a layout such as
``<think>...</think><answer>...</answer>`` and can give partial credit, listing the checks
that failed.

    >>> from assay.types import Sample
    >>> good = Sample(response="<think>2+2 is 4</think>\\n<answer>4</answer>")
    >>> RegexMatch().score([good])[0].score
    1.0
    >>> judgment = TagFormat(partial=True).score([Sample(response="<answer>4</answer>")])[0]
    >>> judgment.score, judgment.rationale.split("; failed: ")[1]
    (0.5, '<think> appears 0 times (expected exactly once); tags are not all present exactly once, so their order cannot be checked')
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from assay.reward import Options, Reward
from assay.rewards.rules.bounds import DEFAULT_PATTERN_TIMEOUT, LAYOUT_MAX_CHARS, BoundedPattern, PatternTimeout, cap_text, regex_flags, shorten
from assay.rewards.rules.extraction import clip
from assay.types import Judgment, Sample

RegexFlag = Literal["dotall", "ignorecase", "multiline", "ascii", "verbose"]

R1_FORMAT = r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$"
_R1_JOIN = re.compile(r"</think>\s*<answer>")  # linear: one try per "<", a whitespace run read once


def r1_layout(text: str) -> bool:
    """Whether ``text`` matches ``R1_FORMAT`` (with dotall), decided in one linear pass: after
    stripping whitespace it starts with ``<think>``, ends with ``</answer>``, and has a
    ``</think>``, whitespace, ``<answer>`` between them. (Python's ``re`` needs quadratic time
    for the pattern itself on texts with many ``</think>``.)"""
    body = text.strip()  # str.strip and the pattern's \s agree on what whitespace is
    if not (body.startswith("<think>") and body.endswith("</answer>")):
        return False
    join = _R1_JOIN.search(body, len("<think>"))
    return join is not None and join.end() <= len(body) - len("</answer>")


def compile_regex(pattern: str, flags: list[str], timeout: float = DEFAULT_PATTERN_TIMEOUT) -> BoundedPattern:
    """The pattern, compiled with the ``regex`` module, every match bounded by ``timeout`` seconds."""
    return BoundedPattern(pattern, regex_flags(flags), timeout, what="regex pattern")


class RegexOptions(Options):
    pattern: str = R1_FORMAT  # default: <think>...</think> then <answer>...</answer>, nothing else
    flags: list[RegexFlag] = ["dotall"]
    mode: Literal["search", "fullmatch", "match"] = "search"  # anywhere (anchor with ^...$) / the whole response / at the start
    timeout_seconds: float = Field(DEFAULT_PATTERN_TIMEOUT, gt=0, le=60)  # a pattern still matching after this is a `timeout` failure
    max_chars: int | None = Field(LAYOUT_MAX_CHARS, ge=1)  # read the first max_chars characters (null: all)

    @model_validator(mode="after")
    def _check_pattern(self) -> RegexOptions:
        compile_regex(self.pattern, self.flags)  # with its flags: verbose changes what compiles
        return self


class RegexMatch(Reward):
    """1 when the response matches ``pattern`` (``search``, the default: anywhere, so anchor
    with ``^...$`` to cover the whole response; ``fullmatch``: the whole response; ``match``:
    at the start), else 0. A bad pattern is an error when the reward is built. The default
    pattern is the R1 layout: ``<think>...</think>`` then ``<answer>...</answer>``, nothing
    else but whitespace; it is checked by a linear scanner, not by the pattern itself.

    Bounds: the first ``max_chars`` characters are read (the rationale says when a response
    was cut); a pattern that runs past ``timeout_seconds`` on a sample is a ``timeout``
    failure (patterns run on the ``regex`` module, which releases the interpreter lock)."""

    type_name = "regex"
    Options = RegexOptions
    options: RegexOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._pattern = compile_regex(self.options.pattern, self.options.flags, self.options.timeout_seconds)
        self._r1 = self.options.pattern == R1_FORMAT and self.options.flags == ["dotall"]

    def score_one(self, sample: Sample) -> Judgment:
        capped = cap_text(sample.response_text, self.options.max_chars, "head")
        text = capped.text
        mode = self.options.mode
        shown = clip(self._pattern.pattern, 60)
        if self._r1:  # ^...$ anchored: search, match and fullmatch agree, on the whole text
            match_span = (0, len(text)) if r1_layout(text) else None
            groups: tuple[Any, ...] = ()
        else:
            try:
                match = getattr(self._pattern, mode)(text)
            except PatternTimeout as error:
                return Judgment.fail("timeout", f"{error}; no score" + capped.note())
            match_span = match.span() if match is not None else None
            groups = match.groups() if match is not None else ()
        how = {"fullmatch": "the whole response matches", "search": "the response contains a match for", "match": "the response starts with a match for"}[mode]
        if match_span is None:
            negated = {"fullmatch": "the whole response does not match", "search": "the response contains no match for", "match": "the response does not start with a match for"}[mode]
            return Judgment(0.0, f"{negated} /{shown[1:-1]}/ ({capped.total} characters)" + capped.note(), {"matched": False, **({"truncated": True} if capped.cut else {})})
        details: dict[str, Any] = {"matched": True, "span": list(match_span)}
        if capped.cut:
            details["truncated"] = True
        if groups:
            details["groups"] = [shorten(g) for g in groups]
        return Judgment(1.0, f"{how} /{shown[1:-1]}/ at characters {match_span[0]}-{match_span[1]}" + capped.note(), details)


class TagFormatOptions(Options):
    tags: list[str] = ["think", "answer"]  # in the order they must appear
    ordered: bool = True  # the blocks must appear in the order of `tags`
    strict: bool = True  # nothing but whitespace outside the blocks
    trailing_text: bool = False  # with strict: any text may follow the last block (TRL's think_format_reward)
    partial: bool = False  # score = fraction of checks passed (else 1 only when all pass)
    max_chars: int | None = Field(LAYOUT_MAX_CHARS, ge=1)  # read the first max_chars characters (null: all)

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("tags must name at least one tag")
        for tag in value:
            if not re.fullmatch(r"[A-Za-z_][\w\-.:]*", tag):
                raise ValueError(f"{tag!r} is not a tag name (write 'think', not '<think>')")
        if len(set(value)) != len(value):
            raise ValueError(f"tags must be distinct, got {value}")
        return value


class TagFormat(Reward):
    """Checks a tag layout. The checks, one point each:

    - each tag's block ``<tag>...</tag>`` appears exactly once (open and close tags counted
      separately; the close must follow the open);
    - (``ordered``) the blocks appear in the order of ``tags``, without overlapping;
    - (``strict``) only whitespace lies outside the blocks; with ``trailing_text``, only
      whitespace before and between the blocks, anything after the last one (the layout of
      TRL's ``think_format_reward``: ``<think>...</think>`` then the answer).

    Score: 1 when all checks pass, else 0; with ``partial``, the fraction passed. The
    rationale lists every failed check. Every check is one linear scan; the first
    ``max_chars`` characters are read (the rationale says when a response was cut).
    """

    type_name = "tag_format"
    Options = TagFormatOptions
    options: TagFormatOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._open = {t: re.compile(rf"<{re.escape(t)}\s*>") for t in self.options.tags}
        self._close = {t: re.compile(rf"</{re.escape(t)}\s*>") for t in self.options.tags}

    @staticmethod
    def _first_and_count(pattern: re.Pattern[str], text: str) -> tuple[re.Match[str] | None, int]:
        first, count = None, 0
        for found in pattern.finditer(text):
            first = first or found
            count += 1
        return first, count

    def checks(self, text: str) -> list[tuple[str, bool, str]]:
        """Every check as (name, passed, what was found)."""
        tags = self.options.tags
        out: list[tuple[str, bool, str]] = []
        spans: dict[str, tuple[int, int]] = {}
        for tag in tags:
            first_open, opens = self._first_and_count(self._open[tag], text)
            first_close, closes = self._first_and_count(self._close[tag], text)
            if opens == 1 and closes == 1 and first_open.end() <= first_close.start():  # type: ignore[union-attr]
                spans[tag] = (first_open.start(), first_close.end())  # type: ignore[union-attr]
                out.append((f"<{tag}> once", True, f"<{tag}>...</{tag}> appears once"))
            elif opens == 1 and closes == 1:
                out.append((f"<{tag}> once", False, f"</{tag}> comes before <{tag}>"))
            elif opens != 1:
                out.append((f"<{tag}> once", False, f"<{tag}> appears {opens} times (expected exactly once)"))
            else:
                out.append((f"<{tag}> once", False, f"</{tag}> appears {closes} times (expected exactly once)"))
        if self.options.ordered and len(tags) > 1:
            if len(spans) < len(tags):
                out.append(("order", False, "tags are not all present exactly once, so their order cannot be checked"))
            else:
                ordered = [spans[t] for t in tags]
                bad = [f"<{a}> and <{b}>" for (a, b), (x, y) in zip(zip(tags, tags[1:]), zip(ordered, ordered[1:])) if x[1] > y[0]]
                if bad:
                    out.append(("order", False, f"blocks out of order or overlapping: {', '.join(bad)}"))
                else:
                    out.append(("order", True, f"blocks in order {' then '.join(tags)}"))
        if self.options.strict:
            kept = sorted(spans.values())
            if self.options.trailing_text and kept:
                text = text[: max(end for _, end in kept)]  # what follows the last block is free
            pieces, at = [], 0
            for start, end in kept:
                pieces.append(text[at:start] if start >= at else "")
                at = max(at, end)
            pieces.append(text[at:])
            outside = "".join(pieces)
            where = "before or between the tags" if self.options.trailing_text else "outside the tags"
            if not spans:
                out.append(("nothing outside", False, f"text outside the tags: {clip(outside[:200], 40)}"))
            elif outside.strip():
                out.append(("nothing outside", False, f"text {where}: {clip(outside.strip()[:200], 40)}"))
            else:
                out.append(("nothing outside", True, f"only whitespace {where}"))
        return out

    def score_one(self, sample: Sample) -> Judgment:
        capped = cap_text(sample.response_text, self.options.max_chars, "head")
        checks = self.checks(capped.text)
        passed = sum(ok for _, ok, _ in checks)
        failed = [what for _, ok, what in checks if not ok]
        details: dict[str, Any] = {"checks": {name: ok for name, ok, _ in checks}, "passed": passed, "total": len(checks)}
        if capped.cut:
            details["truncated"] = True
        if not failed:
            return Judgment(1.0, f"all {len(checks)} format checks passed: {'; '.join(w for _, _, w in checks)}" + capped.note(), details)
        score = passed / len(checks) if self.options.partial else 0.0
        return Judgment(score, f"{passed} of {len(checks)} format checks passed (score {score:g}); failed: {'; '.join(failed)}" + capped.note(), details)
