"""slime's two reward hooks against assay: its ``remote_rm`` client posting to ``assay serve``,
and its ``--custom-rm-path`` call of ``assay.integrations.slime.reward_func``.

slime is not on PyPI (and needs SGLang and Megatron), so it cannot be installed here. The
tests replay what its code does, read at THUDM/slime commit 624b824 (2026-08-21):
``slime/rollout/rm_hub/__init__.py``'s ``remote_rm`` posts ``{"prompt": sample.prompt,
"response": sample.response, "label": sample.label}`` with aiohttp to ``args.rm_url``, calls
``raise_for_status()`` and stores ``await resp.json()`` as ``sample.reward``; ``async_rm``
calls ``await rm_function(args, sample)`` and ``batched_async_rm`` (``--group-rm``) calls
``await rm_function(args, samples)`` expecting one reward per sample in order; with
``--reward-key K`` slime reads ``sample.reward[K]``. ``SlimeSample`` has the fields of
``slime.utils.types.Sample`` that a reward sees."""

from __future__ import annotations

import asyncio
import math
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from assay.integrations import slime

FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"


def config() -> dict:
    return {
        "rewards": {
            "risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0},
            "size": {"type": "function", "path": f"{FUNCS}:length", "weight": 0.0},
        }
    }


@dataclass
class SlimeSample:
    """The reward-facing fields of slime's ``Sample`` (slime/utils/types.py)."""

    group_index: int | None = None
    index: int | None = None
    prompt: str | list[dict[str, str]] = ""
    response: str = ""
    label: str | None = None
    reward: float | dict[str, Any] | None = None
    metadata: dict = field(default_factory=dict)


async def slime_remote_rm(rm_url: str, sample: SlimeSample) -> Any:
    """What slime's ``remote_rm`` does with one sample (retries left out)."""
    import aiohttp

    payload = {"prompt": sample.prompt, "response": sample.response, "label": sample.label}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session, session.post(rm_url, json=payload) as resp:
        resp.raise_for_status()
        return await resp.json()


def test_custom_rm_path_single_and_reward_key(monkeypatch):
    monkeypatch.setenv("ASSAY_CONFIG", "")
    args = Namespace(reward_key=None, assay_config=config())
    good = SlimeSample(index=0, prompt="2+2?", response="4", label="4")
    assert asyncio.run(slime.reward_func(args, good)) == 1.0
    assert asyncio.run(slime.reward_func(args, SlimeSample(response="5", label="4"))) == 0.0
    failed = asyncio.run(slime.reward_func(args, SlimeSample(response="raise", label="4")))
    assert math.isnan(failed)  # a failed total is NaN, never a made-up 0

    keyed = Namespace(reward_key="score", assay_config=config())
    row = asyncio.run(slime.reward_func(keyed, good))
    assert row["score"] == 1.0 and row["failed"] == 0 and row["risky"] == 1.0 and row["size"] == 1.0
    assert "risky" in row["rationale"]
    # slime's own read of a keyed reward: sample.reward[args.reward_key]
    good.reward = row
    assert good.reward[keyed.reward_key] == 1.0
    other = asyncio.run(slime.reward_func(Namespace(reward_key="total", assay_config=config()), SlimeSample(response="raise", label="x")))
    assert math.isnan(other["total"]) and other["failed"] == 1 and other["failure_kind"] == "internal"

    chosen = asyncio.run(slime.reward_func(Namespace(reward_key=None, assay_config=config(), assay_failure_score=-1.0), SlimeSample(response="raise")))
    assert chosen == -1.0


def test_group_rm_list_in_order_and_groups_normalised():
    cfg = config() | {"combine": {"normalize": "group_zscore"}}
    args = Namespace(reward_key=None, assay_config=cfg)
    group = [SlimeSample(group_index=7, index=i, prompt="p", response=r, label="4") for i, r in enumerate(["4", "5", "4", "6"])]
    rewards = asyncio.run(slime.reward_func(args, group))
    assert isinstance(rewards, list) and len(rewards) == 4
    assert rewards[0] == rewards[2] > 0 > rewards[1] == rewards[3]  # z-scored within the group, in input order
    # no group_index: the list slime gave is one group
    plain = [SlimeSample(response=r, label="4") for r in ["4", "5"]]
    assert asyncio.run(slime.reward_func(args, plain)) == pytest.approx([1.0, -1.0], abs=1e-4)  # eps in the std
    assert asyncio.run(slime.reward_func(args, [])) == []
    # one sample of a group-wise config (no --group-rm): refused, not a made-up z-score of 0
    one = asyncio.run(slime.reward_func(Namespace(reward_key="score", assay_config=cfg), SlimeSample(response="4", label="4")))
    assert math.isnan(one["score"]) and one["failure_kind"] == "input" and "--group-rm" in one["rationale"]


