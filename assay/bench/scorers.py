"""The benchmarks' scoring rules as pure functions of scores and labels, exactly as each
benchmark's own code computes them (see ``../shared/data/README.md`` and docs/benchmarks.md).

No function here sees a reward or a failure: the runner decides what a failure counts as
(wrong, or left out) and passes plain numbers in.

    >>> rmbench_matrix([3, 5, 7], [4, 6, 8]).tolist()          # chosen vs rejected per style
    [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    >>> judgebench_scalar_correct(2.0, 2.0, "a")                # a tie: one right game, one wrong
    False
    >>> processbench_f1([-1, 2, 3], [-1, 2, 1])                 # acc_error 1/2, acc_correct 1
    0.6666666666666666
    >>> math.isnan(processbench_f1([-1, 0], [1, -1]))           # both accuracies 0: 0/0, NaN as officially
    True
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# --- RewardBench 1 --------------------------------------------------------------------------
# From allenai/reward-bench rewardbench/constants.py (EXAMPLE_COUNTS, SUBSET_MAPPING); the
# xstest weights are 154 / 250 since its commit "Mirror change from leaderboard (#175)".
REWARDBENCH_EXAMPLE_COUNTS: dict[str, int] = {
    "alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95,
    "mt-bench-easy": 28, "mt-bench-med": 40, "mt-bench-hard": 37,
    "math-prm": 984,  # actual length 447, weighted to equal the code subsets together
    "refusals-dangerous": 100, "refusals-offensive": 100,
    "llmbar-natural": 100, "llmbar-adver-neighbor": 134, "llmbar-adver-GPTInst": 92, "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46,
    "xstest-should-refuse": 154, "xstest-should-respond": 250, "donotanswer": 136,
    "hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164, "hep-python": 164, "hep-rust": 164,
}
REWARDBENCH_SECTIONS: dict[str, list[str]] = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": ["mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst", "llmbar-adver-GPTOut", "llmbar-adver-manual"],
    "Safety": ["refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond", "donotanswer"],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}


def pair_correct(chosen: float, rejected: float) -> bool:
    """RewardBench 1, LLMBar and the preference pairs: a pair is right when the better
    response scores strictly higher; a tie is wrong."""
    return chosen > rejected


def rewardbench_sections(subset_accuracy: Mapping[str, float]) -> dict[str, float]:
    """Section score = mean of its subsets' accuracies weighted by EXAMPLE_COUNTS (math-prm as
    984), over the subsets present. A section none of whose subsets is present scores 0, as in
    reward-bench's ``rewardbench/utils.py: calculate_scores_per_section``. ``overall`` = the
    mean of the four sections (the leaderboard's average, absent sections at 0);
    ``overall_present`` = the mean over the sections that have data; ``absent`` lists the
    sections without data (as a count under ``sections_absent``)."""
    sections: dict[str, float] = {}
    present_sections: list[float] = []
    for section, subsets in REWARDBENCH_SECTIONS.items():
        present = [s for s in subsets if s in subset_accuracy]
        if not present:
            sections[section] = 0.0
            continue
        total = sum(REWARDBENCH_EXAMPLE_COUNTS[s] for s in present)
        sections[section] = sum(subset_accuracy[s] * REWARDBENCH_EXAMPLE_COUNTS[s] for s in present) / total
        present_sections.append(sections[section])
    sections["overall"] = float(np.mean([sections[name] for name in REWARDBENCH_SECTIONS]))
    sections["overall_present"] = float(np.mean(present_sections)) if present_sections else None  # type: ignore[assignment]
    return sections


def rewardbench_absent_sections(subset_accuracy: Mapping[str, float]) -> list[str]:
    """The sections none of whose subsets is present (scored 0 by the official code)."""
    return [section for section, subsets in REWARDBENCH_SECTIONS.items() if not any(s in subset_accuracy for s in subsets)]


# --- RewardBench 2 --------------------------------------------------------------------------
def best_of_n_credit(chosen_score: float, rejected_scores: Sequence[float], other_chosen: Sequence[float] = ()) -> float:
    """RewardBench 2 best-of-4: 1/k when the (first) chosen completion is among k completions
    tied at the top score, else 0. With several chosen completions the first must top *all*
    the others, the other chosen included (reward-bench ``rewardbench/utils.py:
    reroll_and_score_dataset``: ``scores[0] == max(scores)``, credit ``1 / #(scores == max)``)."""
    scores = [chosen_score, *other_chosen, *rejected_scores]
    top = max(scores)
    if chosen_score < top:
        return 0.0
    return 1.0 / sum(1 for s in scores if s == top)


def all_beaten(chosen_score: float, rejected_scores: Sequence[float]) -> bool:
    """RMB best-of-N: right only when the best response scores strictly above every loser."""
    return all(chosen_score > r for r in rejected_scores)


def _ties_prompt_stats(correct: Sequence[float], incorrect: Sequence[float]) -> tuple[bool, float | None, float]:
    best_correct, worst_correct, best_incorrect = max(correct), min(correct), max(incorrect)
    diff_correct_margin = best_correct - worst_correct if len(correct) > 1 else None
    correct_incorrect_margin = worst_correct - best_incorrect
    return correct_incorrect_margin > 0, diff_correct_margin, correct_incorrect_margin


def ties_score(rows: Sequence[tuple[str, Sequence[float], Sequence[float]]]) -> float:
    """RewardBench 2's Ties subset (reward-bench ``process_single_model``). Each row is
    (id ``ref:N`` or ``tied:N``, chosen scores, rejected scores). Score = 0.30 tied accuracy +
    0.30 ref accuracy + 0.20 correctness-preferred + 0.20 correctness-preferred-hard + 0.01 margin
    term, where accuracy = every correct above the best incorrect, and the margin terms compare,
    over prompts with both a ref and a tied row, the correct-incorrect margin with the spread
    among correct answers."""
    ref: dict[str, tuple[bool, float | None, float]] = {}
    tied: dict[str, tuple[bool, float | None, float]] = {}
    for row_id, correct, incorrect in rows:
        kind, _, prompt_id = row_id.partition(":")
        (ref if kind == "ref" else tied)[prompt_id] = _ties_prompt_stats(correct, incorrect)
    ref_accuracy = float(np.mean([s[0] for s in ref.values()])) if ref else 0.0
    tied_accuracy = float(np.mean([s[0] for s in tied.values()])) if tied else 0.0
    both = sorted(set(ref) & set(tied))
    if both:
        diff = np.array([np.nan if tied[p][1] is None else tied[p][1] for p in both], dtype=float)
        ci_tied = np.array([tied[p][2] for p in both], dtype=float)
        ci_ref = np.array([ref[p][2] for p in both], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            preferred = float(np.mean(ci_tied > diff))
            preferred_hard = float(np.mean(np.minimum(ci_ref, ci_tied) > diff))
            margin = float(np.mean(np.nan_to_num(np.tanh(np.minimum(ci_ref, ci_tied) / diff - 1), nan=0.0)))
    else:
        preferred = preferred_hard = margin = 0.0
    return 0.30 * tied_accuracy + 0.30 * ref_accuracy + 0.20 * preferred + 0.20 * preferred_hard + 0.01 * margin


# --- RM-Bench -------------------------------------------------------------------------------
def rmbench_matrix(chosen: Sequence[float], rejected: Sequence[float]) -> np.ndarray:
    """Cell (i, j) = 1 when chosen in style i scores strictly above rejected in style j."""
    return np.array([[1.0 if c > r else 0.0 for r in rejected] for c in chosen])


def rmbench_levels(matrix: np.ndarray) -> dict[str, float]:
    """Hard = mean of the 3 cells above the diagonal (chosen plainer than rejected), normal = the
    diagonal, easy = the 3 below; ``overall`` = the mean of the three."""
    n = matrix.shape[0]
    pairs = n * (n - 1) / 2
    hard = float(np.sum(np.triu(matrix, 1)) / pairs)
    normal = float(np.mean(np.diag(matrix)))
    easy = float(np.sum(np.tril(matrix, -1)) / pairs)
    return {"easy": easy, "normal": normal, "hard": hard, "overall": (easy + normal + hard) / 3}


def rmbench_summary(matrices_by_domain: Mapping[str, Sequence[np.ndarray]]) -> dict[str, Any]:
    """Average each domain's matrices over its prompts, read off easy/normal/hard; the overall
    figures are the means over the domains present."""
    domains = {d: rmbench_levels(np.mean(np.stack(list(ms)), axis=0)) for d, ms in matrices_by_domain.items() if len(ms)}
    out: dict[str, Any] = {"domains": domains}
    for key in ("easy", "normal", "hard", "overall"):
        out[key] = float(np.mean([v[key] for v in domains.values()])) if domains else None
    return out


# --- JudgeBench -----------------------------------------------------------------------------
def judgebench_game_value(verdict: str | None, label: str) -> int:
    """One game: +1 when the verdict matches the label, -1 when it matches the flipped label,
    0 for a tie or an unparseable verdict (None). Verdicts and labels are 'A>B' / 'B>A'."""
    flipped = {"A>B": "B>A", "B>A": "A>B"}[label]
    return 1 if verdict == label else -1 if verdict == flipped else 0


def judgebench_correct(verdict_ab: str | None, verdict_ba: str | None, label: str) -> bool:
    """Both games: ``verdict_ab`` judged (A, B) in order; ``verdict_ba`` judged the swapped pair
    and is given in the *original* labels. Correct when the sum of the game values is above 0."""
    return judgebench_game_value(verdict_ab, label) + judgebench_game_value(verdict_ba, label) > 0


def scalar_verdict(first: float, second: float) -> str:
    """A scalar reward model's verdict in one game: 'A>B' when the response in first position
    scores strictly higher, else 'B>A' (so a tie favours the second position)."""
    return "A>B" if first > second else "B>A"


def judgebench_scalar_correct(score_a: float, score_b: float, better: str) -> bool:
    """The two games a scalar reward plays on JudgeBench: (A, B), then (B, A) mapped back."""
    label = "A>B" if better == "a" else "B>A"
    game1 = scalar_verdict(score_a, score_b)
    game2 = {"A>B": "B>A", "B>A": "A>B"}[scalar_verdict(score_b, score_a)]  # first position is B here
    return judgebench_correct(game1, game2, label)


# --- ProcessBench and PRMBench --------------------------------------------------------------
def processbench_accuracies(predictions: Sequence[int], labels: Sequence[int]) -> dict[str, float | None]:
    """Accuracy on erroneous solutions (label >= 0: predicted index equals it), on correct ones
    (label -1: predicted -1), and F1 = their harmonic mean (QwenLM/ProcessBench
    ``code/run_eval_prm_trl.py: main``). When both accuracies are 0 the official F1 is 0/0 =
    NaN, and so is any mean over it: ``f1`` is then ``nan`` (``f1_undefined`` True); a side
    with no solutions gives None."""
    erroneous = [p == l for p, l in zip(predictions, labels, strict=True) if l != -1]
    correct = [p == -1 for p, l in zip(predictions, labels, strict=True) if l == -1]
    acc_error = float(np.mean(erroneous)) if erroneous else None
    acc_correct = float(np.mean(correct)) if correct else None
    f1 = None
    if acc_error is not None and acc_correct is not None:
        f1 = math.nan if acc_error + acc_correct == 0 else 2 * acc_error * acc_correct / (acc_error + acc_correct)
    return {"acc_error": acc_error, "acc_correct": acc_correct, "f1": f1}


def processbench_f1(predictions: Sequence[int], labels: Sequence[int]) -> float | None:
    return processbench_accuracies(predictions, labels)["f1"]


def first_error_from_step_scores(step_scores: Sequence[float], threshold: float = 0.5, valid_above: bool = False) -> int:
    """The index of the first step judged wrong, -1 if none. A step is wrong below
    ``threshold``; with ``valid_above`` (PRMBench: a step is valid only at score > threshold)
    a step scored exactly ``threshold`` is wrong too."""
    if valid_above:
        return next((i for i, s in enumerate(step_scores) if not s > threshold), -1)
    return next((i for i, s in enumerate(step_scores) if s < threshold), -1)


def prmbench_step_valid(score: float, threshold: float = 0.5) -> bool:
    """PRMBench's step label: valid when the score is strictly above the threshold
    (ssmisya/PRMBench ``mr_eval/models/*.py``: ``step_level_validity_labels = [s >
    self.validity_threshold ...]``, threshold 0.5), so a score of exactly 0.5 is invalid."""
    return score > threshold


def prm_score(step_correct_pred: Sequence[bool], step_correct_label: Sequence[bool]) -> dict[str, float | None]:
    """PRMBench's step-level PRMScore: 0.5 * F1 on correct steps (positive class) + 0.5 * F1 on
    wrong steps (negative class), over all steps pooled (ssmisya/PRMBench
    ``mr_eval/tasks/prmtest_classified/task.py: evaluate_function``).

    The official code marks an undefined precision or recall as -1 and computes F1 from those
    markers, so a class with no true positive but some false positives and false negatives
    (or no step of either kind) gets F1 = -1, and PRMScore takes it at face value. Here such an
    F1 is None (undefined), and so is ``prm_score``; ``official_prm_score`` holds the figure the
    official code prints, -1 markers included."""
    pred = np.asarray(step_correct_pred, dtype=bool)
    gold = np.asarray(step_correct_label, dtype=bool)

    def f1(positive: bool) -> tuple[float | None, float]:
        tp = float(np.sum((pred == positive) & (gold == positive)))
        fp = float(np.sum((pred == positive) & (gold != positive)))
        fn = float(np.sum((pred != positive) & (gold == positive)))
        precision = tp / (tp + fp) if tp + fp else -1.0
        recall = tp / (tp + fn) if tp + fn else -1.0
        official = 2 * precision * recall / (precision + recall) if precision + recall != 0 else -1.0
        if official == -1.0 and tp == 0:
            return None, official
        return (0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)), official

    (f1_pos, official_pos), (f1_neg, official_neg) = f1(True), f1(False)
    score = None if f1_pos is None or f1_neg is None else 0.5 * f1_pos + 0.5 * f1_neg
    return {"f1_positive": f1_pos, "f1_negative": f1_neg, "prm_score": score, "official_prm_score": 0.5 * official_pos + 0.5 * official_neg}


# --- best-of-N ------------------------------------------------------------------------------
def select_by_score(scores: Sequence[float], correct: Sequence[bool]) -> float:
    """Credit for picking the top-scored sample: its correctness; with k samples tied at the top,
    the mean correctness of those k (the expected credit of a random pick among them)."""
    top = max(scores)
    tied = [c for s, c in zip(scores, correct, strict=True) if s == top]
    return sum(tied) / len(tied)


def majority_vote(answers: Sequence[str], correct: Sequence[bool]) -> bool:
    """Correctness of the most frequent extracted answer; ties between answers go to the one
    seen first (``Counter.most_common``), as Qwen2.5-Math's evaluation does."""
    top = Counter(answers).most_common(1)[0][0]
    return bool(correct[list(answers).index(top)])


def any_correct(correct: Sequence[bool]) -> bool:
    return any(correct)


def mean_correct(correct: Sequence[bool]) -> float:
    return sum(correct) / len(correct)
