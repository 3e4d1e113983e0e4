"""Process rewards: score each reasoning step, then aggregate and locate the first error.

A process reward splits a response into steps (the sample's ``steps`` when given, else
by "Step N:" markers, blank lines, or lines), scores every step with any other reward type
(``step_reward``, a nested reward entry), and aggregates the step scores (min, mean, last,
product: PRMs in the literature use min or last). The first step scoring below
``threshold`` is the predicted first error (-1 when there is none), the quantity
ProcessBench and PRMBench evaluate.

Each step is scored as a Sample whose ``response`` is the step and whose extras carry
``step_index``, ``previous_steps`` and the full ``solution``, so a step scorer (a function,
a judge with a step prompt) sees its context.

    rewards:
      steps:
        type: process
        step_reward: {type: function, path: "my_prm.py:score_step"}
        aggregate: min
        threshold: 0.5
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import field_validator

from assay.reward import Options, Reward
from assay.types import Judgment, Sample

STEP_MARKER = re.compile(r"(?im)^\s*(?:#+\s*)?step\s*\d+\s*[:.)]")


def split_steps(text: str) -> list[str]:
    """Steps of a solution: by "Step N:" markers if present, else blank lines, else lines."""
    text = text.strip()
    if not text:
        return []
    starts = [m.start() for m in STEP_MARKER.finditer(text)]
    if len(starts) >= 2:
        bounds = starts + [len(text)]
        head = text[: starts[0]].strip()
        steps = [text[a:b].strip() for a, b in zip(bounds, bounds[1:])]
        return ([head] if head else []) + steps
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(parts) >= 2:
        return parts
    return [line.strip() for line in text.splitlines() if line.strip()]


def aggregate(scores: list[float], how: str) -> float:
    if how == "min":
        return min(scores)
    if how == "mean":
        return sum(scores) / len(scores)
    if how == "last":
        return scores[-1]
    if how == "product":
        return math.prod(scores)
    raise ValueError(f"unknown aggregation {how!r}")


class ProcessOptions(Options):
    step_reward: dict[str, Any]  # a reward entry: {type: ..., options...}
    aggregate: Literal["min", "mean", "last", "product"] = "min"
    threshold: float = 0.5  # a step scoring below this is an error
    # a step whose scorer abstains (no failure, no score) is left out of the aggregate; with a
    # number here it counts as that score instead (1.0: "no error found in it"), e.g. for PRMBench
    abstained_step_score: float | None = None

    @field_validator("step_reward")
    @classmethod
    def _has_type(cls, entry: dict[str, Any]) -> dict[str, Any]:
        if not entry.get("type"):
            raise ValueError("needs a 'type': step_reward is a reward entry such as {type: function, path: 'my_prm.py:score_step'}")
        return entry


class ProcessReward(Reward):
    """Step scores from any reward, aggregated; first error located."""

    type_name = "process"
    Options = ProcessOptions

    def __init__(self, name: str | None = None, *, base_dir: Any = None, **options: Any) -> None:
        from assay.registry import build_reward

        super().__init__(name, **options)
        entry = dict(self.options.step_reward)
        type_name = entry.pop("type")
        self.step_scorer = build_reward(type_name, f"{self.name}.step", entry, base_dir)

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        step_lists = [s.steps if s.steps else split_steps(s.response_text) for s in samples]
        flat: list[Sample] = []
        owners: list[int] = []
        for i, (sample, steps) in enumerate(zip(samples, step_lists, strict=True)):
            for k, step in enumerate(steps):
                flat.append(Sample(
                    prompt=sample.prompt, response=step, reference=sample.reference, id=sample.id, group=sample.group,
                    extra={**sample.extra, "step_index": k, "previous_steps": steps[:k], "solution": sample.response_text},
                ))
                owners.append(i)
        step_judgments = await self.step_scorer.ascore(flat) if flat else []
        per_sample: list[list[Judgment]] = [[] for _ in samples]
        for owner, judgment in zip(owners, step_judgments, strict=True):
            per_sample[owner].append(judgment)
        return [self._judge(steps, judgments) for steps, judgments in zip(step_lists, per_sample, strict=True)]

    def _judge(self, steps: list[str], judgments: list[Judgment]) -> Judgment:
        if not steps:
            return Judgment.fail("input", "no steps: the response is empty")
        scores = [j.score for j in judgments]
        details: dict[str, Any] = {"steps": [j.to_dict() for j in judgments], "step_scores": scores}
        failed = [k for k, j in enumerate(judgments) if j.failure is not None]
        if failed:
            first = judgments[failed[0]]
            kind = first.failure.kind if first.failure else "internal"
            judgment = Judgment.fail(kind, f"step {failed[0] + 1} of {len(steps)} could not be scored: {first.rationale}")
            judgment.details = details
            return judgment
        fill = self.options.abstained_step_score
        values = [float(v) if v is not None else fill for v in scores]
        return judge_step_scores(len(steps), values, self.options.aggregate, self.options.threshold, details)


def judge_step_scores(n_steps: int, values: list[float | None], how: str, threshold: float, details: dict[str, Any]) -> Judgment:
    """The solution's judgment from its step scores (None: that step abstained and is left
    out): the aggregate, the first step below ``threshold`` (``details.first_error``, -1 for
    none) and a rationale listing the scores. Shared by ``process`` and ``prm``."""
    details["step_scores"] = values
    scored = [(k, v) for k, v in enumerate(values) if v is not None]
    abstained = len(values) - len(scored)
    if not scored:
        return Judgment(None, f"{n_steps} steps, the step scorer abstained on every one: nothing to aggregate", details=details)
    first_error = next((k for k, v in scored if v < threshold), -1)
    details["first_error"] = first_error
    total = aggregate([v for _, v in scored], how)
    where = f"first error at step {first_error + 1}" if first_error >= 0 else "no step below threshold"
    shown = ", ".join("-" if v is None else f"{v:.3g}" for v in values[:12]) + (" ..." if len(values) > 12 else "")
    skipped = f"; {abstained} abstained (left out)" if abstained else ""
    rationale = f"{n_steps} steps scored [{shown}]{skipped}; {how} = {total:.4g}; {where} (threshold {threshold:g})"
    return Judgment(score=total, rationale=rationale, details=details)


def step_scores_of(judgment: Judgment | dict[str, Any]) -> list[float | None] | None:
    """``details.step_scores`` of a judgment (or its ``to_dict()``), or of one of a composed
    reward's components; None when no process reward is in it. Used by search and the
    trainer adapters to read step scores out of whatever reward a config builds."""
    details = (judgment.details if isinstance(judgment, Judgment) else judgment.get("details")) or {}
    components = [v.details if isinstance(v, Judgment) else v.get("details") for v in details.values() if isinstance(v, (Judgment, dict))]
    for place in [details] + [c for c in components if isinstance(c, dict)]:
        scores = place.get("step_scores")
        if isinstance(scores, list):
            return [None if s is None else float(s) for s in scores]
    return None
