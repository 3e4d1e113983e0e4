"""Calibration metrics for probability-valued scores: ECE (equal-width and equal-mass bins),
Brier score and log loss, with the reliability table they come from, and the ``calibration``
section ``assay bench`` writes into ``report.json``.

Definitions (p a predicted probability, y in {0, 1} the outcome, N items, B bins):

- **ECE** = sum over non-empty bins b of (n_b / N) * |mean(y in b) - mean(p in b)|.
  *Equal-width* bins split [0, 1] into B intervals [k/B, (k+1)/B), the last one closed (p = 1
  falls in it). *Equal-mass* bins sort the items by p and cut them into B runs of
  ``floor(N/B)`` or ``ceil(N/B)`` items (``numpy.array_split`` of the ranks; items with equal
  p on either side of a cut stay in different bins, the rank order deciding, stable).
- **Brier** = mean((p - y)^2). **Log loss** = -mean(y log p + (1 - y) log(1 - p)), p clipped
  to [eps, 1 - eps] with eps = ``LOG_LOSS_EPS`` (stated beside it in the report).

What the outcome is in a benchmark: a response's score against "this response is the chosen
(or the correct) one" (the roles of ``Protocol.score_roles``), and a pairwise judge's P(A) against
"A is the better response" (each game of each pair, both orders). Scores are calibration
metrics' business only when they are probabilities: a source with any score outside [0, 1]
is listed under ``skipped`` with its range, never squashed into one.

    >>> s = calibration_summary([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 1], bins=2)
    >>> round(s["ece_equal_width"], 4), round(s["brier"], 4)
    (0.225, 0.2375)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

LOG_LOSS_EPS = 1e-12
DEFAULT_BINS = 10


def _arrays(probabilities: Sequence[float], labels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels, dtype=float)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"expected two equal-length lists, got {p.shape} probabilities and {y.shape} labels")
    if p.size and (np.any(~np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        raise ValueError("probabilities must lie in [0, 1]")
    if y.size and not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    return p, y


def bin_index(p: np.ndarray, bins: int, strategy: str) -> np.ndarray:
    """Each item's bin: ``width`` by value, ``mass`` by rank (see the module docstring)."""
    if strategy == "width":
        return np.minimum((p * bins).astype(int), bins - 1)
    if strategy == "mass":
        which = np.empty(p.size, dtype=int)
        for b, chunk in enumerate(np.array_split(np.argsort(p, kind="stable"), bins)):
            which[chunk] = b
        return which
    raise ValueError(f"unknown binning {strategy!r}: expected 'width' or 'mass'")


def reliability(probabilities: Sequence[float], labels: Sequence[float], bins: int = DEFAULT_BINS, strategy: str = "width") -> list[dict[str, Any]]:
    """The non-empty bins: lower and upper edge (of the values for ``mass``), n, mean p, accuracy."""
    p, y = _arrays(probabilities, labels)
    which = bin_index(p, bins, strategy)
    rows = []
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        lo, hi = (b / bins, (b + 1) / bins) if strategy == "width" else (float(p[mask].min()), float(p[mask].max()))
        rows.append({"bin": b, "lo": lo, "hi": hi, "n": int(mask.sum()), "mean_probability": float(p[mask].mean()), "accuracy": float(y[mask].mean())})
    return rows


def ece(probabilities: Sequence[float], labels: Sequence[float], bins: int = DEFAULT_BINS, strategy: str = "width") -> float:
    """Expected calibration error over ``bins`` bins (``width`` or ``mass``)."""
    rows = reliability(probabilities, labels, bins, strategy)
    n = sum(r["n"] for r in rows)
    if n == 0:
        return math.nan
    return float(sum(r["n"] / n * abs(r["accuracy"] - r["mean_probability"]) for r in rows))


def brier_score(probabilities: Sequence[float], labels: Sequence[float]) -> float:
    p, y = _arrays(probabilities, labels)
    return float(np.mean((p - y) ** 2)) if p.size else math.nan


