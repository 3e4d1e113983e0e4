"""``assay serve`` as a NeMo Gym resources server: ``/seed_session`` then ``/verify``, as NeMo
Gym's simple agent calls them, answered with the composite's named ``reward_components``.

NeMo Gym 0.7.0 requires Python >= 3.13 (and Ray, vLLM, MLflow...), so it is not installed
here: this test is against its published schema, read from the nemo-gym 0.7.0 wheel on PyPI:
``nemo_gym/base_resources_server.py`` (``BaseVerifyRequest``: ``responses_create_params`` and
``response``; ``BaseVerifyResponse``: the request plus ``reward``, ``mask_sample``,
``failure_kind``, ``failure_reason``; ``BaseMultiRewardVerifyResponse``: plus
``reward_components: dict[str, float]``), ``nemo_gym/failure_kinds.py`` (the shared names),
``nemo_gym/judge.py`` (its failsafe answers ``reward: 0.0`` with ``mask_sample: true``) and
``responses_api_agents/simple_agent/app.py`` (``/seed_session``, then ``/verify`` with the
run request plus the model's ``response``; bodies read with orjson, which refuses NaN). The
request below has the shape of the rows of ``resources_servers/math_with_judge/data/
example_rollouts.jsonl``, cut to the fields a reward reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest
from pydantic import BaseModel, ConfigDict

pytest.importorskip("fastapi")

import httpx  # noqa: E402

from assay.integrations import nemo_gym  # noqa: E402
from assay.serve.app import Settings  # noqa: E402
from assay.serve.runner import ServerThread  # noqa: E402

FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"
# nemo_gym/failure_kinds.py FAILURE_KINDS (0.7.0), the names a verify answer may use
NEMO_GYM_KINDS = {"judge_failed", "judge_unparseable", "verifier_error", "transport_timeout", "provider_unavailable"}


class MultiRewardVerifyResponse(BaseModel):
    """The fields of NeMo Gym's ``BaseMultiRewardVerifyResponse`` this answer must carry, with
    NaN and infinities refused (orjson)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    responses_create_params: dict
    response: dict
    reward: float
    reward_components: dict[str, float]
    mask_sample: bool = False
    failure_kind: Optional[str] = None  # noqa: UP045 - as NeMo Gym spells it
    failure_reason: Optional[str] = None  # noqa: UP045


def config() -> dict:
    return {
        "rewards": {
            "correct": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0},
            "size": {"type": "function", "path": f"{FUNCS}:length", "weight": 0.0},
        },
        "combine": {"on_failure": "skip"},
    }


