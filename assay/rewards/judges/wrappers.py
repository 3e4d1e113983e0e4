"""Bias controls as wrappers around judges: Swap (both orders), Vote (k samples), Ensemble.

- :class:`Swap` judges each pair in both orders (A|B and B|A, concurrently) and records
  whether the two verdicts agree. ``rule="tie"`` (default): a disagreement is a tie.
  ``rule="judgebench"``: JudgeBench's counting rule -- each order votes +1 for A, -1 for B,
  0 for a tie or a failed order; the sign of the sum decides (so one order's verdict plus a
  tie in the other keeps the verdict, and A-then-B contradictions are ties).
- :class:`Vote` asks a judge k times with sampling on (``temperature`` > 0) and a different
  seed per vote, derived from ``seed``, the item and the vote number, so the votes differ
  but a rerun gives the same votes. Scores aggregate by ``mean``, ``median`` or
  ``majority``; pairwise verdicts by majority. ``agreement`` (share of votes equal to the
  outcome) is reported.
- :class:`Ensemble` combines several judges (rewards or comparators) with weights.

A failure is never hidden: a vote or member that fails is listed in ``meta``; when too
few succeed (``min_valid``) the result is a failure.

    >>> from assay.rewards.judges.wrappers import Swap, Vote
    >>> judge = Swap(PairwiseJudge(base_url="http://127.0.0.1:8080/v1"))   # doctest: +SKIP
    >>> judge.compare(pairs)[0].meta["agreement"]                         # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from assay.reward import Comparator, Options, Reward
from assay.rewards.judges.base import item_id
from assay.rewards.judges.pairwise import combine_orders
from assay.types import Failure, Judgment, Pair, Preference, Sample


def derive_seed(seed: int, item: str, index: int) -> int:
    """A 31-bit seed from (seed, item, index): different per vote, the same on every rerun."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{item}:{index}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def _first_failure(results: Sequence[Judgment | Preference]) -> Failure:
    for result in results:
        if result.failure is not None:
            return result.failure
    return Failure("internal", "no result")


def is_pairwise(judge: Reward | Comparator) -> bool:
    """Whether a judge compares pairs: a comparator, or a wrapper (Vote, Ensemble, both Reward
    and Comparator) around one."""
    return getattr(judge, "pairwise", isinstance(judge, Comparator) and not isinstance(judge, Reward))


# --- Swap ------------------------------------------------------------------------------------------


class SwapOptions(Options):
    rule: Literal["tie", "judgebench"] = "tie"  # how the two orders' verdicts become one (see combine_orders)


class Swap(Comparator):
    """A comparator judged in both orders; see the module docstring.

    ``Swap(comparator, rule="tie", name=None)``; ``rule`` is checked against ``SwapOptions``.
    """

    Options = SwapOptions

    def __init__(self, comparator: Comparator, *, name: str | None = None, **options: Any) -> None:
        super().__init__(name or f"swap({comparator.name})", **options)
        self.comparator = comparator

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        forward, backward = await asyncio.gather(self.comparator.acompare(pairs), self.comparator.acompare([p.swapped() for p in pairs]))
        return [self.combine(f, b) for f, b in zip(forward, backward, strict=True)]

    def combine(self, forward: Preference, backward: Preference) -> Preference:
        """One verdict from the A|B judgment and the B|A judgment (mapped back to A|B)."""
        return combine_orders(forward, backward, self.options.rule)


# --- Vote ------------------------------------------------------------------------------------------


class VoteOptions(Options):
    k: int = Field(default=5, ge=1)  # votes per item
    aggregate: Literal["mean", "median", "majority"] = "mean"  # for scores; verdicts always go by majority
    temperature: float = 0.7  # sampling temperature of every vote
    seed: int = 0  # each vote's seed is derived from (seed, item, vote number)
    min_valid: int | None = None  # votes that must succeed; default a majority of k (k // 2 + 1)

    @model_validator(mode="after")
    def _check_temperature(self) -> VoteOptions:
        if self.k > 1 and self.temperature <= 0:
            raise ValueError(f"temperature must be above 0 when k > 1 (votes at temperature 0 are identical), got {self.temperature:g}")
        return self


