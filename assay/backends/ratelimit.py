"""Request and token rate limits (RPM, TPM) for clients of rate-limited servers: a token bucket.

Why: a shared reward server (or an API behind a judge) admits so many requests, or so many
tokens, per minute; a trainer that sends faster gets 429s, retries and wasted attempts. The
client waits instead, before sending.

The semantics are those of veRL's ``rate_limited`` reward manager (``AsyncTokenBucket`` in
``verl/experimental/reward_loop/reward_manager/limited.py``): a limit of ``per_minute``
refills at ``per_minute / 60`` units a second into a bucket that holds one second's worth and
starts full; an acquire waits until the bucket holds what it asks for; an ask larger than the
bucket waits for the shortfall at the refill rate and leaves the bucket in debt, so the
long-run rate holds whatever the sizes. So ``rpm=120`` lets two requests go at once and then
two a second: ``n`` requests take about ``(n - 2) / 2`` seconds.

    >>> bucket = TokenBucket(per_minute=120)
    >>> run_sync(bucket.acquire(1))                                    # doctest: +SKIP

What it is not: a limit across processes (each process has its own buckets; give each
trainer process its share) or a concurrency bound (that is the client's ``concurrency``).
"""

from __future__ import annotations

import asyncio
import time
import weakref


class TokenBucket:
    """``per_minute`` units a minute, a burst of one second's worth; see the module docstring."""

    def __init__(self, per_minute: float) -> None:
        if not per_minute > 0:
            raise ValueError(f"a rate limit must be a positive number per minute, got {per_minute!r}")
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0  # units a second
        self.capacity = self.rate  # one second's worth, as veRL's bucket
        self.level = self.capacity  # starts full
        self.updated: float | None = None
        self.waited_s = 0.0  # total time callers spent waiting here (for reports and tests)
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()  # a Lock is bound to its loop

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, units: float = 1.0) -> float:
        """Wait until ``units`` may be spent, spend them; the seconds waited."""
        if units <= 0:
            return 0.0
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        started = time.monotonic()
        async with lock:  # first come, first served: a waiting caller holds its place
            self._refill(time.monotonic())
            need = min(units, self.capacity)  # a large ask waits for a full bucket, then goes into debt
            if self.level < need:
                await asyncio.sleep((need - self.level) / self.rate)
                self._refill(time.monotonic())
            self.level -= units
            if self.level < 0:  # the debt of a large ask is paid before the next caller goes
                await asyncio.sleep(-self.level / self.rate)
                self._refill(time.monotonic())
        waited = time.monotonic() - started
        self.waited_s += waited
        return waited
