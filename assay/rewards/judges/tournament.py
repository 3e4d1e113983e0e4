"""Pairwise verdicts within an RL group turned into per-response rewards: how a pairwise judge
drives GRPO (Think-RM's pairwise RLHF).

``pairwise_tournament`` (:class:`PairwiseTournament`) takes the responses of one prompt's
group (samples sharing ``group``; pass whole groups in one batch) and compares them

- ``format: all_pairs`` -- every pair once (n(n-1)/2 judge calls; twice that with
  ``swap: true``), or
- ``format: anchor`` -- each response against an anchor: the sample's ``reference``
  (or the field named by ``anchor_field``), n calls,

and turns the verdicts into rewards in [0, 1]:

- ``aggregate: win_rate`` -- (wins + ties/2) / valid comparisons;
- ``aggregate: bradley_terry`` -- a Bradley-Terry fit by minorisation-maximisation (Hunter
  2004, a small pseudo-tie prior keeps unbeaten responses finite), reported as the mean
  probability of beating each other response of the group.

``meta`` reports the number of judge calls; failed comparisons are listed, left out of the
denominators, and a response whose every comparison failed gets a typed failure.

    rewards:
      pairwise:
        type: pairwise_tournament
        base_url: http://127.0.0.1:8080/v1
        format: all_pairs
        aggregate: bradley_terry
        swap: true

The judge options (backend, prompt, principle) are the ``pairwise_judge`` options; Python
users can pass any comparator as ``comparator=``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import model_validator

from assay.backends.base import Backend
from assay.reward import Comparator, Reward
from assay.rewards.judges.pairwise import PairwiseJudge, PairwiseOptions
from assay.rewards.judges.wrappers import Swap
from assay.text import groups_of
from assay.types import Judgment, Pair, Preference, Sample


class TournamentOptions(PairwiseOptions):
    format: Literal["all_pairs", "anchor"] = "all_pairs"
    anchor_field: str = "reference"  # format anchor: the field holding the anchor response
    aggregate: Literal["win_rate", "bradley_terry"] = "win_rate"
    swap: bool = False  # judge every pair in both orders (a disagreement is a tie, as with wrappers.Swap)
    prior: float = 0.1  # bradley_terry: pseudo-ties added to every pair

    @model_validator(mode="after")
    def _aggregate_fits_format(self) -> TournamentOptions:
        if self.aggregate == "bradley_terry" and self.format == "anchor":
            raise ValueError("aggregate bradley_terry needs format all_pairs (against one anchor, the win rate is the estimate)")
        return self


def bradley_terry(n: int, outcomes: Sequence[tuple[int, int, float]], prior: float = 0.1, iterations: int = 500, tolerance: float = 1e-10) -> list[float]:
    """Strengths by Hunter's MM algorithm. ``outcomes`` are (i, j, s): s = 1 when i beat j,
    0.5 for a tie, 0 when j won. ``prior`` pseudo-ties between every pair keep every strength
    finite and positive. Returns strengths normalised to a geometric mean of 1."""
    wins = [[0.0] * n for _ in range(n)]
    for i, j, s in outcomes:
        wins[i][j] += s
        wins[j][i] += 1 - s
    for i in range(n):
        for j in range(n):
            if i != j:
                wins[i][j] += prior / 2
    games = [[wins[i][j] + wins[j][i] for j in range(n)] for i in range(n)]
    strength = [1.0] * n
    for _ in range(iterations):
        new = []
        for i in range(n):
            total_wins = sum(wins[i][j] for j in range(n) if j != i)
            denominator = sum(games[i][j] / (strength[i] + strength[j]) for j in range(n) if j != i and games[i][j] > 0)
            new.append(total_wins / denominator if denominator > 0 else strength[i])
        log_mean = sum(math.log(s) for s in new) / n
        new = [s / math.exp(log_mean) for s in new]
        change = max(abs(a - b) for a, b in zip(new, strength, strict=True))
        strength = new
        if change < tolerance:
            break
    return strength


class PairwiseTournament(Reward):
    """Per-response rewards from pairwise verdicts within each group. See the module docstring."""

    type_name = "pairwise_tournament"
    needs_whole_groups = True
    Options = TournamentOptions

    def __init__(self, name: str | None = None, client: Backend | None = None, comparator: Comparator | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        if comparator is None:
            judge_options = {k: v for k, v in self.options.model_dump().items() if k in PairwiseOptions.model_fields}
            comparator = PairwiseJudge(name=f"{self.name}.judge", client=client, **judge_options)
        self.comparator = Swap(comparator, rule="tie") if self.options.swap else comparator

    def wrapped(self) -> list[Reward | Comparator]:
        return [self.comparator]

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        groups = groups_of(samples)
        results: list[Judgment | None] = [None] * len(samples)
        pairs: list[Pair] = []
        plan: list[tuple[Any, int, int]] = []  # (group key, i, j) with j = -1 for the anchor
        for key, members in groups.items():
            for pair_plan, pair in self._pairs(key, [samples[i] for i in members]):
                plan.append(pair_plan)
                pairs.append(pair)
        preferences = await self.comparator.acompare(pairs) if pairs else []
        by_group: dict[Any, list[tuple[int, int, Preference]]] = {key: [] for key in groups}
        for (key, i, j), preference in zip(plan, preferences, strict=True):
            by_group[key].append((i, j, preference))
        for key, members in groups.items():
            for local, judgment in enumerate(self._rewards([samples[i] for i in members], by_group[key])):
                results[members[local]] = judgment
        return [j for j in results if j is not None]

    def _pairs(self, key: Any, group: list[Sample]) -> list[tuple[tuple[Any, int, int], Pair]]:
        out = []
        if self.options.format == "all_pairs":
            for i, j in itertools.combinations(range(len(group)), 2):
                a, b = group[i], group[j]
                out.append(((key, i, j), Pair(a.prompt, a.response, b.response, a.reference, f"{a.id}|{b.id}" if a.id is not None else None, a.extra)))
        else:
            for i, sample in enumerate(group):
                anchor = sample.get(self.options.anchor_field)
                if anchor is None:
                    continue
                # the anchor is response B: when it is the reference, it is not shown a second time as "the reference"
                reference = None if self.options.anchor_field == "reference" else sample.reference
                out.append(((key, i, -1), Pair(sample.prompt, sample.response, anchor, reference, sample.id, sample.extra)))
        return out

    def _rewards(self, group: list[Sample], results: list[tuple[int, int, Preference]]) -> list[Judgment]:
        n = len(group)
        o = self.options
        calls = len(results) * (2 if self.options.swap else 1)
        meta_common = {"format": o.format, "aggregate": o.aggregate, "group_size": n, "judge_calls": calls}
        if o.format == "all_pairs" and n < 2:
            return [Judgment.fail("input", "an all-pairs tournament needs at least two responses in the group (set 'group' on the samples, and pass whole groups in one batch)", **meta_common)]
        record: list[dict[str, Any]] = [{"wins": 0, "losses": 0, "ties": 0, "failed": [], "compared": 0} for _ in range(n)]
        outcomes: list[tuple[int, int, float]] = []
        for i, j, preference in results:
            sides = [i] if j < 0 else [i, j]
            if not preference.ok:
                for side in sides:
                    record[side]["failed"].append(preference.failure)
                continue
            s = {"a": 1.0, "b": 0.0, "tie": 0.5}[preference.winner]  # type: ignore[index]
            for side, value in ((i, s), (j, 1 - s)):
                if side < 0:
                    continue
                record[side]["compared"] += 1
                key = "wins" if value == 1.0 else "losses" if value == 0.0 else "ties"
                record[side][key] += 1
            if j >= 0:
                outcomes.append((i, j, s))
        strengths = bradley_terry(n, outcomes, o.prior) if o.aggregate == "bradley_terry" and o.format == "all_pairs" else None
        out = []
        for i in range(n):
            r = record[i]
            meta = {**meta_common, "wins": r["wins"], "losses": r["losses"], "ties": r["ties"], "failed_comparisons": len(r["failed"])}
            if r["compared"] == 0:
                if r["failed"]:
                    failure = r["failed"][0]
                    out.append(Judgment(score=None, rationale=f"every comparison of this response failed: {failure.message}", failure=failure, meta=meta))
                else:
                    out.append(Judgment.fail("input", f"no anchor to compare against (field {o.anchor_field!r} is empty)", **meta))
                continue
            summary = f"won {r['wins']}, lost {r['losses']}, tied {r['ties']} of {r['compared']} comparisons" + (f" ({len(r['failed'])} failed, left out)" if r["failed"] else "")
            if o.format == "anchor":
                summary += " against the anchor"
            if strengths is not None:
                others = [j for j in range(n) if j != i]
                score = sum(strengths[i] / (strengths[i] + strengths[j]) for j in others) / len(others)
                meta["strength"] = strengths[i]
                rationale = f"Bradley-Terry: mean P(beats another response) = {score:.3f}; {summary}"
            else:
                score = (r["wins"] + 0.5 * r["ties"]) / r["compared"]
                rationale = f"win rate {score:.3f}: {summary}"
            out.append(Judgment(score=score, rationale=rationale, meta=meta))
        return out
