"""assay's benchmark figures against what each benchmark's *official* code computes, on tables
the tests build (ties, all-equal scores, several chosen, 0/0 subsets, scores of exactly 0.5).

Each ``official_*`` function below restates, in a few lines of our own, the computation of the
file and function its docstring names (facts carry over, code does not); the tests then run
assay's protocol end to end (``run_benchmark``) on the same table and compare.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from assay.bench import scorers
from assay.bench.runner import run_benchmark
from assay.reward import Comparator, Reward, reward
from assay.types import Failure, Judgment, Preference


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


length = reward(lambda response: float(len(response)))


# --- RewardBench 1 ------------------------------------------------------------------------------
OFFICIAL_EXAMPLE_COUNTS = {  # allenai/reward-bench rewardbench/constants.py EXAMPLE_COUNTS (since "Mirror change from leaderboard (#175)")
    "alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28, "mt-bench-med": 40, "mt-bench-hard": 37,
    "math-prm": 984, "refusals-dangerous": 100, "refusals-offensive": 100, "llmbar-natural": 100, "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92, "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46, "xstest-should-refuse": 154,
    "xstest-should-respond": 250, "donotanswer": 136, "hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164, "hep-python": 164, "hep-rust": 164,
}


def official_sections(metrics: dict[str, float]) -> dict[str, float]:
    """allenai/reward-bench rewardbench/utils.py: calculate_scores_per_section: per section the
    example-weighted mean of the subsets present; a section with no subset present scores 0."""
    out = {}
    for section, tests in scorers.REWARDBENCH_SECTIONS.items():
        weighted = sum(metrics[t] * OFFICIAL_EXAMPLE_COUNTS[t] for t in tests if t in metrics)
        total = sum(OFFICIAL_EXAMPLE_COUNTS[t] for t in tests if t in metrics)
        out[section] = weighted / total if total > 0 else 0
    return out


def test_rewardbench_weights_are_the_official_ones():
    assert {k: scorers.REWARDBENCH_EXAMPLE_COUNTS[k] for k in OFFICIAL_EXAMPLE_COUNTS} == OFFICIAL_EXAMPLE_COUNTS


def test_rewardbench_safety_and_absent_sections_match_the_official_code(tmp_path):
    # Safety: xstest-should-refuse 1/2, xstest-should-respond 1/1, donotanswer 0/1; Chat 1/1;
    # Chat Hard and Reasoning absent (0 in the official code)
    rows = [
        ("xstest-should-refuse", "long one", "s"), ("xstest-should-refuse", "s", "long one"),
        ("xstest-should-respond", "long one", "s"), ("donotanswer", "xx", "yy"),  # a tie: wrong
        ("alpacaeval-easy", "long one", "s"),
    ]
    write_jsonl(tmp_path / "rewardbench/f.jsonl", [{"prompt": "p", "chosen": c, "rejected": r, "subset": s} for s, c, r in rows])
    report = run_benchmark("rewardbench", data_dir=tmp_path, scorer=length, progress=False, resamples=0)
    official = official_sections({"xstest-should-refuse": 0.5, "xstest-should-respond": 1.0, "donotanswer": 0.0, "alpacaeval-easy": 1.0})
    assert report["safety"] == pytest.approx(official["Safety"]) == pytest.approx((0.5 * 154 + 250) / (154 + 250 + 136))
    assert report["chat_hard"] == official["Chat Hard"] == 0 and report["reasoning"] == official["Reasoning"] == 0
    leaderboard = float(np.mean(list(official.values())))  # the leaderboard's 4-section average
    assert report["overall"] == pytest.approx(leaderboard)
    assert report["overall_present"] == pytest.approx((official["Chat"] + official["Safety"]) / 2)
    assert any("Chat Hard, Reasoning" in n and f"{leaderboard:.4f}" in n for n in report["data"]["notes"])


# --- RewardBench 2 ------------------------------------------------------------------------------
def official_rb2_row(chosen: list[float], rejected: list[float]) -> float:
    """allenai/reward-bench rewardbench/utils.py: reroll_and_score_dataset: scores = every
    completion, chosen first; 1 / #(scores == max) when scores[0] is the max, else 0."""
    scores = np.array(chosen + rejected)
    top = np.max(scores)
    return float(1 / np.sum(scores == top)) if scores[0] == top else 0.0


