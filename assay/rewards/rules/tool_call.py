"""Tool-call match against a reference, in the spirit of ToolRL (Qian et al. 2025, "ToolRL:
Reward is All Tool Learning Needs"): credit for the right tool name and for each right
argument, with extra and missing calls costing credit.

Where the calls are read from, in order:

- chat messages: the ``tool_calls`` of the last assistant message (OpenAI style, with
  ``arguments`` as a JSON string or an object); if it has none, its text content is read;
- ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (Hermes / Qwen style);
- a JSON object (one call, or ``{"tool_calls": [...]}``) or a JSON list of calls: the whole
  response or its fenced ```` ```json ```` block;
- otherwise (plain prose) the response makes no calls.

The reference (``sample.reference``) is a list of ``{"name", "arguments"}`` objects (``[]``
meaning no call is expected), one such object, or a string in one of the text forms above.

Formula. For a predicted call p and a reference call r with the same name,

    credit(p, r) = name_weight + (1 - name_weight) * F1(args(p), args(r))

where F1 is over the sets of ``key=value`` pairs, a value counting only when it is equal after
JSON normalisation (keys sorted, 2.0 == 2); F1 is 1 when both calls take no arguments, 0 when
only one does. Calls with different names get no credit. Calls are paired one-to-one to
maximise the total credit (by position with ``ordered: true``), and

    score = sum of credit over the pairs / max(#predicted, #reference)

so each extra or missing call counts as a 0 in the average; no calls expected and none made
scores 1. The score is in [0, 1].

A response whose tool call cannot be read (bad JSON, no name, arguments not an object) scores
0 with rationale "malformed tool call", its text (first 2,000 characters) kept in
``details["raw"]``. A reference that cannot be read is an ``input`` failure. Bounds: a text
response is read up to ``max_chars``; a response making more than ``MAX_CALLS`` (256) calls
scores 0 saying so, a reference with more is an ``input`` failure.

    >>> from assay.types import Sample
    >>> ref = [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}]
    >>> reply = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "unit": "F"}}</tool_call>'
    >>> ToolCallMatch().score([Sample(response=reply, reference=ref)])[0].score
    0.75
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator

from assay.reward import Options, Reward
from assay.rewards.rules.bounds import LAYOUT_MAX_CHARS, cap_text, shorten
from assay.rewards.rules.extraction import clip
from assay.rewards.rules.json_format import json_source, parse_json
from assay.types import Judgment, Sample, text_of

RAW_KEPT = 2000  # characters of a malformed call kept in details["raw"]
MAX_CALLS = 256  # calls per side this reward pairs: a response with more scores 0, a reference with more is unusable
_EXACT_STATES = 1 << 16  # the exact pairing visits up to columns x 2**rows states; beyond, greedy

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"


def tool_call_blocks(text: str) -> tuple[list[str], int]:
    """(the contents of the ``<tool_call>...</tool_call>`` blocks, how many ``<tool_call>``
    the text has), in one linear pass with ``str.find``: a block runs from an opening tag to
    the next closing one. (The regex ``<tool_call>(.*?)</tool_call>`` rescanned to the end from
    every unclosed opening: over 60 s on 220 KB.)"""
    blocks: list[str] = []
    at = 0
    while True:
        start = text.find(_OPEN, at)
        if start < 0:
            break
        end = text.find(_CLOSE, start + len(_OPEN))
        if end < 0:
            break
        blocks.append(text[start + len(_OPEN) : end])
        at = end + len(_CLOSE)
    return blocks, text.count(_OPEN)


class MalformedToolCall(ValueError):
    """A tool call that cannot be read; ``raw`` is the text that failed."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = shorten(raw, RAW_KEPT) or ""  # a degenerate response is not stored twice in full


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def pairs(self) -> set[tuple[str, str]]:
        """The ``key=value`` pairs, values as canonical JSON."""
        return {(str(k), canonical_json(v)) for k, v in self.arguments.items()}

    def short(self) -> str:
        return f"{self.name}({', '.join(f'{k}={canonical_json(v)}' for k, v in self.arguments.items())})"


