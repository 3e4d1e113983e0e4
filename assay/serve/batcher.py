"""Micro-batching across clients: requests that arrive within a few milliseconds of each
other are scored by one reward call, with a bounded wait, a bounded batch, and a bounded
queue.

Why: a model-based reward scores 32 samples in one forward pass in little more time than
one; a server that calls the reward once per request wastes that. The batcher collects whole
requests (a request's samples are never split, so group-level steps see whole groups) until
``max_batch`` samples are waiting or the oldest has waited ``max_wait`` seconds, then scores
them together. At most ``concurrency`` batches run at once; while they run, new requests
queue up and form the next, larger batch, so batches grow with load by themselves.

Bounds, so that overload is answered instead of absorbed:

- ``queue_size``: the most samples accepted and not yet scored; ``submit`` raises
  :class:`QueueFull` beyond it (the server answers 429 with ``Retry-After``).
- A request whose caller stopped waiting (its future was cancelled: a timeout or a client
  gone) before its batch started is dropped from the queue, not scored.
- ``call_timeout``: the most seconds one ``run_batch`` call holds its slot; past it, its
  requests get ``TimeoutError`` and the slot is free again (a call already running in a
  thread finishes in the background, discarded), so a hung reward cannot take every slot.
- ``stop(drain=True)`` scores everything already accepted before returning (graceful
  shutdown, bounded by ``call_timeout``); ``submit`` after ``stop`` raises :class:`ShuttingDown`.

    >>> async def double(items): return [2 * x for x in items]
    >>> async def main():
    ...     b = MicroBatcher("demo", double, max_batch=8, max_wait=0.005)
    ...     await b.start()
    ...     results = await asyncio.gather(*(b.submit([i]) for i in range(5)))
    ...     await b.stop()
    ...     return results
    >>> asyncio.run(main())
    [[0], [2], [4], [6], [8]]
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class QueueFull(RuntimeError):
    """The batcher holds ``queue_size`` samples already; try again later (HTTP 429)."""


class ShuttingDown(RuntimeError):
    """The batcher is stopping and accepts no new work (HTTP 503)."""


@dataclass
class _Request(Generic[T, R]):
    items: list[T]
    future: asyncio.Future[list[R]]
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher(Generic[T, R]):
    """Collects items from concurrent ``submit`` calls into batches for ``run_batch``.

    ``run_batch(items) -> results`` must return one result per item, in order. If it
    raises, every request of that batch gets the exception.
    """

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[T]], Awaitable[list[R]]],
        max_batch: int = 32,
        max_wait: float = 0.005,
        queue_size: int = 1024,
        concurrency: int = 2,
        on_batch: Callable[[int, float], None] | None = None,
        call_timeout: float | None = None,
    ) -> None:
        if max_batch < 1 or queue_size < 1 or concurrency < 1 or max_wait < 0:
            raise ValueError("max_batch, queue_size and concurrency must be >= 1 and max_wait >= 0")
        self.name = name
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.queue_size = queue_size
        self.concurrency = concurrency
        self.on_batch = on_batch
        self.call_timeout = call_timeout  # seconds a run_batch call may hold its slot (None: unbounded)
        self.outstanding = 0  # samples accepted and not yet scored (queued or running)
        self.batches = 0
        self._pending: collections.deque[_Request[T, R]] = collections.deque()
        self._pending_items = 0
        self._arrived: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._closing = False
        self._worker = asyncio.create_task(self._loop(), name=f"batcher-{self.name}")

    async def stop(self, drain: bool = True) -> None:
        """Stop accepting; with ``drain``, score every accepted request first."""
        self._closing = True
        if self._arrived:
            self._arrived.set()
        if not drain:
            for request in self._pending:
                if not request.future.done():
                    request.future.set_exception(ShuttingDown("the server is shutting down"))
            self._pending.clear()
            self._pending_items = 0
        if self._worker:
            await self._worker
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    # --- the client side ------------------------------------------------------------------------
    def submit(self, items: list[T]) -> asyncio.Future[list[R]]:
        """Queue one request's items; the future resolves to their results, in order."""
        if self._closing or self._arrived is None:
            raise ShuttingDown(f"batcher {self.name!r} is not accepting work (shutting down or not started)")
        if self.outstanding + len(items) > self.queue_size:
            raise QueueFull(f"{self.outstanding} samples already waiting (queue size {self.queue_size})")
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        if not items:
            future.set_result([])
            return future
        self._pending.append(_Request(list(items), future))
        self._pending_items += len(items)
        self.outstanding += len(items)
        self._arrived.set()
        return future

    # --- the worker -------------------------------------------------------------------------
    def _drop_abandoned(self) -> None:
        while self._pending and self._pending[0].future.done():
            request = self._pending.popleft()
            self._pending_items -= len(request.items)
            self.outstanding -= len(request.items)

    async def _loop(self) -> None:
        assert self._arrived is not None and self._slots is not None
        while True:
            await self._slots.acquire()  # wait for a free slot first: requests pile up meanwhile
            while True:
                self._drop_abandoned()
                if self._pending or self._closing:
                    break
                self._arrived.clear()
                await self._arrived.wait()
            if not self._pending and self._closing:
                self._slots.release()
                return
            # bounded wait: until max_batch samples are here or the oldest has waited max_wait
            deadline = self._pending[0].enqueued + self.max_wait
            while self._pending_items < self.max_batch and not self._closing:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch: list[_Request[T, R]] = []
            size = 0
            while self._pending:
                request = self._pending[0]
                if request.future.done():  # abandoned while queued: not scored
                    self._pending.popleft()
                    self._pending_items -= len(request.items)
                    self.outstanding -= len(request.items)
                    continue
                if batch and size + len(request.items) > self.max_batch:
                    break
                self._pending.popleft()
                self._pending_items -= len(request.items)
                batch.append(request)
                size += len(request.items)
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._run(batch, size))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Request[T, R]], size: int) -> None:
        assert self._slots is not None
        items = [item for request in batch for item in request.items]
        started = time.perf_counter()
        try:
            # a call past call_timeout gives up its slot (its requests get the TimeoutError), so a
            # hung reward cannot hold every slot or stall a graceful shutdown
            results = await asyncio.wait_for(self.run_batch(items), self.call_timeout)
            if len(results) != len(items):
                raise RuntimeError(f"batcher {self.name!r}: run_batch returned {len(results)} results for {len(items)} items")
        except Exception as error:  # noqa: BLE001 - handed to every waiting request
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
        else:
            at = 0
            for request in batch:
                part = results[at : at + len(request.items)]
                at += len(request.items)
                if not request.future.done():
                    request.future.set_result(part)
        finally:
            self.outstanding -= size
            self.batches += 1
            self._slots.release()
            if self.on_batch:
                self.on_batch(size, time.perf_counter() - started)

    def stats(self) -> dict[str, Any]:
        return {"outstanding": self.outstanding, "queued": self._pending_items, "running_batches": len(self._running), "batches": self.batches}