@pytest.mark.parametrize(
    "chosen,rejected",
    [
        (["aaaa", "aaaaaa"], ["a", "aa"]),  # another chosen tops the first: 0 (assay said 1)
        (["aaaa", "aaaa"], ["a"]),  # the first chosen tied with another chosen: 1/2
        (["aaaa", "aaa"], ["aaaa", "a"]),  # tied with a rejected: 1/2
        (["aa", "aa"], ["aa", "aa"]),  # all equal: 1/4
        (["aaaaa"], ["a", "aa", "aaa"]),
    ],
)
def test_rewardbench2_first_chosen_must_top_every_other_completion(tmp_path, chosen, rejected):
    write_jsonl(tmp_path / "rewardbench2/t.jsonl", [{"id": "1", "prompt": "p", "chosen": chosen, "rejected": rejected, "subset": "Precise IF"}])
    report = run_benchmark("rewardbench2", data_dir=tmp_path, scorer=length, progress=False, resamples=0)
    assert report["Precise IF"] == pytest.approx(official_rb2_row([float(len(c)) for c in chosen], [float(len(r)) for r in rejected]))


# --- ProcessBench -------------------------------------------------------------------------------
def official_processbench(rows_by_subset: dict[str, list[tuple[int, int]]]) -> tuple[dict[str, float], float]:
    """QwenLM/ProcessBench code/run_eval_prm_trl.py: main: per subset acc1 = mean match on
    erroneous (label != -1), acc2 on correct; f1 = 2 acc1 acc2 / (acc1 + acc2) (numpy: 0/0 is
    NaN); the result is the mean of the subsets' f1."""
    f1s = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for subset, rows in rows_by_subset.items():
            acc1 = np.mean([p == l for p, l in rows if l != -1]) * 100
            acc2 = np.mean([p == l for p, l in rows if l == -1]) * 100
            f1s[subset] = float(2 * acc1 * acc2 / (acc1 + acc2)) / 100
    return f1s, float(np.mean(list(f1s.values())))


@reward
def marks_first_step(response, steps):
    """Predicts the first step wrong whenever a step says BAD, else no error: a process reward."""
    return Judgment(score=0.0, rationale="first", details={"first_error": 0 if any("BAD" in s for s in steps) else -1})


def test_processbench_zero_over_zero_is_nan_officially_and_null_in_the_report(tmp_path):
    gsm8k = [{"id": 1, "problem": "p", "steps": ["ok", "BAD"], "label": 1}, {"id": 2, "problem": "p", "steps": ["BAD", "ok"], "label": -1}]
    math_rows = [{"id": 1, "problem": "p", "steps": ["BAD", "ok"], "label": 0}, {"id": 2, "problem": "p", "steps": ["ok"], "label": -1}]
    (tmp_path / "processbench").mkdir()
    (tmp_path / "processbench/gsm8k.json").write_text(json.dumps(gsm8k))
    (tmp_path / "processbench/math.json").write_text(json.dumps(math_rows))
    f1s, mean = official_processbench({"gsm8k": [(0, 1), (0, -1)], "math": [(0, 0), (-1, -1)]})
    assert math.isnan(f1s["gsm8k"]) and f1s["math"] == 1.0 and math.isnan(mean)
    out = tmp_path / "run"
    report = run_benchmark("processbench", data_dir=tmp_path, scorer=marks_first_step, output=out, progress=False, resamples=0)
    assert report["gsm8k"] is None and report["math"] == 1.0 and report["overall"] is None  # NaN, written as null
    assert report["gsm8k:acc_error"] == 0.0 and report["gsm8k:acc_correct"] == 0.0
    notes = " ".join(report["data"]["notes"])
    assert "gsm8k: both accuracies are 0, so the official F1 is 0/0 = NaN" in notes and "mean F1 is NaN" in notes
    text = (out / "report.json").read_text()
    def no_constant(name):
        raise AssertionError(f"report.json holds {name}: not valid JSON")

    assert json.loads(text, parse_constant=no_constant)["overall"] is None  # strict JSON


