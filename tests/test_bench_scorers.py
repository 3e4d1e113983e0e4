"""Each benchmark's scoring rule pinned on hand-made rows, ties included."""

from __future__ import annotations

import math

import pytest

from assay.bench import scorers


# --- RewardBench 1 --------------------------------------------------------------------------
def test_rewardbench_tie_is_wrong():
    assert scorers.pair_correct(2.0, 1.0)
    assert not scorers.pair_correct(1.0, 1.0)
    assert not scorers.pair_correct(0.0, 1.0)


def test_rewardbench_sections_are_example_weighted_and_math_prm_counts_984():
    subset_acc = {
        "alpacaeval-easy": 1.0, "mt-bench-easy": 0.0,  # Chat: (100*1 + 28*0) / 128
        "math-prm": 1.0, "hep-python": 0.0,  # Reasoning: (984*1 + 164*0) / 1148
        "donotanswer": 0.5,  # Safety
        "llmbar-natural": 0.25,  # Chat Hard
    }
    sections = scorers.rewardbench_sections(subset_acc)
    assert sections["Chat"] == pytest.approx(100 / 128)
    assert sections["Reasoning"] == pytest.approx(984 / 1148)
    assert sections["Safety"] == 0.5
    assert sections["Chat Hard"] == 0.25
    assert sections["overall"] == pytest.approx((100 / 128 + 984 / 1148 + 0.5 + 0.25) / 4)


def test_rewardbench_math_prm_equals_all_six_code_subsets():
    acc = {"math-prm": 1.0, **{f"hep-{x}": 0.0 for x in ("cpp", "go", "java", "js", "python", "rust")}}
    assert scorers.rewardbench_sections(acc)["Reasoning"] == pytest.approx(0.5)


# --- RewardBench 2 --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("chosen", "rejected", "credit"),
    [
        (5.0, [1.0, 2.0, 3.0], 1.0),
        (5.0, [5.0, 2.0, 3.0], 0.5),  # 2-way tie at the top
        (5.0, [5.0, 5.0, 5.0], 0.25),  # 4-way tie
        (4.0, [5.0, 2.0, 3.0], 0.0),
        (5.0, [5.0, 5.0, 1.0], 1 / 3),
    ],
)
def test_rewardbench2_best_of_4_credit(chosen, rejected, credit):
    assert scorers.best_of_n_credit(chosen, rejected) == pytest.approx(credit)


def test_rewardbench2_ties_formula_by_hand():
    rows = [
        ("ref:1", [10.0], [1.0, 2.0]),  # accurate, correct-incorrect margin 8
        ("tied:1", [9.0, 8.0], [3.0]),  # accurate, spread 1, margin 5
        ("ref:2", [1.0], [2.0]),  # not accurate, margin -1
        ("tied:2", [5.0, 3.0], [4.0]),  # not accurate, spread 2, margin -1
    ]
    # ref acc 1/2, tied acc 1/2; prompt 1: 5 > 1 and min(8,5)=5 > 1; prompt 2: -1 > 2 no
    preferred = 0.5
    preferred_hard = 0.5
    margin = (math.tanh(5 / 1 - 1) + math.tanh(-1 / 2 - 1)) / 2
    expected = 0.3 * 0.5 + 0.3 * 0.5 + 0.2 * preferred + 0.2 * preferred_hard + 0.01 * margin
    assert scorers.ties_score(rows) == pytest.approx(expected)


def test_rewardbench2_ties_all_tied_scores_are_not_accurate():
    rows = [("ref:1", [1.0], [1.0]), ("tied:1", [1.0, 1.0], [1.0])]
    # accuracy 0 (margin 0 is not > 0); spread 0: 0 > 0 false; margin term 0/0 -> nan -> 0
    assert scorers.ties_score(rows) == 0.0


def test_rmb_best_of_n_needs_strictly_above_every_loser():
    assert scorers.all_beaten(3.0, [1.0, 2.0])
    assert not scorers.all_beaten(3.0, [1.0, 3.0])


# --- RM-Bench -------------------------------------------------------------------------------
def test_rmbench_matrix_is_strict_and_levels_read_the_right_cells():
    chosen = [1.0, 5.0, 9.0]
    rejected = [0.0, 5.0, 10.0]
    m = scorers.rmbench_matrix(chosen, rejected)
    assert m.tolist() == [[1, 0, 0], [1, 0, 0], [1, 1, 0]]  # 5 vs 5 is a tie: 0
    levels = scorers.rmbench_levels(m)
    assert levels["hard"] == 0.0  # above the diagonal: (0,1) (0,2) (1,2)
    assert levels["normal"] == pytest.approx(1 / 3)
    assert levels["easy"] == 1.0  # below: (1,0) (2,0) (2,1)
    assert levels["overall"] == pytest.approx((0 + 1 / 3 + 1) / 3)


def test_rmbench_summary_averages_matrices_then_domains():
    a = scorers.rmbench_matrix([1, 1, 1], [0, 0, 0])  # all 1
    b = scorers.rmbench_matrix([0, 0, 0], [1, 1, 1])  # all 0
    summary = scorers.rmbench_summary({"chat": [a, b], "code": [a]})
    assert summary["domains"]["chat"]["overall"] == 0.5
    assert summary["domains"]["code"]["overall"] == 1.0
    assert summary["overall"] == 0.75
    assert summary["hard"] == 0.75


