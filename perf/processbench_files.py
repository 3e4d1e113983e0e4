"""Write ProcessBench-format files from the data here, for ``assay bench processbench``.

ProcessBench itself (Qwen/ProcessBench on the Hugging Face hub) is not in this machine's data
folder. Its format is: one row per solution with ``id``, ``generator``, ``problem``, ``steps``
(a list of paragraphs), ``final_answer_correct`` (bool) and ``label`` (the 0-based index of
the earliest wrong step, -1 when every step is right), one split (file) per source:
``gsm8k``, ``math``, ``olympiadbench``, ``omnimath``. This script writes two such files from
real data, so the loader and the protocol run end to end on ProcessBench-format rows:

- ``processbench/gsm8k.jsonl``: the first ``--gsm8k`` GSM8K test problems' reference
  solutions, one line a step (calculator annotations ``<<...>>`` and the ``####`` line
  removed), label -1; and for each one whose steps state a result (``= 24``), a copy with one
  such result changed (the step chosen and the change drawn with ``--seed``), labelled with
  that step. These errors are **synthetic** arithmetic slips, of the kind a step checker
  sees; ``final_answer_correct`` is whether the last step still ends on the gold answer.
- ``processbench/math.jsonl``: PRMBench's 17 test files (MATH / PRM800K problems), read by
  assay's PRMBench loader (its duplicate and original-solution rules): every modified
  solution with label = first error step - 1 (the rows whose first error lies past the last
  step are left out: no index expresses them), every original solution with label -1.
  ``final_answer_correct`` is null: PRMBench does not record it.

    python perf/processbench_files.py --out /tmp/pb            # then
    assay bench processbench --data-dir /tmp/pb -c step_arithmetic.yaml

Not ProcessBench's own rows: figures on these files are not ProcessBench figures.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from assay.paths import data_dir

ANNOTATION = re.compile(r"<<[^<>]*>>")
RESULT = re.compile(r"=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)")  # "= 24", "= $18", "= 1,200"
LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def gsm8k_rows(folder: Path, n: int, rng: random.Random) -> list[dict]:
    rows = []
    with (folder / "gsm8k" / "test.jsonl").open() as handle:
        for number, line in enumerate(handle):
            if number >= n:
                break
            item = json.loads(line)
            body, _, gold = item["answer"].rpartition("####")
            steps = [ANNOTATION.sub("", s).strip() for s in body.strip().splitlines() if s.strip()]
            gold = gold.strip().replace(",", "")
            rows.append({"id": f"gsm8k-{number}", "generator": "GSM8K reference", "problem": item["question"], "steps": steps,
                         "final_answer_correct": True, "label": -1})
            claims = [(k, m) for k, step in enumerate(steps) for m in RESULT.finditer(step)]
            if not claims:
                continue
            k, match = rng.choice(claims)
            value = match.group(1).replace(",", "")
            delta = rng.choice([1, 2, 3, 10])
            wrong = str(round(float(value) + delta, 6)).removesuffix(".0") if "." in value else str(int(value) + delta)
            changed = steps[k][: match.start(1)] + wrong + steps[k][match.end(1):]
            bad = steps[:k] + [changed] + steps[k + 1:]
            numbers = LAST_NUMBER.findall(bad[-1])
            final_ok = bool(numbers) and numbers[-1].replace(",", "") == gold
            rows.append({"id": f"gsm8k-{number}-slip", "generator": "GSM8K reference, one result changed", "problem": item["question"],
                         "steps": bad, "final_answer_correct": final_ok, "label": k})
    return rows


def math_rows(folder: Path) -> list[dict]:
    from assay.bench.loaders import load_prmbench

    rows = []
    for item in load_prmbench(folder, files="test").items:
        if item.label >= len(item.steps):
            continue
        generator = "PRM800K original" if item.label == -1 else f"PRMBench {item.subset}"
        rows.append({"id": f"math-{item.id}", "generator": generator, "problem": item.problem, "steps": list(item.steps),
                     "final_answer_correct": None, "label": item.label})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", required=True, help="folder to write processbench/{gsm8k,math}.jsonl into")
    parser.add_argument("--gsm8k", type=int, default=200, help="GSM8K test problems to use")
    parser.add_argument("--no-math", action="store_true", help="skip the PRMBench-derived math file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folder = data_dir(args.data_dir)
    if folder is None:
        raise SystemExit("no data folder: pass --data-dir or set ASSAY_DATA_DIR")
    out = Path(args.out) / "processbench"
    out.mkdir(parents=True, exist_ok=True)
    files = {"gsm8k": gsm8k_rows(folder, args.gsm8k, random.Random(args.seed))}
    if not args.no_math:
        files["math"] = math_rows(folder)
    for name, rows in files.items():
        with (out / f"{name}.jsonl").open("w") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
        wrong = sum(r["label"] >= 0 for r in rows)
        print(f"{out / name}.jsonl: {len(rows)} rows ({wrong} with an error, {len(rows) - wrong} correct)")


if __name__ == "__main__":
    main()
