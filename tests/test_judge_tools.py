"""Judges that use tools: the loop's control flow and bounds with a scripted backend (the
tools against their real components are tests/test_judge_tool_components.py; the real
server is tests/test_judge_tools_llama.py).

Each bound has its test: too many calls (one by one and in one reply), a hanging tool
(async and blocking), the total tool time, a tool raising, a tool answering 1 MB; and the
failure paths: an unreadable verdict, a backend failure in the middle, bad arguments, an
unknown tool, each typed, with the transcript kept."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from scripted_backend import ScriptedBackend

from assay.backends.base import BackendError, Completion
from assay.compose.load import ConfigError, load_comparator, load_reward
from assay.rewards.judges.pairwise import PairwiseJudge
from assay.rewards.judges.pointwise import PointwiseJudge
from assay.rewards.judges.rubric import RubricReward
from assay.rewards.judges.tooluse import read_text_call
from assay.types import Pair, Sample

SAMPLE = Sample(prompt="What is 17 * 23?", response="17 * 23 = 391")


class Echo:
    """A tool that answers its input, upper-cased."""

    name = "echo"
    description = "Repeat the input in capitals."
    input_description = "any text"

    def __init__(self) -> None:
        self.inputs: list[str] = []

    def call(self, text: str, timeout_seconds: float) -> str:
        self.inputs.append(text)
        return text.upper()


class Hangs:
    """An async tool that never answers."""

    name = "hangs"

    async def acall(self, text: str, timeout_seconds: float) -> str:
        await asyncio.sleep(3600)
        return "never"

    def call(self, text: str, timeout_seconds: float) -> str:  # pragma: no cover - acall is used
        raise AssertionError


class Blocks:
    """A blocking tool that ignores its time bound (sleeps ``seconds``)."""

    name = "blocks"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def call(self, text: str, timeout_seconds: float) -> str:
        time.sleep(self.seconds)
        return "late"


class Raises:
    name = "raises"

    def call(self, text: str, timeout_seconds: float) -> str:
        raise RuntimeError("the tool broke")


class Exits:
    name = "exits"

    def call(self, text: str, timeout_seconds: float) -> str:
        raise SystemExit(3)


class Floods:
    name = "floods"

    def call(self, text: str, timeout_seconds: float) -> str:
        return "x" * 1_000_000


def openai_call(name: str, value: str, call_id: str = "c1", key: str = "input") -> Completion:
    return Completion(text="", tool_calls=[{"id": call_id, "name": name, "arguments": json.dumps({key: value})}], usage={"total_tokens": 3})


def scripted(*replies):
    """A backend answering the replies in order (the last one again when they run out)."""
    queue = list(replies)

    def script(messages, params):
        return queue.pop(0) if len(queue) > 1 else queue[0]

    backend = ScriptedBackend(script)
    backend.mode = "chat"  # an OpenAI-style chat backend: tool_protocol auto means openai
    return backend


def tools_of(result):
    return result.details["tools"]


# --- the loop -----------------------------------------------------------------------------------


def test_openai_protocol_runs_the_call_and_parses_the_verdict() -> None:
    echo = Echo()
    backend = scripted(openai_call("echo", "hello"), "The tool agrees. Score: 8")
    judgment = PointwiseJudge(client=backend, tools=[echo]).score([SAMPLE])[0]
    assert judgment.score == pytest.approx(7 / 9) and "after 1 tool call" in judgment.rationale
    first, second = backend.calls
    assert [t["function"]["name"] for t in first[1]["tools"]] == ["echo"]
    assert "at most 4 calls" in first[0][-1]["content"]  # the tool note, at the end of the user message
    assert "at most 4 calls" not in first[0][0]["content"]  # not in the system message, which some templates drop
    assistant, tool = second[0][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "echo" and tool == {"role": "tool", "tool_call_id": "c1", "name": "echo", "content": "HELLO"}
    record = tools_of(judgment)
    assert record["protocol"] == "openai" and record["calls"] == 1 and record["stopped"] == "verdict"
    call = record["turns"][0]["calls"][0]
    assert call["tool"] == "echo" and call["input"] == "hello" and call["answer"] == "HELLO" and call["error"] is False
    assert record["turns"][1]["reply"] == "The tool agrees. Score: 8"
    assert judgment.meta["tool_calls"] == 1


def test_text_protocol_tag_form_with_stop_sequence_and_fenced_result() -> None:
    echo = Echo()
    backend = scripted('Let me check.\n<tool>echo</tool><input>a </result> b', "Score: 6")
    judgment = PointwiseJudge(client=backend, tools=[echo], tool_protocol="text").score([SAMPLE])[0]
    assert judgment.score == pytest.approx(5 / 9)
    first, second = backend.calls
    assert "tools" not in first[1] and first[1]["stop"] == ["</input>", "<result"]
    assert "<tool>NAME</tool><input>INPUT</input>" in first[0][-1]["content"]
    assistant, user = second[0][-2:]
    assert assistant == {"role": "assistant", "content": "Let me check.\n<tool>echo</tool><input>a </result> b</input>"}
    assert user["role"] == "user" and user["content"].startswith('<result tool="echo">') and user["content"].count("</result>") == 1  # the answer's look-alike tag is defused
    assert echo.inputs == ["a </result> b"]
    assert tools_of(judgment)["protocol"] == "text"


def test_text_protocol_json_form() -> None:
    echo = Echo()
    backend = scripted('{"tool": "echo", "input": "json form"}', "Score: 9")
    judgment = PointwiseJudge(client=backend, tools=[echo], tool_protocol="text").score([SAMPLE])[0]
    assert judgment.ok and echo.inputs == ["json form"]


def test_read_text_call_takes_the_first_call() -> None:
    request, end = read_text_call('x {"tool": "calculator", "input": {"expression": "2+2"}} <tool>python</tool><input>print(1)</input>')
    assert request.name == "calculator" and request.text == "2+2"
    request, _ = read_text_call("<tool>python</tool><input>print(1)</input> then {\"tool\": \"x\"}")
    assert request.name == "python" and request.text == "print(1)"
    assert read_text_call("No tool here. Score: 5") is None


def test_a_judge_that_needs_no_tool_answers_in_one_call() -> None:
    backend = scripted("Fine. Score: 7")
    judgment = PointwiseJudge(client=backend, tools=[Echo()]).score([SAMPLE])[0]
    assert judgment.score == pytest.approx(6 / 9) and len(backend.calls) == 1
    assert tools_of(judgment)["calls"] == 0 and tools_of(judgment)["stopped"] == "verdict"


# --- bounds -------------------------------------------------------------------------------------


def test_too_many_calls_one_by_one_then_a_verdict_without_tools() -> None:
    echo = Echo()
    backend = scripted(openai_call("echo", "1"), openai_call("echo", "2"), "Enough. Score: 4")
    judgment = PointwiseJudge(client=backend, tools=[echo], max_tool_calls=2).score([SAMPLE])[0]
    assert judgment.ok and len(backend.calls) == 3 and echo.inputs == ["1", "2"]
    last_messages, last_params = backend.calls[2]
    assert "tools" not in last_params  # past the limit the model is asked without tools
    assert last_messages[-1]["role"] == "user" and "No more tool calls" in last_messages[-1]["content"] and "limit of 2 tool calls" in last_messages[-1]["content"]
    assert tools_of(judgment)["stopped"] == "verdict_after_limit" and tools_of(judgment)["calls"] == 2


def test_a_judge_that_keeps_calling_past_the_limit_is_a_parse_failure_with_its_transcript() -> None:
    echo = Echo()
    backend = scripted(openai_call("echo", "again"))
    judgment = PointwiseJudge(client=backend, tools=[echo], max_tool_calls=3).score([SAMPLE])[0]
    assert judgment.score is None and judgment.failure.kind == "parse"
    assert "asked for another tool call after its limit (3 calls)" in judgment.rationale
    assert len(backend.calls) == 4 and len(echo.inputs) == 3  # max_tool_calls + 1 model calls, never more
    record = tools_of(judgment)
    assert record["stopped"] == "asked_after_limit" and record["turns"][-1]["calls"][0]["note"] == "asked after the limit; not run"


def test_calls_in_one_reply_beyond_the_limit_are_not_run() -> None:
    echo = Echo()
    many = Completion(text="", tool_calls=[{"id": f"c{i}", "name": "echo", "arguments": json.dumps({"input": str(i)})} for i in range(3)])
    backend = scripted(many, "Score: 5")
    judgment = PointwiseJudge(client=backend, tools=[echo], max_tool_calls=2).score([SAMPLE])[0]
    assert judgment.ok and echo.inputs == ["0", "1"]
    answers = [m["content"] for m in backend.calls[1][0] if m.get("role") == "tool"]
    assert answers[:2] == ["0", "1"] and answers[2].startswith("not run: the limit of 2 tool calls")
    assert tools_of(judgment)["turns"][0]["calls"][2]["error"] is True


def test_a_hanging_async_tool_is_stopped_at_its_timeout() -> None:
    backend = scripted(openai_call("hangs", "x"), "Score: 5")
    started = time.monotonic()
    judgment = PointwiseJudge(client=backend, tools=[Hangs()], tool_timeout_seconds=0.3).score([SAMPLE])[0]
    assert time.monotonic() - started < 3
    assert judgment.ok  # the verdict after the error answer is read as usual
    answer = backend.calls[1][0][-1]["content"]
    assert answer == "error: the tool hangs did not answer within 0.3 s"
    assert tools_of(judgment)["turns"][0]["calls"][0]["error"] is True


def test_a_blocking_tool_that_ignores_its_bound_is_abandoned() -> None:
    backend = scripted(openai_call("blocks", "x"), "Score: 5")
    started = time.monotonic()
    judgment = PointwiseJudge(client=backend, tools=[Blocks(5.0)], tool_timeout_seconds=0.2).score([SAMPLE])[0]
    assert time.monotonic() - started < 2  # 0.2 s plus the half-second grace, not 5 s
    assert judgment.ok and "did not answer within 0.2 s" in backend.calls[1][0][-1]["content"]


def test_the_total_tool_time_bounds_the_calls() -> None:
    backend = scripted(openai_call("blocks", "1"), openai_call("blocks", "2"), openai_call("blocks", "3"), "Score: 5")
    judgment = PointwiseJudge(client=backend, tools=[Blocks(0.8)], tool_total_seconds=1.0, tool_timeout_seconds=5, max_tool_calls=10).score([SAMPLE])[0]
    record = tools_of(judgment)
    first, second = record["turns"][0]["calls"][0], record["turns"][1]["calls"][0]
    assert first["answer"] == "late" and second["error"] is True and "did not answer within 0." in second["answer"]  # what was left of the 1 s
    assert record["calls"] == 2 and record["stopped"] in ("verdict_after_limit", "asked_after_limit")
    assert "tools" not in backend.calls[2][1] and "s of tool time per judgment are used up" in backend.calls[2][0][-1]["content"]


def test_a_raising_tool_answers_its_error_and_is_never_a_score() -> None:
    backend = scripted(openai_call("raises", "x"), "The tool failed, judging unaided. Score: 7")
    judgment = PointwiseJudge(client=backend, tools=[Raises()]).score([SAMPLE])[0]
    assert judgment.score == pytest.approx(6 / 9) and judgment.failure is None
    assert backend.calls[1][0][-1]["content"] == "error: RuntimeError: the tool broke"
    assert tools_of(judgment)["turns"][0]["calls"][0] | {"seconds": 0} == {
        "tool": "raises", "input": "x", "answer": "error: RuntimeError: the tool broke", "error": True, "seconds": 0, "chars": 35, "truncated": False, "id": "c1"}


def test_a_tool_that_exits_answers_its_error() -> None:
    backend = scripted(openai_call("exits", "x"), "Score: 7")
    judgment = PointwiseJudge(client=backend, tools=[Exits()]).score([SAMPLE])[0]
    assert judgment.ok and backend.calls[1][0][-1]["content"] == "error: SystemExit: 3"


def test_a_one_megabyte_answer_is_truncated_with_a_note() -> None:
    backend = scripted(openai_call("floods", "x"), "Score: 5")
    judgment = PointwiseJudge(client=backend, tools=[Floods()], max_tool_result_chars=1000).score([SAMPLE])[0]
    shown = backend.calls[1][0][-1]["content"]
    assert shown.startswith("x" * 1000) and len(shown) < 1200
    assert "truncated: the tool answered 1,000,000 characters; the first 1,000 are shown" in shown
    call = tools_of(judgment)["turns"][0]["calls"][0]
    assert call["chars"] == 1_000_000 and call["truncated"] is True and len(call["answer"]) < 1200  # the transcript stays small too


# --- failure paths ------------------------------------------------------------------------------


def test_unknown_tool_and_unreadable_arguments_are_error_answers() -> None:
    bad = Completion(text="", tool_calls=[{"id": "a", "name": "nope", "arguments": "{}"}, {"id": "b", "name": "echo", "arguments": "{not json"}])
    backend = scripted(bad, "Score: 5")
    judgment = PointwiseJudge(client=backend, tools=[Echo()]).score([SAMPLE])[0]
    answers = [m["content"] for m in backend.calls[1][0] if m.get("role") == "tool"]
    assert answers[0] == "error: there is no tool named 'nope'; the tools are: echo"
    assert answers[1].startswith("error: the arguments are not JSON")
    assert judgment.ok and tools_of(judgment)["calls"] == 2  # both count against the limit


def test_an_unreadable_verdict_after_tools_is_a_parse_failure_with_the_transcript() -> None:
    backend = scripted(openai_call("echo", "x"), "I think it is fine.")
    judgment = PointwiseJudge(client=backend, tools=[Echo()]).score([SAMPLE])[0]
    assert judgment.failure.kind == "parse" and judgment.failure.raw == "I think it is fine."
    assert tools_of(judgment)["calls"] == 1 and tools_of(judgment)["turns"][0]["calls"][0]["answer"] == "X"


def test_a_backend_failure_in_the_middle_keeps_the_transcript() -> None:
    replies = [openai_call("echo", "x"), BackendError("server down", status=503)]
    backend = ScriptedBackend(lambda m, p: replies.pop(0))
    backend.mode = "chat"
    judgment = PointwiseJudge(client=backend, tools=[Echo()]).score([SAMPLE])[0]
    assert judgment.failure.kind == "backend" and "server down" in judgment.rationale
    assert tools_of(judgment)["stopped"] == "backend_failure" and tools_of(judgment)["calls"] == 1


def test_auto_falls_back_to_text_when_the_server_refuses_tools() -> None:
    def script(messages, params):
        if "tools" in params:
            return BackendError("400: tools param requires --jinja flag", status=400)
        return "<tool>echo</tool><input>hi" if len(messages) == 2 else "Score: 8"

    backend = ScriptedBackend(script)
    backend.mode = "chat"
    echo = Echo()
    judge = PointwiseJudge(client=backend, tools=[echo])
    first, second = judge.score([SAMPLE, SAMPLE])
    assert first.ok and second.ok and echo.inputs == ["hi", "hi"]
    assert tools_of(first)["protocol"] == "text" and "refused a request with tools" in tools_of(first)["limits"]["protocol_note"]
    assert sum("tools" in p for _, p in backend.calls) == 1  # asked once with tools, then text for every item


# --- every judge --------------------------------------------------------------------------------


def test_pairwise_judge_with_tools_keeps_the_transcript_in_meta() -> None:
    backend = scripted(openai_call("echo", "a"), "B is right. [[B]]")
    preference = PairwiseJudge(client=backend, tools=[Echo()]).compare([Pair(prompt="q", response_a="1", response_b="2")])[0]
    assert preference.winner == "b" and "after 1 tool call" in preference.rationale
    assert preference.meta["tools"]["calls"] == 1 and preference.meta["tools"]["turns"][0]["calls"][0]["answer"] == "A"


def test_swapped_pairwise_judge_keeps_both_transcripts() -> None:
    from assay.rewards.judges.wrappers import Swap

    backend = ScriptedBackend(lambda m, p: "[[A]]" if m[-1]["role"] == "tool" else openai_call("echo", "a"))  # the orders run concurrently
    backend.mode = "chat"
    preference = Swap(PairwiseJudge(client=backend, tools=[Echo()])).compare([Pair(prompt="q", response_a="1", response_b="2")])[0]
    assert preference.meta["order_ab_tools"]["calls"] == 1 and preference.meta["order_ba_tools"]["calls"] == 1


def test_pairwise_parse_failure_keeps_the_transcript() -> None:
    backend = scripted(openai_call("echo", "a"), "Both are fine.")
    preference = PairwiseJudge(client=backend, tools=[Echo()], allow_tie=False).compare([Pair(prompt="q", response_a="1", response_b="2")])[0]
    assert preference.failure.kind == "parse" and preference.meta["tools"]["calls"] == 1


def test_rubric_criteria_each_have_their_own_tool_conversation() -> None:
    def script(messages, params):
        if messages[-1]["role"] == "user" and messages[-1]["content"].startswith('<result tool="echo">'):
            return "Checked. Verdict: MET"
        return '<tool>echo</tool><input>check'

    backend = ScriptedBackend(script)
    judgment = RubricReward(client=backend, tools=[Echo()], tool_protocol="text").score([Sample(prompt="q", response="r", extra={"rubric": ["is right", "is short"]})])[0]
    assert judgment.score == 1.0
    for key in ("criterion_1", "criterion_2"):
        assert judgment.details[key]["tools"]["calls"] == 1 and judgment.details[key]["verdict"] == "met"


# --- configuration ------------------------------------------------------------------------------


def test_tools_in_a_config(tmp_path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("The capital of France is Paris.")
    reward = load_reward({"rewards": {"checked": {
        "type": "judge", "tools": ["calculator", {"search": {"documents": str(folder)}}], "tool_protocol": "text",
        "max_tool_calls": 2, "tool_timeout_seconds": 3, "tool_total_seconds": 10, "max_tool_result_chars": 500,
    }}})
    judge = reward.components["checked"] if hasattr(reward, "components") else reward
    judge = getattr(judge, "reward", judge)
    loop = judge.tool_loop
    assert set(loop.tools) == {"calculator", "search"} and loop.protocol == "text" and loop.options.max_tool_calls == 2
    judge.close_tools()
    comparator = load_comparator({"comparator": {"type": "pairwise_judge", "tools": ["calculator"]}})
    assert set(comparator.tool_loop.tools) == {"calculator"}
    comparator.close_tools()


@pytest.mark.parametrize("entry,message", [
    ({"tools": ["abacus"]}, "unknown tool 'abacus'"),
    ({"tools": [{"python": {"timeot_seconds": 5}}]}, "timeot_seconds"),
    ({"tools": [{"search": {"documents": "/no/such/folder"}}]}, "no such file or folder"),
    ({"tools": [{"sql": {"database": "/no/such.sqlite"}}]}, "no SQLite file"),
    ({"tools": ["calculator"], "tool_protocol": "grpc"}, "tool_protocol"),
    ({"tools": ["calculator"], "max_tool_calls": 0}, "max_tool_calls"),
    ({"tools": ["calculator"], "score_by": "logprobs", "scale_min": 1, "scale_max": 9}, "cannot call tools"),
    ({"tools": ["calculator"], "tool_protocol": "openai", "mode": "completions"}, "needs mode: chat"),
])
def test_bad_tool_config_names_the_problem(entry, message) -> None:
    with pytest.raises((ConfigError, ValueError), match=message):
        load_reward({"rewards": {"checked": {"type": "judge", **entry}}})


# --- the backend's side -------------------------------------------------------------------------


def test_openai_backend_reads_tool_calls_and_refuses_malformed_ones() -> None:
    from assay.backends.openai import OpenAIBackend

    backend = OpenAIBackend("http://127.0.0.1:9/v1")
    body = {"choices": [{"message": {"content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\": \"2+2\"}"}},
        {"type": "function", "function": {"name": "sql", "arguments": {"query": "SELECT 1"}}},  # an object, as some servers send
    ]}, "finish_reason": "tool_calls"}]}
    completion = backend._parse(json.dumps(body), "url", time.perf_counter(), 1)
    assert completion.text == "" and completion.tool_calls == [
        {"id": "call_1", "name": "calculator", "arguments": "{\"expression\": \"2+2\"}"},
        {"id": "assay_call_1", "name": "sql", "arguments": "{\"query\": \"SELECT 1\"}"},  # ids made up where the server gave none
    ]
    assert backend._parse(json.dumps({"choices": [{"message": {"content": "hi"}}]}), "url", time.perf_counter(), 1).tool_calls is None
    for bad in ("not a list", [{"function": {"arguments": "{}"}}], [7]):
        with pytest.raises(BackendError, match="tool calls"):
            backend._parse(json.dumps({"choices": [{"message": {"content": "", "tool_calls": bad}}]}), "url", time.perf_counter(), 1)
    again = Completion.from_dict(completion.to_dict())  # the request cache keeps them
    assert again.tool_calls == completion.tool_calls


def test_tool_paths_are_relative_to_the_config_file(tmp_path) -> None:
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "a.md").write_text("Refunds are paid within 14 days.")
    config = tmp_path / "judge.yaml"
    config.write_text("rewards:\n  checked:\n    type: judge\n    tools: [{search: {documents: library}}]\n    tool_protocol: text\n")
    reward = load_reward(str(config))
    judge = next(iter(reward.components.values()))
    judge = getattr(judge, "reward", judge)
    assert judge.tool_loop.tools["search"].source == tmp_path / "library"
