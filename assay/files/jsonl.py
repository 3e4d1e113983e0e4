"""Reading and writing the JSONL files of the command-line contract, with errors that name
the file, the line and the field.

    >>> rows = read_rows("rollouts.jsonl", required=("response",))   # doctest: +SKIP
"""

from __future__ import annotations

import json
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


def text_problem(value: Any) -> str | None:
    """None when ``value`` is text or a list of chat messages; else what is wrong with it."""
    if isinstance(value, str):
        return None
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return None
    return f"expected a string or a list of chat messages with 'content', got {type(value).__name__}"


def parse_row(text: str, path: str | Path, line: int, required: Sequence[str], text_fields: Sequence[str]) -> dict[str, Any]:
    """One JSONL line as a dict, validated; raises InputError naming what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(path, line, None, f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, dict):
        raise InputError(path, line, None, f"expected a JSON object, got {type(data).__name__}")
    for field in required:
        if field not in data:
            raise InputError(path, line, field, "missing")
    for field in text_fields:
        if field in data and data[field] is not None and (problem := text_problem(data[field])):
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
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield Row(number, parse_row(text, path, number, required, text_fields))
            except InputError as error:
                if skipped is None:
                    raise
                skipped.append(error)


def count_lines(path: str | Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def write_row(handle: TextIO, row: dict[str, Any]) -> None:
    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
