"""The one seam between a judge and a model: ``await backend.complete(messages, **params)``.

Every judge in assay talks to its model through this protocol, whatever serves the model
(an OpenAI-compatible server, transformers in-process, a request cache in front of either,
or a scripted stand-in in unit tests). A backend returns a :class:`Completion`: the text,
per-token logprobs when the model gives them, token usage, latency (the call's own time,
apart from the wait for a concurrency slot, ``queue_s``) and how many attempts it took. A
backend that cannot answer raises :class:`BackendError` (or :class:`BackendTimeout`); judges
turn those into typed failures (``backend``, ``timeout``), never into scores.

    >>> class Echo:
    ...     model = "echo"
    ...     async def complete(self, messages, **params):
    ...         return Completion(text=messages[-1]["content"])
    >>> import asyncio
    >>> asyncio.run(Echo().complete([{"role": "user", "content": "hi"}])).text
    'hi'

Sampling parameters a backend understands (others are passed through to the server):
``temperature`` (judges default to 0), ``max_tokens``, ``top_p``, ``seed``, ``stop``,
``logprobs`` (bool) and ``top_logprobs`` (int). A chat backend also passes ``tools``
(OpenAI function declarations) and ``response_format`` through, and returns the tool calls
the model asked for in :attr:`Completion.tool_calls`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from assay.types import Message


@dataclass
class TokenLogprob:
    """One generated token, its log probability, and the most likely alternatives there."""

    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)  # token -> logprob (includes the chosen one when given)

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "logprob": self.logprob, "top": self.top}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenLogprob:
        return cls(token=data["token"], logprob=data["logprob"], top=dict(data.get("top") or {}))


@dataclass
class Completion:
    """What a backend answered: text, optional per-token logprobs, usage and timing."""

    text: str
    logprobs: list[TokenLogprob] | None = None
    usage: dict[str, int] = field(default_factory=dict)  # prompt_tokens, completion_tokens, total_tokens
    latency_s: float = 0.0  # the call's own wall time: its requests and backoffs (all attempts), without queue_s
    model: str = ""
    finish_reason: str | None = None
    attempts: int = 1
    cached: bool = False
    reasoning: str | None = None  # separate reasoning channel (vLLM/SGLang reasoning parsers), if any
    queue_s: float = 0.0  # time spent waiting for a concurrency slot before (and between) the requests
    # OpenAI-style tool calls the model asked for (chat mode, a request with ``tools``):
    # ``[{"id": ..., "name": ..., "arguments": "<JSON text>"}]``; None when it asked for none
    tool_calls: list[dict[str, str]] | None = None

    def meta(self) -> dict[str, Any]:
        """The parts of the completion a Judgment keeps in ``meta``."""
        out: dict[str, Any] = {
            "model": self.model,
            "usage": dict(self.usage),
            "latency_s": round(self.latency_s, 4),
            "queue_s": round(self.queue_s, 4),
            "attempts": self.attempts,
            "finish_reason": self.finish_reason,
        }
        if self.cached:
            out["cached"] = True
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "logprobs": [t.to_dict() for t in self.logprobs] if self.logprobs is not None else None,
            "usage": self.usage,
            "latency_s": self.latency_s,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "attempts": self.attempts,
            "reasoning": self.reasoning,
            **({"tool_calls": self.tool_calls} if self.tool_calls else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        logprobs = data.get("logprobs")
        return cls(
            text=data.get("text", ""),
            logprobs=[TokenLogprob.from_dict(t) for t in logprobs] if logprobs is not None else None,
            usage=dict(data.get("usage") or {}),
            latency_s=float(data.get("latency_s") or 0.0),
            model=data.get("model", ""),
            finish_reason=data.get("finish_reason"),
            attempts=int(data.get("attempts") or 1),
            reasoning=data.get("reasoning"),
            tool_calls=[dict(c) for c in data["tool_calls"]] if data.get("tool_calls") else None,
        )


class BackendError(Exception):
    """The backend could not produce a completion (refused connection, 5xx after retries,
    a 4xx, a body that is not the expected JSON). ``kind`` is the failure kind it maps to."""

    kind = "backend"

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1, body: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.body = body


class BackendTimeout(BackendError):
    """Every attempt ran past the per-request timeout."""

    kind = "timeout"


@runtime_checkable
class Backend(Protocol):
    """Anything with a ``model`` name and ``async complete(messages, **params) -> Completion``."""

    model: str

    async def complete(self, messages: list[Message], **params: Any) -> Completion: ...
