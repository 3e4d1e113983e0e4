"""Tests of the ``math`` reward: extraction, the fast path, math-verify equivalence, failure
semantics (bad gold, timeouts, killed workers) and agreement with labelled real data."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pydantic
import pytest

from assay.registry import reward_class
from assay.rewards.math.reward import MathReward, extract_math_answer, fast_compare, plain_number
from assay.types import Sample

POWER_TOWER = r"\boxed{\dfrac{5^{\left(5^{\left(5^{\left(5^5\right)}\right)} - 4\right)} - 5}{16}}"


@pytest.fixture(scope="module")
def reward():
    r = MathReward(timeout_seconds=2)
    r.warm_up()
    yield r
    r.close()


def score(reward, response, reference):
    return reward.score([Sample(response=response, reference=reference)])[0]


# --- extraction and fast path (no workers) ------------------------------------------------


@pytest.mark.parametrize(
    "text, answer, method",
    [
        (r"so \boxed{1} is not right thus \boxed{\frac{1}{2}}.", r"\frac{1}{2}", "boxed"),
        (r"so \boxed{1} then \boxed{\frac{1}{2}}.", r"1, \frac{1}{2}", "boxed"),  # read together, as math-verify does
        ("Natalia sold 48/2 = 24 clips.\n#### 72", "72", "hashes"),
        ("She makes 9 * 2 = $<<9*2=18>>18\nA: 18", "18", "a_line"),
        ("Adding up, the answer is 42.", "42", "answer_is"),
        ("Thus the final answer is $3.5$.", "$3.5$", "answer_is"),
        ("I think it's about seven", None, "math_verify"),
    ],
)
def test_extraction(text, answer, method):
    found = extract_math_answer(text)
    assert (found.answer, found.method) == (answer, method)


@pytest.mark.parametrize(
    "gold, answer, equal",
    [
        ("18", "18", True),
        ("1000", "1,000", True),
        ("18", "$18", True),
        ("18", "\\$18.00", True),
        ("0.5", ".5", True),
        ("-3", "−3", True),
        ("25", "25\\%", True),
        ("18", "19", False),
        ("1000", "1,001", False),
        ("2.5", "25", False),
    ],
)
def test_fast_path_settles_plain_numbers(gold, answer, equal):
    verdict = fast_compare(gold, answer)
    assert verdict is not None and verdict.equal is equal


@pytest.mark.parametrize(
    "gold, answer",
    [
        (r"\frac{1}{2}", "0.5"),  # not plain: math-verify decides
        ("0.5", "50\\%"),  # percent vs number that differs: math-verify decides
        ("0.3333333", "0.33333333"),  # within math-verify's 6-decimal rounding
        ("x", "y"),
        ("18", "18 dollars"),
    ],
)
def test_fast_path_defers_when_not_sound(gold, answer):
    assert fast_compare(gold, answer) is None


def test_fast_path_normalised_strings_match():
    assert fast_compare(r"\dfrac{1}{2}", r"\frac{1}{2}").equal
    assert fast_compare(r"12\frac{3}{5}", r"12 \frac{3}{5}").equal


def test_plain_number_rejects_non_numbers():
    for text in ["1/2", "1,5", "x=5", "\\frac{1}{2}", "", "$", "1e5"]:
        assert plain_number(text) is None, text


def test_registered_and_options():
    cls = reward_class("math")
    assert cls is MathReward
    options = cls.Options.model_validate({"timeout_seconds": 3, "max_chars": 500})
    built = cls(name="m", **options.model_dump())
    assert built.options.timeout_seconds == 3 and built.options.max_chars == 500
    with pytest.raises(pydantic.ValidationError, match=r"timeout\n  Extra inputs are not permitted"):
        cls.Options.model_validate({"timeout": 3})


def test_fast_path_needs_no_workers():
    r = MathReward()
    js = r.score([Sample(response="A: 18", reference="18"), Sample(response="#### 7", reference="8")])
    assert [j.score for j in js] == [1.0, 0.0]
    assert "equals reference 18 (numeric fast path)" in js[0].rationale
    assert "'A: ...' line" in js[0].rationale
    assert js[1].details["path"] == "fast"
    assert r.worker_pids() == []  # no process was started for this


# --- math-verify in the pool --------------------------------------------------------------


@pytest.mark.parametrize(
    "response, reference",
    [
        (r"so the answer is \boxed{0.5}", r"\frac{1}{2}"),
        (r"\boxed{\frac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}"),
        (r"\boxed{\frac{1}{2}}", "0.5"),
        (r"\boxed{x = 3}", "3"),
        (r"\boxed{(1, 2]}", r"(1,2]"),
        (r"We conclude. \boxed{2\sqrt{2}}", r"The solution is \sqrt{8}, so \boxed{\sqrt{8}}."),
    ],
)
def test_latex_equivalence(reward, response, reference):
    j = score(reward, response, reference)
    assert j.ok and j.score == 1.0, j.rationale
    assert "equivalent" in j.rationale or "equals reference" in j.rationale


@pytest.mark.parametrize(
    "response, reference",
    [
        (r"\boxed{\frac{1}{3}}", "0.5"),
        (r"\boxed{\sqrt{3}}", r"\sqrt{2}"),
        ("A: 19", "18"),
        ("The answer is 12.", "#### 13"),
    ],
)
def test_wrong_answers_score_zero(reward, response, reference):
    j = score(reward, response, reference)
    assert j.ok and j.score == 0.0, j.rationale


def test_general_fallback_uses_math_verify_extraction(reward):
    j = score(reward, r"Computing, we get $\frac{6}{12}$", "0.5")
    assert j.score == 1.0 and j.details["method"] == "math_verify", j.rationale


def test_no_answer_is_a_zero_with_reason(reward):
    j = score(reward, "I am not sure how to do this problem.", "7")
    assert j.ok and j.score == 0.0
    assert "no answer found" in j.rationale
    j = score(reward, "", "7")
    assert j.ok and j.score == 0.0 and "no answer found" in j.rationale


@pytest.mark.parametrize("reference", ["", "   ", None, ["1"]])
def test_missing_or_empty_gold_is_input_failure(reward, reference):
    j = score(reward, r"\boxed{1}", reference)
    assert j.score is None and j.failure.kind == "input"


def test_unparseable_gold_is_input_failure(reward):
    j = score(reward, r"\boxed{1}", r"\frac{")
    assert j.score is None and j.failure.kind == "input", j.rationale


def test_reference_field_option():
    r = MathReward(reference_field="answer")
    j = r.score([Sample(response="A: 4", extra={"answer": "4"})])[0]
    assert j.score == 1.0


def test_long_response_keeps_tail_and_says_so():
    r = MathReward(max_chars=200)
    j = r.score([Sample(response="blah " * 1000 + "\nA: 5", reference="5")])[0]
    assert j.score == 1.0 and j.details["truncated"]
    assert "last 200" in j.rationale


def test_pathological_input_times_out_and_batch_survives(reward):
    batch = [
        Sample(response=r"\boxed{\frac{1}{2}}", reference="0.5"),
        Sample(response=POWER_TOWER, reference="3"),
        Sample(response=r"\boxed{\frac{\sqrt{2}}{2}}", reference=r"\frac{1}{\sqrt{2}}"),
        Sample(response="A: 18", reference="18"),
        Sample(response=r"\boxed{\frac{1}{3}}", reference="0.5"),
    ]
    start = time.monotonic()
    js = reward.score(batch)
    elapsed = time.monotonic() - start
    assert elapsed <= reward.options.timeout_seconds + 1, elapsed
    assert js[1].score is None and js[1].failure.kind == "timeout"
    assert "2 s" in js[1].rationale
    assert [j.score for j in js[:1] + js[2:]] == [1.0, 1.0, 1.0, 0.0]
    # the pool still works afterwards
    assert score(reward, r"\boxed{0.25}", r"\frac14").score == 1.0


def test_hung_worker_is_killed_and_replaced():
    r = MathReward(timeout_seconds=1, workers=1)
    r.warm_up()
    (pid,) = r.worker_pids()
    os.kill(pid, signal.SIGSTOP)  # a worker that never answers, whatever the item
    try:
        start = time.monotonic()
        js = r.score([Sample(response=r"\boxed{\frac{1}{2}}", reference="0.5"), Sample(response=r"\boxed{\frac{2}{4}}", reference="0.5")])
        elapsed = time.monotonic() - start
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert js[0].failure is not None and js[0].failure.kind == "timeout"
    assert js[1].score == 1.0, js[1].rationale  # sent again to the replacement worker
    assert elapsed < 15
    assert pid not in r.worker_pids()
    with pytest.raises(ProcessLookupError, match="No such process"):
        os.kill(pid, 0)  # killed and reaped, not leaked
    r.close()


def test_worker_crash_is_internal_failure_and_batch_survives():
    r = MathReward(timeout_seconds=10, workers=2)
    r.warm_up()
    pids = r.worker_pids()
    result = {}

    def run():
        result["js"] = r.score([Sample(response=POWER_TOWER, reference="3")] + [Sample(response=r"\boxed{\frac{3}{6}}", reference="0.5")] * 3)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.0)
    for pid in pids:  # crash the worker stuck on the power tower (the other one is idle by now)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    thread.join(timeout=30)
    js = result["js"]
    assert js[0].failure is not None and js[0].failure.kind == "internal"
    assert "died" in js[0].rationale
    assert [j.score for j in js[1:]] == [1.0, 1.0, 1.0]
    r.close()
    assert r.worker_pids() == []


def test_threads_share_one_reward(reward):
    out: list[list[float | None]] = []

    def run():
        out.append([j.score for j in reward.score([Sample(response=r"\boxed{\frac{1}{2}}", reference="0.5")] * 4)])

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert out == [[1.0] * 4] * 4


def test_close_stops_processes():
    r = MathReward(workers=1)
    r.warm_up()
    (pid,) = r.worker_pids()
    r.close()
    with pytest.raises(ProcessLookupError, match="No such process"):
        os.kill(pid, 0)
    assert score(r, r"\boxed{\frac{1}{2}}", "0.5").score == 1.0  # a new pool on next use
    r.close()


# --- real data ------------------------------------------------------------------------------


@pytest.mark.data
def test_agreement_gsm8k_example_solutions(data_dir: Path, reward):
    samples, labels = [], []
    with open(data_dir / "gsm8k" / "example_model_solutions.jsonl") as handle:
        for line in handle:
            row = json.loads(line)
            gold = row["ground_truth"].rsplit("A:", 1)[1].strip()
            for value in row.values():
                if isinstance(value, dict) and "solution" in value:
                    samples.append(Sample(response=value["solution"], reference=gold))
                    labels.append(bool(value["is_correct"]))
    assert len(samples) == 5276
    js = reward.score(samples)
    agree = sum(1 for j, label in zip(js, labels) if j.ok and (j.score == 1.0) == label)
    assert agree / len(samples) >= 0.995, agree / len(samples)


@pytest.mark.data
def test_agreement_math_cot_100(data_dir: Path, reward):
    samples, labels = [], []
    with open(data_dir / "math-bon" / "math_cot_100.jsonl") as handle:
        for line in handle:
            row = json.loads(line)
            for response, label in zip(row["code"], row["score"], strict=True):
                samples.append(Sample(response=response, reference=str(row["gt"])))
                labels.append(bool(label))
    assert len(samples) == 800
    js = reward.score(samples)
    agree = sum(1 for j, label in zip(js, labels) if j.ok and (j.score == 1.0) == label)
    assert agree / len(samples) >= 0.995, agree / len(samples)
