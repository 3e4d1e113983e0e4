"""Length rewards: a linear penalty beyond a budget (``length_penalty``) and DAPO's soft
overlong punishment (``overlong``).

Length is counted in ``tokens`` (a light regex tokenizer: runs of word characters and single
punctuation marks; no transformers needed), ``words`` (whitespace-separated) or ``chars``.
Give ``tokenizer`` (a Hugging Face tokenizer name) to count the policy's real tokens (this
imports transformers, once per reward), or ``length_field`` to read a count your trainer
already has from each sample (e.g. ``completion_tokens``).

Bounds: counting (linear) stops where the score stops changing (``max_tokens + ramp`` for
``length_penalty``, ``max_length`` for ``overlong``), and the rationale then says "more than N".

    >>> from assay.types import Sample
    >>> LengthPenalty(max_tokens=4, unit="words").score([Sample(response="one two three four five six")])[0].score
    -0.5
    >>> OverlongPenalty(max_length=10, buffer=4, unit="chars").score([Sample(response="x" * 8)])[0].score
    -0.5
"""

from __future__ import annotations

import re
from itertools import islice
from typing import Any, Literal

from pydantic import model_validator

from assay.reward import Options, Reward
from assay.types import Judgment, Sample

Unit = Literal["tokens", "words", "chars"]
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\S+")


def count_units(text: str, unit: str, stop_after: int | None = None) -> int:
    """Length of ``text`` in ``tokens`` (regex word/punctuation tokens), ``words`` or ``chars``.
    With ``stop_after``, counting stops at ``stop_after + 1``: the rewards pass the length at
    which their score stops changing, so a huge response costs no more than that."""
    if unit == "chars":
        return len(text)
    if unit not in ("tokens", "words"):
        raise ValueError(f"unknown length unit {unit!r}; expected tokens, words or chars")
    if unit == "words" and stop_after is None:
        return len(text.split())
    found = (_TOKEN if unit == "tokens" else _WORD).finditer(text)
    return sum(1 for _ in (found if stop_after is None else islice(found, stop_after + 1)))


