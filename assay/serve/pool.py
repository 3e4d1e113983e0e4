"""The reward server's own bounded thread pool for synchronous reward calls, whose stuck
calls are counted and shown, so that a server that can no longer score says so.

Why: a synchronous reward (a rule, a user function, a local model) runs in a thread, through
``asyncio.to_thread``, which uses the event loop's *default executor*. Python cannot stop a
thread, so a call abandoned at its timeout keeps its thread; with the stock executor (a few
threads), a few such calls take every thread, every later request times out, and nothing
tells a load balancer. The server installs a :class:`RewardPool` as its loop's default
executor at start, so every reward call made with ``to_thread`` or ``run_in_executor(None)``
runs here.

How it stays bounded and visible:

- ``workers`` threads take calls, one at a time, from a queue.
- A call whose caller gave up while it ran (its future was cancelled: the batch or request
  timeout) is **abandoned**: its thread is written off and a fresh thread takes its place, so
  the pool keeps ``workers`` threads able to work, as long as at most ``max_abandoned``
  abandoned calls are still running. When an abandoned call finally returns, its thread
  goes back to work if the pool is short of workers, else it ends.
- Past ``max_abandoned``, no more replacements: once every thread is held by an abandoned
  call the pool is **wedged** (``wedged`` is true): it cannot score, and ``/health``
  answers 503 so a load balancer takes the server out; it recovers by itself if the stuck
  calls ever return.
- ``stats()`` gives the numbers ``/health`` and ``/metrics`` show: free and busy threads,
  calls queued, abandoned calls still running, the age of the oldest running call.

What it does not do: stop a stuck call (no thread can be killed), or bound a call that holds
the interpreter lock without releasing it (a C regex): rewards must bound their own work
(docs/reliability.md).

    >>> pool = RewardPool(workers=2)
    >>> pool.submit(sum, [1, 2]).result()
    3
    >>> pool.shutdown()
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from typing import Any


class _Call(concurrent.futures.Future):  # type: ignore[type-arg]
    """One call in the pool; ``cancel()`` while running marks it abandoned (the caller left)."""

    def __init__(self, pool: RewardPool, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.pool, self.fn, self.args, self.kwargs = pool, fn, args, kwargs
        self.started: float | None = None
        self.abandoned = False

    def cancel(self) -> bool:
        if super().cancel():  # not started yet: dropped from the queue, never run
            return True
        self.pool._abandon(self)
        return False


class RewardPool(concurrent.futures.ThreadPoolExecutor):
    """``workers`` threads for reward calls; abandoned calls are replaced up to ``max_abandoned``.

    A ThreadPoolExecutor by type (``loop.set_default_executor`` requires one), with its own
    workers: none of the parent's machinery is used.
    """

    def __init__(self, workers: int = 16, max_abandoned: int = 64, name: str = "assay-reward") -> None:
        if workers < 1 or max_abandoned < 0:
            raise ValueError("a reward pool needs workers >= 1 and max_abandoned >= 0")
        super().__init__(max_workers=workers, thread_name_prefix=name)
        self.workers = workers
        self.max_abandoned = max_abandoned
        self.name = name
        self._lock = threading.Lock()
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._running: set[_Call] = set()
        self._live = 0  # threads not held by an abandoned call (free or busy with a live call)
        self._abandoned_running = 0
        self._abandoned_total = 0
        self._queued = 0
        self._closed = False
        self._threads: set[threading.Thread] = set()
        self._serial = 0

    # --- the executor interface -------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:  # type: ignore[override]
        call = _Call(self, fn, args, kwargs)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"reward pool {self.name!r} is shut down")
            self._queued += 1
            busy = len(self._running) - self._abandoned_running
            if busy + self._queued > self._live and self._may_spawn():
                self._spawn()  # threads start as they are needed, up to ``workers``
        self._calls.put(call)
        return call

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False, timeout: float = 10.0) -> None:  # type: ignore[override]
        """Stop the threads; with ``wait``, wait (at most ``timeout`` s) for threads running a
        live call. Threads held by abandoned calls are never waited for (they are daemons)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    call = self._calls.get_nowait()
                except queue.Empty:
                    break
                if call is not None:
                    call.cancel()
        for _ in threads:
            self._calls.put(None)
        if wait:
            deadline = time.monotonic() + timeout
            for thread in threads:
                held = getattr(thread, "assay_call", None)
                if held is not None and held.abandoned:
                    continue
                thread.join(max(0.0, deadline - time.monotonic()))

    # --- what the server shows ------------------------------------------------------------------
    @property
    def wedged(self) -> bool:
        """True when no thread can take a call: every one is held by an abandoned call and no
        replacement may be started."""
        with self._lock:
            return self._capacity() == 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            starts = [c.started for c in self._running if c.started is not None]
            busy = len(self._running) - self._abandoned_running
            return {
                "workers": self.workers,
                "busy": busy,
                "free": max(0, self._capacity() - busy),
                "threads": len(self._threads),
                "queued": self._queued,
                "abandoned_running": self._abandoned_running,
                "abandoned_total": self._abandoned_total,
                "max_abandoned": self.max_abandoned,
                "oldest_call_seconds": round(now - min(starts), 3) if starts else 0.0,
                "wedged": self._capacity() == 0,
            }

    # --- the workers ------------------------------------------------------------------------
    def _capacity(self) -> int:  # with the lock held: threads that may work on live calls
        return max(0, min(self.workers, self.workers + self.max_abandoned - self._abandoned_running))

    def _may_spawn(self) -> bool:  # with the lock held
        return self._live < self._capacity()

    def _spawn(self) -> None:  # with the lock held
        self._serial += 1
        thread = threading.Thread(target=self._work, name=f"{self.name}-{self._serial}", daemon=True)
        self._live += 1
        self._threads.add(thread)
        thread.start()

    def _abandon(self, call: _Call) -> None:
        """The caller of a running call gave up: write its thread off, start a replacement."""
        with self._lock:
            if call.abandoned or call not in self._running:
                return
            call.abandoned = True
            self._abandoned_running += 1
            self._abandoned_total += 1
            self._live -= 1
            if not self._closed and self._may_spawn():
                self._spawn()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            call = self._calls.get()
            if call is None:
                break
            with self._lock:  # running and registered at once: a cancel in between is not missed
                self._queued -= 1
                if not call.set_running_or_notify_cancel():
                    continue
                call.started = time.monotonic()
                self._running.add(call)
                me.assay_call = call  # type: ignore[attr-defined]
            try:
                result = call.fn(*call.args, **call.kwargs)
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                call.set_exception(error)
            else:
                call.set_result(result)
            with self._lock:
                self._running.discard(call)
                me.assay_call = None  # type: ignore[attr-defined]
                if call.abandoned:
                    self._abandoned_running -= 1
                    if self._closed or self._live >= self._capacity():
                        self._threads.discard(me)
                        return  # written off and replaced: this thread ends
                    self._live += 1  # the pool is short of workers: back to work
        with self._lock:  # shut down: a live thread leaves
            self._threads.discard(me)
            self._live -= 1


__all__ = ["RewardPool"]
