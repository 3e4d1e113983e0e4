"""The trainer adapters, called the way each trainer calls them: TRL's keyword arguments (a
real GRPOTrainer step is in test_trl_grpo.py), veRL's loader and reward managers, OpenRLHF's
file hook; and the Ray engine on a small file, against the local engine's output."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import pickle
from pathlib import Path

import pytest

from assay.integrations import openrlhf, trl, verl

FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"
REPO = Path(__file__).resolve().parents[1]


def config(extra: dict | None = None) -> dict:
    cfg = {
        "rewards": {
            "risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0},
            "fmt": {"type": "regex", "pattern": r"\d+", "mode": "search", "weight": 0.5},
        }
    }
    cfg.update(extra or {})
    return cfg


class Extra:
    """Collects what TRL's log_extra / log_metric receive."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {}
        self.metrics: dict[str, float] = {}

    def log_extra(self, column: str, values: list) -> None:
        self.columns.setdefault(column, []).extend(values)

    def log_metric(self, name: str, value: float) -> None:
        self.metrics[name] = value


class State:
    def __init__(self, step: int) -> None:
        self.global_step = step


# --- TRL --------------------------------------------------------------------------------------
def test_trl_reward_funcs_shape_names_weights_and_rationales(tmp_path):
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    funcs, weights = trl.reward_funcs(path)
    assert [f.__name__ for f in funcs] == ["risky", "fmt"] and weights == [1.0, 0.5]
    extra = Extra()
    kwargs = dict(
        prompts=["2+2?", "2+2?", "say hi"],
        completions=["4", [{"role": "assistant", "content": "5"}], "raise"],
        completion_ids=[[1], [2], [3]],
        solution=["4", "4", "hi"],  # TRL passes dataset columns as aligned lists
        trainer_state=State(3),
        log_extra=extra.log_extra,
        log_metric=extra.log_metric,
    )
    out = [f(**kwargs) for f in funcs]
    assert out[0] == [1.0, 0.0, None]  # a failure is None (NaN in TRL), never 0
    # the third total failed (on_failure: fail): every term says None, or TRL's nansum would
    # train on fmt alone
    assert out[1] == [1.0, 1.0, None] and "not counted" in extra.columns["rationale/fmt"][2]
    assert all(isinstance(v, float) or v is None for col in out for v in col)
    assert "equals reference '4'" in extra.columns["rationale/risky"][0]
    assert extra.columns["rationale/risky"][2].startswith("[internal failure]")
    assert len(extra.columns["rationale/total"]) == 3
    assert extra.metrics["assay/risky/failed"] == pytest.approx(1 / 3)


def test_trl_components_refuse_steps_only_the_total_can_apply():
    with pytest.raises(ValueError, match="gates.*mode='total'"):
        trl.reward_funcs(config({"combine": {"gates": [{"reward": "fmt", "below": 1.0, "cap": 0.0}]}}))
    with pytest.raises(ValueError, match="on_failure 'skip'"):
        trl.reward_funcs(config({"combine": {"on_failure": "skip"}}))
    assert len(trl.reward_funcs(config({"combine": {"normalize": "group_zscore"}}), mode="total")[0]) == 1


def test_trl_callables_pickle_and_reference_column_option():
    funcs, _ = trl.reward_funcs(config(), reference_column="gold")
    clone = pickle.loads(pickle.dumps(funcs[0]))
    assert clone.__name__ == "risky"
    assert clone(prompts=["p"], completions=["7"], completion_ids=None, gold=["7"], answer=["8"]) == [1.0]
    with pytest.raises(ValueError, match="reference column 'gold'"):
        clone(prompts=["p"], completions=["7"], answer=["7"])


def test_trl_async_variant_runs_concurrently_and_scores_once():
    funcs, _ = trl.async_reward_funcs(config())
    from trl.trainer.utils import is_async_callable

    assert all(is_async_callable(f) for f in funcs)

    async def run():
        kwargs = dict(prompts=["p", "p"], completions=["4", "x"], completion_ids=None, reference=["4", "4"])
        return await asyncio.gather(*(f(**kwargs) for f in funcs))

    assert asyncio.run(run()) == [[1.0, 0.0], [1.0, 0.0]]