class _Counter:
    """Counts a sample's length: from a field, a Hugging Face tokenizer, or ``count_units``.
    Its arguments are options the reward's Options model has already checked."""

    def __init__(self, unit: str, tokenizer: str | None, length_field: str | None) -> None:
        self.unit = unit
        self.tokenizer_name = tokenizer
        self.length_field = length_field
        self._tokenizer: Any = None
        self._load_error: str | None = None

    @property
    def label(self) -> str:
        if self.length_field:
            return f"{self.unit} (from field {self.length_field!r})"
        if self.tokenizer_name:
            return f"tokens ({self.tokenizer_name} tokenizer)"
        return {"tokens": "tokens", "words": "words", "chars": "characters"}[self.unit]

    def count(self, sample: Sample, stop_after: int | None = None) -> int | Judgment:
        """The length (at most ``stop_after + 1`` when counting units), or an ``input`` failure
        when ``length_field`` is missing or not a count."""
        if self.length_field:
            value = sample.get(self.length_field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
                return Judgment.fail("input", f"length field {self.length_field!r} should be a non-negative integer, got {value!r:.60}")
            return int(value)
        text = sample.response_text
        if self.tokenizer_name:
            if self._tokenizer is None and self._load_error is None:
                try:
                    from assay.backends.local_models import tokenizer  # heavy: only when a tokenizer is asked for

                    self._tokenizer = tokenizer(self.tokenizer_name)  # a local folder, offline, shared
                except Exception as error:  # noqa: BLE001 - remembered, so each sample does not retry
                    self._load_error = f"{type(error).__name__}: {error}"
            if self._load_error is not None:
                return Judgment.fail("backend", f"cannot load tokenizer {self.tokenizer_name!r} to count tokens: {self._load_error}")
            return len(self._tokenizer.encode(text, add_special_tokens=False))
        return count_units(text, self.unit, stop_after)


class LengthPenaltyOptions(Options):
    max_tokens: int = 1024  # the budget, in `unit`s
    unit: Unit = "tokens"
    ramp: int | None = None  # units beyond the budget at which the penalty reaches -1 (default: max_tokens)
    tokenizer: str | None = None  # a local Hugging Face tokenizer folder (read offline; imports transformers); unit must be tokens
    length_field: str | None = None  # read the length from this sample field instead of counting

    @model_validator(mode="after")
    def _check(self) -> LengthPenaltyOptions:
        if self.max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {self.max_tokens}")
        if self.ramp is not None and self.ramp <= 0:
            raise ValueError(f"ramp must be > 0, got {self.ramp}")
        if self.tokenizer and self.unit != "tokens":
            raise ValueError("a tokenizer counts tokens; set unit: tokens")
        return self


class LengthPenalty(Reward):
    """0 within the budget; beyond it, linear down to -1:

        score = max(-1, -(length - max_tokens) / ramp)      (ramp defaults to max_tokens)

    so with the default ramp a response twice the budget (or longer) scores -1.
    """

    type_name = "length_penalty"
    Options = LengthPenaltyOptions
    options: LengthPenaltyOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        o = self.options
        self._ramp = o.ramp if o.ramp is not None else max(o.max_tokens, 1)
        self._counter = _Counter(o.unit, o.tokenizer, o.length_field)

    def score_one(self, sample: Sample) -> Judgment:
        budget = self.options.max_tokens
        saturation = budget + self._ramp  # the score is -1 from here on
        length = self._counter.count(sample, saturation)
        if isinstance(length, Judgment):
            return length
        over = length - budget
        details = {"length": length, "max": budget, "over": max(over, 0), "unit": self._counter.unit}
        label = self._counter.label
        if length > saturation and self._counter.unit != "chars" and not self._counter.length_field and not self._counter.tokenizer_name:
            details["length_at_least"] = True
            return Judgment(-1.0, f"more than {saturation} {label} (counting stopped there), over {self._ramp} past the budget of {budget}: penalty -1 (floor)", details)
        if over <= 0:
            return Judgment(0.0, f"{length} {label}, within the budget of {budget}: no penalty", details)
        score = max(-1.0, -over / self._ramp)
        floor = " (floor)" if score == -1.0 else ""
        return Judgment(score, f"{length} {label}, {over} over the budget of {budget}: penalty {score:.3g}{floor} (-1 at {self._ramp} over)", details)


class OverlongOptions(Options):
    max_length: int = 20480  # L_max (DAPO used 20480 tokens)
    buffer: int = 4096  # L_cache, the soft zone before L_max (DAPO used 4096)
    unit: Unit = "tokens"
    tokenizer: str | None = None  # a local Hugging Face tokenizer folder (read offline; imports transformers); unit must be tokens
    length_field: str | None = None  # read the length from this sample field instead of counting

    @model_validator(mode="after")
    def _check(self) -> OverlongOptions:
        if self.max_length <= 0:
            raise ValueError(f"max_length must be > 0, got {self.max_length}")
        if not 0 <= self.buffer <= self.max_length:
            raise ValueError(f"buffer must be between 0 and max_length ({self.max_length}), got {self.buffer}")
        if self.tokenizer and self.unit != "tokens":
            raise ValueError("a tokenizer counts tokens; set unit: tokens")
        return self


class OverlongPenalty(Reward):
    """DAPO's soft overlong punishment (Yu et al. 2025, "DAPO: An Open-Source LLM
    Reinforcement Learning System at Scale", eq. 13), with L_max = ``max_length`` and
    L_cache = ``buffer``:

        0                                   if len <= L_max - L_cache
        ((L_max - L_cache) - len) / L_cache if L_max - L_cache < len <= L_max
        -1                                  if len > L_max

    Meant to be added to the correctness reward. ``buffer: 0`` is a hard cut at ``max_length``.
    """

    type_name = "overlong"
    Options = OverlongOptions
    options: OverlongOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._counter = _Counter(self.options.unit, self.options.tokenizer, self.options.length_field)

    def score_one(self, sample: Sample) -> Judgment:
        length = self._counter.count(sample, self.options.max_length)
        if isinstance(length, Judgment):
            return length
        max_length, buffer = self.options.max_length, self.options.buffer
        soft_start = max_length - buffer
        details = {"length": length, "max_length": max_length, "buffer": buffer, "unit": self._counter.unit}
        label = self._counter.label
        if length <= soft_start:
            return Judgment(0.0, f"{length} {label}, at most {soft_start} (max_length {max_length} - buffer {buffer}): no penalty", details)
        if length <= max_length:
            score = (soft_start - length) / buffer
            return Judgment(score, f"{length} {label}, {length - soft_start} into the {buffer}-long buffer before {max_length}: penalty {score:.3g}", details)
        if self._counter.unit != "chars" and not self._counter.length_field and not self._counter.tokenizer_name:
            details["length_at_least"] = True
            return Judgment(-1.0, f"more than {max_length} {label} (counting stopped there), over max_length {max_length}: penalty -1", details)
        return Judgment(-1.0, f"{length} {label}, over max_length {max_length}: penalty -1", details)
