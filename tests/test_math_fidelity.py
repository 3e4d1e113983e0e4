"""The ``math`` reward's fidelity fixes (issue 11) and TRL's ``reasoning_accuracy_reward``
counterpart, plus the generic worker pool it runs on (``assay.sandbox.pool``).

Word references, several boxes, answer precedence, decimal commas, the math-verify options,
``answer_part: after_think`` on TRL's own test cases (huggingface/trl tests/test_rewards.py,
class TestReasoningAccuracyReward).
"""

from __future__ import annotations

import time

import pytest

from assay.rewards.math.reward import MathReward
from assay.sandbox.pool import WorkerPool
from assay.types import Sample


@pytest.fixture(scope="module")
def reward():
    r = MathReward(workers=2, timeout_seconds=3)
    yield r
    r.close()


def one(reward, response, reference):
    return reward.score([Sample(response=response, reference=reference)])[0]


# --- word references ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference, response",
    [("listen", r"\boxed{silent}"), ("east", r"\boxed{seat}"), ("stop", "The answer is pots."), ("$\\text{listen}$", r"\boxed{\text{silent}}"),
     ("listen.", r"\boxed{silent}"), ("red, blue", r"\boxed{der, eulb}"), ("Listen!", r"\boxed{enlist}")],
)
def test_a_letter_permutation_is_never_equal(reward, reference, response):
    j = one(reward, response, reference)
    assert j.ok and j.score == 0.0, j.rationale
    assert "compared as text" in j.rationale and j.details["path"] == "text"


@pytest.mark.parametrize("reference, response", [
    ("listen", r"\boxed{Listen}"), ("$\\text{Even}$", "$Even$"), ("forty-two", "The answer is Forty-Two."), ("red, blue", r"\boxed{blue, red}"), ("Yes.", r"\boxed{\text{yes}}"),
])
def test_the_same_word_is_equal(reward, reference, response):
    assert one(reward, response, reference).score == 1.0


def test_words_for_a_number_are_compared_as_text(reward):
    j = one(reward, r"\boxed{42}", "forty two")
    assert j.ok and j.score == 0.0 and "word reference 'forty two'" in j.rationale


def test_word_reference_input_option_skips_like_trl():
    r = MathReward(word_reference="input")
    j = one(r, r"\boxed{42}", "forty two")
    assert j.score is None and j.failure.kind == "input" and "words, not mathematics" in j.rationale


def test_single_letters_stay_mathematics(reward):
    assert one(reward, r"\boxed{A}", "A").score == 1.0
    assert one(reward, r"\boxed{x}", "x").score == 1.0


# --- several boxes, precedence, decimal commas -----------------------------------------------------


def test_several_boxes_in_the_response_are_read_together(reward):
    assert one(reward, r"so \boxed{(2,2)} and \boxed{(6,2)}", "(2,2),(6,2)").score == 1.0
    assert one(reward, r"\boxed{1} no no no no no \boxed{2}", r"\boxed{1,2}").score == 0.0  # math-verify: only the last


def test_several_boxes_in_the_reference_are_all_gold(reward):
    assert one(reward, r"$\boxed{1,2}$", r"$\boxed{1}\boxed{2}$").score == 1.0
    j = one(reward, r"\boxed{2}", r"$\boxed{1}\boxed{2}$")
    assert j.score == 0.0, j.rationale


def test_a_later_final_answer_wins_over_an_earlier_box(reward):
    text = r"We get \boxed{255} at first. Checking again, the final answer is $10,455$."
    j = one(reward, text, "10455")
    assert j.score == 1.0 and j.details["method"] == "final_answer", j.rationale
    slow = MathReward(workers=1, fast_path=False)
    try:
        assert one(slow, text, "10455").score == 1.0
    finally:
        slow.close()


@pytest.mark.parametrize(
    "reference, response, score",
    [("0,111", r"\boxed{0.111}", 1.0), ("0,111", r"\boxed{111}", 0.0), ("1,22", r"\boxed{1.22}", 1.0),
     ("1,22", r"\boxed{22}", 0.0), ("1000,99", "#### 1000.99", 1.0), ("1,222", r"\boxed{1222}", 1.0)],
)
def test_decimal_commas(reward, reference, response, score):
    j = one(reward, response, reference)
    assert j.score == score, j.rationale


# --- math-verify options -------------------------------------------------------------------------