def log_loss(probabilities: Sequence[float], labels: Sequence[float], eps: float = LOG_LOSS_EPS) -> float:
    p, y = _arrays(probabilities, labels)
    if not p.size:
        return math.nan
    q = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def calibration_summary(probabilities: Sequence[float], labels: Sequence[float], bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Every metric for one set of probabilities, with the bins stated and both reliability tables."""
    p, y = _arrays(probabilities, labels)
    return {
        "n": int(p.size),
        "positive_rate": float(y.mean()) if y.size else None,
        "mean_probability": float(p.mean()) if p.size else None,
        "bins": bins,
        "ece_equal_width": ece(p, y, bins, "width"),
        "ece_equal_mass": ece(p, y, bins, "mass"),
        "brier": brier_score(p, y),
        "log_loss": log_loss(p, y),
        "log_loss_eps": LOG_LOSS_EPS,
        "reliability": {"equal_width": reliability(p, y, bins, "width"), "equal_mass": reliability(p, y, bins, "mass")},
    }


# --- what a benchmark run gives -------------------------------------------------------------
def _add_source(sources: dict[str, Any], skipped: dict[str, str], name: str, pairs: list[tuple[float, int]], bins: int) -> None:
    if not pairs:
        return
    values = [p for p, _ in pairs]
    low, high = min(values), max(values)
    if low < 0 or high > 1:
        skipped[name] = f"scores outside [0, 1] (min {low:.4g}, max {high:.4g}): not probabilities"
        return
    sources[name] = calibration_summary(values, [y for _, y in pairs], bins)


def _ok_score(result: dict[str, Any] | None) -> float | None:
    if not result or result.get("failure") or not isinstance(result.get("score"), (int, float)):
        return None
    return float(result["score"])


def bench_calibration(protocol: Any, items: Sequence[Any], done: dict[str, dict[str, Any]], mode: str, bins: int = DEFAULT_BINS) -> dict[str, Any] | None:
    """The ``calibration`` section of a benchmark report, or None when nothing in the run is a
    probability with an outcome: ``sources`` (``score``: the reward's total; one entry per
    component of a composed reward with several; ``probability``: a comparator's P(A)),
    ``skipped`` (why a source is not reported), ``outcome`` (what y = 1 means)."""
    sources: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    if mode == "pairwise":
        pairs = _pairwise_probabilities(protocol, items, done)
        _add_source(sources, skipped, "probability", pairs, bins)
        outcome = "the response in position A is the better one (each game, both orders)"
    else:
        totals: list[tuple[float, int]] = []
        components: dict[str, list[tuple[float, int]]] = {}
        for item in items:
            if mode == "stored":
                stored = getattr(item, "stored_scores", None)
                if stored is not None:
                    totals += [(float(s), int(bool(c))) for s, c in zip(stored, item.correct, strict=True)]
                continue
            for key, role in protocol.score_roles(item):
                result = done.get(key)
                y = 1 if role == "chosen" else 0
                if (score := _ok_score(result)) is not None:
                    totals.append((score, y))
                for name, inner in ((result or {}).get("details") or {}).items():
                    if isinstance(inner, dict) and "score" in inner and "rationale" in inner and (s := _ok_score(inner)) is not None:
                        components.setdefault(name, []).append((s, y))
        _add_source(sources, skipped, "score", totals, bins)
        if len(components) > 1:
            for name, pairs in components.items():
                _add_source(sources, skipped, f"component:{name}", pairs, bins)
        outcome = "the response is the chosen / correct one (the benchmark's roles)"
    if not sources and not skipped:
        return None
    return {"outcome": outcome, "bins": bins, "log_loss_eps": LOG_LOSS_EPS, "sources": sources, "skipped": skipped}


def _pairwise_probabilities(protocol: Any, items: Sequence[Any], done: dict[str, dict[str, Any]]) -> list[tuple[float, int]]:
    """(P(A), 1 when A is the better response) for every judged game with a probability. Which
    response is better comes from the protocol's own pointwise roles, matched by response text
    (a pair whose two responses are the same text is left out: it has no better side)."""
    out: list[tuple[float, int]] = []
    for item in items:
        try:
            pointwise = {u.key: u.sample for u in protocol.units(item, "pointwise")}
        except Exception:  # noqa: BLE001, S112 - a protocol without pointwise units: nothing to match
            continue
        roles = {}
        for key, role in protocol.score_roles(item):
            sample = pointwise.get(key)
            if sample is not None:
                roles.setdefault(_text(sample.response), set()).add(role)
        better = {text for text, r in roles.items() if r == {"chosen"}}
        worse = {text for text, r in roles.items() if r == {"rejected"}}
        for unit in protocol.units(item, "pairwise"):
            result = done.get(unit.key)
            if unit.pair is None or not result or result.get("failure") or not isinstance(result.get("probability"), (int, float)):
                continue
            a, b = _text(unit.pair.response_a), _text(unit.pair.response_b)
            if a in better and b in worse:
                out.append((float(result["probability"]), 1))
            elif a in worse and b in better:
                out.append((float(result["probability"]), 0))
    return out


def _text(value: Any) -> str:
    from assay.types import text_of

    return text_of(value)
