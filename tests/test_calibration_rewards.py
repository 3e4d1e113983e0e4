"""Stated confidence and the calibration rewards: the reader's shapes and failures, linear time
on hostile text, the RLCR and log-score formulas, failures of the correctness term, and, on
the GSM8K example solutions with synthetic stated confidences, the ordering a calibration
reward must produce: calibrated above over- and under-confident."""

from __future__ import annotations

import json
import math
import random
import time

import pytest

from assay.bench.calibration import ece
from assay.compose.load import load_reward
from assay.registry import build_reward
from assay.rewards.calibration.confidence import ConfidenceOptions, ConfidenceReader
from assay.types import Sample

READER = ConfidenceReader()


@pytest.mark.parametrize(("text", "value"), [
    ("<confidence>0.8</confidence>", 0.8),
    ("<Confidence> 85% </Confidence>", 0.85),
    ("The answer is 4.\nConfidence: 80%", 0.8),
    ("**Confidence:** 0.65.", 0.65),
    ("confidence level = 90 percent", 0.9),
    ("Certainty: .3", 0.3),
    ("Confidence: 8/10", 0.8),
    ("I am 3/4 sure", 0.75),
    ("Final answer 7. I am 70% sure.", 0.7),
    ("I\u2019m 95% confident in this", 0.95),
    ("Confidence: 1", 1.0),
    ("Confidence: 0", 0.0),
    ("Confidence: 40\n...revised. <confidence>0.9</confidence>", 0.9),  # the last statement wins
    ("<confidence>0.2</confidence> later: Confidence: 60%", 0.6),
    ("I have confidence in this method. Confidence: 0.7", 0.7),  # prose is not a statement
])
def test_reads_the_last_stated_confidence(text, value):
    assert READER.read(text).value == pytest.approx(value)


@pytest.mark.parametrize(("text", "reason"), [
    ("The answer is 4.", "no stated confidence found"),
    ("Confidence: high", "holds no number"),
    ("<confidence>very</confidence>", "holds no number"),
    ("<confidence>0.8 or so</confidence>", "not just a number"),
    ("Confidence: 150%", "outside [0, 1]"),
    ("Confidence: 12/10", "outside [0, 1]"),
    ("Confidence: 8/0", "holds no number"),
    ("<confidence>0.8", "no stated confidence found"),  # a cut-off tag is no statement
])
def test_absent_or_unreadable_is_no_value_with_a_reason(text, reason):
    stated = READER.read(text)
    assert stated.value is None and reason in stated.reason


def test_scales_and_configured_patterns():
    unit = ConfidenceReader(ConfidenceOptions(scale="unit"))
    assert unit.read("Confidence: 50").value is None  # 50 as a probability is out of range
    percent = ConfidenceReader(ConfidenceOptions(scale="percent"))
    assert percent.read("Confidence: 1").value == pytest.approx(0.01)
    custom = ConfidenceReader(ConfidenceOptions(tags=["p"], labels=["prob"], phrases=["my bet is {} on it"]))
    assert custom.read("<p>0.4</p>").value == pytest.approx(0.4)
    assert custom.read("Prob = 0.25").value == pytest.approx(0.25)
    assert custom.read("My bet is 60% on it").value == pytest.approx(0.6)
    assert custom.read("Confidence: 0.9").value is None  # the defaults are replaced
    with pytest.raises(ValueError):
        ConfidenceOptions(phrases=["no slot here"])


@pytest.mark.parametrize("hostile", [
    "<confidence>" * 80_000,
    "confidence " * 90_000,
    "i am " * 200_000,
    "confidence: " + "9" * 1_000_000,
    ("<confidence>" + "0." + "1" * 50 + " ") * 10_000,
])
def test_hostile_text_is_read_in_linear_time(hostile):
    started = time.perf_counter()
    stated = READER.read(hostile)
    assert time.perf_counter() - started < 5.0  # about 1 MB each: linear scans take well under a second
    assert stated.value is None


def samples(*pairs: tuple[str, str | None]) -> list[Sample]:
    return [Sample(response=r, reference=ref) for r, ref in pairs]


def test_brier_and_log_rewards_follow_their_formulas():
    brier = build_reward("calibration_brier", "b", {"correctness": {"type": "exact_match"}})
    log = build_reward("calibration_log", "l", {"correctness": {"type": "exact_match"}, "eps": 1e-3})
    pure = build_reward("calibration_brier", "p", {"correctness": {"type": "exact_match"}, "include_correctness": False})
    rows = samples(("<answer>4</answer> Confidence: 80%", "4"), ("<answer>5</answer> Confidence: 90%", "4"), ("<answer>5</answer> Confidence: 0%", "4"))
    assert [j.score for j in brier.score(rows)] == pytest.approx([1 - 0.04, 0 - 0.81, 0.0])
    assert [j.score for j in pure.score(rows)] == pytest.approx([-0.04, -0.81, 0.0])
    assert [j.score for j in log.score(rows)] == pytest.approx([1 + math.log(0.8), math.log(0.1), math.log(1 - 1e-3)])
    judged = brier.score(rows[:1])[0]
    assert judged.details["c"] == 1.0 and judged.details["confidence"] == 0.8 and judged.details["correctness"]["score"] == 1.0