def test_trl_step_drives_schedules_and_total_mode():
    cfg = config()
    cfg["rewards"]["fmt"]["schedule"] = {"start": 0.0, "end": 1.0, "steps": 10, "kind": "linear"}
    funcs, weights = trl.reward_funcs(cfg)
    assert weights == [1.0, 1.0]  # the scheduled weight is applied by the callable
    kwargs = dict(prompts=["p"], completions=["4"], reference=["4"])
    assert funcs[1](trainer_state=State(0), **kwargs) == [0.0]
    assert funcs[1](trainer_state=State(5), **kwargs) == [pytest.approx(0.5)]
    (total,), (w,) = trl.reward_funcs(cfg, mode="total")
    assert total.__name__ == "assay_total" and w == 1.0
    assert total(trainer_state=State(10), **kwargs) == [pytest.approx(2.0)]
    assert total(trainer_state=State(10), prompts=["p"], completions=["raise"], reference=["4"]) == [None]


# --- veRL -------------------------------------------------------------------------------------
def _verl_loaded(tmp_path, name: str, **reward_kwargs):
    """The function as veRL loads it: ``get_custom_reward_fn`` (the file imported by path, the
    reward_kwargs merged over the call's kwargs). When the installed veRL cannot be imported
    (it needs tensordict, hydra, ...), the same two steps are done as veRL 0.9's
    ``load_extern_object`` and ``_call_with_kwargs(_async)`` do them."""
    try:
        from omegaconf import OmegaConf
        from verl.trainer.ppo.reward import get_custom_reward_fn
    except ImportError:
        import functools
        import inspect

        spec = importlib.util.spec_from_file_location("custom_module", verl.__file__)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        raw_fn = getattr(module, name)

        def call(*args, **kwargs):
            return raw_fn(*args, **{**kwargs, **reward_kwargs})

        async def call_async(*args, **kwargs):
            return await raw_fn(*args, **{**kwargs, **reward_kwargs})

        return functools.partial(call_async if inspect.iscoroutinefunction(raw_fn) else call)
    cfg = OmegaConf.create({"reward": {"custom_reward_function": {"path": verl.__file__, "name": name, "reward_kwargs": reward_kwargs}}})
    return get_custom_reward_fn(cfg)


def test_verl_compute_score_as_veRL_calls_it(tmp_path):
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    fn = _verl_loaded(tmp_path, "compute_score", config=str(path))
    extra_info = {"index": 0, "question": "2+2?", "num_turns": None, "rollout_reward_scores": {}}
    ok = fn(data_source="gsm8k", solution_str="4", ground_truth="4", extra_info=extra_info)
    bad = fn(data_source="gsm8k", solution_str="raise", ground_truth="4", extra_info=extra_info)
    assert ok["score"] == 1.5 and ok["failed"] == 0 and ok["risky"] == 1.0 and ok["fmt"] == 1.0
    per_component = {f"{p}{n}" for n in ("risky", "fmt") for p in ("", "rationale/")} | {"risky/failed", "fmt/failed"}
    assert set(ok) == set(bad) == {"score", "failed", "failure_kind", "rationale"} | per_component
    assert (ok["risky/failed"], bad["risky/failed"], bad["fmt/failed"]) == (0, 1, 0)
    assert bad["rationale/risky"].startswith("[internal failure]") and "injected failure" in bad["rationale/risky"]
    assert math.isnan(bad["score"]) and bad["failed"] == 1 and bad["failure_kind"] == "internal"
    assert math.isnan(bad["risky"]) and "injected failure" in bad["rationale"]
    assert all(isinstance(v, (int, float, str)) for v in bad.values())

    explicit = _verl_loaded(tmp_path, "compute_score", config=str(path), failure_score=-1.0)
    assert explicit(data_source="x", solution_str="raise", ground_truth="4", extra_info={})["score"] == -1.0


def test_verl_async_batch_and_env_config(tmp_path, monkeypatch):
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    monkeypatch.setenv("ASSAY_CONFIG", str(path))
    fn = _verl_loaded(tmp_path, "compute_score_async")
    result = asyncio.run(fn(data_source="d", solution_str="4", ground_truth="4", extra_info={}))
    assert result["score"] == 1.5
    import numpy as np

    batch = _verl_loaded(tmp_path, "compute_score_batch")
    # the batch reward manager passes numpy arrays and extra_infos dicts
    out = batch(data_sources=np.array(["d", "d"], dtype=object), solution_strs=["4", "raise"], ground_truths=["4", "4"], extra_infos=[{}, {}])
    assert [r["failed"] for r in out] == [0, 1] and set(out[0]) == set(out[1])
    monkeypatch.delenv("ASSAY_CONFIG")
    with pytest.raises(ValueError, match="ASSAY_CONFIG"):
        verl.compute_score("d", "4", "4")


