"""A scripted backend for unit tests of judge parsing and control flow (never for integration tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from assay.backends.base import Completion


class ScriptedBackend:
    """Answers each call with ``script(messages, params)``: a string, a Completion, or an
    exception to raise. Records every call."""

    def __init__(self, script: Callable[[list[dict[str, Any]], dict[str, Any]], Any], model: str = "scripted", delay: float = 0.0) -> None:
        self.script = script
        self.model = model
        self.delay = delay
        self.calls: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    async def complete(self, messages: list[dict[str, Any]], **params: Any) -> Completion:
        self.calls.append((messages, params))
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.script(messages, params)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, Completion):
            return answer
        return Completion(text=str(answer), usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}, latency_s=self.delay, model=self.model, finish_reason="stop")


def user_text(messages: list[dict[str, Any]]) -> str:
    return messages[-1]["content"]
