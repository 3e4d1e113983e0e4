"""The backend settings every judge shares, as one pydantic model, and the backend they build.

Judge, listwise judge, pairwise judge, tournament and rubric options all derive from
:class:`BackendOptions`, so ``base_url``, ``model``, ``temperature`` ... mean the same thing
and have the same defaults everywhere:

    rewards:
      helpful:
        type: judge
        base_url: http://127.0.0.1:8000/v1     # vLLM / SGLang / llama.cpp / Ollama / OpenAI
        model: Qwen/Qwen3-8B
        api_key_env: OPENAI_API_KEY            # the *name* of the variable holding the key
        temperature: 0                         # deterministic judge decoding (the default)
        max_tokens: 1024
        concurrency: 16
        timeout: 60
        retries: 3
        cache: judge-cache.sqlite              # opt-in persistent cache

``backend: local`` runs a transformers model in-process instead (``local_model`` names a
folder; default the packaged Gemma-3-270M).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from assay.backends.base import Backend
from assay.reward import Options


class BackendOptions(Options):
    """Where the judge model is and how to call it."""

    backend: Literal["openai", "local"] = "openai"
    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = "default"
    api_key_env: str | None = None
    mode: Literal["chat", "completions"] = "chat"
    local_model: str | None = None  # backend: local -- a causal LM folder (default: packaged Gemma-3-270M)
    device: str = "cpu"
    # sampling
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=1024, gt=0)
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    logprobs: bool = False  # ask for token logprobs and score by expected value / P(A) when given
    top_logprobs: int = Field(default=10, ge=0, le=20)
    # transport
    concurrency: int = Field(default=8, ge=1)
    timeout: float = Field(default=60.0, gt=0)
    retries: int = Field(default=3, ge=0)
    cache: str | None = None  # path of a SQLite request cache (opt-in)


def sampling_params(options: BackendOptions | dict[str, Any]) -> dict[str, Any]:
    """The per-call sampling parameters (None values dropped)."""
    data = options.model_dump() if isinstance(options, BackendOptions) else options
    params = {k: data.get(k) for k in ("temperature", "max_tokens", "top_p", "seed", "stop")}
    if data.get("logprobs"):
        params["logprobs"] = True
        params["top_logprobs"] = data.get("top_logprobs") or 10
    return {k: v for k, v in params.items() if v is not None}


def build_backend(options: BackendOptions, namespace: str = "") -> Backend:
    """The backend the settings describe, behind the request cache when ``cache`` is set.
    ``namespace`` (the caller's prompt and parser version) keys the cache."""
    backend: Backend
    if options.backend == "local":
        from assay.backends.local import LocalBackend

        backend = LocalBackend(options.local_model, device=options.device)
    else:
        from assay.backends.openai import OpenAIBackend

        backend = OpenAIBackend(
            base_url=options.base_url,
            model=options.model,
            api_key_env=options.api_key_env,
            mode=options.mode,
            concurrency=options.concurrency,
            timeout=options.timeout,
            retries=options.retries,
        )
    if options.cache:
        from assay.backends.cache import CachedBackend, RequestCache

        # which server (or local model) answers is part of the key: two configs sharing one
        # cache file must not get each other's answers
        where = f"local:{options.local_model}" if options.backend == "local" else f"{options.base_url}:{options.mode}"
        backend = CachedBackend(backend, RequestCache(options.cache), namespace=f"{namespace}|{where}")
    return backend