def _verl_batch(tokenizer, prompts: list[str], responses: list[str], truths: list[str]):
    """A veRL DataProto as the rollout produces it: left-padded prompts, right-padded
    responses, one attention mask over both, and the non-tensor columns veRL's datasets carry."""
    import numpy as np
    import torch
    from verl import DataProto

    def padded(texts: list[str], left: bool) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        width = max(len(i) for i in ids)
        pad = tokenizer.pad_token_id or 0
        rows = [([pad] * (width - len(i)) + i) if left else (i + [pad] * (width - len(i))) for i in ids]
        mask = [([0] * (width - len(i)) + [1] * len(i)) if left else ([1] * len(i) + [0] * (width - len(i))) for i in ids]
        return torch.tensor(rows), torch.tensor(mask)

    prompt_ids, prompt_mask = padded(prompts, left=True)
    response_ids, response_mask = padded(responses, left=False)
    return DataProto.from_dict(
        tensors={"prompts": prompt_ids, "responses": response_ids, "attention_mask": torch.cat([prompt_mask, response_mask], dim=1)},
        non_tensors={
            "data_source": np.array(["gsm8k"] * len(prompts), dtype=object),
            "reward_model": np.array([{"ground_truth": t, "style": "rule"} for t in truths], dtype=object),
            "extra_info": np.array([{"index": i, "question": p} for i, p in enumerate(prompts)], dtype=object),
        },
    )


def test_verl_reward_managers_run_assay_compute_score(tmp_path):
    """veRL's own naive and batch reward managers, fed by ``get_custom_reward_fn`` from a
    veRL config, score a real DataProto: the score lands on each response's last token, every
    sample reports the same extra keys, and a failure stays visible (NaN, ``failed`` = 1)."""
    pytest.importorskip("verl.workers.reward_manager.batch", reason="veRL is not importable here (scripts/setup.sh all installs it)")
    from transformers import AutoTokenizer
    from verl.workers.reward_manager.batch import BatchRewardManager
    from verl.workers.reward_manager.naive import NaiveRewardManager

    from assay.backends.local_models import default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()))
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    prompts, responses, truths = ["what is 2 + 2 ?", "what is 3 + 4 ?", "what is 10 - 3 ?"], ["4", "8 apples", "raise"], ["4", "7", "7"]
    expected = [1.5, 0.5, None]  # risky (weight 1) + fmt (weight 0.5, a digit); "raise" makes risky fail
    managers = {
        "naive": NaiveRewardManager(tokenizer, num_examine=0, compute_score=_verl_loaded(tmp_path, "compute_score", config=str(path))),
        "batch": BatchRewardManager(tokenizer, num_examine=0, compute_score=_verl_loaded(tmp_path, "compute_score_batch", config=str(path))),
    }
    for kind, manager in managers.items():
        data = _verl_batch(tokenizer, prompts, responses, truths)
        out = manager(data, return_dict=True)
        rewards, info = out["reward_tensor"], out["reward_extra_info"]
        last = data.batch["attention_mask"][:, data.batch["prompts"].shape[-1]:].sum(-1) - 1
        for i, want in enumerate(expected):
            got = float(rewards[i, last[i]])
            assert (math.isnan(got) if want is None else got == pytest.approx(want)), (kind, i, got)
            assert float(rewards[i].abs().nan_to_num().sum() - abs(rewards[i, last[i]].nan_to_num())) == 0.0  # nothing elsewhere
        assert all(len(values) == len(prompts) for values in info.values()), kind
        assert {"score", "failed", "failure_kind", "rationale", "risky", "fmt"} <= set(info), kind
        assert info["failed"] == [0, 0, 1] and info["failure_kind"][2] == "internal", kind
        assert "injected failure" in info["rationale"][2] and "weighted sum" in info["rationale"][0], kind


