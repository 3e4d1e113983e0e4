"""ReNorm (``combine.method: outcome_process``: z(outcome) + w * tanh(z(process)) within each
prompt group) over the step rewards of ``prm``, ``process`` + ``step_arithmetic`` and
``step_judge``: it reads each process reward's aggregate, reorders responses with the same
outcome by it, and never lets it flip an outcome. Checked against an independent computation."""

from __future__ import annotations

import math
import statistics

import pytest
from scripted_backend import ScriptedBackend
from test_prm import minilm_tokenizer, token_prm  # noqa: F401 - the tiny token-classification PRM fixture

from assay.compose.load import load_reward
from assay.types import Sample

PROMPT = "Tom has 3 boxes of 4 apples and eats 2. How many are left?"
STEPS = [
    ["3 * 4 = 12 apples in all.", "12 - 2 = 10 apples are left.", "The answer is 10."],  # right, steps right
    ["3 * 4 = 12 apples in all.", "12 - 2 = 11 apples are left.", "The answer is 10."],  # right answer, a wrong step
    ["3 * 4 = 13 apples in all.", "13 - 2 = 11 apples are left.", "The answer is 11."],  # wrong, a wrong step
    ["3 * 4 = 12 apples in all.", "12 + 2 = 14 apples are left.", "The answer is 14."],  # wrong, steps' sums right
]
REFERENCE = "10"


def samples(group: int = 0) -> list[Sample]:
    return [Sample(prompt=PROMPT, response="\n\n".join(s), steps=s, reference=REFERENCE, id=f"{group}-{i}", group=group) for i, s in enumerate(STEPS)]


def renorm(process: dict, weight: float = 0.5):
    return load_reward({
        "rewards": {"outcome": {"type": "math"}, "steps": process},
        "combine": {"method": "outcome_process", "outcome": "outcome", "process": "steps", "process_weight": weight},
    })


def by_hand(outcome: list[float], process: list[float], weight: float = 0.5) -> list[float]:
    """The ReNorm formula written out again: population z-scores within the group (std + 1e-6, as GRPO)."""
    def z(values):
        mean, std = statistics.fmean(values), statistics.pstdev(values)
        return [(v - mean) / (std + 1e-6) for v in values]
    return [o + weight * math.tanh(p) for o, p in zip(z(outcome), z(process), strict=True)]


def check(reward, batch):
    judgments = reward.score(batch)
    assert all(j.ok for j in judgments), [j.rationale for j in judgments]
    outcome = [j.details["outcome"].score for j in judgments]
    process = [j.details["steps"].score for j in judgments]
    assert outcome == [1.0, 1.0, 0.0, 0.0]
    assert all(isinstance(j.details["steps"].details.get("step_scores"), list) for j in judgments)  # real step rewards
    totals = [j.score for j in judgments]
    assert totals == pytest.approx(by_hand(outcome, process), abs=1e-9)
    assert min(totals[:2]) > max(totals[2:])  # the process term cannot flip an outcome
    return process, totals


def test_renorm_on_step_arithmetic():
    process, totals = check(renorm({"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min"}), samples())
    assert process == [1.0, 0.0, 0.0, 1.0]
    assert totals[0] > totals[1] and totals[3] > totals[2]  # the wrong step reorders equal outcomes


def test_renorm_on_step_judge():
    reward = renorm({"type": "step_judge", "protocol": "first_error", "base_url": "http://127.0.0.1:9/v1"})
    # the judge's verdicts come from a scripted backend (this tests the composition, not the judge)
    first_errors = {"12 - 2 = 10": -1, "12 - 2 = 11": 1, "3 * 4 = 13": 0, "12 + 2 = 14": 1}
    reward.components["steps"].backend = ScriptedBackend(
        lambda messages, params: next(f"\\boxed{{{k}}}" for text, k in first_errors.items() if text in messages[-1]["content"]))
    process, totals = check(reward, samples())
    assert process == [1.0, 0.0, 0.0, 0.0]  # min over the judged steps: a wrong step gives 0
    assert totals[0] > totals[1] and totals[2] == pytest.approx(totals[3])


def test_renorm_on_prm(token_prm):  # noqa: F811
    reward = renorm({"type": "prm", "model": str(token_prm), "convention": "token_classification", "aggregate": "mean"})
    process, totals = check(reward, samples())
    assert len(set(process)) > 1  # random weights, but real distinct step scores
    order = sorted(range(2), key=lambda i: process[i])
    assert totals[order[0]] < totals[order[1]]  # the process term orders the two right answers


def test_renorm_groups_are_separate_and_a_failed_process_is_no_score():
    reward = renorm({"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min"})
    batch = samples(0) + samples(1)[:2]
    totals = [j.score for j in reward.score(batch)]
    assert totals[:4] == pytest.approx(by_hand([1, 1, 0, 0], [1, 0, 0, 1]))
    assert totals[4:] == pytest.approx(by_hand([1, 1], [1, 0]))
    unchecked = Sample(prompt=PROMPT, response="I count them.\n\nThe answer is 10.", steps=["I count them.", "It is ten."], reference=REFERENCE, group=2)
    [judgment] = reward.score([unchecked])
    # every step abstained: no process score, so no total either (a typed failure, not a number)
    assert judgment.score is None and judgment.failure is not None and "abstained on every one" in judgment.rationale
