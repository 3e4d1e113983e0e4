"""``remote``: the rewards of an assay server (``assay serve``), scored over HTTP.

Why: the models behind a reward (an encoder, a reward model, a judge) can live on another
machine, shared by many trainers, while the trainer's own config names only the server. Any
adapter then works over HTTP unchanged: TRL's ``reward_funcs``, veRL's ``compute_score``,
the OpenRLHF hook, ``assay score`` and ``assay bench``.

Each batch is sent as ``POST /v1/score`` requests of at most ``batch_size`` samples (up to
``concurrency`` at once), never splitting a group (the server normalises within a request);
a sample that cannot be sent as JSON fails alone (``input``). The server's judgments come back whole: score, rationale, typed
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
from assay.reward import Reward, check_score
from assay.text import groups_of
from assay.types import Judgment, Sample


def _check_judgment(data: Any) -> None:
    """Raises ValueError when ``data`` is not a judgment as the server writes one (a score
    that is not a number or null, ``true`` included; a rationale that is not text; a failure
    or details that are not objects)."""
    if not isinstance(data, dict):
        raise ValueError(f"a judgment must be an object, got {type(data).__name__}")
    score = data.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        raise ValueError(f"score {score!r} is not a number")
    check_score(score, "the reward server")  # NaN / Infinity parse as JSON numbers; they are not scores
    if not isinstance(data.get("rationale", ""), str):
        raise ValueError("rationale is not a string")
    if data.get("failure") is not None and not isinstance(data["failure"], dict):
        raise ValueError("failure is not an object")
    if not isinstance(data.get("details") or {}, dict) or not isinstance(data.get("meta") or {}, dict):
        raise ValueError("details and meta must be objects")


def _judgment(data: Any) -> Judgment:
    """A judgment as the server wrote it, with its components' judgments rebuilt in
    ``details``; a malformed one (itself or a component) is that sample's ``backend``
    failure, never a raise."""
    try:
        _check_judgment(data)
        for value in (data.get("details") or {}).values():
            if isinstance(value, dict) and "score" in value and "rationale" in value:
                _check_judgment(value)
        judgment = Judgment.from_dict(data)
    except (ValueError, TypeError, KeyError) as error:
        return Judgment.fail("backend", f"the reward server sent a malformed judgment ({error}): {str(data)[:200]!r}")
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
        out: list[Judgment | None] = [None] * len(samples)
        bodies: dict[int, str] = {}
        for i, sample in enumerate(samples):
            try:  # each row on its own: one unsendable sample fails alone
                bodies[i] = json.dumps(sample.fields(), allow_nan=False)
            except (TypeError, ValueError) as error:
                out[i] = Judgment.fail("input", f"the sample cannot be sent as JSON: {error}")
        chunks = self._chunks(samples, list(bodies))
        results = await asyncio.gather(*(self._score_chunk([bodies[i] for i in chunk]) for chunk in chunks))
        for chunk, judgments in zip(chunks, results, strict=True):
            for i, judgment in zip(chunk, judgments, strict=True):
                out[i] = judgment
        return [j for j in out if j is not None]

    def _chunks(self, samples: list[Sample], indices: list[int]) -> list[list[int]]:
        """Requests of at most ``batch_size`` samples that never split a group (the server
        normalises within a request); a group larger than that is one request of its own."""
        chunks: list[list[int]] = [[]]
        for local in groups_of([samples[i] for i in indices]).values():
            members = [indices[j] for j in local]
            if chunks[-1] and len(chunks[-1]) + len(members) > self.options.batch_size:
                chunks.append([])
            chunks[-1].extend(members)
        return [chunk for chunk in chunks if chunk]

    async def _score_chunk(self, rows: list[str]) -> list[Judgment]:
        # the server's own timeout is a little shorter, so that it answers with typed timeouts
        payload = '{"samples": [%s], "timeout": %r}' % (", ".join(rows), max(1.0, self.options.timeout - 1.0))  # rows encoded once
        try:
            text, attempts = await self.http.post("/v1/score", payload.encode())
        except BackendTimeout as error:
            return [Judgment.fail("timeout", str(error)) for _ in rows]
        except BackendError as error:
            return [Judgment.fail(self._failure_kind(error.status), f"the reward server failed: {error}") for _ in rows]
        try:
            items = json.loads(text)["judgments"]
            if not isinstance(items, list):
                raise TypeError("'judgments' is not a list")
            judgments = [_judgment(j) for j in items]
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            return [Judgment.fail("backend", f"the reward server's answer is not a list of judgments ({type(error).__name__}): {text[:200]!r}") for _ in rows]
        if len(judgments) != len(rows):
            return [Judgment.fail("backend", f"the reward server answered {len(judgments)} judgments for {len(rows)} samples") for _ in rows]
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
