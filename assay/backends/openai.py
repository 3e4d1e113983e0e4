"""An async client for any OpenAI-compatible server: vLLM, SGLang, llama.cpp, Ollama, OpenAI.

One class, :class:`OpenAIBackend`, speaks both ``/v1/chat/completions`` (``mode="chat"``,
the default) and ``/v1/completions`` (``mode="completions"``, for base models: the messages
are joined into one prompt). What it guarantees:

- **a concurrency bound**: at most ``concurrency`` requests in flight (an asyncio
  semaphore per event loop, no thread pool in the way);
- **bounded retries** on 429, 408, 5xx, timeouts and connection errors, with exponential
  backoff and jitter (a ``Retry-After`` header is honoured, capped at ``max_backoff``);
  other 4xx answers and malformed bodies fail at once;
- **a per-request timeout**, so a call takes at most about
  ``(retries + 1) * timeout + backoffs`` seconds;
- **sampling parameters passed through** on every call (``temperature`` defaults to 0:
  judge decoding is deterministic unless asked), plus logprobs / top logprobs when asked
  and the server gives them;
- **usage and latency recorded** on every :class:`~assay.backends.base.Completion`.

Failures raise :class:`~assay.backends.base.BackendError` / ``BackendTimeout``; the judges
turn them into typed failures.

    >>> backend = OpenAIBackend("http://127.0.0.1:8080/v1", model="gemma-3-270m")  # doctest: +SKIP
    >>> completion = run_sync(backend.complete([{"role": "user", "content": "Say hi"}], max_tokens=8))  # doctest: +SKIP
    >>> completion.text, completion.usage, completion.latency_s  # doctest: +SKIP

The API key is read from the environment variable named by ``api_key_env`` (never written
in a config file).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import weakref
from typing import Any
from urllib.parse import urlsplit

from assay.backends.base import Backend, BackendError, BackendTimeout, Completion, TokenLogprob
from assay.types import Message, prompt_text

__all__ = ["Backend", "BackendError", "BackendTimeout", "Completion", "OpenAIBackend", "TokenLogprob", "normalize_base_url"]

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524}
# Parameters of ours that are not sent under the same name.
_LOCAL_PARAMS = {"logprobs", "top_logprobs"}


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
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = normalize_base_url(base_url)
        self.model = model
        if api_key is None and api_key_env:
            api_key = os.environ.get(api_key_env)
            if api_key is None:
                raise ValueError(f"api_key_env names {api_key_env!r}, which is not set in the environment")
        self._api_key = api_key
        self.mode = mode
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.defaults = {"temperature": 0.0, **(defaults or {})}
        self.headers = dict(headers or {})
        self._jitter = random.Random()  # jitter only spreads retries; it never touches a result
        # One httpx client and one semaphore per event loop: both are bound to the loop they
        # were first used on, and run_sync may run each batch on a fresh loop.
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, asyncio.Semaphore]] = weakref.WeakKeyDictionary()
        self.calls = 0  # requests sent (every attempt), for tests and reports

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r}, mode={self.mode!r})"

    # --- plumbing -------------------------------------------------------------------------
    def _state(self) -> tuple[Any, asyncio.Semaphore]:
        import httpx

        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None:
            headers = {"Content-Type": "application/json", **self.headers}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self.timeout), limits=limits)
            state = (client, asyncio.Semaphore(self.concurrency))
            self._per_loop[loop] = state
        return state

    async def aclose(self) -> None:
        """Close the HTTP client of the running loop (others close with their loops)."""
        loop = asyncio.get_running_loop()
        state = self._per_loop.pop(loop, None)
        if state is not None:
            await state[0].aclose()

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

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(self.max_backoff, max(0.0, float(retry_after)))
            except ValueError:
                pass
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (0.5 + self._jitter.random())  # jitter in [0.5, 1.5) x

    # --- the call -------------------------------------------------------------------------
    async def complete(self, messages: list[Message], **params: Any) -> Completion:
        """One completion, with retries; raises BackendError / BackendTimeout."""
        import httpx

        client, semaphore = self._state()
        path, payload = self._payload(messages, params)
        url = self.base_url + path
        started = time.perf_counter()
        last: BackendError | None = None
        attempts = 0
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            retry_after = None
            async with semaphore:
                self.calls += 1
                try:
                    # wait_for bounds the whole request; httpx's timeout bounds each phase
                    response = await asyncio.wait_for(client.post(url, json=payload), self.timeout)
                except (httpx.TimeoutException, asyncio.TimeoutError) as error:
                    last = BackendTimeout(f"no answer from {url} within {self.timeout:g}s ({type(error).__name__})", attempts=attempts)
                except httpx.TransportError as error:
                    last = BackendError(f"could not reach {url}: {type(error).__name__}: {error}", attempts=attempts)
                else:
                    if response.status_code == 200:
                        return self._parse(response.text, url, started, attempts)
                    body = response.text[:2000]
                    last = BackendError(f"{url} answered HTTP {response.status_code}: {body[:300]}", status=response.status_code, attempts=attempts, body=body)
                    if response.status_code not in RETRY_STATUSES:
                        raise last
                    retry_after = response.headers.get("retry-after")
            if attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, retry_after))
        assert last is not None
        last.args = (f"{last.args[0]} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})",)
        raise last

    def _parse(self, text: str, url: str, started: float, attempts: int) -> Completion:
        try:
            data = json.loads(text)
            choice = data["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise BackendError(f"{url} answered 200 with a body that is not an OpenAI completion ({type(error).__name__}): {text[:300]!r}", status=200, attempts=attempts, body=text[:2000]) from None
        if self.mode == "chat":
            message = choice.get("message") or {}
            content = message.get("content")
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            logprobs = _chat_logprobs(choice.get("logprobs"))
        else:
            content = choice.get("text")
            reasoning = None
            logprobs = _completion_logprobs(choice.get("logprobs"))
        if content is None:
            content = ""
        if not isinstance(content, str):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict)) if isinstance(content, list) else str(content)
        usage = {k: int(v) for k, v in (data.get("usage") or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return Completion(
            text=content,
            logprobs=logprobs,
            usage=usage,
            latency_s=time.perf_counter() - started,
            model=str(data.get("model") or self.model),
            finish_reason=choice.get("finish_reason"),
            attempts=attempts,
            reasoning=reasoning if isinstance(reasoning, str) else None,
        )


def messages_as_prompt(messages: list[Message]) -> str:
    """Chat messages as one plain prompt for ``/v1/completions`` (base models)."""
    if len(messages) == 1 and isinstance(messages[0].get("content"), str):
        return messages[0]["content"]
    return prompt_text(messages) + "\nassistant:"


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
