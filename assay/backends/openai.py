"""An async client for any OpenAI-compatible server: vLLM, SGLang, llama.cpp, Ollama, OpenAI.

One class, :class:`OpenAIBackend`, speaks both ``/v1/chat/completions`` (``mode="chat"``,
the default) and ``/v1/completions`` (``mode="completions"``, for base models: the messages
are joined into one prompt). What it guarantees:

- **a concurrency bound** (these first three come from :class:`~assay.backends.http.JsonClient`):
  at most ``concurrency`` requests in flight (an asyncio
  semaphore per event loop, no thread pool in the way);
- **bounded retries** on 429, 408, 5xx, timeouts and connection errors, with exponential
  backoff and jitter (a ``Retry-After`` header is honoured, capped at ``max_backoff``);
  other 4xx answers and malformed bodies fail at once;
- **a per-request timeout**, so a call takes at most about
  ``(retries + 1) * timeout + backoffs`` seconds;
- **sampling parameters passed through** on every call (``temperature`` defaults to 0:
  judge decoding is deterministic unless asked), plus logprobs / top logprobs when asked
  and the server gives them;
- **usage and latency recorded** on every :class:`~assay.backends.base.Completion`: ``latency_s``
  is the call's own time (its requests and the backoffs between them), ``queue_s`` the time
  it waited for a concurrency slot, kept apart so a full queue does not read as a slow server;
- **tool calls passed both ways**: ``tools`` and ``response_format`` in the params go into the
  chat request as they are; the ``tool_calls`` of the reply come back in
  :attr:`~assay.backends.base.Completion.tool_calls` (``assay.rewards.judges.tooluse``);
- **a malformed 200 answer is a failure of that call** (``BackendError``): choices that are
  not objects, a ``usage`` that is not an object of finite counts, unreadable logprobs.

Failures raise :class:`~assay.backends.base.BackendError` / ``BackendTimeout``; the judges
turn them into typed failures.

    >>> backend = OpenAIBackend("http://127.0.0.1:8080/v1", model="gemma-3-270m")  # doctest: +SKIP
    >>> completion = run_sync(backend.complete([{"role": "user", "content": "Say hi"}], max_tokens=8))  # doctest: +SKIP
    >>> completion.text, completion.usage, completion.latency_s  # doctest: +SKIP

The API key is read from the environment variable named by ``api_key_env`` (never written
in a config file).
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any
from urllib.parse import urlsplit

from assay.backends.base import Backend, BackendError, BackendTimeout, Completion, TokenLogprob
from assay.backends.http import JsonClient
from assay.text import Message, content_text, prompt_text

__all__ = ["Backend", "BackendError", "BackendTimeout", "Completion", "OpenAIBackend", "TokenLogprob", "normalize_base_url"]


def normalize_base_url(base_url: str) -> str:
    """``http://host:8080`` -> ``http://host:8080/v1``; a URL with a path is kept as given."""
    base_url = base_url.rstrip("/")
    if not urlsplit(base_url).path:
        base_url += "/v1"
    return base_url