def test_metadata_becomes_sample_fields():
    sample = slime.from_slime(SlimeSample(index=3, prompt=[{"role": "user", "content": "hi"}], response="r", label="l", metadata={"rubric": "be kind"}, group_index=2))
    assert sample.reference == "l" and sample.id == 3 and sample.group == 2 and sample.get("rubric") == "be kind"
    assert sample.prompt_text == "user: hi"


def test_remote_rm_answered_by_assay_serve():
    pytest.importorskip("fastapi")
    pytest.importorskip("aiohttp")
    import httpx

    from assay.serve.app import Settings
    from assay.serve.runner import ServerThread

    with ServerThread(config()) as server:
        url = server.url + "/slime"
        assert asyncio.run(slime_remote_rm(url, SlimeSample(prompt="2+2?", response="4", label="4"))) == 1.0
        assert asyncio.run(slime_remote_rm(url, SlimeSample(prompt="2+2?", response="5", label="4"))) == 0.0
        assert math.isnan(asyncio.run(slime_remote_rm(url, SlimeSample(prompt="q", response="raise", label="4"))))
        chat = SlimeSample(prompt=[{"role": "user", "content": "2+2?"}], response="4", label="4")
        assert asyncio.run(slime_remote_rm(url, chat)) == 1.0

        detail = asyncio.run(slime_remote_rm(url + "?detail=1", SlimeSample(prompt="q", response="raise", label="4")))
        assert math.isnan(detail["score"]) and detail["failed"] == 1 and detail["failure_kind"] == "internal"
        assert "injected failure" in detail["rationale"] and "Traceback" not in detail["rationale"]
        ok = asyncio.run(slime_remote_rm(url + "?detail=1", SlimeSample(response="4", label="4")))
        assert ok["score"] == 1.0 and ok["risky"] == 1.0 and ok["size"] == 1.0

        r = httpx.post(url, json={"prompt": "q", "label": "4"})
        assert r.status_code == 422 and "response" in r.json()["error"]["message"]
        r = httpx.post(url, json=["not", "an", "object"])
        assert r.status_code == 422
        assert 'endpoint="/slime"' in httpx.get(server.url + "/metrics").text

    with ServerThread(config(), Settings(failure_score=-1.0)) as server:
        assert asyncio.run(slime_remote_rm(server.url + "/slime", SlimeSample(response="raise"))) == -1.0

    with ServerThread(config() | {"combine": {"normalize": "group_zscore"}}) as server:  # one sample per request
        detail = asyncio.run(slime_remote_rm(server.url + "/slime?detail=1", SlimeSample(response="4", label="4")))
        assert math.isnan(detail["score"]) and detail["failure_kind"] == "input" and "--group-rm" in detail["rationale"]


def test_slimes_own_rm_hub_when_its_source_is_given():
    """slime's own ``rm_hub`` (``async_rm``, ``batched_async_rm``, ``remote_rm``) and ``Sample``,
    imported from a slime checkout named by ``ASSAY_SLIME_SRC`` (slime is not on PyPI, so this
    is skipped unless you point it at one; its rm_hub needs only torch and aiohttp)."""
    import os
    import sys

    src = os.environ.get("ASSAY_SLIME_SRC")
    if not src:
        pytest.skip("set ASSAY_SLIME_SRC to a THUDM/slime checkout to run slime's own reward code")
    sys.path.insert(0, src)
    from slime.rollout.rm_hub import async_rm, batched_async_rm
    from slime.utils.types import Sample

    from assay.serve.runner import ServerThread

    custom = Namespace(rm_type=None, custom_rm_path="assay.integrations.slime.reward_func", reward_key=None, assay_config=config())
    assert asyncio.run(async_rm(custom, Sample(prompt="2+2?", response="4", label="4"))) == 1.0
    group = [Sample(group_index=3, index=i, prompt="p", response=r, label="4") for i, r in enumerate(["4", "5", "raise"])]
    rewards = asyncio.run(batched_async_rm(custom, group))
    assert rewards[:2] == [1.0, 0.0] and math.isnan(rewards[2])

    with ServerThread(config()) as server:
        plain = Namespace(rm_type="remote_rm", rm_url=server.url + "/slime", custom_rm_path=None, reward_key=None)
        keyed = Namespace(rm_type="remote_rm", rm_url=server.url + "/slime?detail=1", custom_rm_path=None, reward_key="score")

        async def run() -> tuple[list, Sample]:  # one event loop: slime's shared aiohttp session is bound to it
            scores = [await async_rm(plain, Sample(prompt="2+2?", response=r, label="4")) for r in ["4", "5", "raise"]]
            sample = Sample(prompt="2+2?", response="4", label="4")
            sample.reward = await async_rm(keyed, sample)
            return scores, sample

        scores, sample = asyncio.run(run())
    assert scores[:2] == [1.0, 0.0] and math.isnan(scores[2])
    assert sample.get_reward_value(keyed) == 1.0 and sample.reward["risky"] == 1.0