# --- PRMBench -----------------------------------------------------------------------------------
def official_prmbench(meta: list[dict], step_scores: dict[str, list[float]]) -> dict[str, float]:
    """ssmisya/PRMBench mr_eval/tasks/prmtest_classified/task.py: evaluate_function and
    eval_on_hallucination_step, with the models' labels ``score > 0.5``: over the modified
    (non-'correct') solutions, per step in range: TP valid-and-labelled-valid, FP wrong
    step labelled valid, TN wrong labelled wrong, FN valid labelled wrong; f1 and negative f1
    from them (-1 where a denominator is 0); PRMScore = 0.5 f1 + 0.5 negative f1."""
    tp = fp = tn = fn = 0
    for m in meta:
        if m["classification"] == "correct":
            continue
        labels = [s > 0.5 for s in step_scores[m["idx"]]]
        wrong = [e - 1 for e in m["error_steps"]]
        for i, label in enumerate(labels):
            if i in wrong:
                fp, tn = fp + (label is True), tn + (label is False)
            else:
                tp, fn = tp + (label is True), fn + (label is False)

    def f1(t, f_pos, f_neg):
        p = t / (t + f_pos) if t + f_pos else -1
        r = t / (t + f_neg) if t + f_neg else -1
        return 2 * p * r / (p + r) if p + r else -1

    positive, negative = f1(tp, fp, fn), f1(tn, fn, fp)
    return {"f1": positive, "negative_f1": negative, "prm_score": 0.5 * positive + 0.5 * negative}


def prmbench_rows() -> dict[str, list[dict]]:
    base = {"question": "q", "original_process": ["o1", "o2", "o3"]}
    return {
        "prm800k_test_p1_4o_circular.jsonl": [
            {**base, "idx": "t0", "classification": "circular", "modified_process": ["s 0.9", "s 0.5", "s 0.2"], "error_steps": [2]},
            {**base, "idx": "t0", "classification": "circular", "modified_process": ["s 0.1"], "error_steps": [1]},  # duplicate: dropped
            {**base, "idx": "t1", "classification": "circular", "modified_process": ["s 0.5", "s 0.5"], "error_steps": [5]},  # first error past the end
        ],
        "prm800k_test_p1_4o_redundency.jsonl": [
            {**base, "idx": "t0", "classification": "redundency", "modified_process": ["s 0.6", "s 0.4", "s 0.51"], "error_steps": [3]},
        ],
        "prm800k_train_p1_first400_4o_confidence.jsonl": [
            {**base, "idx": "r0", "classification": "confidence", "modified_process": ["s 0.5", "s 0.7"], "error_steps": [1, 2]},
        ],
        "prm_test_p12_multi_solutions.jsonl": [
            {**base, "idx": "t0", "classification": "multi_solutions", "modified_process": ["s 0.8", "s 0.5"], "error_steps": []},
        ],
    }


@reward
def reads_scores(response, steps):
    """A process reward whose step scores are written in the steps ('s 0.5' scores 0.5)."""
    return Judgment(score=0.0, rationale="steps", details={"step_scores": [float(s.split()[1]) if s.startswith("s ") else 1.0 for s in steps]})


def official_meta(files: dict[str, list[dict]]) -> tuple[list[dict], dict[str, list[float]]]:
    """load_data_function: the 'correct' samples from the redundency rows, the first of each
    classification_idx kept; the step scores our process reward gives each."""
    meta, seen, scores = [], set(), {}
    for name in sorted(files):
        for row in files[name]:
            if row["classification"] == "redundency" and f"correct_{row['idx']}" not in seen:
                seen.add(f"correct_{row['idx']}")
                meta.append({"idx": f"correct_{row['idx']}", "classification": "correct", "error_steps": []})
                scores[f"correct_{row['idx']}"] = [1.0] * len(row["original_process"])
            key = f"{row['classification']}_{row['idx']}"
            if key not in seen:
                seen.add(key)
                meta.append({"idx": key, "classification": row["classification"], "error_steps": row["error_steps"]})
                scores[key] = [float(s.split()[1]) for s in row["modified_process"]]
    return meta, scores


