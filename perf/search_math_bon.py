"""PRM-guided selection on stored samples: best-of-N and weighted vote on math_cot_100.

``../shared/data/math-bon/math_cot_100.jsonl`` holds 100 MATH problems with 8 sampled
solutions each, their extracted answers (``pred``), whether each is right (``score``) and a
Qwen2.5-Math-RM-72B reward per solution (``pred_score``). Qwen's published figures on this
file: the stored RM's best-of-8 0.94, majority vote 0.93, any-of-8 0.96.

Here, with ``assay.search`` (answers grouped by ``answer_key`` of the stored ``pred``):

- the stored RM (``pred_score``) as the scorer: best-of-8, weighted vote (softmax of the RM
  score, temperature 1, since RM scores have any sign);
- ``step_arithmetic`` as a step reward (``process`` over the steps, min over the steps with a
  checkable claim; a solution with none is unscored): best-of-8 and weighted vote (weight =
  the aggregate, in [0, 1]); a solution it cannot score carries no weight;
- the same with ``abstained_step_score: 1.0`` (``_filled``): a step with no checkable claim
  counts as "no error found", so every solution is scored (1, or 0 when a claim is wrong);
- the references: majority vote, the first sample alone, any-of-8 (an oracle).

Accuracy = the chosen solution's stored ``score``.

    PYTHONPATH=. .venv/bin/python perf/search_math_bon.py     # ~1 min on 2 cores; writes perf/results/search_math_bon.{json,md}
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from assay.compose.load import load_reward
from assay.paths import data_dir
from assay.reward import run_sync
from assay.rewards.process.steps import split_steps
from assay.search.candidates import Candidate, answer_key, ascore_candidates
from assay.search.select import best_of_n, weighted_vote

RESULTS = Path(__file__).resolve().parent / "results"
ARITHMETIC = {"rewards": {"steps": {"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min"}}}
# the same, a step with no checkable claim counting as "no error found" (1.0), as perf/step_checker.py does
ARITHMETIC_FILLED = {"rewards": {"steps": {"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min", "abstained_step_score": 1.0}}}
STORED = {"rm_best_of_8": 0.94, "majority_vote": 0.93, "any_of_8": 0.96}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    path = (args.data_dir or data_dir()) / "math-bon" / "math_cot_100.jsonl"
    rows = [json.loads(line) for line in path.open()][: args.limit]
    reward, filled_reward = load_reward(ARITHMETIC), load_reward(ARITHMETIC_FILLED)
    started = time.perf_counter()
    tallies: dict[str, int] = {}
    scored_by_arith = 0

    def count(name: str, index: int | None, correct: list[bool]) -> None:
        tallies[name] = tallies.get(name, 0) + int(index is not None and bool(correct[index]))

    for row in rows:
        texts, preds, correct = row["response"], row["pred"], row["score"]
        rm = [Candidate(t, [], None, float(s[0]), p, answer_key(p)) for t, p, s in zip(texts, preds, row["pred_score"], strict=True)]
        arith = run_sync(ascore_candidates(reward, row["question"], texts, "min", [split_steps(t) for t in texts], item_id=row["idx"]))
        filled = run_sync(ascore_candidates(filled_reward, row["question"], texts, "min", [split_steps(t) for t in texts], item_id=row["idx"]))
        for c, p in zip(arith + filled, preds + preds, strict=True):  # vote on the stored answers, as the RM side does
            c.answer, c.key = p, answer_key(p)
        scored_by_arith += sum(c.score is not None for c in arith)
        count("rm_best_of_8", best_of_n(rm).index, correct)
        count("rm_weighted_vote", weighted_vote(rm, "softmax").index, correct)
        count("majority_vote", weighted_vote(rm, "uniform").index, correct)
        count("step_arithmetic_best_of_8", best_of_n(arith).index, correct)
        count("step_arithmetic_weighted_vote", weighted_vote(arith, "score").index, correct)
        count("step_arithmetic_filled_best_of_8", best_of_n(filled).index, correct)
        count("step_arithmetic_filled_weighted_vote", weighted_vote(filled, "score").index, correct)
        count("first_sample", 0, correct)
        tallies["any_of_8"] = tallies.get("any_of_8", 0) + int(any(correct))
    n = len(rows)
    figures = {name: round(hits / n, 4) for name, hits in tallies.items()}
    report = {
        "data": str(path), "problems": n, "samples": 8 * n, "seconds": round(time.perf_counter() - started, 1),
        "accuracy": figures, "stored_figures": STORED,
        "step_arithmetic_scored_share": round(scored_by_arith / (8 * n), 4),
        "notes": "answers grouped by assay.search.candidates.answer_key of the stored pred; accuracy = the chosen sample's stored score; "
                 "RM weighted vote = softmax(pred_score); step_arithmetic: min over steps with a checked claim, unscored solutions rank last / carry no weight",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "search_math_bon.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# PRM-guided selection on math_cot_100 (100 MATH problems x 8 samples)", "",
             "| method | accuracy | stored figure |", "|---|---|---|"]
    for name, value in figures.items():
        lines.append(f"| {name} | {value:.2f} | {STORED.get(name, '')} |")
    lines += ["", f"step_arithmetic scored {report['step_arithmetic_scored_share']:.0%} of the 800 solutions (the others have no checkable claim).",
              "", "Rerun: `PYTHONPATH=. .venv/bin/python perf/search_math_bon.py`", ""]
    (RESULTS / "search_math_bon.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
