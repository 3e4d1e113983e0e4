"""How often a reward's verdict agrees with a label column in `assay score` output.

    python examples/agreement.py runs/gsm8k_scored.jsonl --reward correct --label is_correct

Failed verdicts count as disagreements (and are listed), never dropped.
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scored", help="output of assay score")
    parser.add_argument("--reward", required=True, help="component name in the config")
    parser.add_argument("--label", required=True, help="boolean label column of the input")
    parser.add_argument("--show", type=int, default=5, help="disagreements to print")
    args = parser.parse_args()
    total = agree = failed = 0
    shown = []
    with open(args.scored, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            verdict = row["rewards"][args.reward]
            total += 1
            if verdict["score"] is None:
                failed += 1
                shown.append((row.get("id"), "failed", verdict["rationale"]))
                continue
            if (verdict["score"] > 0.5) == bool(row[args.label]):
                agree += 1
            else:
                shown.append((row.get("id"), f"label={row[args.label]}", verdict["rationale"]))
    print(f"\n{args.reward} agrees with {args.label} on {agree}/{total} rows ({agree / total:.2%}); {failed} failed")
    for row_id, what, why in shown[: args.show]:
        print(f"  {row_id}: {what}: {why[:160]}")
    if len(shown) > args.show:
        print(f"  ... {len(shown) - args.show} more")
    return 0


if __name__ == "__main__":
    sys.exit(main())