def test_options_reach_math_verify():
    cases = [
        ({"strict": False}, r"$f(y)$", r"$f(x)$", 1.0),
        ({}, r"$f(y)$", r"$f(x)$", 0.0),
        ({"precision": 2}, r"$(0.6,2.6667]$", r"$(\frac{3}{5},\frac{8}{3}]$", 1.0),
        ({"set_relation": True, "targets": ["latex"]}, r"$-2 \le x \le 7$", r"$x \in [-2,7]$", 1.0),
        ({"targets": ["latex"]}, r"$-2 \le x \le 7$", r"$x \in [-2,7]$", 0.0),
    ]
    for options, response, reference, expected in cases:
        r = MathReward(workers=1, **options)
        try:
            j = one(r, response, reference)
        finally:
            r.close()
        assert j.score == expected, (options, j.rationale)


def test_options_are_checked():
    with pytest.raises(ValueError, match="targets"):
        MathReward(targets=["words"])
    with pytest.raises(ValueError, match="answer_part"):
        MathReward(answer_part="middle")


# --- TRL's reasoning_accuracy_reward cases -------------------------------------------------------

TRL_CASES = [  # (response, reference, TRL's reward); None = TRL skips (unparseable gold)
    (r"<think> Reasoning content </think> \boxed{\frac{63}{400}}", r"\frac{63}{400}", 1.0),
    (r"Reasoning content </think> \boxed{\frac{63}{400}}", r"\frac{63}{400}", 1.0),
    (r"<think> Reasoning content </think> \boxed{\frac{64}{400}}", r"\frac{63}{400}", 0.0),
    (r"<think> My answer is \boxed{42} </think> Some other text.", r"\boxed{42}", 0.0),
    (r"<think> The answer is \boxed{42} </think> Here's a wrong answer: \boxed{43}.", r"\boxed{42}", 0.0),
    (r"<think> Incomplete reasoning without closing tag", r"\frac{63}{400}", 0.0),
    (r"Correct answer \frac{63}{400} but completely missing reasoning content", r"\frac{63}{400}", 0.0),
    (r"<think> Reasoning content </think> \boxed{42}", "forty two", None),
]


def test_after_think_passes_trl_reasoning_accuracy_cases():
    r = MathReward(workers=1, answer_part="after_think", word_reference="input")
    try:
        js = r.score([Sample(response=resp, reference=ref) for resp, ref, _ in TRL_CASES])
    finally:
        r.close()
    assert [j.score for j in js] == [expected for _, _, expected in TRL_CASES], [j.rationale for j in js]
    assert "reasoning never ends" in js[5].rationale
    assert js[7].failure.kind == "input"


def test_after_think_custom_delimiter():
    r = MathReward(workers=1, answer_part="after_think", reasoning_delimiters=["</REASONING_END>"])
    try:
        j = one(r, r"<REASONING_START> Reasoning content </REASONING_END> \boxed{\frac{63}{400}}", r"\frac{63}{400}")
    finally:
        r.close()
    assert j.score == 1.0


def test_whole_reads_the_think_block():
    assert MathReward().score([Sample(response=r"<think> \boxed{42} </think> so", reference="42")])[0].score == 1.0


# --- the generic pool ----------------------------------------------------------------------------


def test_pool_runs_a_named_worker_and_keeps_order():
    pool = WorkerPool("assay.sandbox.pool:echo_worker", size=2, timeout_seconds=2)
    try:
        assert pool.start() is True
        outcomes = pool.run([(i, {"n": i}) for i in range(50)])
        assert [outcomes[i].value for i in range(50)] == [{"n": i} for i in range(50)]
        assert all(o.kind == "ok" for o in outcomes.values())
    finally:
        pool.close()
    assert pool.pids() == []


def test_pool_timeout_kills_only_that_item():
    pool = WorkerPool("pool_workers:sleeper", size=1, timeout_seconds=1)
    try:
        start = time.monotonic()
        outcomes = pool.run([(0, 0.0), (1, 30.0), (2, 0.0)])
        assert time.monotonic() - start < 10
    finally:
        pool.close()
    assert [outcomes[i].kind for i in range(3)] == ["ok", "timeout", "ok"]


def test_pool_worker_that_cannot_start_fails_its_items():
    pool = WorkerPool("pool_workers:broken_setup", size=1, timeout_seconds=1)
    try:
        outcomes = pool.run([(0, None)])
    finally:
        pool.close()
    assert outcomes[0].kind == "error" and "cannot start" in outcomes[0].message


def test_pool_rejects_bad_names_and_closed_use():
    with pytest.raises(ValueError, match="size"):
        WorkerPool("x:y", size=0, timeout_seconds=1)
    pool = WorkerPool("no_such_module_here:f", size=1, timeout_seconds=1)
    outcomes = pool.run([(0, None)])
    assert outcomes[0].kind == "error" and "No module named" in outcomes[0].message
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.run([(0, None)])


def test_math_warm_up_starts_the_pool_eagerly():
    r = MathReward(workers=1)
    try:
        assert r.worker_pids() == []
        r.warm_up()
        assert len(r.worker_pids()) == 1
    finally:
        r.close()
