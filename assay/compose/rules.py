"""How component rewards become one reward: small pure functions, each with its source.

Every function here takes plain numbers (``None`` = a component that failed or abstained)
and returns numbers plus, where a person would ask "why", a short explanation. None of them
turns a missing value into a number silently: what happens to a failed component is the
``on_failure`` policy the caller chose, and it is written into the explanation.

    >>> weighted_sum({"correct": 1.0, "format": 0.0}, {"correct": 1.0, "format": 0.2})
    (1.0, 'weighted sum: 1*correct(1) + 0.2*format(0) = 1')
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

OnFailure = Literal["fail", "skip", "value"]
Schedule = Literal["constant", "linear", "cosine"]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def weighted_sum(
    scores: Mapping[str, float | None],
    weights: Mapping[str, float],
    on_failure: OnFailure = "fail",
    failure_value: float | None = None,
) -> tuple[float | None, str]:
    """Weighted sum of component scores, with an explicit policy for missing ones.

    ``on_failure``: ``fail`` (the total is None if any weighted component is None: the safe
    default), ``skip`` (leave it out and rescale the remaining weights to the same total
    weight), ``value`` (count it as ``failure_value``, a visible penalty).
    Source: the standard linear scalarisation of multi-objective rewards (e.g. TRL's
    ``reward_weights``).
    """
    missing = [name for name in weights if scores.get(name) is None]
    present = {name: w for name, w in weights.items() if scores.get(name) is not None}
    if missing and on_failure == "fail":
        return None, f"no total: {', '.join(missing)} failed and on_failure is 'fail'"
    if on_failure == "value" and failure_value is None and missing:
        raise ValueError("on_failure 'value' needs failure_value")
    terms: list[str] = []
    total = 0.0
    scale = 1.0
    if missing and on_failure == "skip":
        kept = sum(abs(w) for w in present.values())
        if kept == 0:
            return None, f"no total: every weighted component failed ({', '.join(missing)})"
        scale = sum(abs(w) for w in weights.values()) / kept
    for name, w in weights.items():
        value = scores.get(name)
        if value is None:
            if on_failure == "value":
                assert failure_value is not None
                total += w * failure_value
                terms.append(f"{_fmt(w)}*{name}(failed->{_fmt(failure_value)})")
            continue
        total += w * scale * value
        terms.append(f"{_fmt(w * scale)}*{name}({_fmt(value)})")
    note = f" (skipped failed: {', '.join(missing)}; weights rescaled)" if missing and on_failure == "skip" else ""
    return total, f"weighted sum: {' + '.join(terms)} = {_fmt(total)}{note}"


def gate(total: float | None, gate_value: float | None, threshold: float, cap: float, name: str = "gate") -> tuple[float | None, str]:
    """Bottom-line constraint: when ``gate_value < threshold`` the total is capped at ``cap``.

    A veto is a gate whose cap is the lowest reward. A failed gate (None) fails the total:
    an unchecked constraint is not a passed one.
    Source: gated reward aggregation for search agents (constraints cap the reward before
    quality terms can count), and format gates in DeepSeek-R1-style rule rewards.
    """
    if total is None:
        return None, ""
    if gate_value is None:
        return None, f"no total: gate {name} could not be checked"
    if gate_value < threshold:
        capped = min(total, cap)
        return capped, f"gate {name}={_fmt(gate_value)} < {_fmt(threshold)}: total capped at {_fmt(cap)} -> {_fmt(capped)}"
    return total, f"gate {name}={_fmt(gate_value)} passed"


def positive_only(value: float | None, condition: float | None, threshold: float = 1.0) -> tuple[float | None, str]:
    """A term that counts only when a condition holds (e.g. quality only when correct).

    Returns 0 when the condition fails (the term is switched off, by design, not by error),
    and None when the condition itself could not be computed.
    Source: LongTraceRL's rubric reward, added only to correct answers so that a fluent
    wrong answer cannot earn it.
    """
    if condition is None:
        return None, "condition could not be computed"
    if condition < threshold:
        return 0.0, f"off: condition {_fmt(condition)} < {_fmt(threshold)}"
    if value is None:
        return None, "condition met but the term failed"
    return value, f"on: condition {_fmt(condition)} >= {_fmt(threshold)}"


def log_sigmoid(value: float, center: float = 0.0) -> float:
    """log(sigmoid(value - center)), computed stably.

    Source: Wang et al., "Transforming and Combining Rewards for Aligning LLMs" (2024): after
    this transform, a sum of rewards reads as the log-probability of being good in every
    property at once, so one term cannot buy off another.
    """
    x = value - center
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def log_sigmoid_sum(scores: Mapping[str, float | None], centers: Mapping[str, float], weights: Mapping[str, float] | None = None) -> tuple[float | None, str]:
    """Sum of weighted ``log_sigmoid(score - center)`` over components; None if any failed."""
    missing = [name for name in centers if scores.get(name) is None]
    if missing:
        return None, f"no total: {', '.join(missing)} failed"
    weights = weights or {}
    total = 0.0
    terms = []
    for name, center in centers.items():
        value = scores[name]
        assert value is not None
        w = weights.get(name, 1.0)
        total += w * log_sigmoid(value, center)
        terms.append(f"{_fmt(w)}*logsig({name}={_fmt(value)}-{_fmt(center)})")
    return total, f"log-sigmoid sum: {' + '.join(terms)} = {_fmt(total)}"


def group_problem(group: Any) -> str | None:
    """Why ``group`` cannot tie samples together (it is not hashable: a list or an object), or None."""
    try:
        hash(group)
    except TypeError:
        return f"field 'group' must be a string or a number to group samples by, got {type(group).__name__} {str(group)[:60]}"
    return None


def _by_group(groups: Sequence[Hashable | None]) -> dict[Hashable, list[int]]:
    index: dict[Hashable, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        index[("__single__", i) if g is None else g].append(i)
    return index


def group_zscore(values: Sequence[float | None], groups: Sequence[Hashable | None], eps: float = 1e-6) -> list[float | None]:
    """(x - group mean) / (group std + eps) within each prompt group; None stays None and is
    left out of its group's statistics. A group of one (or all equal) gives 0.

    Source: GRPO's group-relative advantage (Shao et al., DeepSeekMath 2024), population std.
    """
    out: list[float | None] = [None] * len(values)
    for members in _by_group(groups).values():
        present = [i for i in members if values[i] is not None]
        if not present:
            continue
        xs = [float(values[i]) for i in present]  # type: ignore[arg-type]
        mean = statistics.fmean(xs)
        std = statistics.pstdev(xs) if len(xs) > 1 else 0.0
        for i in present:
            out[i] = (float(values[i]) - mean) / (std + eps)  # type: ignore[arg-type]
    return out


def group_normalize_components(
    components: Mapping[str, Sequence[float | None]],
    groups: Sequence[Hashable | None],
    eps: float = 1e-4,
) -> dict[str, list[float | None]]:
    """Each component z-scored within each prompt group on its own, before any sum:
    (x - group mean) / (group std + eps), std with Bessel's correction and eps 1e-4, as TRL's
    ``normalize_then_sum`` computes them (``GRPOTrainer._generate_and_score_completions``,
    trl 1.16, with ``trl.trainer.utils.nanstd``). None stays None and is left out of its
    group's statistics; a group with one value (or all equal) gives 0.

    Source: GDPO (Liu et al. 2026, "Group reward-Decoupled Normalization Policy Optimization
    for Multi-reward RL"): normalising the sum lets the component with the widest spread
    decide the advantage, and maps different reward combinations to the same advantage;
    normalising each component first keeps them apart.
    """
    out: dict[str, list[float | None]] = {}
    index = _by_group(groups)
    for name, values in components.items():
        normed: list[float | None] = [None] * len(values)
        for members in index.values():
            present = [i for i in members if values[i] is not None]
            if not present:
                continue
            xs = [float(values[i]) for i in present]  # type: ignore[arg-type]
            mean = statistics.fmean(xs)
            std = statistics.stdev(xs) if len(xs) > 1 else 0.0
            for i in present:
                normed[i] = 0.0 if len(xs) == 1 else (float(values[i]) - mean) / (std + eps)  # type: ignore[arg-type]
        out[name] = normed
    return out


def group_rank(values: Sequence[float | None], groups: Sequence[Hashable | None]) -> list[float | None]:
    """Rank within each group scaled to [0, 1] (lowest 0, highest 1), ties sharing the mean
    rank; a group of one gives 0.5. Robust to the scale and outliers of model rewards.

    Source: rank-based reward shaping, as in rank-normalised GRPO variants.
    """
    out: list[float | None] = [None] * len(values)
    for members in _by_group(groups).values():
        present = sorted((i for i in members if values[i] is not None), key=lambda i: values[i])  # type: ignore[arg-type,return-value]
        n = len(present)
        if n == 1:
            out[present[0]] = 0.5
            continue
        position = 0
        while position < n:
            end = position
            while end + 1 < n and values[present[end + 1]] == values[present[position]]:
                end += 1
            mean_rank = (position + end) / 2
            for k in range(position, end + 1):
                out[present[k]] = mean_rank / (n - 1)
            position = end + 1
    return out


def outcome_process_norm(
    outcome: Sequence[float | None],
    process: Sequence[float | None],
    groups: Sequence[Hashable | None],
    process_weight: float = 0.5,
) -> list[float | None]:
    """Combine an outcome and a process reward on one scale: each is z-scored within its
    group, the process term is squashed with tanh and weighted so it can reorder responses
    with the same outcome but cannot outweigh a change of outcome (|term| < process_weight).

    Source: ReNorm-style outcome+process normalisation for PRM-guided RL, which normalises the
    two signals jointly so the process reward cannot be hacked against the outcome.
    """
    outcome_z = group_zscore(outcome, groups)
    process_z = group_zscore(process, groups)
    out: list[float | None] = []
    for o, p in zip(outcome_z, process_z, strict=True):
        out.append(None if o is None or p is None else o + process_weight * math.tanh(p))
    return out


def trust_weight(model: Sequence[float | None], rule: Sequence[float | None], groups: Sequence[Hashable | None]) -> float | None:
    """How far a model-based reward can be trusted: the fraction of within-group pairs that
    the rule reward orders (strictly) on which the model reward agrees. None when no pair is
    ordered by the rule (nothing to check against).

    Source: Trust-GRPO: weight a learned reward by its agreement with verifiable outcomes.
    """
    agree = total = 0
    for members in _by_group(groups).values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                i, j = members[x], members[y]
                if None in (rule[i], rule[j], model[i], model[j]) or rule[i] == rule[j]:
                    continue
                total += 1
                agree += (rule[i] > rule[j]) == (model[i] > model[j])  # type: ignore[operator]
    return agree / total if total else None


def scheduled_weight(step: int, start: float, end: float, steps: int, kind: Schedule = "linear") -> float:
    """A weight annealed from ``start`` to ``end`` over ``steps`` training steps, then held.

    Source: Trust-GRPO and curriculum reward shaping: lean on a model-based term early and
    on verifiable rewards later (or the reverse).
    """
    if kind == "constant" or steps <= 0:
        return start
    t = min(max(step / steps, 0.0), 1.0)
    if kind == "linear":
        return start + (end - start) * t
    if kind == "cosine":
        return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {kind!r}; expected constant, linear or cosine")


def adaptive_weight(
    base: float,
    ema: float,
    floor: float,
    batch_mean: float,
    ema_alpha: float,
    saturation: float,
    exponent: float,
    min_weight: float,
    recovery_rate: float,
) -> tuple[float, float, float]:
    """One step of a saturation-decayed weight: (weight, new EMA, new ratchet floor).

    The EMA of the component's batch means moves by ``ema_alpha``; the weight is
    ``base * max(min_weight, 1 - clip(EMA / saturation, 0, 1) ** exponent)``, so a reward
    that is nearly always earned stops crowding out the others, down to the floor
    ``min_weight * base``. A ratchet keeps a decayed weight from bouncing back: a lower value
    is taken at once, a higher one only a ``recovery_rate`` share of the way per step.
    The EMA starts at 0 and the ratchet at ``base``.

    Source: prime-rl's adaptive reward weights (``AdaptiveWeightManager`` in its
    orchestrator: EMA saturation decay with a floor and a slowly leaking ratchet).
    """
    ema = ema_alpha * batch_mean + (1 - ema_alpha) * ema
    closeness = min(1.0, max(0.0, ema / saturation))  # a negative EMA is far from saturation, not a complex power
    raw = max(base * max(0.0, 1.0 - closeness**exponent), min_weight * base)
    floor = raw if raw < floor else floor + recovery_rate * (raw - floor)
    return floor, ema, floor
