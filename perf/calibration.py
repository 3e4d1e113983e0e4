"""Calibration figures on real labelled data (``../shared/data``; ``--data-dir`` or ``ASSAY_DATA_DIR``):

- **GSM8K example solutions** (5,276 model solutions): stated confidences appended to each
  solution in three shapes (tag, "Confidence: N%", "I am N% sure"), constructed calibrated
  (per model, a correct solution lands in a 'sure' cell with chance 0.8, a wrong one with
  0.2, and each cell states its own accuracy), overconfident (1 - 0.35 (1 - q)) and
  underconfident (q / 2). The mean ``calibration_brier`` (RLCR) and ``calibration_log``
  rewards per condition, with correctness by ``exact_match`` on GSM8K's "A: N" line, and the
  ECE of the stated confidences. The ordering calibrated > over, under is pinned by
  tests/test_calibration_rewards.py.
- **math_cot_100** (100 MATH problems x 8 solutions, Qwen2.5-Math-RM-72B scores): each
  calibrator (temperature, Platt, isotonic) fitted on the RM scores -> P(correct) as
  ``assay calibrate`` fits them (rows split whole, 30% held out), over 20 split seeds;
  held-out ECE (10 equal-width and equal-mass bins), Brier and log loss before (the RM logit
  read as sigmoid(score)) and after, mean and standard deviation over the seeds, and the
  seed-0 figures ``assay calibrate`` prints.

    .venv/bin/python perf/calibration.py      # a few seconds; writes perf/results/calibration.{json,md,png}
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np

from assay.bench.calibration import ece
from assay.cli.calibrate import evaluate, split_rows
from assay.paths import data_dir
from assay.registry import build_reward
from assay.rewards.calibration.calibrators import fit_calibrator
from assay.types import Sample

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
CORRECTNESS = {"type": "exact_match", "pattern": r"A:\s*(-?[0-9.,]+)", "normalize": False}
METRICS = ("ece_equal_width", "ece_equal_mass", "brier", "log_loss")


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def statement(q: float, k: int) -> str:
    return [f"\n<confidence>{q:.4f}</confidence>", f"\nConfidence: {100 * q:.2f}%", f"\nI am {100 * q:.2f}% sure."][k % 3]


def gsm8k(root: Path) -> dict:
    rows = read_jsonl(root / "gsm8k" / "example_model_solutions.jsonl")
    base = []
    for i, row in enumerate(rows):
        reference = row["ground_truth"].rsplit("A:", 1)[1].strip().replace(",", "")
        for model in MODELS:
            base.append((f"{i}/{model}", model, row[model]["solution"], reference, bool(row[model]["is_correct"])))
    checker = build_reward("exact_match", "c", {k: v for k, v in CORRECTNESS.items() if k != "type"})
    c = [j.score for j in checker.score([Sample(response=s, reference=r) for _, _, s, r, _ in base])]
    cells: dict = {}
    for k, ((key, model, *_), ci) in enumerate(zip(base, c)):
        sure = random.Random(f"0:{key}").random() < (0.8 if ci == 1.0 else 0.2)
        cells.setdefault((model, sure), []).append(k)
    q = [0.0] * len(base)
    for members in cells.values():
        accuracy = sum(c[k] for k in members) / len(members)
        for k in members:
            q[k] = round(accuracy, 4)
    conditions = {"calibrated": q, "overconfident": [round(1 - 0.35 * (1 - x), 4) for x in q], "underconfident": [round(0.5 * x, 4) for x in q]}
    out = {"n": len(base), "accuracy": sum(c) / len(c), "agreement_with_is_correct": sum((ci == 1.0) == b[-1] for ci, b in zip(c, base)) / len(base), "conditions": {}}
    rewards = {t: build_reward(t, t, {"correctness": CORRECTNESS}) for t in ("calibration_brier", "calibration_log")}
    for name, qs in conditions.items():
        samples = [Sample(response=s + statement(x, k), reference=r) for k, ((_, _, s, r, _), x) in enumerate(zip(base, qs))]
        row = {"mean_stated": sum(qs) / len(qs), "ece_equal_width": ece(qs, c, 10, "width"), "ece_equal_mass": ece(qs, c, 10, "mass")}
        for type_name, reward in rewards.items():
            judged = reward.score(samples)
            assert all(j.ok for j in judged)
            row[type_name] = sum(j.score for j in judged) / len(judged)
        out["conditions"][name] = row
    return out


def math_cot(root: Path, seeds: int, holdout: float, bins: int) -> dict:
    path = root / "math-bon" / "math_cot_100.jsonl"
    rows = read_jsonl(path)
    scores = [[float(s[0] if isinstance(s, list) else s) for s in r["pred_score"]] for r in rows]
    labels = [[int(bool(v)) for v in r["score"]] for r in rows]
    out: dict = {"file": str(path), "n": sum(map(len, scores)), "rows": len(rows), "positive_rate": float(np.mean([y for ys in labels for y in ys])),
                 "holdout": holdout, "seeds": seeds, "bins": bins, "methods": {}}
    for method in ("temperature", "platt", "isotonic"):
        runs = []
        for seed in range(seeds):
            fit_rows, held_rows = split_rows(len(rows), holdout, seed)
            fit = fit_calibrator(method, [s for i in fit_rows for s in scores[i]], [y for i in fit_rows for y in labels[i]])
            held = evaluate(fit, [s for i in held_rows for s in scores[i]], [y for i in held_rows for y in labels[i]], bins)
            runs.append({"before": {m: held["before_sigmoid"][m] for m in METRICS}, "after": {m: held["after"][m] for m in METRICS}, "n_holdout": held["n"]})
        summary = {}
        for side in ("before", "after"):
            summary[side] = {m: {"mean": statistics.fmean(r[side][m] for r in runs), "sd": statistics.stdev(r[side][m] for r in runs)} for m in METRICS}
        summary["after_better_ece_width"] = sum(r["after"]["ece_equal_width"] < r["before"]["ece_equal_width"] for r in runs)
        summary["after_better_log_loss"] = sum(r["after"]["log_loss"] < r["before"]["log_loss"] for r in runs)
        summary["seed0"] = runs[0]
        out["methods"][method] = summary
    return out


def figure(root: Path, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    from assay.bench.calibration import reliability

    rows = read_jsonl(root / "math-bon" / "math_cot_100.jsonl")
    scores = [[float(s[0] if isinstance(s, list) else s) for s in r["pred_score"]] for r in rows]
    labels = [[int(bool(v)) for v in r["score"]] for r in rows]
    fit_rows, held_rows = split_rows(len(rows), 0.3, 0)
    held_s = np.array([s for i in held_rows for s in scores[i]])
    held_y = [y for i in held_rows for y in labels[i]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    curves = {"sigmoid(RM score)": 1 / (1 + np.exp(-held_s))}
    for method in ("temperature", "platt", "isotonic"):
        fit = fit_calibrator(method, [s for i in fit_rows for s in scores[i]], [y for i in fit_rows for y in labels[i]])
        curves[method] = fit.apply(held_s)
    for name, p in curves.items():
        table = reliability(p.tolist(), held_y, 10, "width")
        ax.plot([r["mean_probability"] for r in table], [r["accuracy"] for r in table], "o-", label=f"{name}: ECE {ece(p.tolist(), held_y, 10, 'width'):.3f}")
    ax.set_xlabel("P(correct)")
    ax.set_ylabel("fraction correct")
    ax.set_title("math_cot_100, held-out 30% (seed 0)")
    ax.legend(fontsize=8)
    fig.savefig(out, dpi=90, bbox_inches="tight")


def markdown(result: dict) -> str:
    g, m = result["gsm8k"], result["math_cot_100"]
    lines = ["# Calibration: rewards on stated confidence, and calibrators", "", f"Machine: {result['machine']}. Total {result['seconds']:.1f} s. Rerun: `{result['command']}`.", "",
             (f"## GSM8K example solutions with synthetic stated confidences ({g['n']} solutions, accuracy {g['accuracy']:.3f})"), "",
             f"Correctness by `exact_match` on the \"A: N\" line (agrees with the file's `is_correct` on {g['agreement_with_is_correct']:.2%}).", "",
             "| stated confidence | mean stated | ECE (10 equal-width) | ECE (10 equal-mass) | mean calibration_brier (RLCR) | mean calibration_log |", "|---|---|---|---|---|---|"]
    for name, row in g["conditions"].items():
        lines.append(f"| {name} | {row['mean_stated']:.3f} | {row['ece_equal_width']:.4f} | {row['ece_equal_mass']:.4f} | {row['calibration_brier']:.4f} | {row['calibration_log']:.4f} |")
    lines += ["", f"## math_cot_100: RM scores -> P(correct) ({m['n']} solutions, {m['rows']} problems, {m['positive_rate']:.1%} correct)", "",
              (f"Held-out {m['holdout']:.0%} of the problems (rows whole), {m['seeds']} split seeds, {m['bins']} bins. *Before* reads the RM score as a logit, sigmoid(score). "
               "Mean (sd) over the seeds; the last two columns count the seeds where *after* beats *before*."), "",
              "| calibrator | ECE width before | ECE width after | ECE mass before | ECE mass after | Brier before | Brier after | log loss before | log loss after | ECE better | log loss better |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, s in m["methods"].items():
        cells = []
        for metric in METRICS:
            for side in ("before", "after"):
                cells.append(f"{s[side][metric]['mean']:.4f} ({s[side][metric]['sd']:.3f})")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {s['after_better_ece_width']}/{m['seeds']} | {s['after_better_log_loss']}/{m['seeds']} |")
    lines += ["", "Seed 0 (what `assay calibrate math_cot_100.jsonl --score-field pred_score --label-field score --method M -o fit.json` prints):", "",
              "| calibrator | ECE width before | after | Brier before | after | log loss before | after |", "|---|---|---|---|---|---|---|"]
    for method, s in m["methods"].items():
        r = s["seed0"]
        lines.append(f"| {method} | {r['before']['ece_equal_width']:.4f} | {r['after']['ece_equal_width']:.4f} | {r['before']['brier']:.4f} | {r['after']['brier']:.4f} | "
            f"{r['before']['log_loss']:.4f} | {r['after']['log_loss']:.4f} |")
    lines += ["", "![reliability before and after](calibration.png)", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    root = args.data_dir or data_dir()
    started = time.perf_counter()
    result = {"gsm8k": gsm8k(root), "math_cot_100": math_cot(root, args.seeds, 0.3, 10)}
    result["seconds"] = time.perf_counter() - started
    result["machine"] = f"{platform.machine()}, {__import__('os').cpu_count()} CPUs"
    result["command"] = "PYTHONPATH=. .venv/bin/python perf/calibration.py"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    figure(root, RESULTS / "calibration.png")
    (RESULTS / "calibration.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
