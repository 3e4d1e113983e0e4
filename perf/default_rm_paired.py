"""Paired bootstrap of the default reward model against a baseline on RM-Bench and LLMBar.

Why: two overlapping 95 % CIs do not say whether one reward is better than another on the
same items; resampling the items once for both and taking the difference does. This reads
the per-sample logs (``samples.jsonl``) that ``assay bench`` writes for each run, rebuilds
each item's outcome by the benchmark's protocol (RM-Bench: the 3x3 chosen-over-rejected
matrix, overall = mean of the domains; LLMBar: the labelled output scores strictly higher),
checks the overall against the run's own ``report.json``, and prints the difference with
its 95 % paired-bootstrap CI. What not: running the benchmarks.

    python perf/default_rm_paired.py --data-dir ../shared/data \\
        --ours OUT/default_rm --baseline OUT/semantic      # folders with <bench>/samples.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def scores(path: Path) -> dict[str, float | None]:
    out = {}
    with open(path) as handle:
        for line in handle:
            row = json.loads(line)
            out[row["key"]] = row["result"]["score"]
    return out


def rmbench_items(data_dir: Path, s: dict[str, float | None]) -> list[tuple[str, float]]:
    from assay.bench.loaders import load

    items = []
    for item in load("rm-bench", data_dir).items:
        c = [s.get(f"{item.id}/c{i}") for i in range(3)]
        r = [s.get(f"{item.id}/r{j}") for j in range(3)]
        cells = [1.0 if (ci is not None and rj is not None and ci > rj) else 0.0 for ci in c for rj in r]
        items.append((item.domain, sum(cells) / 9))
    return items


def llmbar_items(data_dir: Path, s: dict[str, float | None]) -> list[tuple[str, float]]:
    from assay.bench.loaders import load

    items = []
    for item in load("llmbar", data_dir).items:
        a, b = s.get(f"{item.id}/a"), s.get(f"{item.id}/b")
        good, bad = (a, b) if item.better == "a" else (b, a)
        items.append(("all", 1.0 if (good is not None and bad is not None and good > bad) else 0.0))
    return items


def overall(items: list[tuple[str, float]], index: list[int]) -> float:
    by: dict[str, list[float]] = defaultdict(list)
    for i in index:
        by[items[i][0]].append(items[i][1])
    return sum(sum(v) / len(v) for v in by.values()) / len(by)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--ours", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = {}
    for bench, build in (("rm-bench", rmbench_items), ("llmbar", llmbar_items)):
        if not all((folder / bench / name).is_file() for folder in (args.ours, args.baseline) for name in ("samples.jsonl", "report.json")):
            continue
        ours = build(args.data_dir, scores(args.ours / bench / "samples.jsonl"))
        base = build(args.data_dir, scores(args.baseline / bench / "samples.jsonl"))
        everything = list(range(len(ours)))
        point = (overall(ours, everything), overall(base, everything))
        reported = [json.loads((folder / bench / "report.json").read_text())["overall"] for folder in (args.ours, args.baseline)]
        rng = random.Random(args.seed)
        diffs = []
        for _ in range(args.resamples):
            index = [rng.randrange(len(ours)) for _ in everything]
            diffs.append(overall(ours, index) - overall(base, index))
        diffs.sort()
        low, high = diffs[int(0.025 * len(diffs))], diffs[int(0.975 * len(diffs)) - 1]
        result[bench] = {"ours": round(point[0], 4), "baseline": round(point[1], 4), "reported": [round(x, 4) for x in reported],
                         "difference": round(point[0] - point[1], 4), "ci95": [round(low, 4), round(high, 4)],
                         "share_of_resamples_ours_better": round(sum(d > 0 for d in diffs) / len(diffs), 3), "n": len(ours)}
        print(bench, json.dumps(result[bench]), flush=True)
    if args.output:
        args.output.write_text(json.dumps({"ours": str(args.ours), "baseline": str(args.baseline), "resamples": args.resamples, "seed": args.seed, **result}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
