"""Judges that use tools against the real llama.cpp server with the packaged Gemma-3-270M.

The small model rarely calls a tool by itself, so the tests constrain its replies with the
server's own machinery: a JSON schema (``response_format``) that forces one text-protocol
call ``{"tool": ..., "input": ...}``, a GBNF grammar that forces a ``Score: N`` verdict, or
``tool_choice`` that forces an OpenAI tool call. What is checked is assay's side: the loop,
the bounds, the transcript, and that the verdict is parsed or is a typed failure; not the
model's wisdom. With ``ASSAY_TOOL_TRANSCRIPT=folder`` the text-protocol tests write their
judgments and requests there (the transcripts shown in docs/rewards/tool-judges.md).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from test_judge_llama import MODEL, llama_url  # noqa: F401

from assay.backends.openai import OpenAIBackend
from assay.rewards.judges.pairwise import PairwiseJudge
from assay.rewards.judges.pointwise import PointwiseJudge
from assay.rewards.judges.rubric import RubricReward
from assay.sandbox import backends as sandbox_backends
from assay.types import Pair, Sample

ISOLATED = [name for name in ("bwrap", "unshare") if not isinstance(sandbox_backends._probe(sandbox_backends.BACKENDS[name]()), str)]
SAMPLE = Sample(prompt="What is 17 * 23?", response="17 * 23 = 391.")
VERDICT_GRAMMAR = 'root ::= "I checked the product with the calculator. Score: " [1-9]'


def forced_call(tool: str, text: str) -> dict[str, Any]:
    """A JSON schema that lets the model write only ``{"tool": tool, "input": text}``."""
    schema = {"type": "object", "properties": {"tool": {"type": "string", "enum": [tool]}, "input": {"type": "string", "enum": [text]}}, "required": ["tool", "input"]}
    return {"response_format": {"type": "json_object", "schema": schema}}


class Constrained:
    """The real OpenAI-compatible backend, with the reply of turn k (k assistant messages
    so far in the conversation) constrained by ``turns[k]`` (extra request fields), free
    where there is none."""

    def __init__(self, backend: OpenAIBackend, turns: dict[int, dict[str, Any]]) -> None:
        self.backend, self.turns = backend, turns
        self.model, self.mode = backend.model, backend.mode
        self.requests: list[dict[str, Any]] = []

    async def complete(self, messages, **params):
        turn = sum(m.get("role") == "assistant" for m in messages)
        extra = self.turns.get(turn, {})
        self.requests.append({"turn": turn, "params": sorted(params), "constrained": sorted(extra), "last": messages[-1]["content"]})
        return await self.backend.complete(messages, **params, **extra)


def keep(name: str, judgment, backend: Constrained) -> None:
    """Write the judgment and the requests to ``$ASSAY_TOOL_TRANSCRIPT/name.json`` when asked."""
    folder = os.environ.get("ASSAY_TOOL_TRANSCRIPT")
    if folder:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{name}.json"), "w") as handle:
            json.dump({"judgment": judgment.to_dict(), "requests": backend.requests}, handle, indent=2)


def backend_for(url: str, turns: dict[int, dict[str, Any]]) -> Constrained:
    return Constrained(OpenAIBackend(url, model=MODEL, timeout=120, retries=1), turns)


def test_text_protocol_one_forced_calculator_call(llama_url) -> None:  # noqa: F811
    backend = backend_for(llama_url, {0: forced_call("calculator", "17 * 23")})
    judge = PointwiseJudge(client=backend, tools=["calculator"], tool_protocol="text", max_tool_calls=2, max_tokens=48)
    try:
        judgment = judge.score([SAMPLE])[0]
    finally:
        judge.close_tools()
    record = judgment.details["tools"]
    first = record["turns"][0]
    assert json.loads(first["reply"]) == {"tool": "calculator", "input": "17 * 23"}
    assert first["calls"][0] | {"seconds": 0} == {"tool": "calculator", "input": "17 * 23", "answer": "391", "error": False, "seconds": 0, "chars": 3, "truncated": False}
    assert backend.requests[1]["last"] == '<result tool="calculator">\n391\n</result>'  # the answer went back to the model
    assert 2 <= len(backend.requests) <= 3 and record["protocol"] == "text"
    if judgment.failure is None:  # the free verdict: read by the usual parser, or a typed failure
        assert 0.0 <= judgment.score <= 1.0 and record["stopped"] in ("verdict", "verdict_after_limit")
    else:
        assert judgment.failure.kind == "parse" and judgment.details["tools"]["calls"] >= 1
    keep("one_forced_call", judgment, backend)


def test_text_protocol_bounds_on_the_real_server(llama_url, chinook) -> None:  # noqa: F811
    """Every turn forced to call: a 1 MB answer (an SQL value, truncated), a hanging calculation
    (stopped at its bound), then past max_tool_calls the verdict is asked without tools
    (grammar: parsed)."""
    turns = {0: forced_call("sql", "SELECT hex(zeroblob(500000))"), 1: forced_call("calculator", "isprime(2**99991 - 1)"), 2: {"grammar": VERDICT_GRAMMAR}}
    backend = backend_for(llama_url, turns)
    tools = [{"calculator": {"timeout_seconds": 30}}, {"sql": {"database": chinook, "max_value_bytes": 2_000_000}}]
    judge = PointwiseJudge(client=backend, tools=tools, tool_protocol="text", max_tool_calls=2, tool_timeout_seconds=2, max_tool_result_chars=500, max_tokens=48)
    try:
        judgment = judge.score([SAMPLE])[0]
    finally:
        judge.close_tools()
    keep("bounds", judgment, backend)
    record = judgment.details["tools"]
    big, hang = record["turns"][0]["calls"][0], record["turns"][1]["calls"][0]
    assert big["truncated"] is True and big["chars"] > 1_000_000 and "[... truncated: the tool answered 1,000," in big["answer"] and len(big["answer"]) < 700
    assert hang["error"] is True and "within 2 s" in hang["answer"]
    assert len(backend.requests) == 3 and "stop" not in backend.requests[2]["params"]
    assert "No more tool calls are allowed (the limit of 2 tool calls per judgment is reached)" in backend.requests[2]["last"]
    assert judgment.score == pytest.approx((int(judgment.details["raw_score"]) - 1) / 9) and record["stopped"] == "verdict_after_limit"


def test_a_call_past_the_limit_on_the_real_server_is_a_parse_failure(llama_url) -> None:  # noqa: F811
    turns = {0: forced_call("calculator", "17 * 23"), 1: forced_call("calculator", "17 * 24")}
    backend = backend_for(llama_url, turns)
    judge = PointwiseJudge(client=backend, tools=["calculator"], tool_protocol="text", max_tool_calls=1, max_tokens=48)
    try:
        judgment = judge.score([SAMPLE])[0]
    finally:
        judge.close_tools()
    keep("past_the_limit", judgment, backend)
    assert judgment.failure is not None and judgment.failure.kind == "parse"
    assert "asked for another tool call after its limit (1 call)" in judgment.rationale
    assert judgment.details["tools"]["stopped"] == "asked_after_limit" and len(backend.requests) == 2


@pytest.mark.skipif(not ISOLATED, reason="no isolating sandbox backend here")
def test_python_tool_hangs_and_floods_on_the_real_server(llama_url) -> None:  # noqa: F811
    turns = {0: forced_call("python", "while True: pass"), 1: forced_call("python", "print('x' * 1000000)"), 2: {"grammar": VERDICT_GRAMMAR}}
    backend = backend_for(llama_url, turns)
    judge = PointwiseJudge(client=backend, tools=["python"], tool_protocol="text", max_tool_calls=2, tool_timeout_seconds=1, max_tokens=48)
    try:
        judgment = judge.score([SAMPLE])[0]
    finally:
        judge.close_tools()
    hang, flood = (turn["calls"][0] for turn in judgment.details["tools"]["turns"][:2])
    assert "time limit exceeded" in hang["answer"] or "did not answer within 1 s" in hang["answer"]
    assert flood["truncated"] is True and flood["chars"] >= 65536  # the sandbox's own output cap, then the loop's
    assert judgment.ok


def test_openai_protocol_with_a_forced_tool_call(llama_url) -> None:  # noqa: F811
    """``tool_choice`` makes the server write an OpenAI tool call: assay reads ``tool_calls``,
    runs the calculator on whatever arguments came (an unreadable expression is an error
    answer), sends a ``role: tool`` message back, and reads the verdict or fails it, typed."""
    turns = {0: {"tool_choice": {"type": "function", "function": {"name": "calculator"}}}, 1: {"grammar": VERDICT_GRAMMAR}}
    backend = backend_for(llama_url, turns)
    judge = PointwiseJudge(client=backend, tools=["calculator"], max_tool_calls=1, max_tokens=48)
    try:
        judgment = judge.score([SAMPLE])[0]
    finally:
        judge.close_tools()
    record = judgment.details["tools"]
    assert record["protocol"] == "openai" and "tools" in backend.requests[0]["params"]
    call = record["turns"][0]["calls"][0]
    assert call["tool"] == "calculator" and call["id"]
    assert call["error"] is False or call["answer"].startswith("error: ")
    assert judgment.ok and record["stopped"] == "verdict_after_limit"


def test_pairwise_and_rubric_judges_call_tools_on_the_real_server(llama_url) -> None:  # noqa: F811
    backend = backend_for(llama_url, {0: forced_call("calculator", "17 * 23"), 1: {"grammar": 'root ::= "The product is 391. [[" [AB] "]]"'}})
    judge = PairwiseJudge(client=backend, tools=["calculator"], tool_protocol="text", max_tool_calls=1, max_tokens=48)
    try:
        preference = judge.compare([Pair(prompt="What is 17 * 23?", response_a="391", response_b="401")])[0]
    finally:
        judge.close_tools()
    assert preference.winner in ("a", "b") and preference.meta["tools"]["turns"][0]["calls"][0]["answer"] == "391"
    backend = backend_for(llama_url, {0: forced_call("calculator", "17 * 23"), 1: {"grammar": 'root ::= "The product is 391. Verdict: " ("MET" | "NOT MET")'}})
    rubric = RubricReward(client=backend, tools=["calculator"], tool_protocol="text", max_tool_calls=1, max_tokens=48)
    try:
        judgment = rubric.score([Sample(prompt="What is 17 * 23?", response="391", extra={"rubric": ["The product is right."]})])[0]
    finally:
        rubric.close_tools()
    assert judgment.ok and judgment.details["criterion_1"]["tools"]["turns"][0]["calls"][0]["answer"] == "391"
