"""The typed items a benchmark loader returns: one dataclass per shape of benchmark row.

Every item has an ``id`` (stable across runs, so per-sample logs can be resumed) and a
``subset`` (the benchmark's own subset, domain or source name, for per-subset tables).

- ``PreferencePair``: one chosen and one rejected response (RewardBench 1, RMB pairwise).
- ``LabeledPair``: two responses in a fixed order and which one is better (JudgeBench, LLMBar).
- ``BestOfN``: chosen and rejected lists (RewardBench 2, RMB best-of-N).
- ``StyledPair``: RM-Bench's 3 chosen and 3 rejected responses in styles concise, detailed
  plain, detailed markdown.
- ``ProcessItem``: a solution as steps and the index of its first wrong step, -1 when none
  (ProcessBench; PRMBench converted).
- ``SampledSolutions``: N sampled solutions to one problem with extracted answers and
  correctness (best-of-N math sets such as math_cot_100).
- ``JudgedPair``: a user's own pair, labelled a, b or tie (``assay bench pairs --data``).
- ``Candidates``: a user's own N responses to one prompt and which are correct
  (``assay bench bon --data``).

    >>> LabeledPair(id="1", prompt="2+2?", response_a="4", response_b="5", better="a").label_text
    'A>B'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from assay.types import Text


@dataclass
class PreferencePair:
    id: str
    prompt: Text
    chosen: str
    rejected: str
    subset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabeledPair:
    id: str
    prompt: Text
    response_a: str
    response_b: str
    better: Literal["a", "b"]
    subset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def label_text(self) -> str:
        return "A>B" if self.better == "a" else "B>A"


@dataclass
class BestOfN:
    id: str
    prompt: Text
    chosen: list[str]
    rejected: list[str]
    subset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class StyledPair:
    """RM-Bench: ``chosen[i]`` and ``rejected[i]`` in style i (0 concise, 1 detailed plain,
    2 detailed markdown); ``domain`` is chat, code, math or safety (both safety files)."""

    id: str
    prompt: Text
    chosen: list[str]
    rejected: list[str]
    domain: str
    subset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProcessItem:
    """``label`` is the 0-based index of the first wrong step, -1 when every step is right;
    ``error_steps`` (0-based) lists every wrong step when the source says (PRMBench)."""

    id: str
    problem: str
    steps: list[str]
    label: int
    subset: str = ""
    error_steps: list[int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SampledSolutions:
    id: str
    prompt: str
    responses: list[str]
    answers: list[str]
    correct: list[bool]
    stored_scores: list[float] | None = None
    subset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class JudgedPair:
    """``label`` is ``a``, ``b`` or ``tie`` (the majority of ``annotations`` when the file
    gives several annotators); ``split`` is ``dev`` or ``test`` where the file says."""

    id: str
    prompt: Text
    response_a: str
    response_b: str
    label: Literal["a", "b", "tie"]
    subset: str = ""
    split: str | None = None
    annotations: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Candidates:
    id: str
    prompt: Text
    responses: list[str]
    correct: list[bool]
    subset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


Item = PreferencePair | LabeledPair | BestOfN | StyledPair | ProcessItem | SampledSolutions | JudgedPair | Candidates
