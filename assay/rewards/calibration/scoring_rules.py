"""Proper scoring rules for a stated probability ``q`` of an outcome ``c`` (1 correct, 0 not;
a fractional correctness in [0, 1] is read as its expectation), as pure functions.

- ``brier(q, c) = (q - c)^2``, in [0, 1], lower is better.
- ``rlcr_reward(q, c) = c - (q - c)^2``: RLCR's reward (Damani et al. 2025, "Beyond Binary
  Rewards: Training LMs to Reason About Their Uncertainty", R = 1[y = y*] - (q - 1[y = y*])^2),
  in [-1, 1]: correctness plus a bounded proper scoring rule, so a model maximising it is
  both accurate and calibrated.
- ``log_score(q, c, eps) = c log q + (1 - c) log(1 - q)``, with q clipped to [eps, 1 - eps] so a
  confident mistake costs ``log eps`` (a bounded penalty) instead of minus infinity.

Both rules are *proper*: for a fixed chance p of being right, the expected score is best at q = p.

    >>> rlcr_reward(0.8, 1.0), round(rlcr_reward(0.8, 0.0), 4)
    (0.96, -0.64)
    >>> round(log_score(0.8, 1.0), 4), round(log_score(0.8, 0.0), 4)
    (-0.2231, -1.6094)
"""

from __future__ import annotations

import math


def brier(q: float, c: float) -> float:
    return (q - c) ** 2


def rlcr_reward(q: float, c: float) -> float:
    return c - brier(q, c)


def log_score(q: float, c: float, eps: float = 1e-4) -> float:
    q = min(max(q, eps), 1.0 - eps)
    return c * math.log(q) + (1.0 - c) * math.log(1.0 - q)