# --- JudgeBench -----------------------------------------------------------------------------
def test_judgebench_two_game_counting():
    assert scorers.judgebench_correct("A>B", "A>B", "A>B")  # +2
    assert scorers.judgebench_correct("A>B", None, "A>B")  # +1 + 0
    assert not scorers.judgebench_correct("A>B", "B>A", "A>B")  # 0: inconsistent
    assert not scorers.judgebench_correct(None, None, "A>B")
    assert not scorers.judgebench_correct("B>A", "B>A", "A>B")


def test_judgebench_scalar_tie_is_one_right_one_wrong_game():
    assert scorers.scalar_verdict(1.0, 1.0) == "B>A"
    assert not scorers.judgebench_scalar_correct(3.0, 3.0, "a")
    assert not scorers.judgebench_scalar_correct(3.0, 3.0, "b")
    assert scorers.judgebench_scalar_correct(4.0, 3.0, "a")
    assert scorers.judgebench_scalar_correct(3.0, 4.0, "b")
    assert not scorers.judgebench_scalar_correct(3.0, 4.0, "a")


# --- ProcessBench / PRMBench ----------------------------------------------------------------
def test_processbench_f1_is_harmonic_mean_of_the_two_accuracies():
    preds = [-1, -1, 2, 0, 3, -1]
    labels = [-1, 1, 2, 0, 1, -1]
    acc = scorers.processbench_accuracies(preds, labels)
    assert acc["acc_correct"] == 1.0  # 2 of 2
    assert acc["acc_error"] == 0.5  # 2 of 4 (2, 0 right; -1 and 3 wrong)
    assert acc["f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert scorers.processbench_accuracies([0], [-1])["f1"] is None  # no erroneous solutions
    assert math.isnan(scorers.processbench_f1([5, 5], [-1, 1]))  # both accuracies 0: 0/0 = NaN, as ProcessBench's code (was 0.0)


def test_prmbench_conversion_and_first_error():
    from assay.bench.loaders import prmbench_label

    assert prmbench_label([3, 4, 5]) == 2
    assert prmbench_label([]) == -1
    assert scorers.first_error_from_step_scores([0.9, 0.8, 0.4, 0.1]) == 2
    assert scorers.first_error_from_step_scores([0.9, 0.5]) == -1  # 0.5 is not below the threshold


def test_prm_score_averages_positive_and_negative_f1():
    gold = [True, True, False, False]
    pred = [True, False, False, True]
    # positive: tp 1, fp 1, fn 1 -> 0.5; negative: tp 1, fp 1, fn 1 -> 0.5
    assert scorers.prm_score(pred, gold) == {"f1_positive": 0.5, "f1_negative": 0.5, "prm_score": 0.5, "official_prm_score": 0.5}


# --- best-of-N ------------------------------------------------------------------------------
def test_best_of_n_rules():
    correct = [False, True, True, False]
    assert scorers.select_by_score([1, 3, 2, 0], correct) == 1.0
    assert scorers.select_by_score([3, 1, 2, 3], correct) == 0.0
    assert scorers.select_by_score([3, 3, 2, 0], correct) == 0.5  # tied at the top: expected credit
    assert scorers.majority_vote(["1", "2", "2", "1"], correct) is False  # 1 vs 2 tie: first seen wins
    assert scorers.majority_vote(["1", "2", "2", "3"], correct) is True
    assert scorers.any_correct(correct) and not scorers.any_correct([False])
    assert scorers.mean_correct(correct) == 0.5



def test_judgebench_pairwise_unparsed_game_counts_zero_not_the_whole_pair():
    from assay.bench.items import LabeledPair
    from assay.bench.protocols import JudgeBench

    item = LabeledPair("p1", "q", "x", "y", "a", subset="knowledge")
    right = {"winner": "a", "failure": None}
    unparsed = {"winner": None, "failure": {"kind": "parse", "message": "no verdict"}}
    gone = {"winner": None, "failure": {"kind": "backend", "message": "down"}}
    swapped_right = {"winner": "b", "failure": None}  # game 2 shows B first: 'b' is the original A
    outcome = JudgeBench().outcome(item, {"p1/ab": right, "p1/ba": unparsed}, "pairwise")
    assert outcome.value == 1.0 and outcome.parts["unparsed_games"] == 1  # +1 + 0 > 0
    assert JudgeBench().outcome(item, {"p1/ab": unparsed, "p1/ba": unparsed}, "pairwise").value == 0.0
    assert JudgeBench().outcome(item, {"p1/ab": gone, "p1/ba": swapped_right}, "pairwise").value is None


def test_process_prediction_needs_one_score_per_step():
    from assay.bench.items import ProcessItem
    from assay.bench.protocols import ProcessBench

    item = ProcessItem("s1", "q", ["a", "b", "c"], label=2)
    short = {"score": 1.0, "failure": None, "details": {"step_scores": [0.9, 0.8]}}
    whole = {"score": 1.0, "failure": None, "details": {"step_scores": [0.9, 0.8, 0.1]}}
    assert ProcessBench().outcome(item, {"s1/steps": short}, "process").failures == ["input"]
    assert ProcessBench().outcome(item, {"s1/steps": whole}, "process").value == 1.0
