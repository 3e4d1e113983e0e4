"""Length-aware accuracy (``cosine_length``): a correct answer earns more when it is short, a
wrong one is punished less when it is long. The counterpart of TRL's
``get_cosine_scaled_reward`` (Yeo et al. 2025, "Demystifying Long Chain-of-Thought Reasoning
in LLMs", eq. 1).

Correctness comes from another reward, named as a nested entry (``correctness: {type: math}``
by default): its score at or above ``correct_at`` counts as correct. A failure of that reward
stays a failure (same kind), an abstention stays an abstention: no length term is made up
for a sample whose correctness is unknown. With progress = min(length / max_len, 1),

    reward = low + (high - low) * (1 + cos(pi * progress)) / 2

where (high, low) = (``max_value_correct``, ``min_value_correct``) when correct and
(``min_value_wrong``, ``max_value_wrong``) when wrong: a correct answer goes from 1.0 at
length 0 down to 0.5 at ``max_len``, a wrong one from -1.0 up to -0.5 (TRL's defaults);
longer than ``max_len`` stays at the ``max_len`` value. Length is counted as in the length
rewards: ``unit`` (tokens by default), a ``tokenizer``, or a ``length_field`` such as
``completion_tokens`` (what TRL measures: the completion's token ids).

What not: no correctness of its own; no grouping (each sample is scored alone).

    rewards:
      accuracy:
        type: cosine_length
        correctness: {type: math}
        max_len: 1000
        length_field: completion_tokens
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator, model_validator

from assay.reward import Options, Reward
from assay.rewards.rules.length import Unit, _Counter
from assay.types import Judgment, Sample


class CosineLengthOptions(Options):
    correctness: dict[str, Any] = Field(default_factory=lambda: {"type": "math"})  # a reward entry: {type: ..., options...}
    correct_at: float = 1.0  # the correctness score at or above which an answer counts as correct
    max_len: int = Field(1000, ge=1)  # the length at which the cosine reaches its end
    min_value_wrong: float = -1.0  # a wrong answer of length 0
    max_value_wrong: float = -0.5  # a wrong answer of length >= max_len
    min_value_correct: float = 0.5  # a correct answer of length >= max_len
    max_value_correct: float = 1.0  # a correct answer of length 0
    unit: Unit = "tokens"
    tokenizer: str | None = None  # a local Hugging Face tokenizer folder (imports transformers); unit must be tokens
    length_field: str | None = None  # read the length from this sample field (e.g. completion_tokens) instead of counting

    @field_validator("correctness")
    @classmethod
    def _has_type(cls, entry: dict[str, Any]) -> dict[str, Any]:
        if not entry.get("type"):
            raise ValueError("needs a 'type': correctness is a reward entry such as {type: math}")
        if entry.get("type") == "cosine_length":
            raise ValueError("correctness cannot itself be a cosine_length reward")
        return entry

    @model_validator(mode="after")
    def _check(self) -> CosineLengthOptions:
        if self.tokenizer and self.unit != "tokens":
            raise ValueError("a tokenizer counts tokens; set unit: tokens")
        return self


def cosine_scaled(correct: bool, length: int, options: CosineLengthOptions) -> float:
    """The formula of the module docstring."""
    progress = min(length / options.max_len, 1.0)
    if correct:
        high, low = options.max_value_correct, options.min_value_correct
    else:
        high, low = options.min_value_wrong, options.max_value_wrong
    return low + (high - low) * (1 + math.cos(math.pi * progress)) / 2


class CosineLength(Reward):
    """Correctness (from the ``correctness`` reward) scaled by length on a cosine; see the
    module docstring."""

    type_name = "cosine_length"
    Options = CosineLengthOptions
    options: CosineLengthOptions

    def __init__(self, name: str | None = None, *, base_dir: Any = None, **options: Any) -> None:
        from assay.registry import build_reward

        super().__init__(name, **options)
        entry = dict(self.options.correctness)
        type_name = entry.pop("type")
        self.correctness = build_reward(type_name, f"{self.name}.correctness", entry, base_dir)
        o = self.options
        self._counter = _Counter(o.unit, o.tokenizer, o.length_field)

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        verdicts = await self.correctness.ascore(samples)
        return [self._judge(sample, verdict) for sample, verdict in zip(samples, verdicts, strict=True)]

    def _judge(self, sample: Sample, verdict: Judgment) -> Judgment:
        inner = self.correctness.name
        if verdict.failure is not None:
            failed = Judgment.fail(verdict.failure.kind, f"correctness ({inner}) could not be scored: {verdict.rationale}")
            failed.details = {"correctness": verdict.to_dict()}
            return failed
        if verdict.score is None:
            return Judgment(None, f"correctness ({inner}) abstained: {verdict.rationale}", {"correctness": verdict.to_dict()})
        length = self._counter.count(sample, self.options.max_len)
        if isinstance(length, Judgment):
            return length
        correct = verdict.score >= self.options.correct_at
        score = cosine_scaled(correct, length, self.options)
        progress = min(length / self.options.max_len, 1.0)
        shown = f"more than {self.options.max_len}" if length > self.options.max_len else str(length)
        label = self._counter.label
        rationale = (
            f"{'correct' if correct else 'wrong'} ({inner} {verdict.score:.3g}, correct at >= {self.options.correct_at:g}); "
            f"{shown} {label}, {progress:.0%} of max_len {self.options.max_len}: cosine-scaled {score:.4g}"
        )
        details = {"correct": correct, "correctness_score": verdict.score, "length": length, "progress": progress, "correctness_rationale": verdict.rationale[:400]}
        return Judgment(score, rationale, details)
