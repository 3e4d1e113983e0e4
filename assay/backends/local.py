"""A local transformers backend: a causal LM in this process, behind the same seam as a server.

``LocalBackend(path)`` renders the messages with the model's own chat template (adding the
generation prompt), generates greedily by default under ``torch.inference_mode``, and
returns per-token logprobs and the top alternatives when asked (``logprobs=True,
top_logprobs=k``), so logprob scoring works without a server. Templates that have no
``system`` role (Gemma's older templates, Mistral's) get the system text merged into the
first user turn. A tokenizer with no chat template at all gets plain ``role: content`` lines,
except the packaged Gemma (whose GGUF has none), which gets Gemma's own turn format.

The default model is the packaged Gemma-3-270M, loaded through the shared cached loader
:func:`assay.backends.local_models.causal_lm` (one copy per process, offline).

    >>> backend = LocalBackend()                      # doctest: +SKIP
    >>> run_sync(backend.complete([{"role": "user", "content": "2+2="}], max_tokens=4)).text  # doctest: +SKIP

Generation runs one request at a time in a worker thread (a lock serialises the model), so
the event loop stays free for other work.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from assay.backends.base import Completion, TokenLogprob
from assay.types import Message, prompt_text


def merge_system(messages: list[Message]) -> list[Message]:
    """Messages without a system role: the system text is put before the first user turn."""
    system = "\n\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    rest = [dict(m) for m in messages if m.get("role") != "system"]
    if not system:
        return rest
    for message in rest:
        if message.get("role") == "user":
            message["content"] = f"{system}\n\n{message.get('content', '')}"
            return rest
    return [{"role": "user", "content": system}, *rest]


def gemma_chat(messages: list[Message], bos: str = "<bos>") -> str:
    """Gemma's turn format (no system role: merged into the first user turn), for the packaged
    Gemma-3-270M, whose GGUF carries no chat template (llama.cpp serves it with the same format)."""
    turns = "".join(
        f"<start_of_turn>{'model' if m.get('role') == 'assistant' else 'user'}\n{str(m.get('content', '')).strip()}<end_of_turn>\n"
        for m in merge_system(messages)
    )
    return f"{bos}{turns}<start_of_turn>model\n"


def render_chat(tokenizer: Any, messages: list[Message], fallback: str = "plain") -> str:
    """The prompt text for ``messages`` under the tokenizer's chat template; without one,
    ``fallback`` ``gemma`` uses Gemma's turn format and ``plain`` uses ``role: content`` lines."""
    if not getattr(tokenizer, "chat_template", None):
        if fallback == "gemma":
            return gemma_chat(messages, getattr(tokenizer, "bos_token", None) or "<bos>")
        return prompt_text(messages) + "\nassistant:"
    has_system = any(m.get("role") == "system" for m in messages)
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - jinja TemplateError: "System role not supported", "roles must alternate"
        if not has_system:
            raise
        return tokenizer.apply_chat_template(merge_system(messages), tokenize=False, add_generation_prompt=True)
    if has_system and not _system_kept(text, messages):
        # some templates silently drop the system turn: merge it so the judge still sees it
        return tokenizer.apply_chat_template(merge_system(messages), tokenize=False, add_generation_prompt=True)
    return text


def _system_kept(rendered: str, messages: list[Message]) -> bool:
    systems = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    return all(s.strip()[:40] in rendered for s in systems)


class LocalBackend:
    """A causal LM folder (default: packaged Gemma-3-270M) as a backend. See the module docstring."""

    def __init__(self, model_path: str | None = None, device: str | None = "cpu", max_input_tokens: int = 4096) -> None:
        self.model_path = model_path
        self.device = device
        self.max_input_tokens = max_input_tokens
        self.model = str(model_path) if model_path else "gemma-3-270m (packaged)"
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"LocalBackend(model={self.model!r}, device={self.device!r})"

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from assay.backends.local_models import causal_lm

            self._loaded = causal_lm(self.model_path, device=self.device)
        return self._loaded

    async def complete(self, messages: list[Message], **params: Any) -> Completion:
        return await asyncio.to_thread(self._complete_sync, messages, params)

    def _complete_sync(self, messages: list[Message], params: dict[str, Any]) -> Completion:
        import torch

        asked = time.perf_counter()
        with self._lock:  # one generation at a time: the wait for it is queue time, not latency
            started = time.perf_counter()
            model, tokenizer = self._load()
            prompt = render_chat(tokenizer, messages, fallback="gemma" if self.model_path is None else "plain")
            has_bos = bool(tokenizer.bos_token) and prompt.startswith(tokenizer.bos_token)
            encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=not has_bos, truncation=True, max_length=self.max_input_tokens)
            encoded = {k: v.to(model.device) for k, v in encoded.items()}
            temperature = float(params.get("temperature") or 0.0)
            want_logprobs = bool(params.get("logprobs"))
            top_k = int(params.get("top_logprobs") or 0)
            generate_args: dict[str, Any] = {
                "max_new_tokens": int(params.get("max_tokens") or 256),
                "do_sample": temperature > 0,
                "return_dict_in_generate": True,
                "output_scores": want_logprobs,
                "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            }
            if temperature > 0:
                generate_args["temperature"] = temperature
                if params.get("top_p") is not None:
                    generate_args["top_p"] = float(params["top_p"])
            else:  # greedy: clear sampling knobs a generation_config may carry, to avoid warnings
                generate_args.update(temperature=None, top_p=None, top_k=None)
            if params.get("seed") is not None:
                torch.manual_seed(int(params["seed"]))
            with torch.inference_mode():
                output = model.generate(**encoded, **generate_args)
            prompt_length = encoded["input_ids"].shape[1]
            new_ids = output.sequences[0, prompt_length:].tolist()
            logprobs = _token_logprobs(tokenizer, new_ids, output.scores, max(top_k, 1)) if want_logprobs else None
            text = tokenizer.decode(new_ids, skip_special_tokens=True)
            finish = "stop" if new_ids and new_ids[-1] == tokenizer.eos_token_id else "length"
            for stop in _stops(params.get("stop")):
                if stop in text:
                    text, finish = text[: text.index(stop)], "stop"
            return Completion(
                text=text,
                logprobs=logprobs,
                usage={"prompt_tokens": prompt_length, "completion_tokens": len(new_ids), "total_tokens": prompt_length + len(new_ids)},
                latency_s=time.perf_counter() - started,
                queue_s=started - asked,
                model=self.model,
                finish_reason=finish,
            )


def _stops(stop: Any) -> list[str]:
    if not stop:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if s]


def _token_logprobs(tokenizer: Any, ids: list[int], scores: Any, top_k: int) -> list[TokenLogprob]:
    import torch

    out = []
    for position, token_id in enumerate(ids):
        if position >= len(scores):
            break
        logp = torch.log_softmax(scores[position][0].float(), dim=-1)
        values, indices = torch.topk(logp, top_k)
        top = {tokenizer.decode([int(i)]): float(v) for v, i in zip(values.tolist(), indices.tolist(), strict=True)}
        out.append(TokenLogprob(tokenizer.decode([token_id]), float(logp[token_id]), top))
    return out
