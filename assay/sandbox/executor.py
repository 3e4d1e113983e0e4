"""The pool every sandboxed reward shares: at most N sandboxes at once (default: the
machine's cores), the rest queued, each with its own limits; ``close()`` cancels what is
queued and kills what runs.

Sandbox runs are child processes, so the pool is threads that wait on them (the GIL is
released while they wait). One pool per process: two rewards that both run code share
it, so a composite of a code reward and a judge with tools cannot start 2N sandboxes.

    >>> from assay.sandbox.executor import shared_executor
    >>> shared_executor().max_workers >= 1
    True

Not the math reward's worker pool (``assay/sandbox/pool.py``): that one keeps Python
workers alive to run trusted library code with a per-item deadline; this one starts an
isolated sandbox per job.
"""

from __future__ import annotations

import atexit
import os
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

from assay.sandbox.result import SandboxError

MAX_BATCH = 8  # programs per sandbox start, at most


class SandboxExecutor:
    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="assay-sandbox")
        self._closed = False

    def submit(self, backend, job) -> Future:
        if self._closed:
            raise SandboxError("the sandbox pool is shut down")
        return self._pool.submit(backend.execute, job)

    def run(self, backend, job):
        return self.submit(backend, job).result()

    def run_many(self, backend, jobs: list) -> list:
        """One JobResult per job, or the SandboxError that job raised, in order.

        A local backend runs the jobs in batches, several per sandbox start (at most
        ``MAX_BATCH``, and few enough that every worker has a batch): starting the sandbox
        is most of the cost of a short program, and the harness gives each program of a
        batch a clean slate."""
        if hasattr(backend, "execute_batch") and len(jobs) > 1:
            size = max(1, min(MAX_BATCH, -(-len(jobs) // self.max_workers)))
            batches = [jobs[i:i + size] for i in range(0, len(jobs), size)]
            futures = [self._pool.submit(backend.execute_batch, batch) if not self._closed else None for batch in batches]
            out = []
            for batch, future in zip(batches, futures):
                try:
                    if future is None:
                        raise SandboxError("the sandbox pool is shut down")
                    out.extend(future.result())
                except SandboxError as error:
                    out.extend([error] * len(batch))
                except CancelledError:
                    out.extend([SandboxError("the sandbox pool was shut down before this run started")] * len(batch))
            return out
        futures = [self.submit(backend, job) for job in jobs]
        out = []
        for future in futures:
            try:
                out.append(future.result())
            except SandboxError as error:
                out.append(error)
            except CancelledError:
                out.append(SandboxError("the sandbox pool was shut down before this run started"))
        return out

    def close(self) -> None:
        """Cancel the queued jobs, kill the running sandboxes, wait for the threads."""
        from assay.sandbox.backends import close_all

        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        close_all()
        self._pool.shutdown(wait=True)


_shared: dict[str, SandboxExecutor] = {}
_lock = threading.Lock()
REMOTE_WORKERS = 16  # requests in flight to a remote sandbox; its own server bounds what it runs


def shared_executor(max_workers: int | None = None, kind: str = "local") -> SandboxExecutor:
    """The process-wide pool (created on first use; ``max_workers`` counts only then).

    Runs on a remote sandbox get a pool of their own (``kind="remote"``): they wait on HTTP,
    not on this machine's cores, and a server in this same process (tests, a notebook) must
    not wait for slots that its own clients hold."""
    with _lock:
        pool = _shared.get(kind)
        if pool is None or pool._closed:
            pool = _shared[kind] = SandboxExecutor(max_workers or (REMOTE_WORKERS if kind == "remote" else None))
        return pool


@atexit.register
def _shutdown() -> None:
    for pool in list(_shared.values()):
        if not pool._closed:
            pool.close()