def _plain_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_numbers(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """A value as canonical JSON: keys sorted, integral floats as ints, no spaces."""
    return json.dumps(_plain_numbers(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def parse_call(obj: Any) -> ToolCall:
    """One call from ``{"name", "arguments"}`` (``parameters``/``args`` also read), or
    OpenAI's ``{"type": "function", "function": {"name", "arguments": "<json>"}}``."""
    raw = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, default=str)
    if not isinstance(obj, dict):
        raise MalformedToolCall(f"a tool call is an object with a name, got {type(obj).__name__}", raw)
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MalformedToolCall("tool call has no name", raw)
    arguments: Any = next((obj[k] for k in ("arguments", "parameters", "args") if k in obj), None)
    if arguments is None or arguments == "":
        arguments = {}
    if isinstance(arguments, str):
        try:
            arguments = parse_json(arguments)
        except ValueError as error:
            raise MalformedToolCall(f"arguments of {name} are not valid JSON: {error}", raw) from None
    if not isinstance(arguments, dict):
        raise MalformedToolCall(f"arguments of {name} are {type(arguments).__name__}, not an object", raw)
    return ToolCall(name.strip(), arguments)


def _calls_from_json(value: Any, raw: str) -> list[ToolCall]:
    if isinstance(value, dict) and "tool_calls" in value:
        value = value["tool_calls"] or []
    if isinstance(value, dict):
        return [parse_call(value)]
    if isinstance(value, list):
        return [parse_call(item) for item in value]
    raise MalformedToolCall(f"expected a tool call object or a list of them, got {type(value).__name__}", raw)


def calls_from_text(text: str) -> tuple[list[ToolCall], bool]:
    """(calls, whether the text had a tool-call form at all). Raises MalformedToolCall when a
    form is there but cannot be read."""
    if _OPEN in text:
        blocks, opens = tool_call_blocks(text)
        if opens != len(blocks):
            raise MalformedToolCall(f"a <tool_call> is never closed ({opens} opened, {len(blocks)} closed)", shorten(text, RAW_KEPT) or "")
        calls: list[ToolCall] = []
        for block in blocks:
            try:
                value = parse_json(block.strip())
            except ValueError as error:
                raise MalformedToolCall(f"<tool_call> content is not valid JSON: {error}", shorten(block, RAW_KEPT) or "") from None
            calls.extend(_calls_from_json(value, block))
        return calls, True
    source, _ = json_source(text, "auto")
    if source is None or source[:1] not in ("{", "["):
        return [], False
    try:
        value = parse_json(source)
    except ValueError as error:
        raise MalformedToolCall(f"tool call JSON is not valid: {error}", shorten(source, RAW_KEPT) or "") from None
    return _calls_from_json(value, source), True


def calls_from_messages(messages: list[Any]) -> tuple[list[ToolCall], bool]:
    """The last assistant message's ``tool_calls``, else the calls in its text."""
    last = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role", "assistant") == "assistant"), None)
    if last is None:
        return [], False
    if last.get("tool_calls"):
        if not isinstance(last["tool_calls"], list):
            raise MalformedToolCall("tool_calls is not a list", json.dumps(last["tool_calls"], default=str))
        return [parse_call(c) for c in last["tool_calls"]], True
    return calls_from_text(text_of([last]))


def reference_calls(reference: Any) -> list[ToolCall]:
    """The expected calls; raises ValueError (with the reason) when the reference is unusable."""
    if reference is None:
        raise ValueError("no reference tool calls (reference is missing)")
    if isinstance(reference, dict):
        return _calls_from_json(reference, json.dumps(reference, default=str))
    if isinstance(reference, list):
        if reference and all(isinstance(m, dict) and "role" in m for m in reference):
            calls, found = calls_from_messages(reference)
        else:
            return [parse_call(item) for item in reference]
    elif isinstance(reference, str):
        calls, found = calls_from_text(reference)
    else:
        raise ValueError(f"reference is {type(reference).__name__}; expected tool calls as a list, an object or text")
    if not found:
        raise ValueError(f"reference {clip(str(reference), 60)} holds no tool call (write [] when no call is expected)")
    return calls


def arg_f1(predicted: ToolCall, reference: ToolCall) -> tuple[float, int]:
    """(F1 over key=value pairs, pairs in common)."""
    p, r = predicted.pairs(), reference.pairs()
    if not p and not r:
        return 1.0, 0
    common = len(p & r)
    if common == 0:
        return 0.0, 0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall), common


def best_pairing(credit: list[list[float]], ordered: bool) -> list[tuple[int, int]]:
    """One-to-one (predicted, reference) index pairs maximising total credit: exact by dynamic
    programming over the smaller side when it has at most 12 calls and the table stays
    small (columns x 2**rows <= 65,536), greedy (best credit first) beyond."""
    n = len(credit)
    m = len(credit[0]) if n else 0
    if ordered:
        return [(i, i) for i in range(min(n, m)) if credit[i][i] > 0]
    if n == 0 or m == 0:
        return []
    transpose = n > m  # make rows the smaller side
    grid = [list(col) for col in zip(*credit)] if transpose else credit
    rows, cols = len(grid), len(grid[0])
    if rows <= 12 and cols * (1 << rows) <= _EXACT_STATES:
        # best[mask] = (total, pairs) over the columns seen so far, mask = rows used
        best: dict[int, tuple[float, list[tuple[int, int]]]] = {0: (0.0, [])}
        for j in range(cols):
            nxt = dict(best)
            for mask, (total, pairs) in best.items():
                for i in range(rows):
                    if not mask & (1 << i) and grid[i][j] > 0:
                        key = mask | (1 << i)
                        value = total + grid[i][j]
                        if key not in nxt or value > nxt[key][0]:
                            nxt[key] = (value, pairs + [(i, j)])
            best = nxt
        pairs = max(best.values(), key=lambda item: item[0])[1]
    else:
        cells = sorted(((grid[i][j], i, j) for i in range(rows) for j in range(cols) if grid[i][j] > 0), reverse=True)
        used_r: set[int] = set()
        used_c: set[int] = set()
        pairs = []
        for _, i, j in cells:
            if i not in used_r and j not in used_c:
                used_r.add(i)
                used_c.add(j)
                pairs.append((i, j))
    pairs = [(j, i) for i, j in pairs] if transpose else pairs
    return sorted(pairs, key=lambda pair: pair[1])


class ToolCallOptions(Options):
    name_weight: float = 0.5  # share of a call's credit for the right name; the rest is argument F1
    ordered: bool = False  # pair calls by position instead of by best match
    max_chars: int | None = Field(LAYOUT_MAX_CHARS, ge=1)  # read the first max_chars characters of a text response (null: all)

    @field_validator("name_weight")
    @classmethod
    def _check_weight(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"name_weight must be between 0 and 1, got {value}")
        return value


class ToolCallMatch(Reward):
    """Tool calls against the reference: name match plus argument F1, averaged over
    max(#predicted, #reference) calls. The exact formula is in the module docstring."""

    type_name = "tool_call"
    Options = ToolCallOptions
    options: ToolCallOptions

    def predicted_calls(self, sample: Sample) -> list[ToolCall]:
        if isinstance(sample.response, list):
            return calls_from_messages(sample.response)[0]
        return calls_from_text(cap_text(sample.response_text, self.options.max_chars, "head").text)[0]

    def score_one(self, sample: Sample) -> Judgment:
        try:
            return self._score(sample)
        except RecursionError:  # objects nested past Python's stack (a chat message's tool_calls, say)
            return Judgment(0.0, "malformed tool call: nested too deeply to read; scored 0", {"error": "nested too deeply"})

    def _score(self, sample: Sample) -> Judgment:
        try:
            expected = reference_calls(sample.reference)
        except RecursionError:
            return Judgment.fail("input", "unusable reference: nested too deeply to read")
        except ValueError as error:
            raw = error.raw if isinstance(error, MalformedToolCall) else None
            return Judgment.fail("input", f"unusable reference: {error}", raw=raw)
        capped = cap_text(sample.response_text, self.options.max_chars, "head") if not isinstance(sample.response, list) else None
        note = capped.note() if capped is not None else ""
        if len(expected) > MAX_CALLS:
            return Judgment.fail("input", f"unusable reference: {len(expected)} tool calls, over the {MAX_CALLS} this reward pairs")
        try:
            predicted = self.predicted_calls(sample)
        except MalformedToolCall as error:
            details = {"raw": error.raw, "error": str(error)}
            if note:
                details["truncated"] = True
            return Judgment(0.0, f"malformed tool call: {error}; scored 0{note}", details)
        if len(predicted) > MAX_CALLS:
            return Judgment(
                0.0,
                f"{len(predicted)} tool calls made, over the {MAX_CALLS} this reward pairs ({len(expected)} expected); scored 0{note}",
                {"predicted": len(predicted), "expected": len(expected), "over_limit": True},
            )

        if not predicted and not expected:
            return Judgment(1.0, "no tool call expected and none made", {"predicted": 0, "expected": 0, "pairs": []})

        name_weight = self.options.name_weight
        credit = [[0.0] * len(expected) for _ in predicted]
        f1s: dict[tuple[int, int], tuple[float, int]] = {}
        for i, p in enumerate(predicted):
            for j, r in enumerate(expected):
                if p.name == r.name:
                    f1s[i, j] = arg_f1(p, r)
                    credit[i][j] = name_weight + (1 - name_weight) * f1s[i, j][0]
        pairs = best_pairing(credit, self.options.ordered)
        denominator = max(len(predicted), len(expected))
        total = sum(credit[i][j] for i, j in pairs)
        score = total / denominator

        parts: list[str] = []
        pair_details = []
        for i, j in pairs:
            p, r = predicted[i], expected[j]
            f1, common = f1s[i, j]
            wrong = sorted({k for k, _ in r.pairs() - p.pairs()})
            unexpected = sorted(set(map(str, p.arguments)) - set(map(str, r.arguments)))
            notes = [f"wrong or missing: {', '.join(wrong)}"] if wrong else []
            notes += [f"unexpected: {', '.join(unexpected)}"] if unexpected else []
            n_ref_args = len(r.arguments)
            right = f"{common} of {n_ref_args} arguments right" if n_ref_args else ("no arguments, as expected" if not p.arguments else "no arguments expected")
            parts.append(
                f"{r.name}: name matches, {right}"
                + (f" ({'; '.join(notes)})" if notes else "")
                + f", F1 {f1:.2f}, credit {credit[i][j]:.2f}"
            )
            pair_details.append({"predicted": i, "reference": j, "name": r.name, "argument_f1": f1, "credit": credit[i][j], "wrong_or_missing": wrong, "unexpected": unexpected})
        paired_p = {i for i, _ in pairs}
        paired_r = {j for _, j in pairs}
        extra = [predicted[i].short() for i in range(len(predicted)) if i not in paired_p]
        missing = [expected[j].short() for j in range(len(expected)) if j not in paired_r]
        if extra:
            parts.append(f"{len(extra)} extra or unmatched call{'s' if len(extra) > 1 else ''}: {', '.join(clip(c, 60)[1:-1] for c in extra[:3])}")
        if missing:
            parts.append(f"{len(missing)} expected call{'s' if len(missing) > 1 else ''} not made: {', '.join(clip(c, 60)[1:-1] for c in missing[:3])}")
        head = f"{len(expected)} reference call{'s' if len(expected) != 1 else ''}, {len(predicted)} made"
        rationale = f"{head}; {'; '.join(parts)}; score {total:.2f}/{denominator} = {score:.2f}{note}"
        details = {
            "predicted": len(predicted),
            "expected": len(expected),
            "pairs": pair_details,
            "extra": extra,
            "missing": missing,
            "calls": [c.short() for c in predicted],
        }
        return Judgment(score, rationale, details)
