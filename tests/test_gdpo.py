"""Per-component group normalisation before the weighted sum (combine.aggregation:
normalize_then_sum): GDPO's two failure modes of normalising the sum, pinned on constructed
groups, and equality with TRL's own normalize_then_sum arithmetic on the same rewards."""

from __future__ import annotations

import random

import pytest

from assay.compose import rules as compose
from assay.compose.load import load_reward
from assay.spec import ConfigError
from assay.types import Sample

FUNCS = '''
def field(response, reference=None, **fields):
    value = fields[fields["which"]] if "which" in fields else None
    return value
def correct(response, reference=None, **fields):
    return fields["correct"], "given"
def length(response, reference=None, **fields):
    return fields["length"], "given"
def broken(response, reference=None, **fields):
    if fields.get("fail_length"):
        raise RuntimeError("length reader failed")
    return fields["length"], "given"
'''


@pytest.fixture()
def funcs(tmp_path):
    path = tmp_path / "funcs.py"
    path.write_text(FUNCS)
    return str(path)


def config(funcs: str, aggregation: str, normalize: str = "none", weights=(1.0, 1.0), length_fn: str = "length", **combine) -> dict:
    return {
        "rewards": {
            "correct": {"type": "function", "path": f"{funcs}:correct", "weight": weights[0]},
            "length": {"type": "function", "path": f"{funcs}:{length_fn}", "weight": weights[1]},
        },
        "combine": {"aggregation": aggregation, "normalize": normalize, **combine},
    }


def samples(rows: list[tuple], group_of=None) -> list[Sample]:
    out = []
    for i, row in enumerate(rows):
        correct, length = row[:2]
        extra = {"correct": correct, "length": length, **(row[2] if len(row) > 2 else {})}
        out.append(Sample(response=f"r{i}", group=group_of(i) if group_of else "g", extra=extra))
    return out


def test_a_wide_scale_component_no_longer_decides_the_order(funcs) -> None:
    # correctness in {0, 1}; a length score on a 0-100 scale
    rows = [(1.0, 10.0), (1.0, 90.0), (0.0, 30.0), (0.0, 70.0)]
    summed = [j.score for j in load_reward(config(funcs, "sum_then_normalize", "group_zscore")).score(samples(rows))]
    decoupled = [j.score for j in load_reward(config(funcs, "normalize_then_sum")).score(samples(rows))]
    # normalising the sum: the short correct answer ranks below both wrong ones (length decides)
    assert summed[0] < summed[2] < summed[3]
    # normalising each component first: correctness counts as much as length does
    assert decoupled[0] > decoupled[2]
    assert decoupled[1] == max(decoupled) and decoupled[2] == min(decoupled)


def test_distinct_reward_combinations_keep_distinct_advantages(funcs) -> None:
    """GDPO's example: two binary rewards, two rollouts per prompt. Summing first maps the
    groups (0,0)/(0,1) and (0,0)/(1,1) to the same advantages; normalising first does not."""
    rows = [(0.0, 0.0), (0.0, 1.0), (0.0, 0.0), (1.0, 1.0)]
    group_of = lambda i: i // 2  # noqa: E731
    summed = [j.score for j in load_reward(config(funcs, "sum_then_normalize", "group_zscore")).score(samples(rows, group_of))]
    decoupled = [j.score for j in load_reward(config(funcs, "normalize_then_sum")).score(samples(rows, group_of))]
    assert summed[0:2] == pytest.approx(summed[2:4])  # the collapse
    assert summed[1] == pytest.approx(1.0, abs=1e-4)
    assert decoupled[1] == pytest.approx(0.5 / (0.5**0.5 + 1e-4), rel=1e-12)  # one term moved: (1 - 0.5) / (Bessel std + eps)
    assert decoupled[3] == pytest.approx(2 * decoupled[1], rel=1e-9)  # two terms moved: twice the advantage
    assert decoupled[0] == pytest.approx(-decoupled[1]) and decoupled[2] == pytest.approx(-decoupled[3])


def trl_normalize_then_sum(rewards_per_func: list[list[float]], num_generations: int, weights: list[float]) -> tuple[list[float], list[float]]:
    """TRL's normalize_then_sum, line for line (trl 1.16.0, trl/trainer/grpo_trainer.py,
    GRPOTrainer._generate_and_score_completions, the ``elif self.multi_objective_aggregation ==
    "normalize_then_sum"`` branch), with TRL's own ``nanstd``: (summed rewards, advantages)."""
    import torch
    from trl.trainer.utils import nanstd

    rewards_per_func_t = torch.tensor(rewards_per_func, dtype=torch.float64)
    reward_weights = torch.tensor(weights, dtype=torch.float64)
    k = rewards_per_func_t.shape[1]
    unscorable_mask = torch.isnan(rewards_per_func_t).all(dim=1)
    grouped = rewards_per_func_t.view(-1, num_generations, k)
    mean_k = torch.nanmean(grouped, dim=1, keepdim=True)
    std_k = nanstd(grouped, dim=1, keepdim=True) if num_generations > 1 else torch.zeros_like(mean_k)
    reward_k = (grouped - mean_k) / (std_k + 1e-4)
    reward_k = reward_k.view(-1, k)
    rewards = (reward_k * reward_weights.unsqueeze(0)).nansum(dim=1)
    rewards[unscorable_mask] = torch.nan
    std_rewards = nanstd(rewards).expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    advantages = (rewards - torch.nanmean(rewards)) / (std_rewards + 1e-4)
    return rewards.tolist(), advantages.tolist()


