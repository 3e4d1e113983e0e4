"""Write a labelled pairs file for calibrating a pairwise judge's P(A): LLMBar's natural set,
each pair in a seeded random A/B order, the label whether A is the better (``a_better``).

Why: `assay calibrate --config judge.yaml` fits and evaluates a calibrator of a logprob
judge's P(A) on it (perf/results/judge_calibration/README.md has the run). Not a benchmark:
LLMBar's own protocol is `assay bench llmbar`.

    python perf/judge_calibration_pairs.py --data-dir ../shared/data --limit 80 -o pairs.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from assay.paths import data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="benchmark data folder (default: ASSAY_DATA_DIR or ../shared/data)")
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--max-chars", type=int, default=2500, help="skip pairs longer than this (the judge's context)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", "-o", type=Path, required=True)
    args = parser.parse_args()
    root = data_dir(args.data_dir)
    if root is None:
        raise SystemExit("no data folder: pass --data-dir or set ASSAY_DATA_DIR")
    rows = json.loads((root / "llmbar" / "natural.json").read_text(encoding="utf-8"))
    rng = random.Random(args.seed)
    written = 0
    with open(args.output, "w", encoding="utf-8") as out:
        for row in rows:
            a, b, a_better = row["output_1"], row["output_2"], row["label"] == 1
            if len(row["input"]) + len(a) + len(b) > args.max_chars:
                continue
            if rng.random() < 0.5:
                a, b, a_better = b, a, not a_better
            out.write(json.dumps({"prompt": row["input"], "response_a": a, "response_b": b, "a_better": a_better}) + "\n")
            written += 1
            if written >= args.limit:
                break
    print(f"wrote {written} pairs to {args.output}")


if __name__ == "__main__":
    main()
