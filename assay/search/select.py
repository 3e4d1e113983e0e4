"""Choosing among scored candidates: best-of-N and weighted majority vote.

- ``best_of_n``: the highest-scoring candidate; unscored candidates (``score None``) rank
  below every scored one; ties go to the earliest candidate (deterministic). With no scored
  candidate there is no choice: ``None``, never a made-up pick.
- ``weighted_vote``: candidates grouped by answer (``Candidate.key``), each group's weight the
  sum of its members' weights; the answer of the heaviest group wins, represented by its
  best-scoring member. ``weighting``: ``score`` (the score itself; a negative score is an
  error: use ``softmax`` for raw RM logits), ``softmax`` (exp(score / temperature), which
  orders like the score and handles any sign), or ``uniform`` (plain majority vote).
  Unscored candidates and candidates with no answer carry no weight.

Both return a :class:`Choice` that keeps the weights of every group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from assay.search.candidates import Candidate

Weighting = Literal["score", "softmax", "uniform"]


@dataclass
class Choice:
    index: int | None  # into the candidates; None when nothing could be chosen
    method: str
    weights: dict[str, float] = field(default_factory=dict)  # answer key -> group weight (votes)
    reason: str = ""


def best_of_n(candidates: list[Candidate]) -> Choice:
    scored = [(c.score, -k) for k, c in enumerate(candidates) if c.score is not None]
    if not scored:
        return Choice(None, "best_of_n", reason=f"none of the {len(candidates)} candidates was scored")
    best, neg_k = max(scored)
    return Choice(-neg_k, "best_of_n", reason=f"candidate {-neg_k} scored highest ({best:.4g}) of {len(scored)} scored")


def weighted_vote(candidates: list[Candidate], weighting: Weighting = "score", temperature: float = 1.0) -> Choice:
    method = "majority_vote" if weighting == "uniform" else f"weighted_vote:{weighting}"
    voters = [(k, c) for k, c in enumerate(candidates) if c.key is not None and (weighting == "uniform" or c.score is not None)]
    if not voters:
        return Choice(None, method, reason=f"none of the {len(candidates)} candidates has an answer{'' if weighting == 'uniform' else ' and a score'}")
    if weighting == "score":
        negative = [(k, c.score) for k, c in voters if c.score is not None and c.score < 0]
        if negative:
            k, s = negative[0]
            raise ValueError(f"weighted_vote with weighting='score' needs scores >= 0 (candidate {k} scored {s:g}): use weighting='softmax' for raw reward-model scores")
    top = max((c.score for _, c in voters if c.score is not None), default=0.0)
    weights: dict[str, float] = {}
    for _, c in voters:
        if weighting == "uniform":
            w = 1.0
        elif weighting == "softmax":
            w = math.exp((c.score - top) / temperature)  # type: ignore[operator]
        else:
            w = float(c.score)  # type: ignore[arg-type]
        weights[c.key] = weights.get(c.key, 0.0) + w  # type: ignore[index]
    # the heaviest group; ties to the group whose first member comes first
    first_seen = {}
    for k, c in voters:
        first_seen.setdefault(c.key, k)
    winner = max(weights, key=lambda key: (weights[key], -first_seen[key]))
    members = [(k, c) for k, c in voters if c.key == winner]
    pick = max(members, key=lambda kc: (kc[1].score if kc[1].score is not None else -math.inf, -kc[0]))[0]
    total = sum(weights.values())
    return Choice(pick, method, weights, f"answer {candidates[pick].answer!r} carries {weights[winner]:.4g} of {total:.4g} ({len(members)} of {len(voters)} candidates)")
