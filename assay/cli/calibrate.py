"""``assay calibrate LABELLED.jsonl --method platt --output fit.json``: fit a calibrator
(temperature, Platt or isotonic) that maps a reward's or a judge's scores to P(correct), on a
labelled file; report ECE, Brier and log loss before and after on a held-out split; save the
fit with its data's provenance, to be applied from a config with ``calibration: fit.json``."""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXAMPLE = """\
examples:
  # scores stored in the file (lists are flattened, rows stay whole in the split)
  assay calibrate math_cot_100.jsonl --score-field pred_score --label-field score --method isotonic -o fits/rm.json
  # scores computed by a config's reward (or P(A) of its comparator), labels in the file
  assay calibrate judged.jsonl --config judge.yaml --label-field correct --method platt -o fits/judge.json

then, in a config:
  rewards:
    judge: {type: judge, base_url: "http://127.0.0.1:8080/v1", calibration: fits/judge.json}
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(name, help="fit temperature / Platt / isotonic scaling of scores to P(correct) on a labelled "
        "file", epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="labelled JSONL file")
    parser.add_argument("--method", "-m", choices=("temperature", "platt", "isotonic"), default="platt", help="calibrator (default platt)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="the fit file to write (JSON)")
    parser.add_argument("--score-field", default="score", help="field holding the score, a number or a list (default score; without --config)")
    parser.add_argument("--label-field", default="label", help="field holding the 0/1 label, or a list of them (default label)")
    parser.add_argument("--config", "-c", help="compute the scores with this config's reward (or its comparator's P(A)) instead of reading them")
    parser.add_argument("--reward", help="with --config: one component of the composed reward instead of its total")
    parser.add_argument("--holdout", type=float, default=0.3, help="fraction of rows held out for the before/after figures (default 0.3; 0: in-sample only)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--bins", type=int, default=10, help="bins of the ECE (default 10)")
    parser.add_argument("--json", action="store_true", help="print the fit file's record as JSON instead of a table")
    parser.set_defaults(func=run)


def split_rows(n_rows: int, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """(fit rows, held-out rows): a seeded shuffle of row indices, ``round(holdout * n)`` held out."""
    order = list(range(n_rows))
    random.Random(f"calibrate:{seed}").shuffle(order)
    n_hold = round(holdout * n_rows)
    return sorted(order[n_hold:]), sorted(order[:n_hold])


def evaluate(calibrator: Any, scores: list[float], labels: list[int], bins: int) -> dict[str, Any]:
    """Metrics of the raw scores (when they are probabilities) and of the calibrated ones."""
    from assay.bench.calibration import calibration_summary

    def short(summary: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in summary.items() if k != "reliability"} | {"reliability_equal_width": summary["reliability"]["equal_width"]}

    out: dict[str, Any] = {"n": len(scores)}
    if scores and min(scores) >= 0 and max(scores) <= 1:
        out["before"] = short(calibration_summary(scores, labels, bins))
    else:
        out["before"] = None
        if scores:
            import numpy as np

            out["before_note"] = (f"the raw scores are not probabilities (range {min(scores):.4g} to {max(scores):.4g}): "
                                  "'before' reads them as logits, sigmoid(score), the usual reading of a reward model's output")
            out["before_sigmoid"] = short(calibration_summary((1 / (1 + np.exp(-np.asarray(scores)))).tolist(), labels, bins))
        else:
            out["before_note"] = "no scores"
    out["after"] = short(calibration_summary(calibrator.apply(scores).tolist(), labels, bins)) if scores else None
    return out


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    """Read, fit, evaluate and write; returns the record written (raises on bad input)."""
    from assay.files.labelled import read_scored, read_stored
    from assay.rewards.calibration.calibrators import fit_calibrator
    from assay.rewards.calibration.fit_file import sha256_of, write_fit

    if not args.data.is_file():
        raise ValueError(f"{args.data}: input file not found")
    if not 0 <= args.holdout < 1:
        raise ValueError(f"--holdout must be in [0, 1), got {args.holdout}")
    source: dict[str, Any]
    if args.config:
        from assay.compose.load import build_comparator, build_composite
        from assay.spec import read_config

        loaded = read_config(args.config)
        scorer = build_comparator(loaded) if loaded.spec.comparator is not None and not args.reward else build_composite(loaded)
        labelled = read_scored(args.data, args.label_field, scorer, args.reward)
        source = {"config": str(args.config), "config_hash": loaded.hash, "reward": args.reward or ("comparator P(A)" if scorer.pairwise else "total")}
    else:
        labelled = read_stored(args.data, args.score_field, args.label_field)
        source = {"score_field": args.score_field}
    if not labelled.rows:
        raise ValueError(f"{args.data}: no scored rows to fit on" + (f" (failures: {dict(labelled.failures)})" if labelled.failures else ""))
    fit_rows, held_rows = split_rows(len(labelled.rows), args.holdout, args.seed)

    def gather(indices: list[int]) -> tuple[list[float], list[int]]:
        scores = [s for i in indices for s in labelled.rows[i].scores]
        labels = [y for i in indices for y in labelled.rows[i].labels]
        return scores, labels

    fit_scores, fit_labels = gather(fit_rows)
    calibrator = fit_calibrator(args.method, fit_scores, fit_labels)
    evaluation: dict[str, Any] = {"bins": args.bins, "fit": evaluate(calibrator, fit_scores, fit_labels, args.bins)}
    if held_rows:
        evaluation["holdout"] = evaluate(calibrator, *gather(held_rows), args.bins)
    provenance = {
        "file": str(args.data), "sha256": sha256_of(args.data), "n": labelled.n, "n_rows": len(labelled.rows),
        "n_fit": len(fit_scores), "n_holdout": labelled.n - len(fit_scores), "holdout_fraction": args.holdout, "seed": args.seed,
        "split": "by row, seeded shuffle (random.Random('calibrate:SEED'))", "label_field": args.label_field, **source,
        "failures_left_out": dict(labelled.failures), "date": datetime.now(UTC).isoformat(timespec="seconds"), "method": args.method,
    }
    write_fit(args.output, calibrator, provenance, evaluation)
    return json.loads(args.output.read_text())


def table(record: dict[str, Any]) -> str:
    from assay.bench.report import _table

    evaluation = record["evaluation"]
    part = "holdout" if "holdout" in evaluation else "fit"
    before, after = evaluation[part]["before"], evaluation[part]["after"]
    shown = "before"
    if before is None and evaluation[part].get("before_sigmoid"):
        before, shown = evaluation[part]["before_sigmoid"], "before, sigmoid(score)"
    rows: list[tuple[str, ...]] = [("metric", f"{shown} ({part})", f"after ({part})")]
    for key in ("ece_equal_width", "ece_equal_mass", "brier", "log_loss"):
        rows.append((key, "-" if before is None else f"{before[key]:.4f}", f"{after[key]:.4f}"))
    p = record["provenance"]
    lines = [f"{record['method']} fit on {p['n_fit']} scores ({p['n_rows']} rows, {p['n_holdout']} held out), input {record['input']}: "
        f"{record['params'] if record['method'] != 'isotonic' else str(len(record['params']['x'])) + ' knots'}", _table(rows)]
    if evaluation[part].get("before_note"):
        lines.append(f"note: {evaluation[part]['before_note']}")
    lines += [f"note: {n}" for n in record.get("notes", [])]
    if p.get("failures_left_out"):
        lines.append(f"left out (not scored): {p['failures_left_out']}")
    return "\n\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from assay.files.jsonl import InputError
    from assay.spec import ConfigError

    try:
        record = calibrate(args)
    except (InputError, ConfigError, ValueError, ImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(record, indent=2) if args.json else table(record))
    print(f"\nwrote {args.output}")
    return 0