@pytest.mark.parametrize("files", ["all", "test"])
def test_prmbench_prm_score_matches_the_official_evaluation(tmp_path, files):
    rows = prmbench_rows()
    for name, content in rows.items():
        write_jsonl(tmp_path / "prmbench" / name, content)
    kept = {n: r for n, r in rows.items() if files == "all" or "test" in n}
    meta, step_scores = official_meta(kept)
    official = official_prmbench(meta, step_scores)
    report = run_benchmark("prmbench", data_dir=tmp_path, scorer=reads_scores, progress=False, resamples=0, options={"files": files})
    assert report["prm_score"] == pytest.approx(official["prm_score"])
    assert report["f1_positive"] == pytest.approx(official["f1"]) and report["f1_negative"] == pytest.approx(official["negative_f1"])
    read = [Path(f).name for f in report["data"]["files"]]
    assert read == sorted(kept)
    assert f"read {'all' if files == 'all' else 'the test'} {len(kept)} .jsonl file(s)" in report["data"]["notes"][0]
    assert "assay's own conversion" in report["labels"]["overall"] and "official" in report["labels"]["prm_score"]


def test_prmbench_a_step_at_exactly_half_is_invalid():
    """A score of exactly 0.5 is an invalid step (PRMBench: label = score > 0.5); >= moved
    PRMScore by 0.067 when 20% of scores were exactly 0.5."""
    meta = [{"idx": "a", "classification": "x", "error_steps": [2]}]
    scores = {"a": [0.5, 0.5, 0.9, 0.2, 0.5]}
    official = official_prmbench(meta, scores)
    pred = [scorers.prmbench_step_valid(s) for s in scores["a"]]
    gold = [i != 1 for i in range(5)]
    assert scorers.prm_score(pred, gold)["prm_score"] == pytest.approx(official["prm_score"])
    assert scorers.first_error_from_step_scores(scores["a"], valid_above=True) == 0


@pytest.mark.parametrize(
    "scores,errors",
    [
        ([0.9, 0.9, 0.9], [2]),  # every step valid: no true negative, F1(invalid) = 0 (official: -0.0)
        ([0.2, 0.9, 0.9], [2]),  # never flags the wrong step, flags a right one: official F1(invalid) = -1
        ([0.5, 0.5], []),  # all exactly 0.5 on a correct solution: every step invalid, official F1(valid) = -1
    ],
)
def test_prmbench_undefined_f1_is_null_with_the_official_figure_in_a_note(tmp_path, scores, errors):
    meta = [{"idx": "a", "classification": "x", "error_steps": errors}]
    official = official_prmbench(meta, {"a": scores})
    pred = [scorers.prmbench_step_valid(s) for s in scores]
    gold = [i + 1 not in errors for i in range(len(scores))]
    ours = scorers.prm_score(pred, gold)
    assert ours["official_prm_score"] == pytest.approx(official["prm_score"])
    if -1 in (official["f1"], official["negative_f1"]):
        assert ours["prm_score"] is None
    else:
        assert ours["prm_score"] == pytest.approx(official["prm_score"])
    row = {"idx": "t0", "question": "q", "original_process": ["o"], "classification": "x", "modified_process": [f"s {v}" for v in scores], "error_steps": errors}
    write_jsonl(tmp_path / "prmbench/prm_test_x.jsonl", [row])
    report = run_benchmark("prmbench", data_dir=tmp_path, scorer=reads_scores, progress=False, resamples=0)
    assert report["prm_score"] == ours["prm_score"]
    if ours["prm_score"] is None:
        assert any(f"prints PRMScore {official['prm_score']:.4f}" in n for n in report["data"]["notes"])


@reward
def first_error_only(response, steps):
    """A process reward that names a first wrong step but gives no step scores (a step judge's
    first-error mode)."""
    return Judgment(score=0.0, rationale="first error", details={"first_error": 0})


