"""N-gram repetition penalty, as in "Demystifying Long Chain-of-Thought Reasoning in LLMs"
(Yeo et al. 2025) and Open-R1's ``repetition_penalty_reward``:

    score = max_penalty * (1 - unique n-grams / total n-grams)

over the lowercased words of the response (or regex tokens, or characters, for text without
spaces). A response with no repeated n-gram scores 0; one that repeats a single n-gram
forever approaches ``max_penalty``. Empty responses, or ones shorter than ``ngram_size``,
score 0 with a rationale saying so.

    >>> from assay.types import Sample
    >>> RepetitionPenalty(ngram_size=2, max_penalty=-1.0).score([Sample(response="a b a b a b")])[0].score
    -0.6
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import Field, field_validator

from assay.reward import Options, Reward
from assay.rewards.rules.bounds import cap_text
from assay.rewards.rules.length import _TOKEN
from assay.types import Judgment, Sample

REPETITION_MAX_CHARS = 200_000  # the head read: about 0.2 s at most; real rollouts are shorter


def units_of(text: str, unit: str) -> list[str]:
    """Lowercased ``words`` (whitespace split, as Open-R1), regex ``tokens``, or ``chars``
    (whitespace dropped)."""
    text = text.lower()
    if unit == "words":
        return text.split()
    if unit == "tokens":
        return _TOKEN.findall(text)
    if unit == "chars":
        return [ch for ch in text if not ch.isspace()]
    raise ValueError(f"unknown unit {unit!r}; expected words, tokens or chars")


class RepetitionOptions(Options):
    ngram_size: int = 3
    max_penalty: float = -1.0  # the score of a response that is one n-gram repeated forever (<= 0)
    unit: Literal["words", "tokens", "chars"] = "words"
    max_chars: int | None = Field(REPETITION_MAX_CHARS, ge=1)  # read the first max_chars characters (null: all)

    @field_validator("ngram_size")
    @classmethod
    def _check_n(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"ngram_size must be >= 1, got {value}")
        return value

    @field_validator("max_penalty")
    @classmethod
    def _check_penalty(cls, value: float) -> float:
        if value > 0:
            raise ValueError(f"max_penalty must be <= 0 (it is a penalty), got {value}")
        return value


class RepetitionPenalty(Reward):
    """``max_penalty * (1 - unique/total)`` over the response's n-grams; see the module docstring."""

    type_name = "repetition"
    Options = RepetitionOptions
    options: RepetitionOptions

    def score_one(self, sample: Sample) -> Judgment:
        unit = self.options.unit
        capped = cap_text(sample.response_text, self.options.max_chars, "head")
        note = capped.note()
        units = units_of(capped.text, unit)
        n = self.options.ngram_size
        if len(units) < n:
            what = "empty" if not units else f"only {len(units)} {unit}"
            return Judgment(0.0, f"response is {what}, shorter than one {n}-gram: no repetition to penalise{note}", {"total_ngrams": 0, "unique_ngrams": 0})
        counts = Counter(tuple(units[i : i + n]) for i in range(len(units) - n + 1))
        total = len(units) - n + 1
        unique = len(counts)
        score = self.options.max_penalty * (1 - unique / total)
        top, top_count = counts.most_common(1)[0]
        details = {"total_ngrams": total, "unique_ngrams": unique, "repeated_fraction": 1 - unique / total, "most_repeated": " ".join(top)[:400], "most_repeated_count": top_count}
        if unique == total:
            return Judgment(0.0, f"all {total} {n}-grams of {unit} are distinct: no penalty{note}", details)
        sep = "" if unit == "chars" else " "
        return Judgment(
            score + 0.0,  # no -0.0
            f"{unique} of {total} {n}-grams of {unit} are distinct ({1 - unique / total:.0%} repeated); "
            f"most repeated: {sep.join(top)[:200]!r} x{top_count}; penalty {score:.3g} (max {self.options.max_penalty:g}){note}",
            details,
        )