class Vote(Reward, Comparator):
    """k judgments per item with different seeds, aggregated; see the module docstring.

    ``Vote(inner, k=5, aggregate="mean", temperature=0.7, seed=0, min_valid=None, name=None)``;
    the options are checked against ``VoteOptions``. Wraps a reward (scores) or a comparator
    (verdicts). The inner judge must accept per-item sampling overrides (assay's judges do:
    ``ajudge(items, overrides)``); any other reward is simply called k times (its votes will
    usually agree).
    """

    Options = VoteOptions

    def __init__(self, inner: Reward | Comparator, *, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)  # Reward.__init__: checks the options
        o = self.options
        if not name:
            self.name = f"vote{o.k}({inner.name})"
        self.inner = inner
        self._min_valid = o.min_valid if o.min_valid is not None else o.k // 2 + 1
        self.pairwise = is_pairwise(inner)

    def _overrides(self, items: Sequence[Sample | Pair], index: int) -> list[dict[str, Any]]:
        o = self.options
        return [{"temperature": o.temperature, "seed": derive_seed(o.seed, item_id(item), index)} for item in items]

    async def _votes(self, items: list[Any]) -> list[list[Any]]:
        ajudge = getattr(self.inner, "ajudge", None)
        if ajudge is not None:
            runs = await asyncio.gather(*(ajudge(items, self._overrides(items, i)) for i in range(self.options.k)))
        elif self.pairwise:
            runs = await asyncio.gather(*(self.inner.acompare(items) for _ in range(self.options.k)))  # type: ignore[union-attr]
        else:
            runs = await asyncio.gather(*(self.inner.ascore(items) for _ in range(self.options.k)))  # type: ignore[union-attr]
        return [[run[j] for run in runs] for j in range(len(items))]

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        if self.pairwise:
            raise TypeError(f"{self.name} wraps a comparator: use compare(pairs)")
        return [self._combine_scores(votes) for votes in await self._votes(samples)]

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        if not self.pairwise:
            raise TypeError(f"{self.name} wraps a reward: use score(samples)")
        return [self._combine_verdicts(votes) for votes in await self._votes(pairs)]

    def _vote_meta(self, votes: Sequence[Judgment | Preference], values: list[Any]) -> dict[str, Any]:
        return {
            "votes": values,
            "k": self.options.k,
            "valid": sum(v.ok for v in votes),
            "failures": [v.failure.to_dict() for v in votes if v.failure],
            "aggregate": self.options.aggregate,
            "temperature": self.options.temperature,
        }

    def _combine_scores(self, votes: list[Judgment]) -> Judgment:
        scores = [v.score for v in votes if v.ok and v.score is not None]
        meta = self._vote_meta(votes, [v.score for v in votes])
        if len(scores) < self._min_valid:
            failure = _first_failure(votes)
            return Judgment.fail(failure.kind, f"only {len(scores)} of {self.options.k} votes succeeded (need {self._min_valid}): {failure.message}", raw=failure.raw, **meta)
        if self.options.aggregate == "mean":
            score = statistics.fmean(scores)
        elif self.options.aggregate == "median":
            score = float(statistics.median(scores))
        else:
            counts = Counter(scores)
            top = max(counts.values())
            score = float(statistics.median(sorted(s for s, c in counts.items() if c == top)))
        meta["agreement"] = sum(1 for s in scores if s == score) / len(scores)
        meta["spread"] = statistics.pstdev(scores) if len(scores) > 1 else 0.0
        rationale = f"{self.options.aggregate} of {len(scores)} votes {[round(s, 4) for s in scores]} = {score:.4g}; first vote: {next(v for v in votes if v.ok).rationale}"
        return Judgment(score=score, rationale=rationale, details={"votes": [v.score for v in votes]}, meta=meta)

    def _combine_verdicts(self, votes: list[Preference]) -> Preference:
        winners = [v.winner for v in votes if v.ok]
        meta = self._vote_meta(votes, [v.winner for v in votes])
        if len(winners) < self._min_valid:
            failure = _first_failure(votes)
            return Preference.fail(failure.kind, f"only {len(winners)} of {self.options.k} votes succeeded (need {self._min_valid}): {failure.message}", raw=failure.raw, **meta)
        counts = Counter(winners)
        top = max(counts.values())
        leaders = [w for w, c in counts.items() if c == top]
        winner = leaders[0] if len(leaders) == 1 else "tie"
        meta["agreement"] = counts.get(winner, 0) / len(winners)
        probabilities = [v.probability for v in votes if v.ok and v.probability is not None]
        decisive = [w for w in winners if w != "tie"]
        probability = statistics.fmean(probabilities) if probabilities else (sum(w == "a" for w in decisive) / len(decisive) if decisive else None)
        rationale = f"majority of {len(winners)} votes {dict(counts)} -> {winner}; first vote: {next(v for v in votes if v.ok).rationale}"
        return Preference(winner=winner, rationale=rationale, probability=probability, meta=meta)

    # Reward and Comparator both define these; route explicitly.
    def score(self, samples: Sequence[Sample]) -> list[Judgment]:
        return Reward.score(self, samples)

    def compare(self, pairs: Sequence[Pair]) -> list[Preference]:
        return Comparator.compare(self, pairs)


# --- Ensemble ------------------------------------------------------------------------------------------


