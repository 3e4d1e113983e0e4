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

from pydantic import field_validator, model_validator

from assay.reward import Options, Reward
from assay.rewards.rules.extraction import clip
from assay.types import Judgment, Sample

RegexFlag = Literal["dotall", "ignorecase", "multiline", "ascii", "verbose"]
_FLAGS = {"dotall": re.DOTALL, "ignorecase": re.IGNORECASE, "multiline": re.MULTILINE, "ascii": re.ASCII, "verbose": re.VERBOSE}

R1_FORMAT = r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$"


def compile_regex(pattern: str, flags: list[str]) -> re.Pattern[str]:
    value = 0
    for flag in flags:
        if flag not in _FLAGS:
            raise ValueError(f"unknown regex flag {flag!r}; expected some of {sorted(_FLAGS)}")
        value |= _FLAGS[flag]
    try:
        return re.compile(pattern, value)
    except re.error as error:
        raise ValueError(f"regex pattern {pattern!r} is not a valid regular expression: {error}") from error


class RegexOptions(Options):
    pattern: str = R1_FORMAT  # default: <think>...</think> then <answer>...</answer>, nothing else
    flags: list[RegexFlag] = ["dotall"]
    mode: Literal["search", "fullmatch", "match"] = "search"  # anywhere (anchor with ^...$) / the whole response / at the start

    @model_validator(mode="after")
    def _check_pattern(self) -> RegexOptions:
        compile_regex(self.pattern, self.flags)  # with its flags: verbose changes what compiles
        return self


class RegexMatch(Reward):
    """1 when the response matches ``pattern`` (``search``, the default: anywhere, so anchor
    with ``^...$`` to cover the whole response; ``fullmatch``: the whole response; ``match``:
    at the start), else 0. A bad pattern is an error when the reward is built. The default
    pattern is the R1 layout: ``<think>...</think>`` then ``<answer>...</answer>``, nothing
    else but whitespace."""

    type_name = "regex"
    Options = RegexOptions
    options: RegexOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._pattern = compile_regex(self.options.pattern, self.options.flags)

    def score_one(self, sample: Sample) -> Judgment:
        text = sample.response_text
        mode = self.options.mode
        match = getattr(self._pattern, mode)(text)
        how = {"fullmatch": "the whole response matches", "search": "the response contains a match for", "match": "the response starts with a match for"}[mode]
        shown = clip(self._pattern.pattern, 60)
        if match is None:
            negated = {"fullmatch": "the whole response does not match", "search": "the response contains no match for", "match": "the response does not start with a match for"}[mode]
            return Judgment(0.0, f"{negated} /{shown[1:-1]}/ ({len(text)} characters)", {"matched": False})
        details = {"matched": True, "span": list(match.span())}
        if match.groups():
            details["groups"] = list(match.groups())
        return Judgment(1.0, f"{how} /{shown[1:-1]}/ at characters {match.start()}-{match.end()}", details)


class TagFormatOptions(Options):
    tags: list[str] = ["think", "answer"]  # in the order they must appear
    ordered: bool = True  # the blocks must appear in the order of `tags`
    strict: bool = True  # nothing but whitespace outside the blocks
    partial: bool = False  # score = fraction of checks passed (else 1 only when all pass)

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
    - (``strict``) only whitespace lies outside the blocks.

    Score: 1 when all checks pass, else 0; with ``partial``, the fraction passed. The
    rationale lists every failed check.
    """

    type_name = "tag_format"
    Options = TagFormatOptions
    options: TagFormatOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._open = {t: re.compile(rf"<{re.escape(t)}\s*>") for t in self.options.tags}
        self._close = {t: re.compile(rf"</{re.escape(t)}\s*>") for t in self.options.tags}

    def checks(self, text: str) -> list[tuple[str, bool, str]]:
        """Every check as (name, passed, what was found)."""
        tags = self.options.tags
        out: list[tuple[str, bool, str]] = []
        spans: dict[str, tuple[int, int]] = {}
        for tag in tags:
            opens = list(self._open[tag].finditer(text))
            closes = list(self._close[tag].finditer(text))
            if len(opens) == 1 and len(closes) == 1 and opens[0].end() <= closes[0].start():
                spans[tag] = (opens[0].start(), closes[0].end())
                out.append((f"<{tag}> once", True, f"<{tag}>...</{tag}> appears once"))
            elif len(opens) == 1 and len(closes) == 1:
                out.append((f"<{tag}> once", False, f"</{tag}> comes before <{tag}>"))
            elif len(opens) != 1:
                out.append((f"<{tag}> once", False, f"<{tag}> appears {len(opens)} times (expected exactly once)"))
            else:
                out.append((f"<{tag}> once", False, f"</{tag}> appears {len(closes)} times (expected exactly once)"))
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
            outside = text
            for start, end in sorted(spans.values(), reverse=True):
                outside = outside[:start] + outside[end:]
            if not spans:
                out.append(("nothing outside", False, f"text outside the tags: {clip(outside, 40)}"))
            elif outside.strip():
                out.append(("nothing outside", False, f"text outside the tags: {clip(outside.strip(), 40)}"))
            else:
                out.append(("nothing outside", True, "only whitespace outside the tags"))
        return out

    def score_one(self, sample: Sample) -> Judgment:
        checks = self.checks(sample.response_text)
        passed = sum(ok for _, ok, _ in checks)
        failed = [what for _, ok, what in checks if not ok]
        details = {"checks": {name: ok for name, ok, _ in checks}, "passed": passed, "total": len(checks)}
        if not failed:
            return Judgment(1.0, f"all {len(checks)} format checks passed: {'; '.join(w for _, _, w in checks)}", details)
        score = passed / len(checks) if self.options.partial else 0.0
        return Judgment(score, f"{passed} of {len(checks)} format checks passed (score {score:g}); failed: {'; '.join(failed)}", details)
