"""The ``prm`` reward's vLLM backend: step scores from a PRM served by vLLM's pooling API.

For scale, a token-classification PRM runs in a vLLM server (``vllm serve <prm>`` with the
pooling runner: ``--runner pooling``, or ``--task reward`` before vLLM 0.10) and assay asks
its ``POST /pooling`` endpoint. The request is vLLM's ``PoolingCompletionRequest``::

    {"model": "<served name>", "input": [[token ids], ...], "encoding_format": "float", "task": "token_classify"}

(``model`` only when ``served_model`` is set, ``task`` only when ``vllm_task`` is: vLLM 0.11+
names the tokenwise pooling task ``token_classify``, older servers take none). The ids are
assay's own encoding of prompt + steps + separators (the ``prm`` reward's tokenizer, read
from the local ``model`` folder; no weights are loaded), so the positions are exact. The
answer is vLLM's ``PoolingResponse``::

    {"id": "pool-...", "object": "list", "created": 0, "model": "...", "usage": {...},
     "data": [{"index": 0, "object": "pooling", "data": [[p_bad, p_good], ...]}, ...]}

Two poolings, ``vllm_pooling``:

- ``step`` (how Qwen2.5-Math-PRM is served: vLLM's ``STEP`` pooler with ``step_tag_id``, the
  ``<extra_0>`` token, and softmax): one row per step-tag token in the input, in order; the
  rows must be as many as the steps (a separator token inside a step's text, or a server
  whose ``step_tag_id`` is not the separator, is a ``parse`` failure naming both counts).
- ``all`` (vLLM's ``ALL`` pooler, e.g. a TRL token-classification PRM): one row per input
  token; assay reads the rows at its step positions.

A row is the class probabilities (``vllm_returns: probabilities``, what vLLM returns with its
softmax activation) or raw logits (``logits``: assay applies the softmax); the step score is
the row's ``label_index`` entry. One request per batch of ``batch_size`` solutions, at most
``concurrency`` in flight, each attempt bounded by ``timeout`` seconds, ``retries`` retries on
429/5xx/timeouts/refused connections (:class:`~assay.backends.http.JsonClient`). A timeout is
a ``timeout`` failure, any other transport or HTTP failure ``backend``, an answer outside the
schema (not JSON, a missing ``data``, base64 data, rows that are not numbers, a probability
outside [0, 1], NaN) ``parse``; each names the server and keeps the start of the raw body.

vLLM itself does not install on this machine (no GPU; its wheels pin a CUDA torch): the
backend is tested against a loopback HTTP server that answers in this schema from a tiny
real token-classification model (``tests/test_prm_vllm.py``).
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import Any

from assay.backends.base import BackendError, BackendTimeout
from assay.backends.http import JsonClient
from assay.types import Judgment

RAW_CHARS = 500


@dataclass
class PoolingSettings:
    base_url: str
    served_model: str | None
    pooling: str  # "step" | "all"
    returns: str  # "probabilities" | "logits"
    task: str | None
    label_index: int
    timeout: float
    retries: int
    concurrency: int
    batch_size: int


class PoolingSchemaError(ValueError):
    """The server's answer is not vLLM's PoolingResponse as assay reads it."""


def _softmax(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def read_rows(item: Any, where: str) -> list[list[float]]:
    """The 2-D float rows of one ``PoolingResponseData``; PoolingSchemaError otherwise."""
    if not isinstance(item, dict) or "data" not in item:
        raise PoolingSchemaError(f"{where} has no 'data'")
    rows = item["data"]
    if isinstance(rows, str):
        raise PoolingSchemaError(f"{where} 'data' is a string (base64?); assay asks for encoding_format float")
    if not isinstance(rows, list) or any(not isinstance(r, list) or not r for r in rows):
        raise PoolingSchemaError(f"{where} 'data' is not a list of per-token rows (a tokenwise pooling answers one row of class values per token)")
    out = []
    for r in rows:
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in r):
            raise PoolingSchemaError(f"{where} holds a value that is not a finite number: {json.dumps(r)[:80]}")
        out.append([float(v) for v in r])
    return out


class PoolingPRMClient:
    """Step scores for encoded solutions from a vLLM ``/pooling`` endpoint."""

    def __init__(self, settings: PoolingSettings) -> None:
        self.settings = settings
        self.client = JsonClient(settings.base_url, concurrency=settings.concurrency, timeout=settings.timeout, retries=settings.retries)
        self.url = self.client.base_url + "/pooling"

    def payload(self, ids: list[list[int]]) -> dict[str, Any]:
        body: dict[str, Any] = {"input": ids, "encoding_format": "float"}
        if self.settings.served_model:
            body["model"] = self.settings.served_model
        if self.settings.task:
            body["task"] = self.settings.task
        return body

    async def score(self, items: list[tuple[list[int], list[int]]]) -> list[list[float] | Judgment]:
        """For each (token ids, step positions): the step scores, or a failure Judgment."""
        size = self.settings.batch_size
        batches = [list(range(start, min(start + size, len(items)))) for start in range(0, len(items), size)]
        results: list[list[float] | Judgment | None] = [None] * len(items)

        async def run(batch: list[int]) -> None:
            for index, result in zip(batch, await self._batch([items[i] for i in batch]), strict=True):
                results[index] = result

        await asyncio.gather(*(run(b) for b in batches))
        return results  # type: ignore[return-value]

    async def _batch(self, items: list[tuple[list[int], list[int]]]) -> list[list[float] | Judgment]:
        try:
            text, attempts = await self.client.post("/pooling", self.payload([ids for ids, _ in items]))
        except BackendTimeout as error:
            return [Judgment.fail("timeout", f"the vLLM pooling server gave no answer: {error}") for _ in items]
        except BackendError as error:
            return [Judgment.fail("backend", f"the vLLM pooling server failed: {error}", raw=error.body) for _ in items]
        try:
            answer = json.loads(text)
            data = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(data, list):
                raise PoolingSchemaError("the answer has no 'data' list")
            by_index: dict[int, Any] = {}
            for k, entry in enumerate(data):
                index = entry.get("index", k) if isinstance(entry, dict) else k
                if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items) or index in by_index:
                    raise PoolingSchemaError(f"data[{k}] has index {index!r}, not a new one in 0..{len(items) - 1}")
                by_index[index] = entry
            if len(by_index) != len(items):
                raise PoolingSchemaError(f"{len(by_index)} results for {len(items)} inputs")
        except (json.JSONDecodeError, PoolingSchemaError) as error:
            message = f"the vLLM pooling answer from {self.url} is not a PoolingResponse: {error}"
            return [Judgment.fail("parse", message, raw=text[:RAW_CHARS]) for _ in items]
        out: list[list[float] | Judgment] = []
        for k, (ids, positions) in enumerate(items):
            try:
                out.append(self._step_scores(read_rows(by_index[k], f"data[{k}]"), ids, positions))
            except PoolingSchemaError as error:
                out.append(Judgment.fail("parse", f"the vLLM pooling answer from {self.url}: {error}", raw=json.dumps(by_index[k])[:RAW_CHARS]))
        return out

    def _step_scores(self, rows: list[list[float]], ids: list[int], positions: list[int]) -> list[float]:
        s = self.settings
        if s.pooling == "step":
            if len(rows) != len(positions):
                raise PoolingSchemaError(
                    f"{len(rows)} step rows for {len(positions)} steps: the server's step_tag_id must be the separator's token, "
                    "and no step may contain that token")
            picked = rows
        else:
            if len(rows) != len(ids):
                raise PoolingSchemaError(f"{len(rows)} token rows for {len(ids)} input tokens (vllm_pooling: all reads one row per token)")
            picked = [rows[p] for p in positions]
        scores = []
        for row in picked:
            if s.label_index >= len(row):
                raise PoolingSchemaError(f"a row has {len(row)} classes, so label_index {s.label_index} does not exist")
            if s.returns == "logits":
                row = _softmax(row)
            elif any(v < -1e-6 or v > 1 + 1e-6 for v in row):
                raise PoolingSchemaError(f"a row {row[:4]} is not probabilities (set vllm_returns: logits if the server returns raw logits)")
            scores.append(min(1.0, max(0.0, row[s.label_index])))
        return scores
