"""The reward a config builds: named components, scored together, combined into one total.

Components run concurrently (``asyncio.gather``), each on the whole batch. Each sample's
Judgment carries the total as ``score``, the combination's explanation as ``rationale``, and
every component's own Judgment under ``details[name]``. Batch-level steps (group
normalisation, trust weights) run after the per-sample combination, over the whole batch:
pass a prompt's whole RL group in one call.

The per-term rules (a component's score after its ``only_if`` rule, its weight at a training
step) are methods here, so a trainer adapter that reports the terms one by one (TRL) reads
them from the composite instead of re-stating them; ``total_level_steps(spec)`` names what
only the total can apply. What this is not: the config reader (``assay.spec``) or the
builder (``assay.compose.load``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from assay.compose import rules as compose
from assay.registry import reward_class
from assay.reward import Reward
from assay.spec import RewardConfig
from assay.types import Judgment, Sample


def needs_whole_groups(spec: RewardConfig) -> bool:
    """Whether scoring needs every sample of a group in one batch: a group-level combine step
    (normalisation, outcome+process, trust weights) or a component that judges within groups."""
    combine = spec.combine
    if combine.normalize != "none" or combine.aggregation == "normalize_then_sum" or combine.method == "outcome_process" or any(e.trust_against for e in spec.rewards.values()):
        return True
    return any(reward_class(e.type).needs_whole_groups for e in spec.rewards.values())


def total_level_steps(spec: RewardConfig) -> list[str]:
    """What in a config acts on the total rather than on each term (empty when the total is
    exactly the weighted sum of the terms ``CompositeReward.term`` gives)."""
    combine = spec.combine
    found = []
    if combine.method != "weighted_sum":
        found.append(f"combine.method {combine.method!r}")
    if combine.on_failure != "fail":
        found.append(f"combine.on_failure {combine.on_failure!r}")
    if combine.gates:
        found.append("gates")
    if combine.normalize != "none":
        found.append(f"normalize {combine.normalize!r}")
    if combine.aggregation != "sum_then_normalize":
        found.append(f"aggregation {combine.aggregation!r}")
    if any(entry.trust_against for entry in spec.rewards.values()):
        found.append("trust_against weights")
    if any(entry.adaptive for entry in spec.rewards.values()):
        found.append("adaptive weights")
    return found


def _show(value: float | None) -> str:
    return "failed" if value is None else f"{value:.4g}"


class CompositeReward(Reward):
    """Components plus a combine spec. ``step`` (set by trainer adapters) drives weight schedules."""

    type_name = "composite"

    def __init__(self, components: dict[str, Reward], spec: RewardConfig) -> None:
        super().__init__("total")
        self.components = components
        self.spec = spec
        self.step = 0
        self.needs_whole_groups = needs_whole_groups(spec)  # type: ignore[misc]
        # adaptive weights: (EMA of the batch means, ratchet floor) per component, carried across batches
        self.adaptive_state: dict[str, tuple[float, float]] = {n: (0.0, e.weight) for n, e in spec.rewards.items() if e.adaptive}

    def identity(self) -> str:
        """A config's composed reward is decided by its spec and by its components (whose
        identities hold what the spec only names: a function's source, a fit file's contents)."""
        return "|".join([self.spec.model_dump_json(), *(f"{name}={reward.identity()}" for name, reward in self.components.items())])

    # --- the terms, as the total counts them ----------------------------------------------------
    def gated_scores(self, details: Mapping[str, Judgment]) -> tuple[dict[str, float | None], dict[str, str]]:
        """Each component's score after the ``only_if`` rules (in config order, as the total
        applies them), and for each component with such a rule, why it counts or not."""
        scores: dict[str, float | None] = {name: j.score for name, j in details.items()}
        notes: dict[str, str] = {}
        for name, entry in self.spec.rewards.items():
            if entry.only_if:
                scores[name], why = compose.positive_only(scores.get(name), scores.get(entry.only_if), entry.only_if_threshold)
                notes[name] = f"{name} {why}"
        return scores, notes

    def weight(self, name: str, step: int) -> tuple[float, str]:
        """A component's weight at a training step (its schedule's, else the fixed one), and a
        note when it is scheduled."""
        entry = self.spec.rewards[name]
        if not entry.schedule:
            return entry.weight, ""
        s = entry.schedule
        w = compose.scheduled_weight(step, s.start, s.end, s.steps, s.kind)
        return w, f"{name} weight {w:.4g} at step {step} ({s.kind} {s.start:g}->{s.end:g})"

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
        normalized = self._normalized_terms(samples, by_name, weights) if self.spec.combine.aggregation == "normalize_then_sum" else None
        judgments = [self._combine_one(i, by_name, weights, weight_notes, normalized) for i in range(len(samples))]
        return self._normalize(samples, judgments)

    def _normalized_terms(self, samples: list[Sample], by_name: dict[str, list[Judgment]], weights: dict[str, float]) -> list[tuple[dict[str, float | None], str]]:
        """normalize_then_sum: each counted term (after its only_if rule) z-scored within its
        group, per sample, with a note of raw -> normalised. Under on_failure 'value' a failed
        term counts as failure_value before normalising (a visible penalty on the raw scale);
        under 'fail' and 'skip' it stays missing, out of its group's statistics."""
        combine = self.spec.combine
        counted = [name for name, w in weights.items() if w != 0]
        gated = [self.gated_scores({name: judgments[i] for name, judgments in by_name.items()})[0] for i in range(len(samples))]
        raw: dict[str, list[float | None]] = {}
        for name in counted:
            values = [g.get(name) for g in gated]
            if combine.on_failure == "value":
                values = [combine.failure_value if v is None else v for v in values]
            raw[name] = values
        normed = compose.group_normalize_components(raw, [s.group for s in samples])
        out = []
        for i in range(len(samples)):
            terms = {name: normed[name][i] for name in counted}
            shown = ", ".join(
                f"{name} {_show(raw[name][i])} -> {_show(terms[name])}" + (" (failed; counted as failure_value)" if gated[i].get(name) is None and raw[name][i] is not None else "")
                for name in counted
            )
            out.append((terms, f"each term normalised within its group first (normalize_then_sum): {shown}"))
        return out

    # --- weights: fixed, scheduled, trust-scaled ----------------------------------------------
    def _weights(self, samples: list[Sample], by_name: dict[str, list[Judgment]]) -> tuple[dict[str, float], list[str]]:
        weights: dict[str, float] = {}
        notes: list[str] = []
        groups = [s.group for s in samples]
        for name, entry in self.spec.rewards.items():
            w, note = self.weight(name, self.step)
            if entry.adaptive:
                w, note = self._adaptive(name, by_name[name])
            if note:
                notes.append(note)
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

    def _adaptive(self, name: str, judgments: list[Judgment]) -> tuple[float, str]:
        """This batch's weight for an adaptive component: its EMA moved by this batch's mean
        (of the scores it computed; a batch with none leaves the state as it was)."""
        entry = self.spec.rewards[name]
        a = entry.adaptive
        assert a is not None
        ema, floor = self.adaptive_state[name]
        scores = [j.score for j in judgments if j.ok and j.score is not None]
        if not scores:
            return floor, f"{name} adaptive weight {floor:.4g} kept (no score in this batch)"
        w, ema, floor = compose.adaptive_weight(entry.weight, ema, floor, sum(scores) / len(scores), a.ema_alpha, a.saturation, a.exponent, a.min_weight, a.recovery_rate)
        self.adaptive_state[name] = (ema, floor)
        return w, f"{name} adaptive weight {w:.4g} (EMA {ema:.4g} of batch means, saturation {a.saturation:g})"

    # --- per-sample combination ----------------------------------------------------------------
    def _combine_one(
        self, i: int, by_name: dict[str, list[Judgment]], weights: dict[str, float], notes: list[str], normalized: list[tuple[dict[str, float | None], str]] | None = None
    ) -> Judgment:
        combine = self.spec.combine
        details = {name: judgments[i] for name, judgments in by_name.items()}
        scores, gate_notes = self.gated_scores(details)
        explanations = [*notes, *gate_notes.values()]
        counted = {name: w for name, w in weights.items() if w != 0}
        if normalized is not None:
            scores, why = normalized[i]
            explanations.append(why)
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

