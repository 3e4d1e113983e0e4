"""assay in veRL's reward loop (its default reward path since 0.9), through veRL 0.9.1's own
code: its ``RewardLoopWorker`` builds the ``AssayRewardLoopManager`` from a trainer config
(``reward.reward_manager.source: importlib``, ``pkg://``) with veRL's ``load_reward_manager``
and scores a real DataProto with ``compute_score_batch``; veRL's own ``assemble_rm_scores``
places the scores; and veRL's ``naive`` reward-loop manager awaits assay's
``compute_score_async`` loaded by ``get_custom_reward_fn``."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

pytest.importorskip("verl.experimental.reward_loop.reward_loop", reason="veRL's reward loop is not importable here (scripts/setup.sh all installs veRL)")

from test_integrations import _verl_batch, config  # noqa: E402

import assay.integrations.verl as assay_verl  # noqa: E402

KEYS = {"score", "failed", "failure_kind", "rationale", "risky", "fmt", "risky/failed", "fmt/failed", "rationale/risky", "rationale/fmt"}


def trainer_config(rewards_path, manager: dict, custom: dict | None = None):
    from omegaconf import OmegaConf

    from assay.backends.local_models import default_encoder_path

    return OmegaConf.create({
        "actor_rollout_ref": {"model": {"path": str(default_encoder_path()), "tokenizer_path": None}},
        "reward": {
            "reward_model": {"enable": False},
            "reward_manager": manager,
            "custom_reward_function": {"path": None, "name": None, "reward_kwargs": {"config": str(rewards_path)}, **(custom or {})},
        },
    })


def score_with_worker(cfg, data):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    async def run():
        worker = RewardLoopWorker(cfg)  # veRL's worker: its tokenizer, its load_reward_manager
        return worker, await worker.compute_score_batch(data)

    return asyncio.run(run())


def test_assay_manager_in_veRLs_reward_loop_worker(tmp_path):
    import numpy as np
    from verl.trainer.ppo.reward import resolve_reward_manager_cls

    from assay.integrations.verl_reward_loop import AssayRewardLoopManager

    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    cfg = trainer_config(path, {"source": "importlib", "name": "AssayRewardLoopManager", "module": {"path": "pkg://assay.integrations.verl_reward_loop"}})
    assert resolve_reward_manager_cls(cfg) is AssayRewardLoopManager
    prompts, responses, truths = ["what is 2 + 2 ?", "what is 3 + 4 ?", "what is 10 - 3 ?"], ["4", "8 apples", "raise"], ["4", "7", "7"]
    from transformers import AutoTokenizer

    from assay.backends.local_models import default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()))
    data = _verl_batch(tokenizer, prompts, responses, truths)
    worker, outputs = score_with_worker(cfg, data)
    assert isinstance(worker.reward_manager, AssayRewardLoopManager)
    scores = [o["reward_score"] for o in outputs]
    assert scores[:2] == [pytest.approx(1.5), pytest.approx(0.5)] and math.isnan(scores[2])
    infos = [o["reward_extra_info"] for o in outputs]
    assert all(set(i) == KEYS for i in infos)  # veRL takes the first response's keys for all
    # as RewardLoopManager.compute_rm_score collects them
    columns = {key: np.array([info[key] for info in infos]) for key in infos[0]}
    assert list(columns["failed"]) == [0, 0, 1] and columns["failure_kind"][2] == "internal"
    assert "injected failure" in columns["rationale"][2] and math.isnan(columns["risky"][2])
    rm_scores = AssayRewardLoopManager.assemble_rm_scores(data, scores)  # veRL's placement: the last response token
    last = data.batch["attention_mask"][:, data.batch["prompts"].shape[-1]:].sum(-1) - 1
    assert float(rm_scores[0, last[0]]) == pytest.approx(1.5) and float(rm_scores[1].sum()) == pytest.approx(0.5)

    # a chosen failure score, and the prompt decoded from the tokens when extra_info has none
    cfg.reward.custom_reward_function.reward_kwargs.failure_score = -1.0
    bare = _verl_batch(tokenizer, prompts[2:], responses[2:], truths[2:])
    bare.non_tensor_batch["extra_info"] = np.array([{}], dtype=object)
    worker, outputs = score_with_worker(cfg, bare)
    assert outputs[0]["reward_score"] == -1.0 and outputs[0]["reward_extra_info"]["failed"] == 1


def test_group_configs_refused_when_the_manager_is_built(tmp_path):
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config({"combine": {"normalize": "group_zscore"}})))
    cfg = trainer_config(path, {"source": "register", "name": "assay"})
    import assay.integrations.verl_reward_loop  # noqa: F401 - registers "assay"

    with pytest.raises(ValueError, match="one response at a time"):
        score_with_worker(cfg, None)


def test_compute_score_async_under_veRLs_naive_reward_loop_manager(tmp_path):
    from transformers import AutoTokenizer

    from assay.backends.local_models import default_encoder_path

    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    cfg = trainer_config(path, {"source": "register", "name": "naive"}, {"path": assay_verl.__file__, "name": "compute_score_async"})
    tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()))
    data = _verl_batch(tokenizer, ["what is 2 + 2 ?", "what is 1 + 1 ?"], ["4", "raise"], ["4", "2"])
    worker, outputs = score_with_worker(cfg, data)
    assert worker.reward_manager.is_async_reward_score  # veRL saw a coroutine function and awaits it
    assert outputs[0]["reward_score"] == pytest.approx(1.5) and math.isnan(outputs[1]["reward_score"])
    assert outputs[1]["reward_extra_info"]["failed"] == 1 and set(outputs[0]["reward_extra_info"]) == KEYS
