"""The model-free step checker: which claims it reads, checks, and leaves alone (abstains)."""

from __future__ import annotations

import json
import time

import pytest

from assay import Sample, load_reward
from assay.rewards.process.arithmetic import StepArithmetic

# (step text, expected score: 1.0 all claims hold, 0.0 one is wrong, None abstains)
CASES = [
    ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.", 1.0),
    ("She makes 9 * 2 = $<<9*2=18>>18 every day", 1.0),
    ("She has 16 - 3 = <<16-3=12>>12 eggs", 0.0),
    ("Then 5 + 5 = 11.", 0.0),
    ("2 + 3 = 5 * 2 = 10", 1.0),  # a running chain: each link checked
    ("2 + 3 = 5 * 2 = 11", 0.0),
    ("$\\frac{3}{4} \\times 8 = 6$", 1.0),
    ("3 x 4 = 12 apples", 1.0),
    ("(2+3)*4 = 21", 0.0),
    ("2^10 = 1024", 1.0),
    ("1,000 + 2,000 = 3,000", 1.0),
    ("10 / 3 = 3.33", 1.0),  # rounded to the decimals shown
    ("100/1000*100 = <<100/1000*100=10.0>>10.0% more", 1.0),  # a percent label
    ("it took 450/70=<<450/70=6.428571428571429>>6 hours", 1.0),  # whole number after a division
    ("$4.20 + $9.45 + $1.35 = $<<4.20+9.45+1.35=14.999999999999998>>15", 1.0),  # float noise
    ("And the total number of license plates is $650*90=585000$.", 0.0),  # a real PRM800K slip
    ("We have $3p+e=1.24$", None),  # an equation with unknowns
    ("So either $a=0$ or $a^2-a-2=0$.", None),
    ("3p + 2 = 8", None),
    ("x + 2 = 5", None),
    ("\\sqrt(16) = 5", None),
    ("Joey had 214 points + 26 = <<214+26=240>>240 points", 1.0),  # the annotation holds; "+ 26 = 240" is no claim
    ("the box is 3x4", None),
    ("x = 5", None),
    ("2^1000000 = 5", None),  # too large to compute: skipped, not guessed
    ("Let us think about the problem.", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_step_claims(text, expected):
    [judgment] = StepArithmetic().score([Sample(response=text)])
    assert judgment.failure is None
    assert judgment.score == expected, judgment.rationale
    if expected is None:
        assert "abstained" in judgment.rationale
    if expected == 0.0:
        assert "is wrong" in judgment.rationale


@pytest.mark.parametrize("hostile", ["1+" * 500_000, "(" * 1_000_000, "<<" * 300_000, "9" * 1_000_000, "= " * 500_000])
def test_hostile_steps_are_bounded(hostile):
    start = time.perf_counter()
    [judgment] = StepArithmetic().score([Sample(response=hostile)])
    assert time.perf_counter() - start < 2.0
    assert judgment.failure is None
    assert "read the first 20,000" in judgment.rationale


def test_process_leaves_abstaining_steps_out():
    reward = load_reward({"rewards": {"steps": {"type": "process", "step_reward": {"type": "step_arithmetic"}}}})
    words, right, wrong = "Let us add the eggs.", "16 - 3 = 13", "13 * 2 = 25"
    judged = reward.score([
        Sample(response="", steps=[words, right, wrong]),
        Sample(response="", steps=[words, right]),
        Sample(response="", steps=[words, words]),
    ])
    inner = [j.details["steps"] for j in judged]
    assert [j.score for j in inner] == [0.0, 1.0, None]
    assert inner[0].details["first_error"] == 2
    assert inner[0].details["step_scores"] == [None, 1.0, 0.0]
    assert "1 abstained (left out)" in inner[0].rationale
    assert inner[2].failure is None and "abstained on every one" in inner[2].rationale
    filled = load_reward({"rewards": {"steps": {"type": "process", "step_reward": {"type": "step_arithmetic"}, "abstained_step_score": 1.0}}})
    [j] = filled.score([Sample(response="", steps=[words, right, wrong])])
    assert j.details["steps"].details["step_scores"] == [1.0, 1.0, 0.0]


@pytest.mark.data
def test_gsm8k_flags_are_precise(data_dir):
    """On the real GSM8K solutions, a flagged solution is nearly always really incorrect."""
    reward = StepArithmetic()
    flagged = correct_flagged = 0
    for line in (data_dir / "gsm8k" / "example_model_solutions.jsonl").open():
        row = json.loads(line)
        for value in row.values():
            if isinstance(value, dict) and "solution" in value:
                steps = value["solution"].splitlines()
                if any(j.score == 0.0 for j in reward.score([Sample(response=s) for s in steps])):
                    flagged += 1
                    correct_flagged += value["is_correct"]
    assert flagged > 150
    assert correct_flagged / flagged < 0.1
