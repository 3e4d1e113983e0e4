"""The tool loop of a judge: the judge may call tools before its verdict, bounded, transcribed.

A judge with ``tools:`` in its config (``judge``, ``pairwise_judge``, ``listwise_judge``,
``rubric``) does not make one call but a short conversation: it asks the model, the model may
ask for a tool, assay runs the tool and sends the answer back, and so on, until the model
writes its verdict, which the judge's own parser reads as always. Two ways to ask:

- ``openai``: the request carries ``tools`` (function declarations), the reply's
  ``tool_calls`` are run, their answers go back as ``role: tool`` messages;
- ``text``: for servers without tool calling, the system prompt describes the tools
  (``prompts/tools/text.txt``) and the model writes ``<tool>NAME</tool><input>...</input>``
  (or one JSON object ``{"tool": NAME, "input": ...}``, what a schema-constrained reply
  gives); the answer comes back in a user message as ``<result tool="NAME">...</result>``.
- ``auto`` (the default): ``openai`` for a chat backend, ``text`` otherwise, and ``text``
  from then on when the server refuses a request with ``tools``.

Bounds (:class:`ToolUseOptions`): ``max_tool_calls`` per judgment (a call past it is answered
"not run", and the model is then asked for its verdict without tools, so a judgment takes at
most ``max_tool_calls + 1`` model calls); ``tool_timeout_seconds`` per call (the tool bounds
its own work to it, and the loop stops waiting half a second later); ``tool_total_seconds`` for
all calls of a judgment; ``max_tool_result_chars`` shown to the model per answer (cut with a
note saying how long it was). A tool that raises, times out, is unknown or gets unreadable
arguments answers ``error: ...``: the model reads it like any answer, it never becomes a
score. Every turn (the model's reply, each call, its answer, its time) is kept in the
transcript (:class:`Transcript`), which the judge puts in ``details["tools"]`` (a Judgment)
or ``meta["tools"]`` (a Preference), failures included.

Not here: the tools (``assay.rewards.judges.tools``), the verdict parsers (``verdicts.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator

from assay.backends.base import Completion
from assay.reward import Options
from assay.rewards.judges import prompting
from assay.rewards.judges.tools.base import TOOL_TYPES, Tool, ToolError, entry_name_options
from assay.rewards.judges.verdicts import json_objects
from assay.types import Failure

GRACE_SECONDS = 0.5  # beyond a call's bound, before the loop stops waiting for the tool
MAX_INPUT_KEPT = 4000  # characters of a call's input kept in the transcript
_TAG_CALL = re.compile(r"<tool>\s*([\w.-]+)\s*</tool>\s*<input>(.*?)(?:</input>|\Z)", re.S | re.I)
_RESULT_TAG = re.compile(r"<(/?)result\b", re.I)


class ToolUseOptions(Options):
    """The tool options every judge takes (mixed into its Options)."""

    # tools the judge may call: names (calculator) or one-key mappings ({python: {timeout_seconds: 5}})
    tools: list[Any] = Field(default_factory=list)
    tool_protocol: Literal["auto", "openai", "text"] = "auto"
    max_tool_calls: int = Field(4, ge=1, le=64)
    tool_timeout_seconds: float = Field(10.0, gt=0, le=600)
    tool_total_seconds: float = Field(60.0, gt=0, le=3600)
    max_tool_result_chars: int = Field(4000, ge=100, le=1_000_000)

    @field_validator("tools")
    @classmethod
    def _check_tools(cls, value: list[Any]) -> list[Any]:
        for index, entry in enumerate(value):
            if hasattr(entry, "call") and hasattr(entry, "name"):
                continue  # a tool object (Python callers)
            name, _ = entry_name_options(entry, f"tools[{index}]")
            if name not in TOOL_TYPES:
                raise ValueError(f"tools[{index}]: unknown tool {name!r}; known tools: {', '.join(sorted(TOOL_TYPES))}")
        return value


@dataclass
class Request:
    """One tool call the model asked for: the tool's name, its input text (None when the
    arguments could not be read, with ``problem`` saying why), the OpenAI call id."""

    name: str
    text: str | None
    call_id: str = ""
    arguments: str = ""
    problem: str = ""


@dataclass
class Transcript:
    """Every turn of a tool-using judgment, for ``details["tools"]``."""

    protocol: str
    limits: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    tool_seconds: float = 0.0
    stopped: str = ""  # verdict | verdict_after_limit | asked_after_limit | backend_failure
    usage: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol, "limits": self.limits, "calls": self.calls, "tool_seconds": round(self.tool_seconds, 4),
            "stopped": self.stopped, "turns": self.turns, "usage": self.usage,
        }


def _in_thread(function: Callable[..., str], *args: Any) -> asyncio.Future[str]:
    """``function(*args)`` in a daemon thread, as a future of the running loop: a tool that
    never returns is abandoned at its deadline without holding up the loop's shutdown."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle(value: Any, ok: bool) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def target() -> None:
        try:
            value, ok = function(*args), True
        except BaseException as error:  # noqa: BLE001 - handed to the loop, which shows it to the judge
            value, ok = error, False
        try:
            loop.call_soon_threadsafe(settle, value, ok)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    threading.Thread(target=target, daemon=True, name="assay-judge-tool").start()
    return future


