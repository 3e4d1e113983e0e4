"""POST JSON to a server with the guarantees every remote call in assay needs: a concurrency
bound, bounded retries with backoff, and a per-request timeout.

Used by the OpenAI-compatible judge backend and by the ``remote`` reward (an assay server).

- **Concurrency**: at most ``concurrency`` requests in flight (an asyncio semaphore and one
  httpx client per event loop: both are bound to the loop they were first used on). The wait
  for a slot is measured apart (:meth:`JsonClient.post_timed`), so a caller can report a
  call's own latency and its queue wait separately.
- **Retries**: on 408, 409, 429, 5xx, timeouts and connection errors, with exponential
  backoff and jitter; a ``Retry-After`` header is honoured, capped at ``max_backoff``. Other
  4xx answers fail at once: sending the same request again would not help.
- **Timeout**: each attempt takes at most ``timeout`` seconds, so a call takes at most about
  ``(retries + 1) * timeout`` plus the backoffs.

    >>> client = JsonClient("http://127.0.0.1:8000", timeout=30, retries=2)      # doctest: +SKIP
    >>> text, attempts = run_sync(client.post("/v1/score", {"samples": [...]}))  # doctest: +SKIP

Failures raise :class:`~assay.backends.base.BackendError` (with ``status`` and ``body`` when
the server answered) or :class:`~assay.backends.base.BackendTimeout`.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from dataclasses import dataclass
from typing import Any

from assay.backends.base import BackendError, BackendTimeout

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524}


@dataclass(frozen=True)
class Reply:
    """A 200 answer: its text, the attempts it took, and the seconds spent waiting for a
    concurrency slot (summed over the attempts), which are not the server's time."""

    text: str
    attempts: int
    queued_s: float = 0.0


class JsonClient:
    """JSON POSTs to one base URL with bounded retries; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if retries < 0 or timeout <= 0:
            raise ValueError("retries must be >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._jitter = random.Random()  # jitter only spreads retries; it never touches a result
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, asyncio.Semaphore]] = weakref.WeakKeyDictionary()
        self.calls = 0  # requests sent (every attempt), for tests and reports

    def _state(self) -> tuple[Any, asyncio.Semaphore]:
        import httpx

        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None:
            limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            client = httpx.AsyncClient(headers=self.headers, timeout=httpx.Timeout(self.timeout), limits=limits)
            state = (client, asyncio.Semaphore(self.concurrency))
            self._per_loop[loop] = state
        return state

    async def aclose(self) -> None:
        """Close the HTTP client of the running loop (others close with their loops)."""
        state = self._per_loop.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state[0].aclose()

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before retry ``attempt + 1``: ``Retry-After`` if given, else backoff with jitter."""
        if retry_after:
            try:
                return min(self.max_backoff, max(0.0, float(retry_after)))
            except ValueError:
                pass
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (0.5 + self._jitter.random())  # jitter in [0.5, 1.5) x

    async def post(self, path: str, payload: Any) -> tuple[str, int]:
        """POST ``payload`` (JSON-able, or JSON already encoded as bytes) to ``base_url + path``;
        the 200 answer's text and the number of attempts it took. Raises BackendError / BackendTimeout."""
        reply = await self.post_timed(path, payload)
        return reply.text, reply.attempts

    async def post_timed(self, path: str, payload: Any) -> Reply:
        """:meth:`post`, with the time spent waiting for a concurrency slot (all attempts) kept
        apart from the call's own time, in :class:`Reply`."""
        last: BackendError | None = None
        attempts = 0
        queued = 0.0
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            try:
                reply = await self.post_once(path, payload)
            except BackendError as error:
                queued += getattr(error, "queued_s", 0.0)
                error.attempts = attempts
                last = error
                if not retryable(error):
                    raise
            else:
                return Reply(reply.text, attempts, queued + reply.queued_s)
            if attempt < self.retries:
                await asyncio.sleep(self.delay(attempt, last.retry_after))  # type: ignore[attr-defined]
        assert last is not None
        last.args = (f"{last.args[0]} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})",)
        raise last

    async def post_once(self, path: str, payload: Any) -> Reply:
        """One attempt, no retry: the 200 answer, or a BackendError / BackendTimeout carrying
        ``status``, ``retry_after`` (the answer's Retry-After header, or None) and ``queued_s``.
        :func:`retryable` says whether another attempt could help (what :meth:`post` retries)."""
        import httpx

        client, semaphore = self._state()
        url = self.base_url + path
        asked = time.perf_counter()
        async with semaphore:
            queued = time.perf_counter() - asked
            self.calls += 1
            retry_after = None
            try:
                # wait_for bounds the whole request; httpx's timeout bounds each phase
                body = {"content": payload} if isinstance(payload, bytes) else {"json": payload}  # bytes: already encoded
                response = await asyncio.wait_for(client.post(url, **body), self.timeout)
            except (httpx.TimeoutException, asyncio.TimeoutError) as error:
                failure: BackendError = BackendTimeout(f"no answer from {url} within {self.timeout:g}s ({type(error).__name__})")
            except httpx.TransportError as error:
                failure = BackendError(f"could not reach {url}: {type(error).__name__}: {error}")
            else:
                if response.status_code == 200:
                    return Reply(response.text, 1, queued)
                text = response.text[:2000]
                failure = BackendError(f"{url} answered HTTP {response.status_code}: {text[:300]}", status=response.status_code, body=text)
                retry_after = response.headers.get("retry-after")
        failure.retry_after = retry_after  # type: ignore[attr-defined]
        failure.queued_s = queued  # type: ignore[attr-defined]
        raise failure


def retryable(error: BackendError) -> bool:
    """Whether another attempt could help: a timeout, no answer (connection refused or reset),
    or a status in ``RETRY_STATUSES`` (408, 409, 429, 5xx)."""
    return isinstance(error, BackendTimeout) or error.status is None or error.status in RETRY_STATUSES
