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

``Vote`` and ``Ensemble`` are one factory each over two classes: ``Vote(reward)`` is a
:class:`RewardVote` (a Reward), ``Vote(comparator)`` a :class:`ComparatorVote` (a
Comparator), and likewise :class:`RewardEnsemble` / :class:`ComparatorEnsemble`; which one is
decided by the wrapped judges' base class (``pairwise``), so each object is exactly one of
a Reward or a Comparator.

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

from assay.reward import Comparator, Options, Reward, TakesSamplingOverrides
from assay.rewards.judges.base import item_id
from assay.rewards.judges.pairwise import combine_orders
from assay.spec import VoteOptions
from assay.types import Failure, Judgment, Pair, Preference, Sample

__all__ = ["ComparatorEnsemble", "ComparatorVote", "Ensemble", "RewardEnsemble", "RewardVote", "Swap", "Vote", "VoteOptions", "derive_seed"]


def derive_seed(seed: int, item: str, index: int) -> int:
    """A 31-bit seed from (seed, item, index): different per vote, the same on every rerun."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{item}:{index}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def _first_failure(results: Sequence[Judgment | Preference]) -> Failure:
    for result in results:
        if result.failure is not None:
            return result.failure
    return Failure("internal", "no result")


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

    def wrapped(self) -> list[Reward | Comparator]:
        return [self.comparator]

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        forward, backward = await asyncio.gather(self.comparator.acompare(pairs), self.comparator.acompare([p.swapped() for p in pairs]))
        return [self.combine(f, b) for f, b in zip(forward, backward, strict=True)]

    def combine(self, forward: Preference, backward: Preference) -> Preference:
        """One verdict from the A|B judgment and the B|A judgment (mapped back to A|B)."""
        return combine_orders(forward, backward, self.options.rule)


# --- Vote ------------------------------------------------------------------------------------------


class Vote:
    """k judgments per item with different seeds, aggregated; see the module docstring.

    ``Vote(inner, k=5, aggregate="mean", temperature=0.7, seed=0, min_valid=None, name=None)``;
    the options are checked against ``VoteOptions``. ``Vote(reward)`` gives a
    :class:`RewardVote`, ``Vote(comparator)`` a :class:`ComparatorVote`. An inner judge that
    takes per-item sampling overrides (``TakesSamplingOverrides``: assay's LLM judges) gets
    each vote's temperature and seed; any other is simply asked k times (its votes will
    usually agree).
    """

    Options = VoteOptions
    options: VoteOptions
    name: str
    pairwise: bool

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Vote:  # the factory: the wrapped judge's kind decides the class
            inner = args[0] if args else kwargs["inner"]
            cls = ComparatorVote if inner.pairwise else RewardVote
        return object.__new__(cls)

    def __init__(self, inner: Reward | Comparator, *, name: str | None = None, **options: Any) -> None:
        if inner.pairwise != self.pairwise:
            raise TypeError(f"{type(self).__name__} wraps {'comparators' if self.pairwise else 'rewards'}, not {inner!r}: use Vote(...)")
        super().__init__(name, **options)  # type: ignore[call-arg]  # Reward/Comparator.__init__: checks the options
        o = self.options
        if not name:
            self.name = f"vote{o.k}({inner.name})"
        self.inner = inner
        self._min_valid = o.min_valid if o.min_valid is not None else o.k // 2 + 1

    def wrapped(self) -> list[Reward | Comparator]:
        return [self.inner]

    def _overrides(self, items: Sequence[Sample | Pair], index: int) -> list[dict[str, Any]]:
        o = self.options
        return [{"temperature": o.temperature, "seed": derive_seed(o.seed, item_id(item), index)} for item in items]

    async def _ask(self, items: list[Any]) -> list[Any]:
        raise NotImplementedError

    async def _votes(self, items: list[Any]) -> list[list[Any]]:
        if isinstance(self.inner, TakesSamplingOverrides):
            runs = await asyncio.gather(*(self.inner.ajudge(items, self._overrides(items, i)) for i in range(self.options.k)))
        else:
            runs = await asyncio.gather(*(self._ask(items) for _ in range(self.options.k)))
        return [[run[j] for run in runs] for j in range(len(items))]

    def _vote_meta(self, votes: Sequence[Judgment | Preference], values: list[Any]) -> dict[str, Any]:
        return {
            "votes": values,
            "k": self.options.k,
            "valid": sum(v.ok for v in votes),
            "failures": [v.failure.to_dict() for v in votes if v.failure],
            "aggregate": self.options.aggregate,
            "temperature": self.options.temperature,
        }


class RewardVote(Vote, Reward):
    """A reward judged k times, scores aggregated by ``aggregate``; made by ``Vote(reward)``."""

    async def _ask(self, items: list[Any]) -> list[Any]:
        return await self.inner.ascore(items)  # type: ignore[union-attr]

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return [self._combine(votes) for votes in await self._votes(samples)]

    def _combine(self, votes: list[Judgment]) -> Judgment:
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


class ComparatorVote(Vote, Comparator):
    """A comparator judged k times, verdicts by majority; made by ``Vote(comparator)``."""

    async def _ask(self, items: list[Any]) -> list[Any]:
        return await self.inner.acompare(items)  # type: ignore[union-attr]

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        return [self._combine(votes) for votes in await self._votes(pairs)]

    def _combine(self, votes: list[Preference]) -> Preference:
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


# --- Ensemble ------------------------------------------------------------------------------------------


class EnsembleOptions(Options):
    weights: list[float] | None = None  # one per member, in order; default 1 each
    on_failure: Literal["fail", "skip"] = "fail"


Members = Sequence[Reward | Comparator] | dict[str, Reward | Comparator]


def _named(members: Members) -> list[tuple[str, Reward | Comparator]]:
    return list(members.items()) if isinstance(members, dict) else [(m.name, m) for m in members]


class Ensemble:
    """Several judges with weights: rewards into a weighted mean score (:class:`RewardEnsemble`),
    comparators into a weighted vote (:class:`ComparatorEnsemble`). ``on_failure="fail"``
    (default) fails the item when any member fails; ``"skip"`` uses the members that
    succeeded (listed in meta).

    ``Ensemble(members, weights=None, on_failure="fail", name=None)``; ``members`` is a list
    of judges (named by their ``name``) or a dict name -> judge, all rewards or all
    comparators; the options are checked against ``EnsembleOptions``.
    """

    Options = EnsembleOptions
    options: EnsembleOptions
    name: str
    pairwise: bool

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Ensemble:  # the factory: the members' kind decides the class
            members = _named(args[0] if args else kwargs["members"])
            if not members:
                raise ValueError("an ensemble needs at least one member")
            kinds = {m.pairwise for _, m in members}
            if len(kinds) > 1:
                raise ValueError("an ensemble's members must be all rewards or all comparators")
            cls = ComparatorEnsemble if kinds.pop() else RewardEnsemble
        return object.__new__(cls)

    def __init__(self, members: Members, *, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)  # type: ignore[call-arg]  # Reward/Comparator.__init__: checks the options
        items = _named(members)
        if not items:
            raise ValueError("an ensemble needs at least one member")
        if any(m.pairwise != self.pairwise for _, m in items):
            raise ValueError("an ensemble's members must be all rewards or all comparators")
        self.names = [n for n, _ in items]
        self.members = [m for _, m in items]
        weights = self.options.weights
        self._weights = list(weights) if weights is not None else [1.0] * len(items)
        if len(self._weights) != len(self.members):
            raise ValueError(f"{len(self._weights)} weights for {len(self.members)} members")
        if not name:
            self.name = "ensemble(" + ",".join(self.names) + ")"

    def wrapped(self) -> list[Reward | Comparator]:
        return list(self.members)

    def _usable(self, results: Sequence[Judgment | Preference]) -> tuple[list[int], list[str]]:
        failed = [self.names[i] for i, r in enumerate(results) if not r.ok]
        return [i for i, r in enumerate(results) if r.ok], failed


class RewardEnsemble(Ensemble, Reward):
    """Rewards with weights, into a weighted mean score; made by ``Ensemble([reward, ...])``."""

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        runs = await asyncio.gather(*(m.ascore(samples) for m in self.members))  # type: ignore[union-attr]
        return [self._combine([run[i] for run in runs]) for i in range(len(samples))]

    def _combine(self, results: list[Judgment]) -> Judgment:
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


class ComparatorEnsemble(Ensemble, Comparator):
    """Comparators with weights, into a weighted vote; made by ``Ensemble([comparator, ...])``."""

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        runs = await asyncio.gather(*(m.acompare(pairs) for m in self.members))  # type: ignore[union-attr]
        return [self._combine([run[i] for run in runs]) for i in range(len(pairs))]

    def _combine(self, results: list[Preference]) -> Preference:
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
