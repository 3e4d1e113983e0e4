"""The Open Reward Standard both ways, through the ``openreward`` SDK's own classes (0.1.167):
assay rewards as an ORS environment served by ORS's ``Server`` and called by its
``AsyncEnvironmentsAPI`` client (sessions, the terminal tool, ``score_group``), and ORS
environments (over HTTP and in-process) as the assay reward ``type: ors``."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("openreward")

import uvicorn  # noqa: E402
from openreward.api.environments.client import AsyncEnvironmentsAPI  # noqa: E402
from openreward.environments import Server  # noqa: E402

from assay.compose.load import load_reward as load  # noqa: E402
from assay.integrations.ors import assay_environment  # noqa: E402
from assay.types import Sample  # noqa: E402

FUNCS = Path(__file__).resolve().parent / "serve_rewards.py"
ENVS = Path(__file__).resolve().parent / "ors_envs.py"
TASKS = {"train": [{"prompt": "2+2?", "reference": "4"}, {"prompt": "1+1?", "reference": "2"}]}


def config(extra: dict | None = None) -> dict:
    return {
        "rewards": {
            "risky": {"type": "function", "path": f"{FUNCS}:risky", "weight": 1.0},
            "size": {"type": "function", "path": f"{FUNCS}:length", "weight": 0.0},
        },
        **(extra or {}),
    }


class Serving:
    """ORS's own ``Server`` app on uvicorn, on a free loopback port, in a thread."""

    def __init__(self, environments: list) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.server = uvicorn.Server(uvicorn.Config(Server(environments).app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Serving:
        # sse-starlette 2.x (ORS's pin) keeps one exit event per process, bound to the event loop
        # of the first server that streamed; a second server in this process needs a fresh one
        from sse_starlette.sse import AppStatus

        AppStatus.should_exit_event = None
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_assay_config_as_an_ors_environment_through_ors_server_and_client():
    Env = assay_environment(config(), TASKS, name="AssayMath")
    listed = Env.list_tools()
    assert listed.terminal_tool is not None and listed.terminal_tool.name == "answer" and listed.supports_score_group

    async def episode(url: str) -> dict:
        api = AsyncEnvironmentsAPI(base_url=url, api_key="")
        try:
            env = api.get("assaymath")
            out = {"splits": await env.list_splits(), "n": await env.num_tasks("train")}
            async with env.session(split="train", index=0) as session:
                out["prompt"] = await session.get_prompt()
                out["right"] = await session.call_terminal_tool("4")
            task = (await env.list_tasks("train"))[1]
            async with env.session(task=task) as session:
                out["wrong"] = await session.call_terminal_tool("3")
            async with env.session(split="train", index=0) as session:
                out["failed"] = await session.call_terminal_tool("raise")
            return out
        finally:
            await api.aclose()

    with Serving([Env]) as serving:
        out = asyncio.run(episode(serving.url))
    assert out["splits"] == ["train"] and out["n"] == 2 and out["prompt"][0].text == "2+2?"
    right = out["right"]
    assert right.reward == 1.0 and right.finished and "risky" in right.blocks[0].text
    assert right.metadata["components"]["risky"]["score"] == 1.0 and right.metadata["components"]["size"]["score"] == 1.0
    assert out["wrong"].reward == 0.0 and "differs from" in out["wrong"].metadata["components"]["risky"]["rationale"]
    failed = out["failed"]
    assert failed.reward is None and failed.finished  # ORS's "no reward", never a made-up number
    assert failed.metadata["failed"] is True and failed.metadata["failure"]["kind"] == "internal"
    assert "Traceback" not in json.dumps(failed.metadata)


def test_score_group_scores_the_group_and_raises_on_a_failure():
    from openreward.environments.types import GroupCandidate, Message, TextBlock

    Env = assay_environment(config({"combine": {"normalize": "group_zscore"}}), TASKS, name="AssayGroup")

    def candidate(text: str) -> GroupCandidate:
        return GroupCandidate(messages=[Message(role="user", blocks=[TextBlock(text="2+2?")]), Message(role="assistant", blocks=[TextBlock(text=text)])])

    env = Env(task_spec=TASKS["train"][0])
    scores = asyncio.run(env.score_group([candidate("4"), candidate("5"), candidate("4"), candidate("6")]))
    rewards = [s.reward for s in scores]
    assert rewards[0] == rewards[2] > 0 > rewards[1] == rewards[3]  # z-scored within the candidates
    with pytest.raises(RuntimeError, match="candidate 1 could not be scored"):
        asyncio.run(env.score_group([candidate("4"), candidate("raise")]))
    # the terminal tool sees one answer: a group-wise config is refused there, not given a z-score of 0
    from openreward.environments.types import RunToolSuccess

    alone = asyncio.run(env.call_terminal_tool("4")).root
    assert isinstance(alone, RunToolSuccess) and alone.output.reward is None
    assert alone.output.metadata["failure"]["kind"] == "input" and "score_group" in alone.output.metadata["rationale"]


def test_ors_environment_as_an_assay_reward_over_http_and_in_process():
    from ors_envs import Arithmetic

    samples = [
        Sample(response="4", extra={"task": {"question": "2+2?", "answer": "4"}}),
        Sample(response="5", extra={"task": {"question": "2+2?", "answer": "4"}}),
        Sample(response="7", extra={"split": "test", "index": 1}),  # the environment's task 1 of split test: 3+4
        Sample(response="no reward please", extra={"task": {"question": "?", "answer": "x"}}),
        Sample(response="4"),  # no task
    ]
    with Serving([Arithmetic]) as serving:
        remote = load({"rewards": {"env": {"type": "ors", "url": serving.url, "environment": "arithmetic"}}})
        over_http = remote.score(samples)
    in_process = load({"rewards": {"env": {"type": "ors", "environment_class": f"{ENVS}:Arithmetic"}}}).score(samples)
    for judgments in (over_http, in_process):
        env = [j.details["env"] for j in judgments]
        assert [j.score for j in env[:3]] == [1.0, 0.0, 1.0]
        assert "correct" in env[0].rationale and "expected 4" in env[1].rationale
        assert env[3].score is None and env[3].failure is None and "no reward" in env[3].rationale  # abstained
        assert env[4].failure.kind == "input" and "no task" in env[4].rationale

    # a tool that is not there: the environment refuses it, an input failure
    bad = load({"rewards": {"env": {"type": "ors", "environment_class": f"{ENVS}:Arithmetic", "tool": "missing"}}}).score(samples[:1])
    assert bad[0].details["env"].failure.kind == "input"
    # nothing listening: a backend failure, never a score
    dead = load({"rewards": {"env": {"type": "ors", "url": "http://127.0.0.1:9", "environment": "arithmetic", "timeout": 20}}}).score(samples[:1])
    assert dead[0].details["env"].failure.kind in ("backend", "timeout")


def test_options_are_checked():
    from assay.spec import ConfigError

    for bad in ({"type": "ors"}, {"type": "ors", "url": "ftp://x", "environment": "e"}, {"type": "ors", "url": "http://x", "environment_class": "m:C"}):
        with pytest.raises((ConfigError, ValueError)):
            load({"rewards": {"env": bad}})