# --- OpenRLHF ---------------------------------------------------------------------------------
def test_openrlhf_file_hook_as_openrlhf_loads_and_calls_it(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    log = tmp_path / "rationales.jsonl"
    monkeypatch.setenv("ASSAY_CONFIG", str(path))
    monkeypatch.setenv("ASSAY_RATIONALE_LOG", str(log))
    # OpenRLHF imports the file given as --remote_rm_url and calls reward_func positionally
    spec = importlib.util.spec_from_file_location("reward_func_module", openrlhf.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    queries = ["<bos>Q: 2+2?\nA: 4<end_of_turn>\n<eos>", "<bos>Q: 1+1?\nA: 3<eos>", "<bos>Q: 5?\nA: raise<eos>"]
    prompts = ["<bos>Q: 2+2?\nA:", "<bos>Q: 1+1?\nA:", "<bos>Q: 5?\nA:"]
    out = module.reward_func(queries, prompts, ["4", "2", "5"])
    assert isinstance(out["rewards"], torch.Tensor) and out["rewards"].dtype == torch.float32
    assert out["rewards"][:2].tolist() == [1.5, 0.5] and torch.isnan(out["rewards"][2])
    assert torch.equal(out["scores"][:2], out["rewards"][:2])
    assert out["extra_logs"]["failed"].tolist() == [0.0, 0.0, 1.0]
    assert out["extra_logs"]["risky"][:2].tolist() == [1.0, 0.0]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 3 and "injected failure" in rows[2]["rationale"]


def test_openrlhf_own_executor_loads_the_hook_and_calls_the_server(tmp_path, monkeypatch):
    """OpenRLHF 0.11's SingleTurnAgentExecutor, the code that calls a reward after each
    rollout: given the hook file as ``--remote_rm_url`` it imports ``reward_func`` and calls it;
    given ``http://.../get_reward`` it POSTs to assay's server (aiohttp, its retry loop)."""
    pytest.importorskip("openrlhf.utils.agent", reason="OpenRLHF is not importable here (scripts/setup.sh all installs it)")
    pytest.importorskip("fastapi")
    torch = pytest.importorskip("torch")
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    from assay.serve.runner import ServerThread

    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    monkeypatch.setenv("ASSAY_CONFIG", str(path))
    queries = ["<bos>Q: 2+2?\nA: 4<eos>", "<bos>Q: 1+1?\nA: 3<eos>", "<bos>Q: 5?\nA: raise<eos>"]
    prompts = ["<bos>Q: 2+2?\nA:", "<bos>Q: 1+1?\nA:", "<bos>Q: 5?\nA:"]
    labels = ["4", "2", "5"]

    hook = SingleTurnAgentExecutor(openrlhf.__file__)
    assert hook.reward_func is not None
    by_func = asyncio.run(hook._fetch_rewards_via_func(queries, prompts, labels))  # one query per call, as in a rollout
    assert [float(r["rewards"][0]) for r in by_func[:2]] == [1.5, 0.5] and torch.isnan(by_func[2]["rewards"][0])
    assert [float(r["extra_logs"]["failed"][0]) for r in by_func] == [0.0, 0.0, 1.0]

    with ServerThread(config()) as server:
        remote = SingleTurnAgentExecutor(server.url + "/get_reward")
        (by_http,) = asyncio.run(remote._fetch_rewards_via_http(queries, prompts, labels))
    assert by_http["rewards"][:2] == [1.5, 0.5] and math.isnan(by_http["rewards"][2])
    assert by_http["extra_logs"]["failed"] == [0, 0, 1] or by_http["extra_logs"]["failed"] == [0.0, 0.0, 1.0]
    assert "injected failure" in by_http["rationales"][2]


def test_openrlhf_split_query():
    assert openrlhf.split_query("PROMPT answer<|im_end|>\n<|endoftext|>", "PROMPT") == "answer"
    assert openrlhf.split_query("no prompt here", "PROMPT") is None
    samples, bad = openrlhf.make_samples(["a b", "zzz"], ["a", "q"], [1, 2])
    assert samples[0].response == "b" and list(bad) == [1] and bad[1].failure.kind == "input"


# --- Ray --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ray_engine_output_identical_to_local(tmp_path):
    pytest.importorskip("ray")
    from assay.compose.load import load_reward
    from assay.files.score_file import score_file
    from assay.integrations.ray_engine import score_file_ray

    path = tmp_path / "rewards.yaml"
    path.write_text(json.dumps(config()))
    rows = [{"id": i, "prompt": "p", "response": r, "reference": "4", "meta": {"k": [i]}} for i, r in enumerate(["4", "5", "raise", "x 4", "4"])]
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    summary_ray, errors_ray = score_file_ray(path, data, tmp_path / "ray.jsonl", batch_size=2, on_bad_line="skip")
    summary_local, errors_local = score_file(load_reward(path), data, tmp_path / "local.jsonl", batch_size=2, on_bad_line="skip", progress=False)
    assert (tmp_path / "ray.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()
    assert summary_ray.as_dict() == summary_local.as_dict()
    assert [str(e) for e in errors_ray] == [str(e) for e in errors_local] and len(errors_ray) == 1


def test_verl_group_steps_need_group_ids(tmp_path):
    cfg = config({"combine": {"normalize": "group_zscore"}})
    with pytest.raises(ValueError, match="compute_score_batch"):
        verl.compute_score("d", "4", "4", config=cfg)
    with pytest.raises(ValueError, match="group id"):
        verl.compute_score_batch(["d", "d"], ["4", "5"], ["4", "4"], [{}, {}], config=cfg)
    out = verl.compute_score_batch(["d", "d"], ["4", "5"], ["4", "4"], [{"uid": "p1"}, {"uid": "p1"}], config=cfg)
    assert out[0]["score"] > 0 > out[1]["score"] and out[0]["failed"] == 0
