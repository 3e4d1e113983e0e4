"""Step rewards through OpenRLHF 0.11's own code: its rollout executor loads assay's file hook
and calls it, its samples generator turns the returned dict into an ``Experience``, and its
``compute_reward`` places the reward. OpenRLHF takes one scalar per sample, so the reward is
the process reward's aggregate and the step scores arrive as per-sample scalar logs."""

from __future__ import annotations

import ast
import asyncio
import json
import math
import typing
from pathlib import Path

import pytest

from assay.integrations import openrlhf
from assay.integrations.common import cached_reward

CONFIG = {"rewards": {"arith": {"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min", "threshold": 0.5}}}
PROMPTS = ["<bos>Q: 2+3, doubled?\nA:", "<bos>Q: 4 times 3?\nA:", "<bos>Q: nothing to check\nA:"]
RESPONSES = [" 2 + 3 = 5\n5 * 2 = 11\nSo the answer is 11", " 4 * 3 = 12\nThe answer is 12", " I think it is big"]
QUERIES = [p + r + "<eos>" for p, r in zip(PROMPTS, RESPONSES)]


def openrlhf_function(relative: str, name: str, namespace: dict):
    """One function of OpenRLHF's installed source, compiled unchanged. Its modules cannot be
    imported here (the samples generator imports vLLM at the top, ``openrlhf.models`` needs
    deepspeed and flash-attn, none installable on this CPU machine); the functions used do
    not touch them."""
    import openrlhf as package

    path = Path(package.__file__).parent / relative
    tree = ast.parse(path.read_text())
    found = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name]
    assert len(found) == 1, f"{name} not found once in {path}: OpenRLHF changed"
    module = ast.Module(body=[found[0]], type_ignores=[])
    exec(compile(module, str(path), "exec"), namespace)  # noqa: S102 - OpenRLHF's own code
    return namespace[name]


@pytest.fixture
def hook_config(tmp_path, monkeypatch):
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(CONFIG))
    monkeypatch.setenv("ASSAY_CONFIG", str(path))
    log = tmp_path / "rationales.jsonl"
    monkeypatch.setenv("ASSAY_RATIONALE_LOG", str(log))
    return log


def test_result_lists_carry_step_scores_and_scalar_summaries():
    reward = cached_reward(CONFIG)
    judgments, _ = asyncio.run(openrlhf.ascore_queries(reward.ascore, QUERIES, PROMPTS, ["11", "12", "?"]))
    result = openrlhf.result_lists(judgments, reward, math.nan)
    assert result["step_scores"][:2] == [[1.0, 0.0, None], [1.0, None]]
    logs = result["extra_logs"]
    assert result["rewards"][:2] == [0.0, 1.0]
    assert logs["step_scores/count"][:2] == [2.0, 1.0] and logs["step_scores/first_error"][:2] == [1.0, -1.0]
    assert logs["step_scores/mean"][:2] == [0.5, 1.0] and logs["step_scores/last"][:2] == [0.0, 1.0]
    # no checkable claim anywhere: the process reward fails (all steps abstained), nothing is summarised
    assert not judgments[2].ok and result["step_scores"][2] == [] and math.isnan(logs["step_scores/min"][2])


def test_no_process_reward_no_step_logs():
    reward = cached_reward({"rewards": {"fmt": {"type": "regex", "pattern": r"\d+", "mode": "search"}}})
    judgments, _ = asyncio.run(openrlhf.ascore_queries(reward.ascore, QUERIES[:1], PROMPTS[:1], ["11"]))
    result = openrlhf.result_lists(judgments, reward, math.nan)
    assert "step_scores" not in result and not any(k.startswith("step_scores/") for k in result["extra_logs"])


def test_openrlhf_executor_and_samples_generator_take_the_aggregate_and_log_the_steps(hook_config):
    pytest.importorskip("openrlhf.utils.agent", reason="OpenRLHF is not importable here (scripts/setup.sh all installs it)")
    torch = pytest.importorskip("torch")
    from openrlhf.trainer.ppo_utils.experience import Experience
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    into_experience = openrlhf_function("trainer/ppo_utils/samples_generator.py", "_process_response_into_experience", {"torch": torch, "Experience": Experience})
    compute_reward = openrlhf_function("models/utils.py", "compute_reward", {"torch": torch, **vars(typing)})

    hook = SingleTurnAgentExecutor(openrlhf.__file__)  # --reward.remote_url path/to/openrlhf.py
    infos = asyncio.run(hook._fetch_rewards_via_func(QUERIES[:2], PROMPTS[:2], ["11", "12"]))  # one query per call
    experiences = []
    for info, prompt in zip(infos, PROMPTS, strict=False):
        # what SingleTurnAgentExecutor.execute stores after the call, for a 6-token prompt and 5-token response
        response = {
            "prompt": prompt, "label": None, "images": None, "mm_train_inputs": None,
            "observation_tokens": list(range(11)), "action_ranges": [(6, 11)], "rollout_log_probs": None, "truncated": False,
            "reward": info.get("rewards"), "scores": info.get("scores") if info.get("scores") is not None else info.get("rewards"),
            "extra_logs": info.get("extra_logs") or {},
        }
        experiences.append(into_experience(None, response, max_len=64))
    assert [float(e.rewards[0]) for e in experiences] == [0.0, 1.0]  # the min over the steps
    assert [float(e.info["step_scores/first_error"][0]) for e in experiences] == [1.0, -1.0]
    assert [float(e.info["step_scores/count"][0]) for e in experiences] == [2.0, 1.0]
    assert float(experiences[0].info["step_scores/mean"][0]) == 0.5
    # OpenRLHF's compute_reward: the one number lands on the response's last token
    mask = experiences[0].action_mask
    placed = compute_reward(experiences[0].rewards, 0.0, torch.zeros(mask.shape, dtype=torch.float32), action_mask=mask)
    assert placed.nonzero().numel() == 0 and placed.shape == mask.shape  # reward 0.0 for the first
    placed = compute_reward(experiences[1].rewards, 0.0, torch.zeros(mask.shape, dtype=torch.float32), action_mask=mask)
    last = int(mask[0].nonzero().max())
    assert placed[0, last] == 1.0 and placed.sum() == 1.0
    # why only the aggregate: a per-step list where OpenRLHF expects the reward is refused by its own code
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        bad = dict(response, reward=torch.tensor([1.0, 0.0, 1.0]))
        into_experience(None, bad, max_len=64)
    rows = {json.loads(line)["query"]: json.loads(line) for line in hook_config.read_text().splitlines()}  # the two calls run in threads: any order
    assert [rows[q]["step_scores"] for q in QUERIES[:2]] == [[1.0, 0.0, None], [1.0, None]]


def test_server_get_reward_returns_step_scores():
    pytest.importorskip("fastapi")
    pytest.importorskip("openrlhf.utils.agent", reason="OpenRLHF is not importable here")
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    from assay.serve.runner import ServerThread

    with ServerThread(CONFIG) as server:
        remote = SingleTurnAgentExecutor(server.url + "/get_reward")
        (by_http,) = asyncio.run(remote._fetch_rewards_via_http(QUERIES[:2], PROMPTS[:2], ["11", "12"]))
    assert by_http["rewards"] == [0.0, 1.0]
    assert by_http["step_scores"] == [[1.0, 0.0, None], [1.0, None]]
    assert by_http["extra_logs"]["step_scores/first_error"] == [1.0, -1.0]