def shown_answer(answer: str, limit: int) -> tuple[str, bool]:
    """The answer as the model sees it: cut at ``limit`` characters with a note saying so."""
    if len(answer) <= limit:
        return answer, False
    return answer[:limit] + f"\n[... truncated: the tool answered {len(answer):,} characters; the first {limit:,} are shown]", True


def read_text_call(text: str) -> tuple[Request, int] | None:
    """The first tool call written in a reply (``<tool>NAME</tool><input>...</input>`` or a
    JSON object with a ``tool`` key) and where it ends; None when there is none."""
    tag = _TAG_CALL.search(text)
    found: list[tuple[int, Request, int]] = []
    if tag:
        found.append((tag.start(), Request(tag.group(1), tag.group(2).strip()), tag.end()))
    for start, end, value in json_objects(text) if "{" in text else []:
        if isinstance(value, dict) and isinstance(value.get("tool"), str):
            given = value.get("input", value.get("arguments", ""))
            if isinstance(given, dict) and len(given) == 1:
                given = next(iter(given.values()))
            found.append((start, Request(value["tool"], given if isinstance(given, str) else json.dumps(given)), end))
            break
    if not found:
        return None
    _, request, end = min(found, key=lambda item: item[0])
    return request, end


def read_openai_calls(completion: Completion, tools: dict[str, Tool]) -> list[Request]:
    """The ``tool_calls`` of a reply, each with its input read from the JSON arguments."""
    requests = []
    for call in completion.tool_calls or []:
        name, arguments = call.get("name", ""), call.get("arguments", "")
        request = Request(name, None, call.get("id", ""), arguments)
        try:
            value = json.loads(arguments) if arguments.strip() else {}
        except ValueError as error:
            request.problem = f"the arguments are not JSON ({error}): {arguments[:200]!r}"
            requests.append(request)
            continue
        tool = tools.get(name)
        key = getattr(tool, "input_name", "input")
        if isinstance(value, str):
            request.text = value
        elif isinstance(value, dict) and isinstance(value.get(key), str):
            request.text = value[key]
        elif isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), str):
            request.text = next(iter(value.values()))
        else:
            request.problem = f"the arguments have no text field {key!r}: {arguments[:200]!r}"
        requests.append(request)
    return requests


def _note(name: str, **values: str) -> str:
    return prompting.fill((prompting.PROMPT_DIR / "tools" / f"{name}.txt").read_text(encoding="utf-8").strip(), values)


def with_tool_note(messages: list[dict[str, Any]], tools: dict[str, Tool], protocol: str, max_calls: int) -> list[dict[str, Any]]:
    """The judge's messages with the tools described, at the end of the last user message
    (not in the system message: some chat templates drop it, llama-cpp-python's ``gemma``
    format among them)."""
    if protocol == "text":
        listing = "\n".join(f"- {t.name}: {getattr(t, 'description', '')} Input: {getattr(t, 'input_description', '') or 'text'}." for t in tools.values())
        note = _note("text", max_calls=str(max_calls), tool_list=listing)
    else:
        note = _note("openai", max_calls=str(max_calls), tool_names=", ".join(tools))
    out = [dict(m) for m in messages]
    target = next(m for m in reversed(out) if m.get("role") == "user")
    target["content"] = f"{target['content']}\n\n{note}"
    return out


