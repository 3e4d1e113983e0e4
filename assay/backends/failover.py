"""POST JSON to one of several servers: rotation, failover, cool-down and rate limits.

Why: one reward server is one point of failure and one machine's throughput. With several
(``assay serve`` on each host) a trainer spreads its requests and keeps training when one
goes down, and nothing it was sent is lost or guessed.

- **Rotation**: ``round_robin`` (each request to the next server in turn) or
  ``least_outstanding`` (to the server with the fewest requests in flight from this client;
  ties in list order). Servers in cool-down are skipped while another is available.
- **Failover**: an attempt that times out, cannot connect (refused, reset mid-answer) or is
  answered 408/409/429/5xx is retried on another server, immediately; the request makes at
  most ``retries + 1`` attempts in all, across servers. Another 4xx fails at once (sending
  the same request elsewhere would not help). Only when every server has been tried in this
  request does a retry wait (exponential backoff with jitter, ``Retry-After`` honoured).
- **Cool-down**: a server that failed an attempt (timeout, no connection, 5xx) is skipped by
  new requests for ``cooldown`` seconds; after that, the next request sent to it is its
  probe: answered, it is back in rotation; failed, it cools down again. A 429 is a busy
  server, not a broken one: it is tried elsewhere but not cooled down. When every server
  is cooling down, a request still tries them (soonest back first), so that all-down fails
  within its bounded attempts, as a :class:`BackendError` that the caller turns into typed
  failures, never scores.
- **Rate limits**: ``rpm`` (requests a minute) and ``tpm`` (tokens a minute), token buckets
  with veRL's semantics (:mod:`assay.backends.ratelimit`), spent before every attempt
  (retries are requests too), over all servers together.
- **Concurrency**: at most ``concurrency`` requests in flight in all.

    >>> client = FailoverClient(["http://a:8000", "http://b:8000"], rpm=600)      # doctest: +SKIP
    >>> reply = run_sync(client.post("/v1/score", b'{"samples": [...]}', tokens=120))  # doctest: +SKIP
    >>> reply.url, reply.attempts                                                     # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Literal

from assay.backends.base import BackendError
from assay.backends.http import JsonClient, retryable
from assay.backends.ratelimit import TokenBucket

Rotation = Literal["round_robin", "least_outstanding"]


@dataclass(frozen=True)
class Answer:
    """A 200 answer: its text, the server that gave it, and the attempts it took in all."""

    text: str
    url: str
    attempts: int


class FailoverClient:
    """JSON POSTs spread over ``urls``; see the module docstring."""

    def __init__(
        self,
        urls: list[str],
        headers: dict[str, str] | None = None,
        concurrency: int = 4,
        timeout: float = 120.0,
        retries: int = 3,
        rotation: Rotation = "round_robin",
        cooldown: float = 30.0,
        rpm: float | None = None,
        tpm: float | None = None,
    ) -> None:
        if not urls:
            raise ValueError("give at least one server URL")
        if rotation not in ("round_robin", "least_outstanding"):
            raise ValueError(f"rotation must be 'round_robin' or 'least_outstanding', got {rotation!r}")
        if cooldown < 0:
            raise ValueError("cooldown must be >= 0 seconds")
        self.urls = [u.rstrip("/") for u in urls]
        # one single-attempt client per server: the retries are decided here, across servers
        self.clients = {u: JsonClient(u, headers, concurrency=concurrency, timeout=timeout, retries=0) for u in self.urls}
        self.retries = retries
        self.rotation = rotation
        self.cooldown = cooldown
        self.concurrency = concurrency
        self.rpm = TokenBucket(rpm) if rpm else None
        self.tpm = TokenBucket(tpm) if tpm else None
        self.outstanding = dict.fromkeys(self.urls, 0)
        self.cooling_until = dict.fromkeys(self.urls, 0.0)
        self.answered = dict.fromkeys(self.urls, 0)  # 200 answers per server (for reports and tests)
        self.failed = dict.fromkeys(self.urls, 0)  # failed attempts per server
        self._turn = 0
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()  # one per event loop

    @property
    def calls(self) -> int:
        """Requests sent, every attempt on every server."""
        return sum(c.calls for c in self.clients.values())

    def cooling(self, now: float | None = None) -> list[str]:
        """The servers in cool-down now."""
        now = time.monotonic() if now is None else now
        return [u for u in self.urls if self.cooling_until[u] > now]

    def pick(self, tried: set[str]) -> str:
        """The server for the next attempt: one not in cool-down and not yet tried by this
        request, by the rotation; else one not in cool-down; else the soonest back."""
        now = time.monotonic()
        healthy = [u for u in self.urls if self.cooling_until[u] <= now]
        fresh = [u for u in healthy if u not in tried]
        pool = fresh or healthy
        if not pool:
            return min(self.urls, key=lambda u: self.cooling_until[u])
        if self.rotation == "least_outstanding":
            return min(pool, key=lambda u: (self.outstanding[u], self.urls.index(u)))
        for _ in range(len(self.urls)):  # the next server in turn that is in the pool
            url = self.urls[self._turn % len(self.urls)]
            self._turn += 1
            if url in pool:
                return url
        return pool[0]

    async def post(self, path: str, payload: bytes, tokens: float = 0.0) -> Answer:
        """POST to a server, failing over as the module docstring says; ``tokens`` is what
        the request spends of ``tpm``. Raises the last BackendError when every attempt failed."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.concurrency)
        tried: set[str] = set()  # this round's servers
        used: set[str] = set()  # every server this request tried
        last: BackendError | None = None
        attempts = 0
        async with semaphore:
            for attempt in range(self.retries + 1):
                if self.rpm is not None:
                    await self.rpm.acquire(1)
                if self.tpm is not None:
                    await self.tpm.acquire(tokens)
                url = self.pick(tried)
                tried.add(url)
                used.add(url)
                attempts = attempt + 1
                self.outstanding[url] += 1
                try:
                    reply = await self.clients[url].post_once(path, payload)
                except BackendError as error:
                    last = error
                    self.failed[url] += 1
                    if not retryable(error):
                        error.attempts = attempts
                        raise
                    if error.status != 429:
                        self.cooling_until[url] = time.monotonic() + self.cooldown
                else:
                    self.cooling_until[url] = 0.0  # answered: back in rotation (a probe that succeeded)
                    self.answered[url] += 1
                    return Answer(reply.text, url, attempts)
                finally:
                    self.outstanding[url] -= 1
                if attempt < self.retries and set(self.urls) <= tried:
                    # every server tried in this request: back off before the next round
                    await asyncio.sleep(self.clients[url].delay(attempt, getattr(last, "retry_after", None)))
                    if len(self.urls) > 1:
                        tried.clear()
        assert last is not None
        where = f" across {len(used)} servers" if len(self.urls) > 1 else ""
        last.args = (f"{last.args[0]} (gave up after {attempts} attempt{'s' if attempts > 1 else ''}{where})",)
        last.attempts = attempts
        raise last
