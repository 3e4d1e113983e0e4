"""``remote``: the rewards of an assay server (``assay serve``), scored over HTTP.

Why: the models behind a reward (an encoder, a reward model, a judge) can live on another
machine, shared by many trainers, while the trainer's own config names only the server. Any
adapter then works over HTTP unchanged: TRL's ``reward_funcs``, veRL's ``compute_score``,
the OpenRLHF hook, ``assay score`` and ``assay bench``.

Each batch is sent as ``POST /v1/score`` requests of at most ``batch_size`` samples (up to
``concurrency`` at once); the server's judgments come back whole: score, rationale, typed
failure, and each of its components' judgments in ``details``. Transport errors, timeouts,
429 and 5xx answers are retried a bounded number of times (see
:mod:`assay.backends.http`); what still fails becomes a typed failure of those samples,
never a score: ``timeout``, ``backend`` (unreachable, refused token, a broken answer) or
``input`` (the server rejected the request as malformed).

    rewards:
      served: {type: remote, url: "http://reward-host:8000", token_env: ASSAY_TOKEN}

    >>> from assay.rewards.remote import RemoteReward
    >>> served = RemoteReward(url="http://127.0.0.1:8000")                           # doctest: +SKIP
    >>> served.score([Sample(response="4", reference="4")])[0].rationale             # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, ClassVar

from pydantic import Field, field_validator

from assay.backends.base import BackendError, BackendTimeout
from assay.backends.http import JsonClient
from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.types import Judgment, Sample


def _judgment(data: Any) -> Judgment:
    """A judgment as the server wrote it, with its components' judgments rebuilt in ``details``."""
    judgment = Judgment.from_dict(data)
    judgment.details = {
        name: Judgment.from_dict(value) if isinstance(value, dict) and "score" in value and "rationale" in value else value
        for name, value in judgment.details.items()
    }
    return judgment


class RemoteReward(Reward):
    """The composed reward of an assay server, scored over HTTP; see the module docstring."""

    type_name: ClassVar[str] = "remote"

    class Options(BaseOptions):
        url: str  # the server's base URL, e.g. http://reward-host:8000
        token_env: str | None = None  # environment variable holding the server's bearer token
        timeout: float = Field(120.0, gt=0)  # seconds per request (also sent as the request's own timeout)
        retries: int = Field(3, ge=0)  # retries on 429, 5xx, timeouts and connection errors
        batch_size: int = Field(256, ge=1)  # samples per request (the server's default limit is 1024)
        concurrency: int = Field(4, ge=1)  # requests in flight

        @field_validator("url")
        @classmethod
        def _http_url(cls, url: str) -> str:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"url must start with http:// or https://, got {url!r}")
            return url.rstrip("/")

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        headers = {}
        if self.options.token_env:
            token = os.environ.get(self.options.token_env)
            if token is None:
                raise ValueError(f"token_env names {self.options.token_env!r}, which is not set in the environment")
            headers["Authorization"] = f"Bearer {token}"
        self.http = JsonClient(self.options.url, headers, concurrency=self.options.concurrency, timeout=self.options.timeout, retries=self.options.retries)

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        size = self.options.batch_size
        chunks = [samples[start:start + size] for start in range(0, len(samples), size)]
        results = await asyncio.gather(*(self._score_chunk(chunk) for chunk in chunks))
        return [judgment for chunk in results for judgment in chunk]

    async def _score_chunk(self, samples: list[Sample]) -> list[Judgment]:
        rows = [sample.fields() for sample in samples]
        try:
            json.dumps(rows, allow_nan=False)
        except (TypeError, ValueError) as error:
            return [Judgment.fail("input", f"a sample cannot be sent as JSON: {error}") for _ in samples]
        # the server's own timeout is a little shorter, so that it answers with typed timeouts
        payload = {"samples": rows, "timeout": max(1.0, self.options.timeout - 1.0)}
        try:
            text, attempts = await self.http.post("/v1/score", payload)
        except BackendTimeout as error:
            return [Judgment.fail("timeout", str(error)) for _ in samples]
        except BackendError as error:
            return [Judgment.fail(self._failure_kind(error.status), f"the reward server failed: {error}") for _ in samples]
        try:
            judgments = [_judgment(j) for j in json.loads(text)["judgments"]]
        except (ValueError, KeyError, TypeError) as error:
            return [Judgment.fail("backend", f"the reward server's answer is not a list of judgments ({type(error).__name__}): {text[:200]!r}") for _ in samples]
        if len(judgments) != len(samples):
            return [Judgment.fail("backend", f"the reward server answered {len(judgments)} judgments for {len(samples)} samples") for _ in samples]
        for judgment in judgments:  # a non-finite score is failed by the Reward base, like any reward's
            judgment.meta.setdefault("remote", {"url": self.options.url, "attempts": attempts})
        return judgments

    @staticmethod
    def _failure_kind(status: int | None) -> str:
        """401/403: a refused token, the setup's fault (backend); another 4xx: the request was
        malformed (input); no status or 5xx after retries: the server is unwell (backend)."""
        if status is not None and 400 <= status < 500 and status not in (401, 403):
            return "input"
        return "backend"