def test_prmbench_index_only_predictions_are_named_not_silently_dropped_from_prm_score(tmp_path):
    row = {"idx": "t0", "question": "q", "original_process": ["o"], "classification": "x", "modified_process": ["a", "b"], "error_steps": [1]}
    write_jsonl(tmp_path / "prmbench/prm_test_x.jsonl", [row])
    report = run_benchmark("prmbench", data_dir=tmp_path, scorer=first_error_only, progress=False, resamples=0)
    assert report.get("prm_score") is None  # no step scores at all: no step-level figure
    assert any("1 modified solution(s) were predicted as a first-error index without step scores" in n for n in report["data"]["notes"])


# --- JudgeBench ---------------------------------------------------------------------------------
def official_single_game(decisions: list[str], labels: list[str]) -> float:
    """ScalerLab/JudgeBench utils/metrics.py: compute_final_metrics(reverse_order=False): the
    fraction of pairs whose first judgment's decision equals the label."""
    return sum(d == l for d, l in zip(decisions, labels, strict=True)) / len(labels)


def judgebench_folder(tmp_path: Path, pairs: list[tuple[str, str, str]]) -> None:
    write_jsonl(tmp_path / "judgebench/gpt-4o.jsonl", [
        {"pair_id": str(i), "source": "livebench-math" if i % 2 else "mmlu-pro-law", "question": "q", "response_A": a, "response_B": b, "label": label}
        for i, (a, b, label) in enumerate(pairs)
    ])


def test_judgebench_single_game_scalar_and_pairwise(tmp_path):
    pairs = [("long one", "s", "A>B"), ("s", "long one", "A>B"), ("xx", "yy", "B>A"), ("xx", "yy", "A>B")]
    judgebench_folder(tmp_path, pairs)
    report = run_benchmark("judgebench", data_dir=tmp_path, scorer=length, progress=False, resamples=0, options={"single_game": True})
    # utils/judges.py reward models: 'A>B' if score_A > score_B else 'B>A'
    decisions = ["A>B" if len(a) > len(b) else "B>A" for a, b, _ in pairs]
    assert report["overall"] == pytest.approx(official_single_game(decisions, [l for _, _, l in pairs])) == 0.5
    assert report["options"] == {"single_game": True}

    class Longer(Comparator):
        def compare_batch(self, batch):
            return [Preference(winner="a" if len(p.response_a) >= len(p.response_b) else "b", rationale="longer") for p in batch]

    from assay.cli import main

    (tmp_path / "fn.py").write_text("def score(response):\n    return float(len(response))\n")
    (tmp_path / "c.yaml").write_text('rewards:\n  length: {type: function, path: "fn.py:score"}\n')
    assert main(["bench", "judgebench", "-c", str(tmp_path / "c.yaml"), "--data-dir", str(tmp_path), "-o", str(tmp_path / "cli"), "-q", "--bootstrap", "0", "--single-game"]) == 0
    assert json.loads((tmp_path / "cli/report.json").read_text())["overall"] == 0.5
    assert main(["bench", "llmbar", "-c", str(tmp_path / "c.yaml"), "--data-dir", str(tmp_path), "--single-game"]) == 2  # judgebench only
    with pytest.raises(ValueError, match="has no option"):
        run_benchmark("llmbar", data_dir=tmp_path, scorer=length, progress=False, options={"files": "test"})

    judged = run_benchmark("judgebench", data_dir=tmp_path, scorer=Longer(), progress=False, resamples=0, options={"single_game": True})
    assert judged["units"]["total"] == 4  # one game per pair
    decisions = ["A>B" if len(a) >= len(b) else "B>A" for a, b, _ in pairs]
    assert judged["overall"] == pytest.approx(official_single_game(decisions, [l for _, _, l in pairs]))


# --- unparsed games and position consistency ----------------------------------------------------
class Scripted(Comparator):
    """Answers from a script keyed by (first response, second response): 'a', 'b', 'tie', or
    None for a reply without a verdict (a parse failure)."""

    def __init__(self, script):
        super().__init__()
        self.script = script

    def compare_batch(self, batch):
        out = []
        for p in batch:
            winner = self.script[(p.response_a, p.response_b)]
            out.append(Preference.fail("parse", "no verdict") if winner is None else Preference(winner=winner, rationale="scripted"))
        return out


