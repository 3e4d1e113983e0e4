"""The killable worker processes of the calculator and sql tools: ``size`` one-worker pools,
one call in each at a time.

Why: a :class:`~assay.sandbox.pool.WorkerPool` runs one batch at a time, and a judge's items
call their tools one by one and concurrently; so a tool keeps several one-worker pools and a
call takes a free one (waiting at most its own time bound for it), runs under that pool's
hard deadline (the worker is killed past it and replaced, its replacement started at once),
and gives it back. Workers start when the tool is built (not waited for) and stop at
:meth:`Workers.close` or at interpreter exit.

Not here: what the workers do (``calculator.py``, ``sql.py``) or the sandbox for untrusted
programs (``assay.sandbox``; the python tool).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from assay.rewards.judges.tools.base import ToolError
from assay.sandbox.pool import Outcome, WorkerPool


class Workers:
    """``size`` one-worker pools of ``worker`` (``"module:function"``) with ``config``."""

    def __init__(self, worker: str, config: dict[str, Any], size: int, timeout_seconds: float, label: str, **pool_options: Any) -> None:
        self.worker, self.config, self.size, self.label = worker, dict(config), size, label
        self.timeout_seconds = timeout_seconds
        self.pool_options = pool_options
        self.free: queue.LifoQueue[WorkerPool] = queue.LifoQueue()
        self.lock = threading.Lock()
        self.pools: list[WorkerPool] = []
        self.closed = False

    def _new(self) -> WorkerPool:
        return WorkerPool(self.worker, size=1, timeout_seconds=self.timeout_seconds, config=self.config, label=self.label, **self.pool_options)

    def start(self) -> None:
        """Make the pools and start their workers (not waiting for them)."""
        with self.lock:
            while len(self.pools) < self.size:
                pool = self._new()
                self.pools.append(pool)
                self.free.put(pool)
                pool.start(wait_ready=False)

    def run(self, payload: Any, timeout_seconds: float) -> Outcome:
        """One call in a free worker under ``timeout_seconds``; ToolError when none is free
        within that time."""
        if not self.pools:
            self.start()
        try:
            pool = self.free.get(timeout=timeout_seconds)
        except queue.Empty:
            raise ToolError(f"all {self.size} {self.label} workers stayed busy for {timeout_seconds:g} s") from None
        try:
            pool.timeout_seconds = timeout_seconds
            outcome = pool.run([(0, payload)])[0]
            if outcome.kind in ("timeout", "crash"):
                pool.start(wait_ready=False)  # the killed worker's replacement warms up before the next call
            return outcome
        finally:
            self.free.put(pool)

    def close(self) -> None:
        with self.lock:
            for pool in self.pools:
                pool.close()
            self.pools.clear()
            self.free = queue.LifoQueue()
