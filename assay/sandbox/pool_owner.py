"""The life of a worker pool that a reward owns: made on first need, one per process, remade
after :meth:`PoolOwner.close`, stopped by ``close`` or when the reward goes away.

Why: the rewards that run work in killable processes (``math``, ``sql``) manage their
:class:`~assay.sandbox.pool.WorkerPool` the same way; this mixin is that way, in one place. A
pool made in a parent process is never used or closed by a forked child (the child makes its
own on first need; the parent's pool is the parent's to stop).

What it is not: the pool (``assay.sandbox.pool``) or the reward's scoring. A subclass says how
to make its pool (:meth:`PoolOwner._new_pool`) and calls :meth:`PoolOwner._get_pool` to use it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from assay.sandbox.pool import WorkerPool

__all__ = ["PoolOwner"]


class PoolOwner:
    """Mixin for a reward that owns a :class:`WorkerPool` (put it before ``Reward`` in the
    bases): ``warm_up``, ``close``, ``worker_pids``, and the pool made lazily."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pool: WorkerPool | None = None
        self._pool_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _new_pool(self) -> WorkerPool:
        """A new pool for this reward (not started)."""
        raise NotImplementedError

    def _get_pool(self) -> WorkerPool:
        with self._pool_lock:
            if self._pool is None or self._pool.owner_pid != os.getpid() or self._pool.closed:
                self._pool = self._new_pool()
            return self._pool

    def warm_up(self) -> None:
        """Start the worker processes now and wait until they are ready (else: on first need),
        so a server's first request is not charged the start-up."""
        self._get_pool().start(wait_ready=True)

    def close(self) -> None:
        """Stop the worker processes (also done at interpreter exit); a later call makes a new pool."""
        with self._pool_lock:
            if self._pool is not None and self._pool.owner_pid == os.getpid():
                self._pool.close()
            self._pool = None

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (none before first need or after ``close``)."""
        pool = self._pool
        return pool.pids() if pool is not None else []

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - best effort when the reward goes away (also half-made)
            pass