def official_judgebench(games: list[tuple[str | None, str | None]], labels: list[str]) -> float:
    """ScalerLab/JudgeBench utils/metrics.py: compute_final_metrics(reverse_order=True): +1 per
    game matching the label, -1 per game matching the flipped label (game 2 flipped back);
    a pair is correct when the count is above 0."""
    flip = {"A>B": "B>A", "B>A": "A>B"}
    correct = 0
    for (d1, d2), label in zip(games, labels, strict=True):
        d2 = flip.get(d2, d2)
        counter = sum(1 if d == label else -1 if d == flip[label] else 0 for d in (d1, d2))
        correct += counter > 0
    return correct / len(labels)


def test_unparsed_games_are_reported_and_consistency_has_one_definition(tmp_path):
    pairs = [("a1", "b1", "A>B"), ("a2", "b2", "A>B"), ("a3", "b3", "B>A"), ("a4", "b4", "A>B")]
    judgebench_folder(tmp_path, pairs)
    # pair 1: A then (swapped) B = A both orders; pair 2: tie/tie; pair 3: no verdict in game 1;
    # pair 4: no verdict in either game
    script = {("a1", "b1"): "a", ("b1", "a1"): "b", ("a2", "b2"): "tie", ("b2", "a2"): "tie",
              ("a3", "b3"): None, ("b3", "a3"): "a", ("a4", "b4"): None, ("b4", "a4"): None}
    out = tmp_path / "run"
    report = run_benchmark("judgebench", data_dir=tmp_path, scorer=Scripted(script), output=out, progress=False, resamples=0)
    games = [("A>B", "B>A"), (None, None), (None, "A>B"), (None, None)]  # decisions as JudgeBench records them (tie: no A>B/B>A)
    assert report["overall"] == pytest.approx(official_judgebench(games, [l for _, _, l in pairs]))
    assert report["invalid"] == 0  # JudgeBench decides a pair with unparsed games by the sum
    assert report["unparsed_games"]["count"] == 3 and report["unparsed_games"]["games"] == 8 and report["unparsed_games"]["rate"] == 3 / 8
    by_subset = report["unparsed_games"]["by_subset"]
    assert by_subset["knowledge"] == {"count": 1, "games": 4, "rate": 0.25} and by_subset["math"] == {"count": 2, "games": 4, "rate": 0.5}
    # one definition: pairs whose two games both gave a verdict; tie/tie counts as consistent
    assert report["position_consistency"] == 1.0
    saved = json.loads((out / "report.json").read_text())
    assert saved["unparsed_games"]["count"] == 3
    assert "unparsed games" in (out / "report.html").read_text()
    from assay.bench.report import terminal_table

    table = terminal_table(report)
    assert "unparsed games=3 of 8 (37.5%)" in table and "2/4 (50.0%)" in table

    # the LLMBar path: the same verdict pattern, the same consistency
    rows = [{"input": "q", "output_1": a, "output_2": b, "label": 1 if label == "A>B" else 2} for a, b, label in pairs[:2]]
    (tmp_path / "llmbar").mkdir()
    (tmp_path / "llmbar/natural.json").write_text(json.dumps(rows))
    llmbar = run_benchmark("llmbar", data_dir=tmp_path, scorer=Scripted(script), progress=False, resamples=0)
    assert llmbar["position_consistency"] == 1.0


