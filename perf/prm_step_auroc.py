"""How much a PRM ranks steps, apart from PRMBench's fixed 0.5 threshold: step-level and
solution-level AUROC from an ``assay bench prmbench`` output folder.

Why: PRMScore reads every step at score > 0.5, so a PRM whose scores all sit on one side of
0.5 scores the "every step valid" floor whatever its ranking; the AUROC says whether there is
a signal underneath (what a tuned threshold could use). Not an official PRMBench figure.

    python perf/prm_step_auroc.py perf/results/prm_minilm/prmbench-test --data-dir ../shared/data

Reads the folder's ``samples.jsonl`` (the per-sample log the bench writes) and the PRMBench
items from the data folder (``--files test`` by default); prints JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assay.bench.loaders import load_prmbench


def auroc(scores: list[float], positive: list[bool]) -> float | None:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney)."""
    pos = sorted(s for s, p in zip(scores, positive, strict=True) if p)
    neg = sorted(s for s, p in zip(scores, positive, strict=True) if not p)
    if not pos or not neg:
        return None
    import bisect

    wins = sum(bisect.bisect_left(neg, s) + 0.5 * (bisect.bisect_right(neg, s) - bisect.bisect_left(neg, s)) for s in pos)
    return wins / (len(pos) * len(neg))


def step_scores(result: dict) -> tuple[float | None, list[float | None]]:
    for details in [result.get("details") or {}] + [v.get("details") or {} for v in (result.get("details") or {}).values() if isinstance(v, dict)]:
        if isinstance(details.get("step_scores"), list):
            return result.get("score"), details["step_scores"]
    return result.get("score"), []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--files", default="test")
    args = parser.parse_args()
    items = {item.id: item for item in load_prmbench(args.data_dir, files=args.files).items}
    steps: list[tuple[float, bool]] = []
    solutions: list[tuple[float, bool]] = []
    for line in (args.folder / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        item = items.get(row["key"].rsplit("/", 1)[0])
        if item is None or row["result"].get("failure"):
            continue
        score, scores = step_scores(row["result"])
        if item.subset != "original":
            wrong = set(item.error_steps)
            steps += [(s, k not in wrong) for k, s in enumerate(scores) if s is not None]
        if score is not None:
            solutions.append((score, item.subset == "original"))
    values = [s for s, _ in steps]
    print(json.dumps({
        "scored_steps": len(steps),
        "valid_share": sum(v for _, v in steps) / len(steps) if steps else None,
        "step_score_range": [min(values), max(values)] if values else None,
        "step_auroc_valid_vs_invalid": auroc(values, [v for _, v in steps]),
        "solutions": len(solutions),
        "solution_auroc_original_vs_modified": auroc([s for s, _ in solutions], [o for _, o in solutions]),
    }, indent=2))


if __name__ == "__main__":
    main()
