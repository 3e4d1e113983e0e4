"""Calibrators: maps from a reward's or a judge's raw scores to P(correct), fitted on labels.

- ``temperature``: p = sigmoid(z / T), one parameter (Guo et al. 2017); keeps the ranking and,
  for probabilities, the 0.5 point.
- ``platt``: p = sigmoid(a z + b) (Platt 1999), fitted by Newton's method with backtracking on
  Platt's smoothed targets ((N+ + 1) / (N+ + 2) for positives, 1 / (N- + 2) for negatives),
  as in Lin, Lin and Weng (2007), "A note on Platt's probabilistic outputs".
- ``isotonic``: the non-decreasing step function of the score that fits the labels best in
  squared error, by pool-adjacent-violators (equal scores pooled first), written here (no
  scikit-learn); between two blocks it interpolates linearly, beyond the ends it is flat.

``z`` is the score itself when the fitting scores are not all in [0, 1] (``input: raw``: a
reward model's logit), else ``logit(p)`` with p clipped to [1e-6, 1 - 1e-6] (``input:
probability``: a judge's P(A), a stated confidence). A fit made on probabilities refuses a
score outside [0, 1] (``ValueError``), since its map knows nothing of such scores.

What this is not: the file format (``fit_file``) or the config wrapper (``calibrated``).

    >>> fit = fit_calibrator("platt", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [0, 0, 1, 0, 1, 1])
    >>> p = fit.apply([0.0, 5.0]); bool(p[0] < 0.5 < p[1])
    True
    >>> fit_calibrator("isotonic", [1, 2, 3, 4], [0, 1, 0, 1]).apply([1, 2.5, 4]).tolist()
    [0.0, 0.5, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Method = Literal["temperature", "platt", "isotonic"]
METHODS: tuple[str, ...] = ("temperature", "platt", "isotonic")
LOGIT_CLIP = 1e-6
MAX_ITERATIONS = 100  # Newton steps (Platt), golden-section steps (temperature)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(q) - np.log1p(-q)


@dataclass
class Calibrator:
    """A fitted map: ``method``, its ``params`` and the ``input`` domain it was fitted on."""

    method: str
    params: dict[str, Any]
    input: Literal["probability", "raw"]
    notes: list[str] = field(default_factory=list)

    def z(self, scores: np.ndarray) -> np.ndarray:
        if self.input == "probability":
            if scores.size and (scores.min() < 0 or scores.max() > 1):
                bad = scores[(scores < 0) | (scores > 1)][0]
                raise ValueError(f"this {self.method} fit was made on probabilities; the score {bad:g} lies outside [0, 1]")
            return _logit(scores)
        return scores

    def apply(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=float)
        if s.size and not np.all(np.isfinite(s)):
            raise ValueError("a score to calibrate is NaN or infinite")
        if self.method == "isotonic":
            self.z(s)  # the domain check only: isotonic reads the score itself
            return np.interp(s, self.params["x"], self.params["y"])
        z = self.z(s)
        if self.method == "temperature":
            return _sigmoid(z / self.params["temperature"])
        if self.method == "platt":
            return _sigmoid(self.params["a"] * z + self.params["b"])
        raise ValueError(f"unknown calibration method {self.method!r}; expected one of {', '.join(METHODS)}")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "input": self.input, "params": self.params}


def _domain(scores: np.ndarray) -> Literal["probability", "raw"]:
    return "probability" if scores.min() >= 0 and scores.max() <= 1 else "raw"


def _nll(z: np.ndarray, t: np.ndarray, a: float, b: float) -> float:
    x = a * z + b
    # -[t log s(x) + (1 - t) log(1 - s(x))] = log(1 + e^x) - t x, computed stably
    return float(np.sum(np.logaddexp(0.0, x) - t * x))


def fit_temperature(z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """T minimising the log loss of sigmoid(z / T): golden-section search on log(1/T), where
    the loss is unimodal (it is convex in 1/T)."""
    lo, hi = -9.0, 9.0
    ratio = (math.sqrt(5) - 1) / 2

    def loss(u: float) -> float:
        return _nll(z, y, math.exp(u), 0.0)

    c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fc, fd = loss(c), loss(d)
    for _ in range(MAX_ITERATIONS):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - ratio * (hi - lo)
            fc = loss(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + ratio * (hi - lo)
            fd = loss(d)
    u = (lo + hi) / 2
    return {"temperature": math.exp(-u)}


def fit_platt(z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """(a, b) of sigmoid(a z + b) by Newton's method on Platt's smoothed targets."""
    positives, negatives = float(y.sum()), float(len(y) - y.sum())
    t = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    a, b = 0.0, math.log((positives + 1) / (negatives + 1))
    value = _nll(z, t, a, b)
    for _ in range(MAX_ITERATIONS):
        p = _sigmoid(a * z + b)
        w = p * (1 - p)
        g = np.array([np.sum((p - t) * z), np.sum(p - t)])
        h = np.array([[np.sum(w * z * z) + 1e-12, np.sum(w * z)], [np.sum(w * z), np.sum(w) + 1e-12]])
        if np.max(np.abs(g)) < 1e-9:
            break
        step = np.linalg.solve(h, g)
        scale = 1.0
        while scale > 1e-10:
            a_new, b_new = a - scale * step[0], b - scale * step[1]
            new_value = _nll(z, t, a_new, b_new)
            if new_value < value + 1e-4 * scale * float(g @ -step):
                break
            scale /= 2
        else:
            break  # no step lowers the loss: converged as far as floating point allows
        a, b, value = a_new, b_new, new_value
    return {"a": float(a), "b": float(b)}


def pool_adjacent_violators(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (xs, ys) of the non-decreasing least-squares fit of y on x: each block gives its
    first and last x at the block's mean (one knot when they coincide)."""
    order = np.argsort(x, kind="stable")
    xs_sorted, ys_sorted = x[order], y[order]
    unique, starts = np.unique(xs_sorted, return_index=True)  # pool equal scores first
    sums = np.add.reduceat(ys_sorted, starts)
    counts = np.diff(np.append(starts, len(xs_sorted))).astype(float)
    block_sum: list[float] = []
    block_n: list[float] = []
    block_lo: list[float] = []
    block_hi: list[float] = []
    for value, s, n in zip(unique, sums, counts, strict=True):
        block_sum.append(float(s))
        block_n.append(float(n))
        block_lo.append(float(value))
        block_hi.append(float(value))
        while len(block_sum) > 1 and block_sum[-2] / block_n[-2] >= block_sum[-1] / block_n[-1]:
            s_last, n_last, hi_last = block_sum.pop(), block_n.pop(), block_hi.pop()
            block_lo.pop()
            block_sum[-1] += s_last
            block_n[-1] += n_last
            block_hi[-1] = hi_last
    knots_x: list[float] = []
    knots_y: list[float] = []
    for s, n, lo, hi in zip(block_sum, block_n, block_lo, block_hi, strict=True):
        mean = s / n
        knots_x.append(lo)
        knots_y.append(mean)
        if hi > lo:
            knots_x.append(hi)
            knots_y.append(mean)
    return np.array(knots_x), np.array(knots_y)


def fit_calibrator(method: str, scores: Sequence[float], labels: Sequence[float]) -> Calibrator:
    """Fit ``method`` (temperature, platt, isotonic) on scores and 0/1 labels."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=float)
    if s.ndim != 1 or s.shape != y.shape or s.size < 2:
        raise ValueError(f"need at least two scores with one label each, got {s.size} scores and {y.size} labels")
    if not np.all(np.isfinite(s)):
        raise ValueError("a score is NaN or infinite")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    domain = _domain(s)
    notes = []
    if y.min() == y.max():
        notes.append(f"every label is {int(y[0])}: the fit can only learn the base rate")
    if method == "isotonic":
        xs, ys = pool_adjacent_violators(s, y)
        return Calibrator("isotonic", {"x": xs.tolist(), "y": ys.tolist()}, domain, notes)
    z = _logit(s) if domain == "probability" else s
    if method == "temperature":
        params = fit_temperature(z, y)
        if params["temperature"] > 1e3:
            notes.append("the scores carry almost no signal about the labels: the temperature went to its bound (all p near 0.5)")
        return Calibrator("temperature", params, domain, notes)
    if method == "platt":
        return Calibrator("platt", fit_platt(z, y), domain, notes)
    raise ValueError(f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}")