class ToolLoop:
    """The conversation of one judge with its tools; one per judge, shared by its items."""

    def __init__(self, tools: dict[str, Tool], options: ToolUseOptions, backend: Any) -> None:
        self.tools = tools
        self.options = options
        inner = getattr(backend, "backend", backend)  # a request cache in front of the real backend
        self.protocol = options.tool_protocol
        if self.protocol == "auto":
            self.protocol = "openai" if getattr(inner, "mode", None) == "chat" else "text"
        self.fell_back = ""  # why auto switched to text, if it did

    def limits(self) -> dict[str, Any]:
        o = self.options
        return {"max_tool_calls": o.max_tool_calls, "tool_timeout_seconds": o.tool_timeout_seconds, "tool_total_seconds": o.tool_total_seconds,
                "max_tool_result_chars": o.max_tool_result_chars}

    async def run_tool(self, request: Request, budget_left: float) -> tuple[str, bool, float]:
        """``(answer, is_error, seconds)``; never raises."""
        started = time.monotonic()
        tool = self.tools.get(request.name)
        if tool is None:
            return f"error: there is no tool named {request.name!r}; the tools are: {', '.join(self.tools)}", True, 0.0
        if request.problem:
            return f"error: {request.problem}", True, 0.0
        bound = min(self.options.tool_timeout_seconds, budget_left)
        try:
            if hasattr(tool, "acall"):
                answer = await asyncio.wait_for(tool.acall(request.text or "", bound), bound + GRACE_SECONDS)
            else:
                answer = await asyncio.wait_for(_in_thread(tool.call, request.text or "", bound), bound + GRACE_SECONDS)
        except asyncio.TimeoutError:
            return f"error: the tool {request.name} did not answer within {bound:.3g} s", True, time.monotonic() - started
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except BaseException as error:  # noqa: BLE001 - a tool's error (a SystemExit in its thread too) is its answer to the judge
            message = str(error) if isinstance(error, ToolError) else f"{type(error).__name__}: {error}"
            return f"error: {message[:2000]}", True, time.monotonic() - started
        if not isinstance(answer, str):
            answer = json.dumps(answer, default=str) if answer is not None else "(no answer)"
        return answer, False, time.monotonic() - started

    async def converse(
        self, call: Callable[[list[dict[str, Any]], dict[str, Any] | None], Awaitable[Completion | Failure]],
        messages: list[dict[str, Any]], overrides: dict[str, Any] | None, stop: list[str] | None,
    ) -> tuple[Completion | Failure, Transcript]:
        """Ask, run the tools asked for, answer, until the model writes without calling a tool
        (its verdict) or the limits are reached. Returns the last completion (or the call's
        failure) and the transcript."""
        o = self.options
        protocol = self.protocol
        record = Transcript(protocol, self.limits())
        if self.fell_back:
            record.limits["protocol_note"] = self.fell_back
        original = messages
        messages = with_tool_note(original, self.tools, protocol, o.max_tool_calls)
        while True:
            exhausted = self._exhausted(record)
            params = dict(overrides or {})
            if not exhausted and protocol == "openai":
                params["tools"] = [t.declaration() if hasattr(t, "declaration") else _declaration(t) for t in self.tools.values()]
            if not exhausted and protocol == "text":
                params["stop"] = [*(params.get("stop") or stop or []), "</input>", "<result"]  # a model writing "<result" is making up an answer
            completion = await call(messages, params)
            if isinstance(completion, Failure) and protocol == "openai" and self.options.tool_protocol == "auto" and not record.turns and _refuses_tools(completion):
                self.fell_back = f"the server refused a request with tools ({completion.message[:200]}); the text protocol is used"
                self.protocol = protocol = "text"
                record.protocol, record.limits["protocol_note"] = "text", self.fell_back
                messages = with_tool_note(original, self.tools, protocol, o.max_tool_calls)
                continue
            if isinstance(completion, Failure):
                record.stopped = "backend_failure"
                return completion, record
            for k, v in completion.usage.items():
                record.usage[k] = record.usage.get(k, 0) + v
            turn: dict[str, Any] = {"reply": completion.text}
            record.turns.append(turn)
            if protocol == "openai":
                requests = read_openai_calls(completion, self.tools)
                kept_text = completion.text
            else:
                found = read_text_call(completion.text)
                requests = [found[0]] if found else []
                kept_text = _up_to_call(completion.text, found[1]) if found else completion.text
            if not requests:
                record.stopped = "verdict_after_limit" if exhausted else "verdict"
                return completion, record
            if exhausted:
                turn["calls"] = [{"tool": r.name, "input": (r.text or r.arguments)[:MAX_INPUT_KEPT], "answer": None, "note": "asked after the limit; not run"} for r in requests]
                record.stopped = "asked_after_limit"
                return completion, record
            turn["calls"] = []
            answers = []
            for request in requests:
                if self._exhausted(record):
                    answer, error, seconds = f"not run: {self._why(record)}", True, 0.0
                else:
                    answer, error, seconds = await self.run_tool(request, o.tool_total_seconds - record.tool_seconds)
                    record.calls += 1
                    record.tool_seconds += seconds
                shown, truncated = shown_answer(answer, o.max_tool_result_chars)
                answers.append((request, shown))
                turn["calls"].append({
                    "tool": request.name, "input": (request.text if request.text is not None else request.arguments)[:MAX_INPUT_KEPT],
                    "answer": shown, "error": error, "seconds": round(seconds, 4), "chars": len(answer), "truncated": truncated,
                    **({"id": request.call_id} if request.call_id else {}),
                })
            messages = messages + self._answer_messages(protocol, kept_text, requests, answers, completion, record)

    def _exhausted(self, record: Transcript) -> bool:
        return record.calls >= self.options.max_tool_calls or record.tool_seconds >= self.options.tool_total_seconds

    def _why(self, record: Transcript) -> str:
        if record.calls >= self.options.max_tool_calls:
            return f"the limit of {self.options.max_tool_calls} tool call{'s' if self.options.max_tool_calls != 1 else ''} per judgment is reached"
        return f"the {self.options.tool_total_seconds:g} s of tool time per judgment are used up"

    def _answer_messages(self, protocol: str, kept_text: str, requests: list[Request], answers: list[tuple[Request, str]],
                         completion: Completion, record: Transcript) -> list[dict[str, Any]]:
        final = _note("final", why=self._why(record)) if self._exhausted(record) else ""
        if protocol == "openai":
            calls = [{"id": r.call_id or f"call_{i}", "type": "function", "function": {"name": r.name, "arguments": r.arguments}} for i, r in enumerate(requests)]
            out: list[dict[str, Any]] = [{"role": "assistant", "content": completion.text or "", "tool_calls": calls}]  # a string: llama-cpp-python refuses null
            out += [{"role": "tool", "tool_call_id": calls[i]["id"], "name": r.name, "content": shown} for i, (r, shown) in enumerate(answers)]
            if final:
                out.append({"role": "user", "content": final})
            return out
        results = "\n".join(f'<result tool="{r.name}">\n{_RESULT_TAG.sub(lambda m: f"<{m.group(1)} result", shown)}\n</result>' for r, shown in answers)
        return [{"role": "assistant", "content": kept_text}, {"role": "user", "content": results + (f"\n\n{final}" if final else "")}]


def _declaration(tool: Any) -> dict[str, Any]:
    """The declaration of a tool object without one of its own (a Python caller's object
    with ``name`` and ``call``)."""
    key = getattr(tool, "input_name", "input")
    return {"type": "function", "function": {
        "name": tool.name, "description": getattr(tool, "description", ""),
        "parameters": {"type": "object", "properties": {key: {"type": "string", "description": getattr(tool, "input_description", "")}}, "required": [key]},
    }}


def _refuses_tools(failure: Failure) -> bool:
    """A backend answer that reads as "this server does not take ``tools``" (a 4xx/5xx whose
    text names tools, e.g. llama.cpp's "tools param requires --jinja flag")."""
    text = f"{failure.message} {failure.raw or ''}".lower()
    return failure.kind == "backend" and ("tool" in text or "function" in text)


def _up_to_call(text: str, end: int) -> str:
    """The reply up to the end of its first call (what the model wrote after it is dropped),
    with the ``</input>`` the stop sequence cut off put back."""
    kept = text[:end].rstrip()
    if "<input>" in kept.lower() and not kept.lower().endswith("</input>"):
        kept += "</input>"
    return kept