class OpenAIBackend:
    """An OpenAI-compatible chat/completions endpoint. See the module docstring."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080/v1",
        model: str = "default",
        api_key: str | None = None,
        api_key_env: str | None = None,
        mode: str = "chat",
        concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        defaults: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if mode not in ("chat", "completions"):
            raise ValueError(f"mode must be 'chat' or 'completions', not {mode!r}")
        self.base_url = normalize_base_url(base_url)
        self.model = model
        if api_key is None and api_key_env:
            api_key = os.environ.get(api_key_env)
            if api_key is None:
                raise ValueError(f"api_key_env names {api_key_env!r}, which is not set in the environment")
        self.mode = mode
        self.defaults = {"temperature": 0.0, **(defaults or {})}
        auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = JsonClient(
            self.base_url, {**(headers or {}), **auth}, concurrency=concurrency, timeout=timeout, retries=retries, backoff=backoff, max_backoff=max_backoff
        )

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r}, mode={self.mode!r})"

    @property
    def calls(self) -> int:
        """Requests sent (every attempt), for tests and reports."""
        return self.http.calls

    async def aclose(self) -> None:
        """Close the HTTP client of the running loop (others close with their loops)."""
        await self.http.aclose()

    # --- the call -------------------------------------------------------------------------
    def _payload(self, messages: list[Message], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        params = {**self.defaults, **{k: v for k, v in params.items() if v is not None}}
        want_logprobs = bool(params.pop("logprobs", False))
        top_logprobs = int(params.pop("top_logprobs", 0) or 0)
        payload: dict[str, Any] = {"model": self.model, **params}
        if self.mode == "chat":
            payload["messages"] = messages
            if want_logprobs:
                payload["logprobs"] = True
                if top_logprobs:
                    payload["top_logprobs"] = top_logprobs
            return "/chat/completions", payload
        payload["prompt"] = messages_as_prompt(messages)
        if want_logprobs:
            payload["logprobs"] = max(top_logprobs, 1)
        return "/completions", payload

    async def complete(self, messages: list[Message], **params: Any) -> Completion:
        """One completion, with retries; raises BackendError / BackendTimeout."""
        path, payload = self._payload(messages, params)
        started = time.perf_counter()
        reply = await self.http.post_timed(path, payload)
        return self._parse(reply.text, self.base_url + path, started, reply.attempts, reply.queued_s)

    def _parse(self, text: str, url: str, started: float, attempts: int, queued: float = 0.0) -> Completion:
        """The completion in a 200 answer's body; a body of any other shape (not JSON, no
        ``choices[0]`` object, a ``usage`` that is not an object of finite counts, logprobs
        that are not numbers) raises BackendError: that call's ``backend`` failure."""

        def malformed(why: str) -> BackendError:
            return BackendError(f"{url} answered 200 with a body that is not an OpenAI completion ({why}): {text[:300]!r}", status=200, attempts=attempts, body=text[:2000])

        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise malformed(type(error).__name__) from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise malformed("no choices[0] object")
        choice = choices[0]
        usage_block = data.get("usage") or {}
        if not isinstance(usage_block, dict):
            raise malformed(f"usage is a {type(usage_block).__name__}, not an object")
        counts = {k: v for k, v in usage_block.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}  # nested details are skipped
        if not all(math.isfinite(v) for v in counts.values()):
            raise malformed("usage holds a count that is not a finite number")
        try:
            if self.mode == "chat":
                message = choice.get("message") or {}
                if not isinstance(message, dict):
                    raise malformed(f"choices[0].message is a {type(message).__name__}, not an object")
                content = message.get("content")
                reasoning = message.get("reasoning_content") or message.get("reasoning")
                logprobs = _chat_logprobs(choice.get("logprobs"))
                tool_calls = _tool_calls(message.get("tool_calls"))
            else:
                content = choice.get("text")
                reasoning = None
                tool_calls = None
                logprobs = _completion_logprobs(choice.get("logprobs"))
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as error:
            raise malformed(f"unreadable logprobs or tool calls: {type(error).__name__}") from None
        content = content_text(content)
        finish = choice.get("finish_reason")
        return Completion(
            text=content,
            logprobs=logprobs,
            usage={k: int(v) for k, v in counts.items()},
            latency_s=time.perf_counter() - started - queued,
            queue_s=queued,
            model=str(data.get("model") or self.model),
            finish_reason=finish if isinstance(finish, str) else None,
            attempts=attempts,
            reasoning=reasoning if isinstance(reasoning, str) else None,
            tool_calls=tool_calls,
        )


def messages_as_prompt(messages: list[Message]) -> str:
    """Chat messages as one plain prompt for ``/v1/completions`` (base models)."""
    if len(messages) == 1 and isinstance(messages[0].get("content"), str):
        return messages[0]["content"]
    return prompt_text(messages) + "\nassistant:"


def _tool_calls(block: Any) -> list[dict[str, str]] | None:
    """``choices[0].message.tool_calls``: ``[{id, name, arguments}]`` (arguments as the JSON
    text the model wrote, read later by the tool loop); a list of the wrong shape is a
    malformed answer (ValueError), an absent or empty one is None."""
    if block is None or block == []:
        return None
    if not isinstance(block, list):
        raise ValueError("tool_calls is not a list")
    out = []
    for index, call in enumerate(block):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError(f"tool_calls[{index}] has no function name")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # some servers send the object itself
            arguments = json.dumps(arguments if arguments is not None else {})
        out.append({"id": str(call.get("id") or f"assay_call_{index}"), "name": function["name"], "arguments": arguments})
    return out


def _chat_logprobs(block: Any) -> list[TokenLogprob] | None:
    """``choices[0].logprobs.content`` of a chat completion."""
    if not isinstance(block, dict) or not isinstance(block.get("content"), list):
        return None
    out = []
    for item in block["content"]:
        if not isinstance(item, dict) or "token" not in item:
            continue
        top = {t["token"]: float(t["logprob"]) for t in item.get("top_logprobs") or [] if isinstance(t, dict) and "token" in t and t.get("logprob") is not None}
        logprob = item.get("logprob")
        out.append(TokenLogprob(str(item["token"]), float(logprob) if logprob is not None else float("-inf"), top))
    return out


def _completion_logprobs(block: Any) -> list[TokenLogprob] | None:
    """``choices[0].logprobs`` of a legacy completion: tokens, token_logprobs, top_logprobs."""
    if not isinstance(block, dict) or not isinstance(block.get("tokens"), list):
        return None
    tokens = block["tokens"]
    values = block.get("token_logprobs") or [None] * len(tokens)
    tops = block.get("top_logprobs") or [None] * len(tokens)
    out = []
    for token, value, top in zip(tokens, values, tops, strict=False):
        top_dict = {str(k): float(v) for k, v in (top or {}).items() if v is not None} if isinstance(top, dict) else {}
        out.append(TokenLogprob(str(token), float(value) if value is not None else float("-inf"), top_dict))
    return out
