"""How well a reward function's scores agree with the labels of the examples.

- **binary labels** (true/false, or numbers all 0 or 1): **accuracy** after a threshold: a
  score ``>= threshold`` (default 0.5) says "good". The fraction of examples called right.
- **graded labels** (other numbers): **pairwise accuracy**: over every pair of examples whose
  labels differ, 1 when the scores order them the same way, 1/2 when the scores tie, 0 when
  they order them the other way. A constant function gets 0.5, chance. Spearman's rank
  correlation over the scored examples is reported beside it.

A failed or abstained example is never given a score: it counts as wrong (binary) and every
pair it is part of counts 0 (graded), so code that crashes cannot agree by accident. Both
figures lie in [0, 1], so rounds compare on one scale.

    >>> agreement([1.0, 0.0, 1.0], [0.9, 0.2, None], "binary").value
    0.6666666666666666
    >>> agreement([3.0, 2.0, 1.0], [0.5, 0.5, 0.1], "graded").value
    0.8333333333333334
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Agreement:
    metric: Literal["accuracy", "pairwise"]
    value: float
    total: int
    scored: int
    threshold: float | None = None
    spearman: float | None = None
    per_example: list[float] = field(default_factory=list)
    """For each example, its share of the credit (1/0 for binary; its pairs' mean for graded)."""

    def describe(self) -> str:
        failed = self.total - self.scored
        what = f"accuracy {self.value:.3f} at threshold {self.threshold:g}" if self.metric == "accuracy" else f"pairwise accuracy {self.value:.3f}"
        extra = f", Spearman {self.spearman:.3f}" if self.spearman is not None else ""
        return f"{what}{extra} on {self.total} examples ({failed} without a score)"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "total": self.total, "scored": self.scored,
                "threshold": self.threshold, "spearman": self.spearman}


def agreement(labels: list[float], scores: list[float | None], kind: Literal["binary", "graded"], threshold: float = 0.5) -> Agreement:
    """The agreement of ``scores`` (None: no score) with ``labels``; see the module docstring."""
    if len(labels) != len(scores):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    scored = sum(s is not None for s in scores)
    if kind == "binary":
        right = [float(s is not None and (s >= threshold) == (label >= 0.5)) for label, s in zip(labels, scores)]
        return Agreement("accuracy", sum(right) / len(right), len(labels), scored, threshold, _spearman(labels, scores), right)
    credit = [0.0] * len(labels)
    pairs = [0] * len(labels)
    total = 0.0
    count = 0
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if labels[i] == labels[j]:
                continue
            a, b = scores[i], scores[j]
            c = 0.0 if a is None or b is None else 0.5 if a == b else float((a > b) == (labels[i] > labels[j]))
            total += c
            count += 1
            for k in (i, j):
                credit[k] += c
                pairs[k] += 1
    per_example = [credit[k] / pairs[k] if pairs[k] else 1.0 for k in range(len(labels))]
    return Agreement("pairwise", total / count if count else 0.0, len(labels), scored, None, _spearman(labels, scores), per_example)


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _spearman(labels: list[float], scores: list[float | None]) -> float | None:
    """Spearman's rho over the scored examples (average ranks for ties); None with fewer than
    three, or when either side is constant."""
    kept = [(label, s) for label, s in zip(labels, scores) if s is not None]
    if len(kept) < 3:
        return None
    x, y = _ranks([k[0] for k in kept]), _ranks([k[1] for k in kept])
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / (sxx * syy) ** 0.5
