"""``remote``: the rewards of an assay server (``assay serve``), scored over HTTP.

Why: the models behind a reward (an encoder, a reward model, a judge) can live on another
machine, shared by many trainers, while the trainer's own config names only the server. Any
adapter then works over HTTP unchanged: TRL's ``reward_funcs``, veRL's ``compute_score``,
the OpenRLHF hook, ``assay score`` and ``assay bench``.

Each batch is sent as ``POST /v1/score`` requests of at most ``batch_size`` samples (up to
``concurrency`` at once), never splitting a group (the server normalises within a request);
a sample that cannot be sent as JSON fails alone (``input``). The server's judgments come back whole: score, rationale, typed
failure, and each of its components' judgments in ``details``. Transport errors, timeouts,
429 and 5xx answers are retried a bounded number of times (``retries``); what still fails
becomes a typed failure of those samples, never a score: ``timeout``, ``backend``
(unreachable, refused token, a broken answer) or ``input`` (the server rejected the request
as malformed).

At scale (:mod:`assay.backends.failover`): ``urls: [...]`` names several servers, used in
turn (``rotation: round_robin``) or by fewest requests in flight (``least_outstanding``); an
attempt that fails on one (no connection, timeout, 5xx) is retried at once on another, within
``retries + 1`` attempts in all, and the failed server sits out ``cooldown`` seconds before
a request probes it again. When all are down the samples are ``backend`` failures. ``rpm`` and
``tpm`` limit requests and tokens a minute (veRL's ``rate_limited`` semantics, see
:mod:`assay.backends.ratelimit`); a request's tokens are counted by ``tokenizer`` (a local
Hugging Face tokenizer directory) when given, else approximately: ``ceil(characters / 4)``
of each sample's prompt, response and reference text. ``step`` (set by the trainer adapters
from the trainer's global step, see :func:`assay.integrations.common.set_step`) is sent with
each request, so the server's weight schedules follow training. The server's components
(``served_components``: ``components`` if given, else its ``/health``) are what the trainer
adapters log as series of their own, ``<this reward>/<component>``.

    rewards:
      served: {type: remote, url: "http://reward-host:8000", token_env: ASSAY_TOKEN}
      spread: {type: remote, urls: ["http://rm-a:8000", "http://rm-b:8000"], rpm: 600, tpm: 200000}

    >>> from assay.rewards.remote import RemoteReward
    >>> served = RemoteReward(url="http://127.0.0.1:8000")                           # doctest: +SKIP
    >>> served.score([Sample(response="4", reference="4")])[0].rationale             # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from assay.backends.base import BackendError, BackendTimeout
from assay.backends.failover import FailoverClient
from assay.reward import Options as BaseOptions
from assay.reward import Reward, check_score
from assay.text import groups_of, reference_shown
from assay.types import Judgment, Sample

log = logging.getLogger("assay.rewards.remote")


def _checked_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


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
        url: str | None = None  # the server's base URL, e.g. http://reward-host:8000
        urls: list[str] | None = None  # several servers (rotation and failover); give url or urls
        token_env: str | None = None  # environment variable holding the servers' bearer token
        timeout: float = Field(120.0, gt=0)  # seconds per attempt (also sent as the request's own timeout)
        retries: int = Field(3, ge=0)  # further attempts on 429, 5xx, timeouts and connection errors (across servers)
        batch_size: int = Field(256, ge=1)  # samples per request (the server's default limit is 1024)
        concurrency: int = Field(4, ge=1)  # requests in flight, over all servers
        rotation: Literal["round_robin", "least_outstanding"] = "round_robin"
        cooldown: float = Field(30.0, ge=0)  # seconds a server that failed sits out before it is probed again
        rpm: float | None = Field(None, gt=0)  # requests a minute, every attempt counted
        tpm: float | None = Field(None, gt=0)  # tokens a minute (see tokenizer)
        tokenizer: str | None = None  # a local Hugging Face tokenizer for tpm; else ceil(characters / 4)
        components: list[str] | None = None  # the server's component names for the trainers' logs; else asked of /health

        @field_validator("url")
        @classmethod
        def _http_url(cls, url: str | None) -> str | None:
            return None if url is None else _checked_url(url)

        @field_validator("urls")
        @classmethod
        def _http_urls(cls, urls: list[str] | None) -> list[str] | None:
            if urls is None:
                return None
            if not urls:
                raise ValueError("urls is empty; name at least one server")
            checked = [_checked_url(u) for u in urls]
            if len(set(checked)) != len(checked):
                raise ValueError(f"urls names a server twice: {checked}")
            return checked

        @model_validator(mode="after")
        def _one_of(self) -> RemoteReward.Options:
            if (self.url is None) == (self.urls is None):
                raise ValueError("give url (one server) or urls (several), not both and not neither")
            return self

        @property
        def servers(self) -> list[str]:
            return self.urls if self.urls is not None else [self.url]  # type: ignore[list-item]

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        headers = {}
        if self.options.token_env:
            token = os.environ.get(self.options.token_env)
            if token is None:
                raise ValueError(f"token_env names {self.options.token_env!r}, which is not set in the environment")
            headers["Authorization"] = f"Bearer {token}"
        o = self.options
        self.http = FailoverClient(o.servers, headers, concurrency=o.concurrency, timeout=o.timeout, retries=o.retries,
                                   rotation=o.rotation, cooldown=o.cooldown, rpm=o.rpm, tpm=o.tpm)
        self.step: int | None = None  # the trainer's step, sent with each request (set_step)
        self._tokenizer: Any = None
        self._served: list[str] | None = None

    def served_components(self) -> list[str]:
        """The server's named components, which the trainer adapters log as series of their
        own (``<this reward>/<component>``): ``components`` when given, else the ``rewards``
        its ``GET /health`` lists (the first server that answers), asked once per process; []
        when none answers then (the series keep the same keys for the whole run)."""
        if self._served is None:
            self._served = list(self.options.components) if self.options.components is not None else self._ask_health()
        return self._served

    def _ask_health(self) -> list[str]:
        import httpx

        for url in self.options.servers:
            try:
                answer = httpx.get(url + "/health", timeout=min(5.0, self.options.timeout))
                names = answer.json().get("rewards")
            except (httpx.HTTPError, ValueError, AttributeError):
                continue
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return names
        log.warning("remote %s: no server answered GET /health with its rewards; their components are not logged apart (set components: [...])", self.name)
        return []

    def tokens(self, samples: list[Sample]) -> int:
        """The tokens a request of these samples spends of ``tpm``: by ``tokenizer`` when
        given, else ``ceil(characters / 4)`` of each prompt, response and reference text."""
        texts = [t for s in samples for t in (s.prompt_text, s.response_text, reference_shown(s.reference)) if t]
        if self.options.tokenizer is None:
            return sum(math.ceil(len(t) / 4) for t in texts)
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.options.tokenizer)
        return sum(len(self._tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        out: list[Judgment | None] = [None] * len(samples)
        bodies: dict[int, str] = {}
        for i, sample in enumerate(samples):
            try:  # each row on its own: one unsendable sample fails alone
                bodies[i] = json.dumps(sample.fields(), allow_nan=False)
            except (TypeError, ValueError) as error:
                out[i] = Judgment.fail("input", f"the sample cannot be sent as JSON: {error}")
        chunks = self._chunks(samples, list(bodies))
        results = await asyncio.gather(*(self._score_chunk([bodies[i] for i in chunk], [samples[i] for i in chunk]) for chunk in chunks))
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

    async def _score_chunk(self, rows: list[str], samples: list[Sample]) -> list[Judgment]:
        # the server's own timeout is a little shorter, so that it answers with typed timeouts
        step = "" if self.step is None else ', "step": %d' % int(self.step)
        payload = '{"samples": [%s], "timeout": %r%s}' % (", ".join(rows), max(1.0, self.options.timeout - 1.0), step)  # rows encoded once
        tokens = self.tokens(samples) if self.options.tpm else 0
        try:
            answer = await self.http.post("/v1/score", payload.encode(), tokens=tokens)
        except BackendTimeout as error:
            return [Judgment.fail("timeout", str(error)) for _ in rows]
        except BackendError as error:
            return [Judgment.fail(self._failure_kind(error.status), f"the reward server failed: {error}") for _ in rows]
        text, attempts = answer.text, answer.attempts
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
            judgment.meta.setdefault("remote", {"url": answer.url, "attempts": attempts})
        return judgments

    @staticmethod
    def _failure_kind(status: int | None) -> str:
        """401/403: a refused token, the setup's fault (backend); another 4xx: the request was
        malformed (input); no status or 5xx after retries: the server is unwell (backend)."""
        if status is not None and 400 <= status < 500 and status not in (401, 403):
            return "input"
        return "backend"