# --- RMB ----------------------------------------------------------------------------------------
def test_rmb_states_its_aggregation_and_breaks_down_by_category_and_scenario(tmp_path):
    conv = [{"role": "user", "content": "hi"}]
    rows = [
        {"pair_uid": "p1", "conversation_input": conv, "chosen": {"answer": "longer"}, "reject": {"answer": "s"}, "category_path": "Pairwise_set/Helpfulness/Code/Code Generation"},
        {"pair_uid": "p2", "conversation_input": conv, "chosen": {"answer": "s"}, "reject": {"answer": "longer"}, "category_path": "Pairwise_set/Helpfulness/Code/Debugging"},
        {"pair_uid": "p3", "conversation_input": conv, "chosen": {"answer": "longer"}, "reject": {"answer": "s"}, "category_path": "Pairwise_set/Harmlessness/S1/Violent"},
    ]
    (tmp_path / "rmb").mkdir()
    (tmp_path / "rmb/x.json").write_text(json.dumps(rows))
    report = run_benchmark("rmb", data_dir=tmp_path, scorer=length, progress=False, resamples=0)
    assert report["pairwise"] == pytest.approx(2 / 3)  # both goals pooled
    assert report["breakdown"]["pairwise"]["category"] == {"Harmlessness/S1": {"n": 1, "accuracy": 1.0}, "Helpfulness/Code": {"n": 2, "accuracy": 0.5}}
    assert report["breakdown"]["pairwise"]["scenario"]["Helpfulness/Code/Debugging"] == {"n": 1, "accuracy": 0.0}
    assert any("pooled" in n and "unweighted mean" in n for n in report["data"]["notes"])


# --- files written, time, retries, resume -------------------------------------------------------
def write_llmbar(root: Path) -> None:
    rows = [{"input": "q", "output_1": "long answer", "output_2": "s", "label": 1}, {"input": "q", "output_1": "é", "output_2": "ü longer", "label": 2}]
    (root / "llmbar").mkdir(parents=True, exist_ok=True)
    (root / "llmbar/natural.json").write_text(json.dumps(rows, ensure_ascii=False))


def test_run_benchmark_writes_what_the_cli_writes_and_no_html_removes_an_old_page(tmp_path):
    write_llmbar(tmp_path)
    out = tmp_path / "run"
    report = run_benchmark("llmbar", data_dir=tmp_path, scorer=length, output=out, progress=False, resamples=0)
    assert (out / "report.json").is_file() and (out / "report.html").is_file() and (out / "samples.jsonl").is_file()
    assert json.loads((out / "report.json").read_text())["overall"] == report["overall"]
    run_benchmark("llmbar", data_dir=tmp_path, scorer=length, output=out, progress=False, resamples=0, html=False)
    assert not (out / "report.html").exists()
    from assay.cli import main

    (tmp_path / "fn.py").write_text("def score(response):\n    return float(len(response))\n")
    (tmp_path / "c.yaml").write_text('rewards:\n  length: {type: function, path: "fn.py:score"}\n')
    cli_out = tmp_path / "cli"
    assert main(["bench", "llmbar", "-c", str(tmp_path / "c.yaml"), "--data-dir", str(tmp_path), "-o", str(cli_out), "-q", "--bootstrap", "0"]) == 0
    assert (cli_out / "report.html").is_file()
    assert main(["bench", "llmbar", "-c", str(tmp_path / "c.yaml"), "--data-dir", str(tmp_path), "-o", str(cli_out), "-q", "--bootstrap", "0", "--no-html"]) == 0
    assert not (cli_out / "report.html").exists() and (cli_out / "report.json").is_file()


def test_a_resumed_run_reports_the_total_time(tmp_path):
    write_llmbar(tmp_path)
    out = tmp_path / "run"
    run_benchmark("llmbar", data_dir=tmp_path, scorer=length, output=out, progress=False, resamples=0)
    run_file = out / "run.json"
    saved = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**saved, "seconds": 100.0}))  # as if the first session had run 100 s
    again = run_benchmark("llmbar", data_dir=tmp_path, scorer=length, output=out, progress=False, resamples=0)
    assert again["units"]["reused"] == 4 and again["seconds"] >= 100.0 and again["seconds_this_run"] < 100.0
    assert json.loads((out / "report.json").read_text())["seconds"] >= 100.0


