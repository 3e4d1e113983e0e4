"""Calibration metrics (assay/bench/calibration.py) recomputed independently, by plain loops
over constructed data, and the ``calibration`` section of ``assay bench``'s report.json for a
probability-valued reward and for a comparator's P(A)."""

from __future__ import annotations

import json
import math
import random

import pytest

from assay.bench.calibration import brier_score, calibration_summary, ece, log_loss
from assay.bench.runner import run_benchmark
from assay.reward import Comparator, reward
from assay.types import Preference


def constructed(n: int = 500, seed: int = 3) -> tuple[list[float], list[int]]:
    """Overconfident probabilities: the true chance of y = 1 is 0.5 + (p - 0.5) / 2."""
    rng = random.Random(seed)
    p = [round(rng.random(), 3) for _ in range(n)] + [0.0, 1.0, 1.0]
    y = [int(rng.random() < 0.5 + (x - 0.5) / 2) for x in p[:n]] + [0, 1, 0]
    return p, y


def ece_by_hand(p: list[float], y: list[int], bins: int, equal_mass: bool) -> float:
    n = len(p)
    if equal_mass:
        order = sorted(range(n), key=lambda i: p[i])
        size, extra = divmod(n, bins)
        groups, start = [], 0
        for b in range(bins):
            stop = start + size + (1 if b < extra else 0)
            groups.append(order[start:stop])
            start = stop
    else:
        groups = [[i for i in range(n) if min(int(p[i] * bins), bins - 1) == b] for b in range(bins)]
    total = 0.0
    for g in groups:
        if g:
            total += len(g) / n * abs(sum(y[i] for i in g) / len(g) - sum(p[i] for i in g) / len(g))
    return total


def test_metrics_match_an_independent_computation():
    p, y = constructed()
    for bins in (5, 10, 15):
        assert ece(p, y, bins, "width") == pytest.approx(ece_by_hand(p, y, bins, False), abs=1e-12)
        assert ece(p, y, bins, "mass") == pytest.approx(ece_by_hand(p, y, bins, True), abs=1e-12)
    assert brier_score(p, y) == pytest.approx(sum((a - b) ** 2 for a, b in zip(p, y)) / len(p), abs=1e-12)
    eps = 1e-12
    clipped = [min(max(a, eps), 1 - eps) for a in p]
    by_hand = -sum(b * math.log(a) + (1 - b) * math.log(1 - a) for a, b in zip(clipped, y)) / len(p)
    assert log_loss(p, y) == pytest.approx(by_hand, rel=1e-12)
    summary = calibration_summary(p, y, bins=10)
    assert summary["bins"] == 10 and summary["n"] == len(p)
    assert sum(r["n"] for r in summary["reliability"]["equal_width"]) == len(p)
    assert summary["ece_equal_width"] > 0.05  # the construction is overconfident


def test_metrics_agree_with_scikit_learn_where_installed():
    metrics = pytest.importorskip("sklearn.metrics")
    p, y = constructed()
    assert brier_score(p, y) == pytest.approx(metrics.brier_score_loss(y, p), abs=1e-12)
    q = [min(max(a, 1e-12), 1 - 1e-12) for a in p]
    assert log_loss(p, y) == pytest.approx(metrics.log_loss(y, q), rel=1e-9)


def test_a_perfectly_calibrated_table_has_zero_ece():
    p = [0.25] * 4 + [0.75] * 4
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    assert ece(p, y, 10, "width") == pytest.approx(0.0) and ece(p, y, 2, "mass") == pytest.approx(0.0)


def test_bad_inputs_are_errors_not_numbers():
    with pytest.raises(ValueError):
        ece([0.2, 1.5], [0, 1])
    with pytest.raises(ValueError):
        brier_score([0.2, 0.5], [0, 2])


def write_llmbar(root, n: int = 40, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    rows = [{"input": f"q{i}", "output_1": f"a{i} " + "x" * rng.randint(1, 9), "output_2": f"b{i} " + "y" * rng.randint(1, 9), "label": rng.choice([1, 2])} for i in range(n)]
    (root / "llmbar").mkdir(parents=True, exist_ok=True)
    (root / "llmbar" / "natural.json").write_text(json.dumps(rows))
    return rows


def probability_of(response: str) -> float:
    """A fixed, response-dependent 'probability' for the test reward (its length, scaled)."""
    return (len(response) % 10) / 10 + 0.05


def test_bench_report_holds_the_metrics_of_a_probability_valued_reward(tmp_path):
    rows = write_llmbar(tmp_path)
    prob = reward(probability_of, name="prob")
    report = run_benchmark("llmbar", data_dir=tmp_path, scorer=prob, output=tmp_path / "run", progress=False, resamples=0)
    written = json.loads((tmp_path / "run" / "report.json").read_text())
    section = written["calibration"]
    p, y = [], []
    for row in rows:
        better = row["output_1"] if row["label"] == 1 else row["output_2"]
        worse = row["output_2"] if row["label"] == 1 else row["output_1"]
        p += [probability_of(better), probability_of(worse)]
        y += [1, 0]
    got = section["sources"]["score"]
    assert got["n"] == 2 * len(rows) and section["bins"] == 10
    assert got["ece_equal_width"] == pytest.approx(ece_by_hand(p, y, 10, False), abs=1e-12)
    assert got["ece_equal_mass"] == pytest.approx(ece_by_hand(p, y, 10, True), abs=1e-12)
    assert got["brier"] == pytest.approx(sum((a - b) ** 2 for a, b in zip(p, y)) / len(p), abs=1e-12)
    assert report["calibration"] == section
    assert "Calibration" in (tmp_path / "run" / "report.html").read_text()
    from assay.bench.report import terminal_table

    assert "ECE width/10" in terminal_table(report)


def test_scores_that_are_not_probabilities_are_skipped_with_their_range(tmp_path):
    write_llmbar(tmp_path, n=6)
    report = run_benchmark("llmbar", data_dir=tmp_path, scorer=reward(lambda response: float(len(response)), name="length"), progress=False, resamples=0)
    assert report["calibration"]["sources"] == {}
    assert "outside [0, 1]" in report["calibration"]["skipped"]["score"]


class LengthJudge(Comparator):
    """A judge whose P(A) is a fixed function of the two lengths."""

    def compare_batch(self, pairs):
        out = []
        for pair in pairs:
            pa = len(pair.response_a) / (len(pair.response_a) + len(pair.response_b))
            out.append(Preference(winner="a" if pa >= 0.5 else "b", rationale="longer wins", probability=pa))
        return out


def test_bench_report_holds_the_metrics_of_a_judges_probability(tmp_path):
    rows = write_llmbar(tmp_path, n=30)
    report = run_benchmark("llmbar", data_dir=tmp_path, scorer=LengthJudge(name="len"), progress=False, resamples=0)
    p, y = [], []
    for row in rows:
        one, two = row["output_1"], row["output_2"]
        for a, b, a_is_better in ((one, two, row["label"] == 1), (two, one, row["label"] == 2)):  # both orders
            p.append(len(a) / (len(a) + len(b)))
            y.append(int(a_is_better))
    got = report["calibration"]["sources"]["probability"]
    assert got["n"] == 60
    assert got["ece_equal_width"] == pytest.approx(ece_by_hand(p, y, 10, False), abs=1e-12)
    assert got["log_loss"] == pytest.approx(-sum(b * math.log(a) + (1 - b) * math.log(1 - a) for a, b in zip(p, y)) / len(p), rel=1e-9)
