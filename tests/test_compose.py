"""Each composition function, including what it does with failed (None) components."""

import math

import pytest

from assay.compose import rules as compose


def test_weighted_sum_all_present():
    total, why = compose.weighted_sum({"a": 1.0, "b": 0.5}, {"a": 1.0, "b": 0.2})
    assert total == pytest.approx(1.1)
    assert "1*a(1)" in why and "0.2*b(0.5)" in why


def test_weighted_sum_fail_policy_gives_none():
    total, why = compose.weighted_sum({"a": 1.0, "b": None}, {"a": 1.0, "b": 0.2})
    assert total is None and "b failed" in why


def test_weighted_sum_skip_rescales_remaining_weights():
    total, why = compose.weighted_sum({"a": 1.0, "b": None}, {"a": 1.0, "b": 1.0}, on_failure="skip")
    assert total == pytest.approx(2.0) and "skipped failed: b" in why


def test_weighted_sum_skip_with_everything_failed_is_none():
    assert compose.weighted_sum({"a": None}, {"a": 1.0}, on_failure="skip")[0] is None


def test_weighted_sum_value_policy_is_visible():
    total, why = compose.weighted_sum({"a": 1.0, "b": None}, {"a": 1.0, "b": 1.0}, on_failure="value", failure_value=-1.0)
    assert total == 0.0 and "failed->-1" in why
    with pytest.raises(ValueError, match=r"on_failure 'value' needs failure_value"):
        compose.weighted_sum({"b": None}, {"b": 1.0}, on_failure="value")


def test_gate_caps_and_passes_and_fails_on_unchecked():
    assert compose.gate(0.9, 0.0, 1.0, 0.0)[0] == 0.0
    assert compose.gate(-0.5, 0.0, 1.0, 0.0)[0] == -0.5  # a cap never raises the total
    assert compose.gate(0.9, 1.0, 1.0, 0.0)[0] == 0.9
    assert compose.gate(0.9, None, 1.0, 0.0)[0] is None
    assert compose.gate(None, 1.0, 1.0, 0.0)[0] is None


def test_positive_only():
    assert compose.positive_only(0.7, 1.0)[0] == 0.7
    assert compose.positive_only(0.7, 0.0)[0] == 0.0
    assert compose.positive_only(0.7, None)[0] is None
    assert compose.positive_only(None, 1.0)[0] is None
    assert compose.positive_only(None, 0.0)[0] == 0.0  # switched off: the failed term does not matter


def test_log_sigmoid_is_stable_and_correct():
    assert compose.log_sigmoid(0.0) == pytest.approx(math.log(0.5))
    assert compose.log_sigmoid(1000.0) == pytest.approx(0.0)
    assert compose.log_sigmoid(-1000.0) == pytest.approx(-1000.0)
    assert compose.log_sigmoid(3.0, center=1.0) == pytest.approx(math.log(1 / (1 + math.exp(-2))))


def test_log_sigmoid_sum():
    total, _ = compose.log_sigmoid_sum({"a": 0.0, "b": 0.0}, {"a": 0.0, "b": 0.0})
    assert total == pytest.approx(2 * math.log(0.5))
    assert compose.log_sigmoid_sum({"a": None}, {"a": 0.0})[0] is None


def test_group_zscore():
    out = compose.group_zscore([1.0, 3.0, None, 5.0, 5.0], ["g", "g", "g", "h", "h"])
    assert out[0] == pytest.approx(-1.0, abs=1e-5) and out[1] == pytest.approx(1.0, abs=1e-5)
    assert out[2] is None
    assert out[3] == 0.0 and out[4] == 0.0  # all equal -> 0
    assert compose.group_zscore([2.0], [None]) == [0.0]  # group of one


def test_group_rank_with_ties():
    out = compose.group_rank([0.1, 0.5, 0.5, 0.9], [1, 1, 1, 1])
    assert out == [0.0, 0.5, 0.5, 1.0]
    assert compose.group_rank([3.0, None], [1, 1]) == [0.5, None]


def test_outcome_process_norm_cannot_flip_outcome():
    outcome = [1.0, 1.0, 0.0, 0.0]
    process = [0.0, 0.1, 1.0, 0.9]  # the process reward prefers the wrong answers
    out = compose.outcome_process_norm(outcome, process, [1, 1, 1, 1], process_weight=0.5)
    assert min(out[:2]) > max(out[2:])  # correct answers still rank first
    assert out[1] > out[0]  # process breaks the tie between equal outcomes
    assert compose.outcome_process_norm([1.0], [None], [1]) == [None]


def test_trust_weight():
    rule = [1.0, 0.0, 1.0, 0.0]
    assert compose.trust_weight([0.9, 0.1, 0.8, 0.2], rule, [1, 1, 2, 2]) == 1.0
    assert compose.trust_weight([0.1, 0.9, 0.8, 0.2], rule, [1, 1, 2, 2]) == 0.5
    assert compose.trust_weight([0.1, 0.9], [1.0, 1.0], [1, 1]) is None


def test_scheduled_weight():
    assert compose.scheduled_weight(0, 1.0, 0.0, 100) == 1.0
    assert compose.scheduled_weight(50, 1.0, 0.0, 100) == pytest.approx(0.5)
    assert compose.scheduled_weight(500, 1.0, 0.0, 100) == 0.0
    assert compose.scheduled_weight(50, 1.0, 0.0, 100, "cosine") == pytest.approx(0.5)
    assert compose.scheduled_weight(50, 1.0, 0.0, 100, "constant") == 1.0
    with pytest.raises(ValueError, match=r"unknown schedule 'bogus'"):
        compose.scheduled_weight(1, 1.0, 0.0, 10, "bogus")  # type: ignore[arg-type]
