"""How much the model-free step checker (``step_arithmetic``) sees, on real labelled solutions.

Two measurements, both on data in ``../shared/data`` (``--data-dir`` or ``ASSAY_DATA_DIR``):

- **GSM8K example solutions** (5,276 model solutions with ``is_correct``): the ``process``
  reward with ``step_arithmetic`` per line, min-aggregated; a solution with no checkable
  claim counts as "no error found" (1.0). Reported: AUROC of that score for ``is_correct``,
  how many solutions had a claim checked, and how often a flagged solution is really wrong.
- **PRMBench** (the 17 test files): per error type, how often the checker flags a step of the
  modified (wrong) solution, how often the first flagged step is one of the labelled error
  steps, and how often it flags the original (correct) solution.

This is not a speed benchmark: it says which errors arithmetic checking catches (calculation
errors) and which it cannot (a wrong plan with correct arithmetic).

    .venv/bin/python perf/step_checker.py          # about a minute; writes perf/results/step_checker.{json,md}
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from assay import Sample, load_reward
from assay.paths import data_dir

RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = {"rewards": {"steps": {"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min"}}}


def auroc(scores: list[float], labels: list[bool]) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney U)."""
    ranked = sorted(zip(scores, labels), key=lambda pair: pair[0])
    rank_sum, i, n = 0.0, 0, len(ranked)
    while i < n:
        j = i
        while j < n and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2
        rank_sum += mean_rank * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    positives = sum(labels)
    negatives = n - positives
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def gsm8k(folder: Path) -> dict:
    reward = load_reward(CONFIG)
    samples, labels = [], []
    for line in (folder / "gsm8k" / "example_model_solutions.jsonl").open():
        row = json.loads(line)
        for key, value in row.items():
            if isinstance(value, dict) and "solution" in value:
                text = value["solution"]
                samples.append(Sample(prompt=row["question"], response="\n".join(text.splitlines()[:-1]) or text))
                labels.append(bool(value["is_correct"]))
    start = time.perf_counter()
    judgments = reward.score(samples)
    seconds = time.perf_counter() - start
    scores = [1.0 if j.score is None else j.score for j in judgments]
    checked = sum(j.score is not None for j in judgments)
    flagged = [label for score, label in zip(scores, labels, strict=True) if score < 0.5]
    return {
        "solutions": len(samples),
        "correct": sum(labels),
        "with_a_checked_claim": checked,
        "flagged_wrong": len(flagged),
        "flagged_and_really_incorrect": len(flagged) - sum(flagged),
        "precision_of_flag": (len(flagged) - sum(flagged)) / len(flagged) if flagged else None,
        "auroc_min_for_is_correct": auroc(scores, labels),
        "seconds": seconds,
    }


def _first_error(judgment) -> int:
    """The first flagged step of the composite's ``steps`` component (-1: none or not scored)."""
    steps = judgment.details.get("steps")
    return steps.details.get("first_error", -1) if steps is not None and steps.ok else -1


def prmbench(folder: Path) -> dict:
    reward = load_reward({"rewards": {"steps": {**CONFIG["rewards"]["steps"], "abstained_step_score": 1.0}}})
    rows = []
    for path in sorted((folder / "prmbench").glob("*.jsonl")):
        if "train_p1_first400" in path.name:
            continue
        rows += [json.loads(line) for line in path.open()]
    modified = [Sample(prompt=r["modified_question"], response="", steps=list(r["modified_process"])) for r in rows]
    original = [Sample(prompt=r["original_question"], response="", steps=list(r["original_process"])) for r in rows]
    mod_j = reward.score(modified)
    orig_j = reward.score(original)
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row, mj, oj in zip(rows, mod_j, orig_j, strict=True):
        cell = table[row["classification"]]
        cell["rows"] += 1
        first = _first_error(mj)
        cell["flagged"] += first >= 0
        cell["first_flag_in_error_steps"] += first >= 0 and (first + 1) in row["error_steps"]
        cell["original_flagged"] += _first_error(oj) >= 0
    return {name: dict(cell) for name, cell in sorted(table.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    folder = data_dir(args.data_dir)
    if folder is None:
        raise SystemExit("no data folder: pass --data-dir or set ASSAY_DATA_DIR")
    result = {"gsm8k": gsm8k(folder), "prmbench_test_files": prmbench(folder)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "step_checker.json").write_text(json.dumps(result, indent=2) + "\n")
    g = result["gsm8k"]
    lines = [
        "# step_arithmetic: what model-free step checking catches",
        "",
        "`.venv/bin/python perf/step_checker.py`",
        "",
        f"GSM8K example solutions: {g['solutions']:,} solutions ({g['correct']:,} correct); a claim was checked in "
        f"{g['with_a_checked_claim']:,}; {g['flagged_wrong']:,} flagged, of which {g['flagged_and_really_incorrect']:,} are really incorrect "
        f"(precision {g['precision_of_flag']:.3f}); AUROC of the min-aggregate for is_correct: **{g['auroc_min_for_is_correct']:.3f}** "
        f"({g['seconds']:.1f} s).",
        "",
        "PRMBench, 17 test files: how often a step of the modified (wrong) solution is flagged, and the original (correct) one.",
        "",
        "| error type | rows | modified flagged | first flag on a labelled error step | original flagged |",
        "|---|---|---|---|---|",
    ]
    for name, cell in result["prmbench_test_files"].items():
        n = cell["rows"]
        lines.append(f"| {name} | {n} | {cell.get('flagged', 0) / n:.1%} | {cell.get('first_flag_in_error_steps', 0) / n:.1%} | {cell.get('original_flagged', 0) / n:.1%} |")
    (out / "step_checker.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
