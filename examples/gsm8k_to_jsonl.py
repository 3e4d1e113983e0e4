"""Turn GSM8K's example model solutions into `assay score` input.

Each of the 1,319 test questions has 4 model solutions with an `is_correct` label; the
reference answer is the number after "A:" in `ground_truth`. One output row per solution,
with the question's index as `group` (the 4 solutions form one RL-style group).

    python examples/gsm8k_to_jsonl.py --data-dir ../shared/data --output runs/gsm8k_rollouts.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from assay.paths import data_dir  # noqa: E402

FINAL_ANSWER = re.compile(r"^A:\s*(.+?)\s*$", re.MULTILINE)


def reference_answer(ground_truth: str) -> str:
    """The number after the last "A:" line of a GSM8K example solution."""
    matches = FINAL_ANSWER.findall(ground_truth)
    if not matches:
        raise ValueError(f"no 'A:' line in ground truth: {ground_truth[-80:]!r}")
    return matches[-1].replace(",", "")


def convert(source: Path, output: Path) -> int:
    output.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(source, encoding="utf-8") as inp, open(output, "w", encoding="utf-8") as out:
        for index, line in enumerate(inp):
            row = json.loads(line)
            reference = reference_answer(row["ground_truth"])
            for model, solution in row.items():
                if not isinstance(solution, dict) or "solution" not in solution:
                    continue
                out.write(json.dumps({
                    "id": f"{index}-{model}",
                    "group": index,
                    "prompt": row["question"],
                    "response": solution["solution"],
                    "reference": reference,
                    "model": model,
                    "is_correct": solution["is_correct"],
                }) + "\n")
                count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="benchmark data folder (default: $ASSAY_DATA_DIR or ../shared/data)")
    parser.add_argument("--output", type=Path, default=Path("runs/gsm8k_rollouts.jsonl"))
    args = parser.parse_args()
    root = data_dir(args.data_dir)
    if root is None or not (root / "gsm8k" / "example_model_solutions.jsonl").is_file():
        print("error: gsm8k/example_model_solutions.jsonl not found; pass --data-dir or set ASSAY_DATA_DIR", file=sys.stderr)
        return 2
    n = convert(root / "gsm8k" / "example_model_solutions.jsonl", args.output)
    print(f"wrote {n} rows to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