def verify_request(answer: str, expected: str = "4", **fields) -> dict:
    return {
        "responses_create_params": {
            "input": [{"content": "What is 2+2? Put the answer in \\boxed{}.", "role": "user", "type": "message"}],
            "instructions": None,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        },
        "response": {
            "id": "resp_1",
            "created_at": 1761955953.0,
            "model": "policy",
            "object": "response",
            "output": [
                {"id": "rs_1", "summary": [], "type": "reasoning", "encrypted_content": None},
                {"id": "msg_1", "content": [{"annotations": [], "text": answer, "type": "output_text", "logprobs": []}], "role": "assistant", "status": "completed", "type": "message"},
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        },
        "expected_answer": expected,
        **fields,
    }


def test_request_to_sample():
    sample = nemo_gym.verify_sample(verify_request("4", rubric="be exact"))
    assert sample.response == "4" and sample.reference == "4" and sample.get("rubric") == "be exact"
    assert sample.prompt == [{"role": "user", "content": "What is 2+2? Put the answer in \\boxed{}."}]
    string_input = verify_request("4")
    string_input["responses_create_params"]["input"] = "2+2?"
    string_input["responses_create_params"]["instructions"] = "Be brief."
    assert nemo_gym.verify_sample(string_input).prompt == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    assert nemo_gym.verify_sample(verify_request("4", expected="9", gold="4"), reference_field="gold").reference == "4"
    with pytest.raises(ValueError, match="response"):
        nemo_gym.verify_sample({"responses_create_params": {}})


def test_seed_then_verify_as_the_simple_agent_calls_them():
    with ServerThread(config()) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        run_request = {k: v for k, v in verify_request("4").items() if k != "response"}
        assert client.post("/seed_session", json=run_request).status_code == 200
        seeded = client.post("/seed_session", json={"resources_session_id": "s1", "episode_id": "e", "task_id": "t", "task_data": {}})
        assert seeded.json() == {"resources_session_id": "s1"}

        body = verify_request("4")
        r = client.post("/verify", json=body)
        assert r.status_code == 200
        answer = MultiRewardVerifyResponse.model_validate_json(r.text)
        assert answer.reward == 1.0 and answer.reward_components == {"correct": 1.0, "size": 1.0}
        assert answer.mask_sample is False and answer.failure_kind is None
        extra = answer.model_extra or {}
        assert extra["correct"] == 1.0 and extra["size"] == 1.0  # top-level, for NeMo Gym's aggregate metrics
        assert extra["expected_answer"] == "4" and answer.response == body["response"]  # the request echoed
        assert "equals reference" in extra["assay"]["components"]["correct"]["rationale"]

        wrong = MultiRewardVerifyResponse.model_validate_json(client.post("/verify", json=verify_request("5")).text)
        assert wrong.reward == 0.0 and wrong.reward_components["correct"] == 0.0 and not wrong.mask_sample

        # a failed component: masked, named, in NeMo Gym's failure vocabulary, strict JSON
        failed = client.post("/verify", json=verify_request("raise"))
        json.loads(failed.text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
        answer = MultiRewardVerifyResponse.model_validate_json(failed.text)
        assert answer.mask_sample is True and answer.failure_kind == "verifier_error" and answer.failure_kind in NEMO_GYM_KINDS
        assert "correct: assay internal failure" in answer.failure_reason
        assert answer.reward_components["correct"] == 0.0  # in place of the failed score, with mask_sample
        assert (answer.model_extra or {})["instance_config"]["mask_sample"] is True

        r = client.post("/verify", json={"responses_create_params": {}, "response": {"output": "x"}})
        assert r.status_code == 422 and "response.output" in r.json()["error"]["message"]
        assert 'endpoint="/verify"' in client.get("/metrics").text


def test_failure_score_is_explicit():
    with ServerThread(config(), Settings(failure_score=-1.0)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post("/verify", json=verify_request("raise")).json()
        assert answer["reward_components"]["correct"] == -1.0 and answer["mask_sample"] is True


def test_group_configs_are_refused_per_rollout():
    grouped = config() | {"combine": {"normalize": "group_zscore"}}
    with ServerThread(grouped) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        answer = MultiRewardVerifyResponse.model_validate_json(client.post("/verify", json=verify_request("4")).text)
    assert answer.mask_sample is True and answer.failure_kind == "verifier_error" and "within their group" in answer.failure_reason


def test_nemo_gyms_own_models_when_its_source_is_given():
    """The request built and the answer read with NeMo Gym's own pydantic models
    (``BaseVerifyRequest``, ``BaseMultiRewardVerifyResponse``, ``failure_kinds``), imported from
    the folders named by ``ASSAY_NEMO_GYM_SRC`` (``os.pathsep``-separated: the unpacked nemo-gym
    wheel and its import-time packages). nemo-gym requires Python >= 3.13 to install, so this is
    skipped unless you point it at them; its models themselves import on 3.11."""
    import os
    import sys

    src = os.environ.get("ASSAY_NEMO_GYM_SRC")
    if not src:
        pytest.skip("set ASSAY_NEMO_GYM_SRC to the unpacked nemo-gym wheel (and its import-time packages) to use NeMo Gym's own models")
    sys.path[:0] = src.split(os.pathsep)
    import orjson
    from nemo_gym.base_resources_server import BaseMultiRewardVerifyResponse, BaseVerifyRequest
    from nemo_gym.failure_kinds import is_registered

    class MathVerifyRequest(BaseVerifyRequest):  # as resources_servers/math_with_judge declares its request
        expected_answer: str

    with ServerThread(config()) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for reply, reward, masked in (("4", 1.0, False), ("5", 0.0, False), ("raise", 0.0, True)):
            request = MathVerifyRequest.model_validate(verify_request(reply))
            r = client.post("/verify", json=request.model_dump(mode="json"))  # what the simple agent posts
            assert r.status_code == 200
            orjson.loads(r.content)  # NeMo Gym's reader
            answer = BaseMultiRewardVerifyResponse.model_validate_json(r.text)
            assert answer.reward == reward and answer.mask_sample is masked and set(answer.reward_components) == {"correct", "size"}
            assert answer.failure_kind is None or is_registered(answer.failure_kind)