def test_failures_are_typed_never_scores(tmp_path):
    brier = build_reward("calibration_brier", "b", {"correctness": {"type": "exact_match"}})
    no_confidence, no_reference = brier.score(samples(("<answer>4</answer>", "4"), ("Confidence: 0.5", None)))
    assert no_confidence.score is None and no_confidence.failure.kind == "parse"
    assert no_reference.score is None and no_reference.failure.kind == "input" and "correctness term" in no_reference.rationale
    (tmp_path / "judge.py").write_text("def score(response):\n    return 7.0\n")
    scaled = build_reward("calibration_brier", "s", {"correctness": {"type": "function", "path": "judge.py:score"}}, tmp_path)
    out_of_range = scaled.score(samples(("Confidence: 0.9", None)))[0]
    assert out_of_range.failure.kind == "input" and "correct_at" in out_of_range.rationale
    thresholded = build_reward("calibration_brier", "t", {"correctness": {"type": "function", "path": "judge.py:score"}, "correct_at": 6}, tmp_path)
    assert thresholded.score(samples(("Confidence: 0.9", None)))[0].score == pytest.approx(1 - 0.01)
    from assay.spec import ConfigError

    with pytest.raises(ConfigError):
        build_reward("calibration_brier", "x", {"correctness": {"pattern": "a"}})


def test_a_config_entry_builds_it():
    reward = load_reward({"rewards": {"cal": {"type": "calibration_log", "correctness": {"type": "exact_match"}}}})
    assert reward.score(samples(("<answer>4</answer> I am 50% sure", "4")))[0].score == pytest.approx(1 + math.log(0.5))


# --- GSM8K example solutions with synthetic stated confidences ----------------------------------
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
CORRECTNESS = {"type": "exact_match", "pattern": r"A:\s*(-?[0-9.,]+)", "normalize": False}


def statement(q: float, k: int) -> str:
    """Three shapes in turn, so the reader is exercised on real solutions in each."""
    return [f"\n<confidence>{q:.4f}</confidence>", f"\nConfidence: {100 * q:.2f}%", f"\nI am {100 * q:.2f}% sure."][k % 3]


@pytest.fixture(scope="module")
def gsm8k(data_dir):
    with open(data_dir / "gsm8k" / "example_model_solutions.jsonl") as handle:
        rows = [json.loads(line) for line in handle]
    base = []
    for i, row in enumerate(rows):
        reference = row["ground_truth"].rsplit("A:", 1)[1].strip().replace(",", "")
        for model in MODELS:
            base.append((f"{i}/{model}", model, row[model]["solution"], reference, bool(row[model]["is_correct"])))
    correct = build_reward("exact_match", "c", {k: v for k, v in CORRECTNESS.items() if k != "type"}).score([Sample(response=s, reference=r) for _, _, s, r, _ in base])
    c = [j.score for j in correct]
    agreement = sum((ci == 1.0) == label for ci, (*_, label) in zip(c, base)) / len(base)
    assert agreement > 0.995  # the answer checker agrees with the file's is_correct (a few "5,600" answers apart)
    # calibrated: per model, a correct solution lands in the 'sure' cell with chance 0.8 and a wrong one with 0.2
    # (seeded per solution); each cell states its own accuracy, so P(correct | stated q) = q exactly
    cells: dict[tuple[str, bool], list[int]] = {}
    for k, ((key, model, *_), ci) in enumerate(zip(base, c)):
        sure = random.Random(f"0:{key}").random() < (0.8 if ci == 1.0 else 0.2)
        cells.setdefault((model, sure), []).append(k)
    q = [0.0] * len(base)
    for members in cells.values():
        accuracy = sum(c[k] for k in members) / len(members)
        for k in members:
            q[k] = round(accuracy, 4)
    conditions = {
        "calibrated": q,
        "overconfident": [round(1 - 0.35 * (1 - x), 4) for x in q],
        "underconfident": [round(0.5 * x, 4) for x in q],
    }
    texts = {name: [Sample(response=s + statement(x, k), reference=r) for k, ((_, _, s, r, _), x) in enumerate(zip(base, qs))] for name, qs in conditions.items()}
    return conditions, texts, c


@pytest.mark.parametrize("reward_type", ["calibration_brier", "calibration_log"])
def test_gsm8k_calibrated_confidence_scores_above_over_and_under_confidence(gsm8k, reward_type):
    conditions, texts, c = gsm8k
    reward = build_reward(reward_type, "cal", {"correctness": CORRECTNESS})
    means = {}
    for name, rows in texts.items():
        judged = reward.score(rows)
        assert all(j.ok for j in judged), [j.rationale for j in judged if not j.ok][:3]
        assert [j.details["c"] for j in judged] == c  # the same correctness term in every condition
        assert [j.details["confidence"] for j in judged] == pytest.approx(conditions[name], abs=1e-4)  # read back from the text
        means[name] = sum(j.score for j in judged) / len(judged)
    assert means["calibrated"] > means["overconfident"] + 0.01
    assert means["calibrated"] > means["underconfident"] + 0.01
    if reward_type == "calibration_brier":
        accuracy = sum(c) / len(c)
        brier = sum((x - ci) ** 2 for x, ci in zip(conditions["calibrated"], c)) / len(c)
        assert means["calibrated"] == pytest.approx(accuracy - brier, abs=1e-6)  # RLCR: accuracy minus the Brier score


def test_gsm8k_synthetic_confidences_have_the_calibration_they_claim(gsm8k):
    conditions, _, c = gsm8k
    assert ece(conditions["calibrated"], c, 10, "width") < 0.001
    assert ece(conditions["overconfident"], c, 10, "width") > 0.1
    assert ece(conditions["underconfident"], c, 10, "width") > 0.1
