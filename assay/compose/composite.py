"""The reward a config builds: named components, scored together, combined into one total.

Components run concurrently (``asyncio.gather``), each on the whole batch. Each sample's
Judgment carries the total as ``score``, the combination's explanation as ``rationale``, and
every component's own Judgment under ``details[name]``. Batch-level steps (group
normalisation, trust weights) run after the per-sample combination, over the whole batch:
pass a prompt's whole RL group in one call.
"""

from __future__ import annotations

import asyncio

from assay.compose import rules as compose
from assay.compose.load import RewardConfig, needs_whole_groups
from assay.reward import Reward
from assay.types import Judgment, Sample


class CompositeReward(Reward):
    """Components plus a combine spec. ``step`` (set by trainer adapters) drives weight schedules."""

    type_name = "composite"

    def __init__(self, components: dict[str, Reward], spec: RewardConfig) -> None:
        super().__init__("total")
        self.components = components
        self.spec = spec
        self.step = 0
        self.needs_whole_groups = needs_whole_groups(spec)  # type: ignore[misc]

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        if self.needs_whole_groups and (bad := {i: p for i, s in enumerate(samples) if (p := compose.group_problem(s.group))}):
            good = [i for i in range(len(samples)) if i not in bad]  # an unusable group fails its row alone
            scored = iter(await self.ascore_batch([samples[i] for i in good]) if good else [])
            return [Judgment.fail("input", bad[i]) if i in bad else next(scored) for i in range(len(samples))]
        names = list(self.components)
        results = await asyncio.gather(*(self.components[n].ascore(samples) for n in names))
        by_name: dict[str, list[Judgment]] = dict(zip(names, results, strict=True))
        if self.spec.combine.method == "outcome_process":
            return self._outcome_process(samples, by_name)
        weights, weight_notes = self._weights(samples, by_name)
        judgments = [self._combine_one(i, by_name, weights, weight_notes) for i in range(len(samples))]
        return self._normalize(samples, judgments)

    # --- weights: fixed, scheduled, trust-scaled ----------------------------------------------
    def _weights(self, samples: list[Sample], by_name: dict[str, list[Judgment]]) -> tuple[dict[str, float], list[str]]:
        weights: dict[str, float] = {}
        notes: list[str] = []
        groups = [s.group for s in samples]
        for name, entry in self.spec.rewards.items():
            w = entry.weight
            if entry.schedule:
                s = entry.schedule
                w = compose.scheduled_weight(self.step, s.start, s.end, s.steps, s.kind)
                notes.append(f"{name} weight {w:.4g} at step {self.step} ({s.kind} {s.start:g}->{s.end:g})")
            if entry.trust_against:
                trust = compose.trust_weight(
                    [j.score for j in by_name[name]], [j.score for j in by_name[entry.trust_against]], groups
                )
                if trust is not None:
                    w *= trust
                    notes.append(f"{name} weight x trust {trust:.3g} (agreement with {entry.trust_against})")
                else:
                    notes.append(f"{name} trust not measurable in this batch (no pair ordered by {entry.trust_against}); weight kept")
            weights[name] = w
        return weights, notes

    # --- per-sample combination ----------------------------------------------------------------
    def _combine_one(self, i: int, by_name: dict[str, list[Judgment]], weights: dict[str, float], notes: list[str]) -> Judgment:
        combine = self.spec.combine
        details = {name: judgments[i] for name, judgments in by_name.items()}
        scores: dict[str, float | None] = {name: j.score for name, j in details.items()}
        explanations = list(notes)
        for name, entry in self.spec.rewards.items():
            if entry.only_if:
                scores[name], why = compose.positive_only(scores[name], scores[entry.only_if], entry.only_if_threshold)
                explanations.append(f"{name} {why}")
        counted = {name: w for name, w in weights.items() if w != 0}
        if combine.method == "log_sigmoid_sum":
            centers = {name: self.spec.rewards[name].center for name in counted}
            total, why = compose.log_sigmoid_sum(scores, centers, counted)
        else:
            total, why = compose.weighted_sum(scores, counted, combine.on_failure, combine.failure_value)
        explanations.append(why)
        for g in combine.gates:
            if total is None:
                break
            total, why = compose.gate(total, scores[g.reward], g.below, g.cap, g.reward)
            explanations.append(why)
        rationale = "; ".join(e for e in explanations if e)
        if total is None:
            return self._failed_total(details, rationale)
        return Judgment(score=total, rationale=rationale, details=details)

    def _failed_total(self, details: dict[str, Judgment], rationale: str) -> Judgment:
        failed = [(n, j) for n, j in details.items() if not j.ok]
        kind = next((j.failure.kind for _, j in failed if j.failure), "input")
        reasons = "; ".join(f"{n}: {j.rationale}" for n, j in failed) or rationale
        judgment = Judgment.fail(kind, f"total not computed ({rationale}). Failed: {reasons}")
        judgment.details = details
        return judgment

    # --- batch-level steps ------------------------------------------------------------------
    def _normalize(self, samples: list[Sample], judgments: list[Judgment]) -> list[Judgment]:
        method = self.spec.combine.normalize
        if method == "none":
            return judgments
        groups = [s.group for s in samples]
        raw = [j.score for j in judgments]
        normed = compose.group_zscore(raw, groups) if method == "group_zscore" else compose.group_rank(raw, groups)
        for judgment, before, after in zip(judgments, raw, normed, strict=True):
            if after is not None:
                judgment.score = after
                judgment.rationale += f"; {method} within group: {before:.4g} -> {after:.4g}"
                judgment.meta["raw_total"] = before
        return judgments

    def _outcome_process(self, samples: list[Sample], by_name: dict[str, list[Judgment]]) -> list[Judgment]:
        c = self.spec.combine
        assert c.outcome and c.process
        outcome = [j.score for j in by_name[c.outcome]]
        process = [j.score for j in by_name[c.process]]
        totals = compose.outcome_process_norm(outcome, process, [s.group for s in samples], c.process_weight)
        out = []
        for i, total in enumerate(totals):
            details = {name: judgments[i] for name, judgments in by_name.items()}
            why = f"outcome+process normalised within group: z({c.outcome}) + {c.process_weight:g}*tanh(z({c.process}))"
            out.append(Judgment(score=total, rationale=why, details=details) if total is not None else self._failed_total(details, why))
        return out