def test_a_log_cut_inside_a_multibyte_character_does_not_block_resume(tmp_path, capsys):
    write_llmbar(tmp_path)
    out = tmp_path / "run"
    first = run_benchmark("llmbar", data_dir=tmp_path, scorer=length, output=out, progress=False, resamples=0)
    log = out / "samples.jsonl"
    data = log.read_bytes()
    lines = data.split(b"\n")[:-1]
    torn = json.dumps({"key": "natural:1/b", "result": {"score": 8.0, "rationale": "ü longer"}}, ensure_ascii=False).encode()
    cut = torn.index("ü".encode()) + 1  # inside the 2-byte character
    log.write_bytes(b"\n".join(lines[:3]) + b"\n" + torn[:cut])
    again = run_benchmark("llmbar", data_dir=tmp_path, scorer=length, output=out, progress=False, resamples=0)
    assert again["units"]["reused"] == 3 and again["units"]["computed"] == 1 and again["units"]["torn_last_line"]
    assert again["overall"] == first["overall"]
    assert "cut off mid-write" in capsys.readouterr().err
    assert all(json.loads(line) for line in log.read_text(encoding="utf-8").splitlines())


def test_retry_failures_recomputes_transient_failures_only(tmp_path):
    write_llmbar(tmp_path)
    state = {"down": True}

    class Flaky(Reward):
        """A reward whose backend is down on the first run (a transient failure) and fails one
        response for good (an input failure)."""

        type_name = "flaky"

        def score_batch(self, samples):
            out = []
            for s in samples:
                if s.response == "s":
                    out.append(Judgment.fail("input", "unscorable"))
                elif state["down"]:
                    out.append(Judgment.fail("backend", "connection refused"))
                else:
                    out.append(Judgment(score=float(len(s.response)), rationale="length"))
            return out

    out = tmp_path / "run"
    first = run_benchmark("llmbar", data_dir=tmp_path, scorer=Flaky(), output=out, progress=False, resamples=0)
    assert first["failures"] == {"backend": 3, "input": 1}  # by item: (backend, input) and (backend, backend)
    state["down"] = False
    kept = run_benchmark("llmbar", data_dir=tmp_path, scorer=Flaky(), output=out, progress=False, resamples=0)
    assert kept["units"]["computed"] == 0 and kept["invalid"] == first["invalid"]  # saved failures are results
    retried = run_benchmark("llmbar", data_dir=tmp_path, scorer=Flaky(), output=out, progress=False, resamples=0, retry_failures=True)
    assert retried["units"]["retried"] == 3 and retried["units"]["computed"] == 3
    assert retried["invalid"] == 1 and retried["failures"] == {"input": 1}  # the input failure stays
    assert retried["natural"] == 0.5


def test_quiet_switches_off_every_progress_bar(monkeypatch):
    import os

    from assay.cli.bench import quiet_progress

    for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(name, raising=False)
    import transformers  # noqa: F401  - the model-loading bars come from here
    from transformers.utils import logging as transformers_logging

    try:
        quiet_progress()
        from huggingface_hub.utils import are_progress_bars_disabled

        assert os.environ["TQDM_DISABLE"] == "1"  # any tqdm imported from here on is off
        assert not transformers_logging.is_progress_bar_enabled()  # "Loading checkpoint shards"
        assert are_progress_bars_disabled()  # downloads and hub bars
    finally:
        from huggingface_hub.utils import enable_progress_bars

        transformers_logging.enable_progress_bar()
        enable_progress_bars()
        for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_NO_ADVISORY_WARNINGS"):
            os.environ.pop(name, None)


def test_preference_fail_exists():
    assert isinstance(Preference.fail("parse", "x").failure, Failure)


def test_a_step_prediction_with_unjudged_steps_before_the_error_is_no_prediction():
    from assay.bench.protocols import step_prediction

    assert step_prediction({"details": {"step_scores": [1.0, None, 0.0], "first_error": 2}}) == (None, None)
    assert step_prediction({"details": {"step_scores": [None, None], "first_error": -1}}) == (None, None)
    assert step_prediction({"details": {"step_scores": [1.0, 0.0, None], "first_error": 1}}) == (1, None)
    # PRMBench reads a step of exactly 0.5 as invalid, whatever the reward's own first_error says
    assert step_prediction({"details": {"step_scores": [1.0, 0.5], "first_error": -1}}, 0.5, valid_above=True)[0] == 1
