"""Reading and writing the JSONL files of the command-line contract, with errors that name
the file, the line and the field.

Lines are read as bytes and decoded one by one, so whatever one line holds (bytes that are
not UTF-8, JSON nested a thousand deep, a lone surrogate escape such as ``\\ud800``, which
no UTF-8 output could carry) is that line's error, like any other malformed line, and never
costs the rows around it. A UTF-8 byte-order mark at the start of the file is ignored.

    >>> rows = read_rows("rollouts.jsonl", required=("response",))   # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO


class InputError(ValueError):
    """A row of an input file that cannot be used: the message names file, line and field."""

    def __init__(self, path: str | Path, line: int, field: str | None, problem: str) -> None:
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = f"{path}:{line}" + (f": field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")


@dataclass
class Row:
    line: int
    data: dict[str, Any]


MAX_DEPTH = 100  # JSON nesting accepted in a row or request: ample for chat messages and schemas


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """``(where, problem)`` when parsed JSON cannot be used: nesting deeper than
    ``max_depth``, or a string (or key) holding a lone surrogate such as ``\\ud800`` (not
    text: it cannot be written as UTF-8). ``where`` names the field (``samples[0].response``;
    "" for the top level). Iterative, so a deep value cannot exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= max_depth:
                return where, f"nested deeper than {max_depth} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    if _has_lone_surrogate(key):
                        return where, "a key holds a lone surrogate escape (such as \\ud800), which is not text"
                    path = f"{where}.{key}" if where else key
                else:
                    path = f"{where}[{key}]"
                stack.append((child, path, depth + 1))
        elif isinstance(item, str) and _has_lone_surrogate(item):
            return where, "holds a lone surrogate escape (such as \\ud800), which is not text; write valid Unicode"
    return None


def chat_problem(messages: list[Any], need_assistant: bool) -> str | None:
    """What is wrong with a list of chat messages, or None: each must be an object whose
    ``content`` is a string (or OpenAI content parts with string ``text``); a response needs
    an assistant turn (a message with ``role: assistant`` or no role), else there is nothing
    to score."""
    if not messages:
        return "an empty list of chat messages"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "content" not in message:
            return f"message {i} is not a chat message with 'content'"
        content = message["content"]
        if content is None or isinstance(content, str):
            continue
        if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in content):
            continue
        return f"message {i}: 'content' must be a string or a list of text parts, got {type(content).__name__}"
    if need_assistant and not any(m.get("role", "assistant") == "assistant" for m in messages):
        return "chat messages without an assistant turn: no response to score"
    return None


def text_problem(value: Any, field: str = "prompt") -> str | None:
    """None when ``value`` is text or a usable list of chat messages (see :func:`chat_problem`;
    a ``response`` or ``response_a``/``response_b`` needs an assistant turn); else what is wrong."""
    if isinstance(value, str):
        return None
    if isinstance(value, list):
        return chat_problem(value, need_assistant=field.startswith("response"))
    return f"expected a string or a list of chat messages with 'content', got {type(value).__name__}"


def parse_row(text: str, path: str | Path, line: int, required: Sequence[str], text_fields: Sequence[str]) -> dict[str, Any]:
    """One JSONL line as a dict, validated; raises InputError naming what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(path, line, None, f"not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise InputError(path, line, None, f"JSON nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    if not isinstance(data, dict):
        raise InputError(path, line, None, f"expected a JSON object, got {type(data).__name__}")
    if (problem := json_problem(data)) is not None:
        raise InputError(path, line, problem[0] or None, problem[1])
    for field in required:
        if field not in data:
            raise InputError(path, line, field, "missing")
    for field in text_fields:
        if field in data and data[field] is not None and (problem := text_problem(data[field], field)):
            raise InputError(path, line, field, problem)
    if "steps" in data and data["steps"] is not None:
        if not isinstance(data["steps"], list) or not all(isinstance(s, str) for s in data["steps"]):
            raise InputError(path, line, "steps", "expected a list of strings")
    return data


def read_rows(
    path: str | Path,
    required: Sequence[str] = ("response",),
    text_fields: Sequence[str] = ("prompt", "response"),
    skipped: list[InputError] | None = None,
) -> Iterator[Row]:
    """Yield each non-blank line as a validated Row. The first bad line raises InputError
    (after every good row before it has been yielded), unless ``skipped`` is given: then bad
    lines are collected there and reading goes on."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            if not raw.strip():
                continue
            try:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise InputError(path, number, None, f"not UTF-8 text (byte {error.start + 1} of the line: {error.reason})") from None
                yield Row(number, parse_row(text, path, number, required, text_fields))
            except InputError as error:
                if skipped is None:
                    raise
                skipped.append(error)


def count_lines(path: str | Path) -> int:
    """The number of non-blank lines (the rows a progress bar counts)."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def has_rows(path: str | Path) -> bool:
    """Whether the file has a non-blank line: stops at the first one (an emptiness check that
    does not read a large file twice)."""
    with open(path, "rb") as handle:
        return any(line.strip() for line in handle)


def write_row(handle: TextIO, row: dict[str, Any]) -> None:
    handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def finite_json(value: Any) -> Any:
    """``value`` with every NaN and infinity (in nested dicts, lists and tuples) as None, so it
    writes as strict JSON: what ``report.json`` and the server's strict endpoints need. Where a
    NaN means something (the official code gives one), the caller says so beside it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value