@pytest.mark.slow  # imports trl (and transformers): ~20 s on a busy machine
def test_equal_to_trls_own_normalize_then_sum(funcs) -> None:
    pytest.importorskip("trl")
    rng = random.Random(2)
    num_generations, groups = 6, 5
    rows = [(float(rng.random() < 0.5), rng.uniform(0, 100)) for _ in range(num_generations * groups)]
    rows[3] = (1.0, rows[0][1])  # ties within a group
    weights = [1.0, 0.3]
    ours = load_reward(config(funcs, "normalize_then_sum", weights=weights)).score(samples(rows, lambda i: i // num_generations))
    trl_rewards, trl_advantages = trl_normalize_then_sum([list(r) for r in rows], num_generations, weights)
    # equal to float precision: TRL's nanstd computes Bessel's factor count / (count - 1) from
    # integer tensors, which torch divides in float32 (a 1e-8 relative difference from the exact 6/5)
    assert [j.score for j in ours] == pytest.approx(trl_rewards, rel=1e-6, abs=1e-9)
    # TRL then normalises the sum over the whole batch into advantages: from our totals, the same
    import statistics

    totals = [j.score for j in ours]
    mean, std = statistics.fmean(totals), statistics.stdev(totals)
    assert [(t - mean) / (std + 1e-4) for t in totals] == pytest.approx(trl_advantages, rel=1e-6, abs=1e-9)
    assert "normalize_then_sum" in ours[0].rationale and "->" in ours[0].rationale
    # the replica above is the installed TRL's branch: its lines, as they read there
    import inspect

    from trl.trainer.grpo_trainer import GRPOTrainer

    source = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    for line in (
        "grouped = rewards_per_func.view(-1, num_generations, len(self.reward_funcs))",
        "mean_k = torch.nanmean(grouped, dim=1, keepdim=True)",
        "std_k = nanstd(grouped, dim=1, keepdim=True) if num_generations > 1 else torch.zeros_like(mean_k)",
        "reward_k = (grouped - mean_k) / (std_k + 1e-4)",
        "rewards = (reward_k * self.reward_weights.to(device).unsqueeze(0)).nansum(dim=1)",
        "advantages = (rewards - torch.nanmean(rewards)) / (std_rewards + 1e-4)",
    ):
        assert line in source, line


def test_failed_components_follow_the_on_failure_policy(funcs) -> None:
    rows = [(1.0, 10.0), (1.0, 90.0, {"fail_length": True}), (0.0, 30.0), (0.0, 70.0)]
    failing = load_reward(config(funcs, "normalize_then_sum", length_fn="broken")).score(samples(rows))
    assert failing[1].score is None and failing[1].failure is not None  # on_failure fail: that total fails
    assert all(j.ok for k, j in enumerate(failing) if k != 1)  # the others, normalised without it
    lengths = compose.group_normalize_components({"x": [10.0, None, 30.0, 70.0]}, ["g"] * 4)["x"]
    correct = compose.group_normalize_components({"x": [1.0, 1.0, 0.0, 0.0]}, ["g"] * 4)["x"]
    assert failing[0].score == pytest.approx(correct[0] + lengths[0])
    valued = load_reward(config(funcs, "normalize_then_sum", length_fn="broken", on_failure="value", failure_value=0.0)).score(samples(rows))
    as_zero = compose.group_normalize_components({"x": [10.0, 0.0, 30.0, 70.0]}, ["g"] * 4)["x"]
    assert valued[1].score == pytest.approx(correct[1] + as_zero[1])  # counted as 0 on the raw scale, then normalised
    assert "counted as failure_value" in valued[1].rationale
    skipped = load_reward(config(funcs, "normalize_then_sum", length_fn="broken", on_failure="skip")).score(samples(rows))
    assert skipped[1].score == pytest.approx(2 * correct[1])  # its weight moved to the term that was scored


def test_normalize_then_sum_refuses_what_it_cannot_mean(funcs) -> None:
    with pytest.raises(ConfigError, match="gates"):
        load_reward(config(funcs, "normalize_then_sum", gates=[{"reward": "correct"}]))
    with pytest.raises(ConfigError, match="log_sigmoid_sum"):
        load_reward(config(funcs, "normalize_then_sum", method="log_sigmoid_sum"))


def test_adaptive_weight_decays_as_a_reward_saturates_and_recovers_slowly(funcs) -> None:
    spec = config(funcs, "sum_then_normalize")
    spec["rewards"]["correct"]["adaptive"] = {"saturation": 1.0, "ema_alpha": 0.5, "exponent": 1.0, "min_weight": 0.2, "recovery_rate": 0.1}
    reward = load_reward(spec)
    # an independent replay of the rule: EMA, then base * max(min, 1 - ema / saturation), then the ratchet
    ema, floor, seen = 0.0, 1.0, []
    for mean in (1.0, 1.0, 1.0, 1.0, 0.0, 0.0):
        ema = 0.5 * mean + 0.5 * ema
        raw = max(1.0 * max(0.0, 1 - min(1.0, ema)), 0.2)
        floor = raw if raw < floor else floor + 0.1 * (raw - floor)
        batch = samples([(mean, 0.0), (mean, 0.0)])
        judgment = reward.score(batch)[0]
        assert judgment.score == pytest.approx(floor * mean), judgment.rationale
        assert "adaptive weight" in judgment.rationale
        seen.append(floor)
    assert seen[3] == pytest.approx(0.2)  # saturated: down to the floor
    assert seen[0] > seen[1] > seen[2] >= seen[3]
    assert seen[3] < seen[4] < seen[5] < 1.0  # the reward dropped: the weight comes back, slowly
    with pytest.raises(ConfigError, match="schedule or adaptive"):
        spec["rewards"]["correct"]["schedule"] = {"start": 1, "end": 0, "steps": 10}
        load_reward(spec)