class EnsembleOptions(Options):
    weights: list[float] | None = None  # one per member, in order; default 1 each
    on_failure: Literal["fail", "skip"] = "fail"


class Ensemble(Reward, Comparator):
    """Several judges with weights: rewards into a weighted mean score, comparators into a
    weighted vote. ``on_failure="fail"`` (default) fails the item when any member fails;
    ``"skip"`` uses the members that succeeded (listed in meta).

    ``Ensemble(members, weights=None, on_failure="fail", name=None)``; ``members`` is a list
    of judges (named by their ``name``) or a dict name -> judge; the options are checked
    against ``EnsembleOptions``.
    """

    Options = EnsembleOptions

    def __init__(self, members: Sequence[Reward | Comparator] | dict[str, Reward | Comparator], *, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)  # Reward.__init__: checks the options
        items = list(members.items()) if isinstance(members, dict) else [(m.name, m) for m in members]
        if not items:
            raise ValueError("an ensemble needs at least one member")
        self.names = [n for n, _ in items]
        self.members = [m for _, m in items]
        weights = self.options.weights
        self._weights = list(weights) if weights is not None else [1.0] * len(items)
        if len(self._weights) != len(self.members):
            raise ValueError(f"{len(self._weights)} weights for {len(self.members)} members")
        kinds = {is_pairwise(m) for m in self.members}
        if len(kinds) > 1:
            raise ValueError("an ensemble's members must be all rewards or all comparators")
        self.pairwise = kinds.pop()
        if not name:
            self.name = "ensemble(" + ",".join(self.names) + ")"

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        if self.pairwise:
            raise TypeError(f"{self.name} holds comparators: use compare(pairs)")
        runs = await asyncio.gather(*(m.ascore(samples) for m in self.members))  # type: ignore[union-attr]
        return [self._combine_scores([run[i] for run in runs]) for i in range(len(samples))]

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        if not self.pairwise:
            raise TypeError(f"{self.name} holds rewards: use score(samples)")
        runs = await asyncio.gather(*(m.acompare(pairs) for m in self.members))  # type: ignore[union-attr]
        return [self._combine_verdicts([run[i] for run in runs]) for i in range(len(pairs))]

    def _usable(self, results: Sequence[Judgment | Preference]) -> tuple[list[int], list[str]]:
        failed = [self.names[i] for i, r in enumerate(results) if not r.ok]
        return [i for i, r in enumerate(results) if r.ok], failed

    def _combine_scores(self, results: list[Judgment]) -> Judgment:
        ok, failed = self._usable(results)
        details = dict(zip(self.names, results, strict=True))
        meta = {"weights": dict(zip(self.names, self._weights, strict=True)), "failed": failed}
        if failed and (self.options.on_failure == "fail" or not ok):
            failure = _first_failure(results)
            return Judgment(score=None, rationale=f"ensemble member(s) {', '.join(failed)} failed: {failure.message}", details=details, failure=failure, meta=meta)
        total_weight = sum(abs(self._weights[i]) for i in ok)
        if total_weight == 0:
            return Judgment(score=None, rationale="every usable member has weight 0", details=details, meta=meta)
        score = sum(self._weights[i] * results[i].score for i in ok) / total_weight  # type: ignore[operator]
        parts = ", ".join(f"{self.names[i]}={results[i].score:.3g} (w {self._weights[i]:g})" for i in ok)
        return Judgment(score=score, rationale=f"weighted mean of {parts} = {score:.4g}" + (f"; skipped failed {', '.join(failed)}" if failed else ""), details=details, meta=meta)

    def _combine_verdicts(self, results: list[Preference]) -> Preference:
        ok, failed = self._usable(results)
        meta: dict[str, Any] = {"weights": dict(zip(self.names, self._weights, strict=True)), "failed": failed, "verdicts": {n: r.winner for n, r in zip(self.names, results, strict=True)}}
        if failed and (self.options.on_failure == "fail" or not ok):
            failure = _first_failure(results)
            return Preference(winner=None, rationale=f"ensemble member(s) {', '.join(failed)} failed: {failure.message}", failure=failure, meta=meta)
        tally = {"a": 0.0, "b": 0.0, "tie": 0.0}
        for i in ok:
            tally[results[i].winner] += self._weights[i]  # type: ignore[index]
        best = max(tally.values())
        leaders = [w for w, v in tally.items() if v == best]
        winner = leaders[0] if len(leaders) == 1 else "tie"
        meta["tally"] = tally
        return Preference(winner=winner, rationale=f"weighted vote {tally} -> {winner}", meta=meta)

    def score(self, samples: Sequence[Sample]) -> list[Judgment]:
        return Reward.score(self, samples)

    def compare(self, pairs: Sequence[Pair]) -> list[Preference]:
        return Comparator.compare(self, pairs)
