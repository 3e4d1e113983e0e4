"""What every instruction checker shares: its arguments model, its verdict, and the two
IFEval relations (``less than``, ``at least``).

A checker is a plain function ``check(text, args) -> Verdict``: ``args`` is the instruction's
own pydantic model (IFEval's kwargs, checked once when the sample is read, unknown keys
refused), and the verdict says whether the constraint is met and what was found, in words.
Checkers read text in one pass or with ``str`` methods: no regular expression with nested or
overlapping quantifiers, so hostile text cannot make them slow.

What this is not: the instruction registry (``registry.py``) or the reward (``reward.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

Relation = Literal["less than", "at least"]


class Args(BaseModel):
    """Base of an instruction's kwargs: unknown keys are refused (a typo is not a no-op)."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    pass


@dataclass(frozen=True)
class Verdict:
    met: bool
    found: str  # what was found, for the rationale: "212 words (less than 300 wanted)"


@dataclass(frozen=True)
class Instruction:
    """One registered instruction id: its kwargs model, its checker, and a one-line summary."""

    id: str
    args: type[Args]
    check: Callable[[str, Args], Verdict]
    summary: str


def compare(count: int, relation: str, threshold: int) -> bool:
    """IFEval's comparison: ``less than`` is count < threshold, ``at least`` is count >= threshold."""
    return count < threshold if relation == "less than" else count >= threshold


def counted(count: int, noun: str, relation: str, threshold: int) -> Verdict:
    plural = noun if count == 1 else noun + "s"
    return Verdict(compare(count, relation, threshold), f"{count} {plural} ({relation} {threshold} wanted)")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun if count == 1 else noun + 's'}"
