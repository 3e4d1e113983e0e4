"""A killable, bounded pool of worker processes: each item runs under its own hard deadline.

Why: some work cannot be trusted to finish (math-verify on a power tower, code under test). A
thread cannot be stopped; a process can. The pool runs a *worker*, named ``"module:function"``:
that function is called once in each worker process with the pool's ``config`` (keyword
arguments, JSON-serialisable) and returns the handler, a callable that takes one item's payload
and returns a picklable result. The factory does the slow set-up (imports, warm-up) before the
worker reports ready, so start-up is never charged to an item's deadline.

An item may pass through *phases* with their own bounds: the handler calls
:func:`enter_phase` (``enter_phase("prediction", 5.0)``) and from then on the item's deadline
is that many seconds from now, and its :class:`Outcome` names the phase it was in when it
ended, timed out or killed its worker (the ``sql`` reward: a gold query, then a prediction).
A handler that bounds its own work (SQLite's progress handler) can turn the worker's alarm off
(``alarm=False``); the parent's kill at the deadline plus ``grace_seconds`` still applies.

What each item becomes (:class:`Outcome`): ``ok`` (the handler's return value), ``timeout``
(past ``timeout_seconds``: the worker's own alarm fired, or the parent killed the worker
``grace_seconds`` later, half a second by default, because it sat in C code where no signal
handler runs), ``error`` (the handler raised; one item's error stays that item's), ``crash``
(the worker died on it). A killed or dead worker is replaced; the items queued behind it go to
other workers.

Workers are plain subprocesses (``python -c``) talking over pipes, not ``multiprocessing``:
spawn and forkserver re-import the caller's ``__main__`` (which breaks training scripts without
an ``if __name__ == "__main__"`` guard), and fork is unsafe in a process with threads.

What it is not: a sandbox against hostile code (no namespaces; resource limits beyond time
are the worker's own, set by its factory, as the ``sql`` worker bounds its memory); that is for
the code-execution sandbox beside this module.

    >>> pool = WorkerPool("assay.sandbox.pool:echo_worker", size=1, timeout_seconds=2)
    >>> pool.run([(0, "hi")])[0].value
    'hi'
    >>> pool.close()
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from assay.text import shorten

__all__ = ["Outcome", "WorkerPool", "describe_exit", "echo_worker", "enter_phase"]

GRACE_SECONDS = 0.5  # beyond the worker's own alarm, before the parent kills it
START_SECONDS = 60.0  # how long a run waits with no worker ready before failing its items
MAX_START_FAILURES = 3
_live_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@dataclass(frozen=True)
class Outcome:
    """What became of one item: ``kind`` is ok | timeout | error | crash; ``value`` is the
    handler's result (ok only); ``message`` says what went wrong (error, crash); ``phase`` the
    last phase the item entered (:func:`enter_phase`; "" for none); ``exit_code`` the dead
    worker's exit status (crash only)."""

    kind: str
    value: Any = None
    message: str = ""
    seconds: float = 0.0
    phase: str = ""
    exit_code: int | None = None


def describe_exit(code: int | None) -> str:
    """A worker's exit status in words: "killed by signal 9", "exit code 1"."""
    return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"


# --- the worker side ----------------------------------------------------------------------------


class _ItemTimeout(BaseException):
    """Raised by the worker's own alarm. A BaseException, so a handler's ``except Exception``
    cannot swallow it and turn a timeout into an ordinary result."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ItemTimeout()


_current: dict[str, Any] = {}  # in a worker process: conn, alarm, and the item being handled


def enter_phase(name: str, timeout_seconds: float | None = None) -> None:
    """Called by a handler inside a worker: the current item enters phase ``name``; with
    ``timeout_seconds``, its deadline restarts from now at that bound (the worker's alarm too,
    when it has one). Tells the parent, so a timeout or a crash is reported in this phase.
    Outside a worker (a handler called directly) it does nothing."""
    conn = _current.get("conn")
    if conn is None or "item" not in _current:
        return
    conn.send(("phase", _current["item"], name, timeout_seconds))
    if timeout_seconds is not None and _current.get("alarm"):
        signal.setitimer(signal.ITIMER_REAL, timeout_seconds)


def load_worker(spec: str) -> Callable[..., Callable[[Any], Any]]:
    """The factory named by ``"module:function"``; a clear error when it is not there."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"a worker is named 'module:function', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), function_name, None)
    if not callable(factory):
        raise TypeError(f"worker {spec!r}: {module_name} has no callable {function_name!r}")
    return factory


def _worker_main(inbox: Connection, conn: Connection, spec: str, config: dict[str, Any], timeout_seconds: float, alarm: bool = True) -> None:
    """A worker: build the handler, report ready, then answer chunks item by item, each under
    its own alarm (unless ``alarm`` is off)."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
        handler = load_worker(spec)(**config)
        signal.signal(signal.SIGALRM, _on_alarm)
        conn.send(("ready", os.getpid()))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, then exit
        conn.send(("error", f"{type(error).__name__}: {shorten(error, 300)}"))
        return
    _current.update(conn=conn, alarm=alarm)
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if message[0] == "stop":
            return
        for item_id, payload in message[1]:
            started = time.monotonic()
            _current["item"] = item_id
            try:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, timeout_seconds)
                try:
                    result: tuple[Any, ...] = ("ok", handler(payload))
                finally:
                    if alarm:
                        signal.setitimer(signal.ITIMER_REAL, 0)
            except _ItemTimeout:
                result = ("timeout",)
            except Exception as error:  # noqa: BLE001 - one item's error stays that item's
                result = ("error", f"{type(error).__name__}: {shorten(error, 300)}")
            try:
                conn.send(("result", item_id, result, time.monotonic() - started))
            except (BrokenPipeError, OSError):
                return


def _worker_entry(read_fd: int, write_fd: int, spec: str, config_json: str, timeout_seconds: float, alarm: bool = True) -> None:
    """Where a worker process starts (``python -c``): wrap the inherited pipe ends."""
    _worker_main(Connection(read_fd, writable=False), Connection(write_fd, readable=False), spec, json.loads(config_json), timeout_seconds, alarm)


def echo_worker() -> Callable[[Any], Any]:
    """A trivial worker (for tests and examples): returns its payload."""
    return lambda payload: payload


# --- the parent side ----------------------------------------------------------------------------


def _start_process(spec: str, config: dict[str, Any], timeout_seconds: float, alarm: bool) -> tuple[subprocess.Popen, Connection, Connection]:
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    code = (
        "import sys; sys.path[:0] = " + repr([p for p in sys.path if p]) + "\n"
        "from assay.sandbox.pool import _worker_entry\n"
        f"_worker_entry({to_child_r}, {from_child_w}, {spec!r}, {json.dumps(config)!r}, {float(timeout_seconds)!r}, {bool(alarm)!r})"
    )
    try:
        process = subprocess.Popen([sys.executable, "-c", code], pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, close_fds=True)
    finally:
        os.close(to_child_r)
        os.close(from_child_w)
    return process, Connection(from_child_r, writable=False), Connection(to_child_w, readable=False)


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen
    conn: Connection  # what the worker sends
    outbox: Connection  # what we send to it
    ready: bool = False
    items: deque = field(default_factory=deque)  # (item_id, payload) sent, not yet answered
    item_started: float = 0.0  # when the current item (or its current phase) began
    item_timeout: float = 0.0  # the current item's (or phase's) bound
    phase: str = ""  # the phase the current item is in

    @property
    def busy(self) -> bool:
        return bool(self.items)


class WorkerPool:
    """``size`` worker processes running ``worker`` (``"module:function"``), each item under a
    hard deadline of ``timeout_seconds`` (a phase's own bound once the handler enters one), plus
    ``grace_seconds`` before the parent kills a worker; ``alarm=False`` for a handler that
    bounds its own work. Thread-safe (one run at a time); reusable; stopped by :meth:`close`
    or at interpreter exit. Processes start on first need or by :meth:`start` (``warm_up`` in
    the rewards that own a pool)."""

    def __init__(
        self, worker: str, *, size: int, timeout_seconds: float, config: dict[str, Any] | None = None, label: str | None = None,
        grace_seconds: float = GRACE_SECONDS, alarm: bool = True,
    ) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, got size={size}")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        if grace_seconds < 0:
            raise ValueError(f"grace_seconds must not be negative, got {grace_seconds}")
        self.worker = worker
        self.config = dict(config or {})
        json.dumps(self.config)  # fails here, not in a worker, when the config cannot travel
        self.label = label or worker
        self.size = size
        self.timeout_seconds = timeout_seconds
        self.grace_seconds = grace_seconds
        self.alarm = alarm
        self.owner_pid = os.getpid()
        self.lock = threading.Lock()
        self.workers: list[_Worker] = []
        self.start_failures = 0
        self.last_start_error = ""
        self.closed = False
        _live_pools.add(self)

    # workers
    def _spawn(self) -> None:
        process, conn, outbox = _start_process(self.worker, self.config, self.timeout_seconds, self.alarm)
        self.workers.append(_Worker(process, conn, outbox))

    def _retire(self, worker: _Worker, kill: bool) -> None:
        if kill and worker.process.poll() is None:
            worker.process.kill()
        try:
            worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        worker.conn.close()
        worker.outbox.close()
        if worker in self.workers:
            self.workers.remove(worker)

    def _deadline(self, worker: _Worker) -> float:
        return worker.item_started + worker.item_timeout + self.grace_seconds

    def _next_item(self, worker: _Worker, now: float) -> None:
        worker.item_started, worker.item_timeout, worker.phase = now, self.timeout_seconds, ""

    def _top_up(self) -> None:
        while len(self.workers) < self.size and self.start_failures < MAX_START_FAILURES:
            self._spawn()

    def pids(self) -> list[int]:
        """The worker processes' ids (for monitoring and tests)."""
        return [w.process.pid for w in self.workers]

    def start(self, wait_ready: bool = True, timeout: float = START_SECONDS) -> bool:
        """Start the workers now; with ``wait_ready``, wait (up to ``timeout`` s) until all
        report ready. Returns whether every worker is ready."""
        with self.lock:
            if self.closed:
                raise RuntimeError(f"the {self.label} worker pool is closed")
            self._top_up()
            deadline = time.monotonic() + timeout
            while wait_ready and self.workers and any(not w.ready for w in self.workers) and time.monotonic() < deadline:
                self._pump(deadline - time.monotonic(), {})
                self._top_up()
            return bool(self.workers) and all(w.ready for w in self.workers)

    # the scheduling loop
    def run(self, items: list[tuple[Any, Any]]) -> dict[Any, Outcome]:
        """Run ``(item_id, payload)`` pairs; returns item_id -> :class:`Outcome` for every item."""
        results: dict[Any, Outcome] = {}
        if not items:
            return results
        with self.lock:
            if self.closed:
                raise RuntimeError(f"the {self.label} worker pool is closed")
            pending = deque(items)
            chunk = max(1, min(32, len(items) // (4 * self.size) or 1))
            stalled_since: float | None = None
            while pending or any(w.busy for w in self.workers):
                self._top_up()
                if not self.workers:
                    reason = f"{self.label} workers could not start: {self.last_start_error or 'unknown error'}"
                    for item in pending:
                        results[item[0]] = Outcome("error", message=reason)
                    break
                now = time.monotonic()
                for worker in self.workers:
                    if worker.ready and not worker.busy and pending:
                        batch = [pending.popleft() for _ in range(min(chunk, len(pending)))]
                        worker.items.extend(batch)
                        self._next_item(worker, now)
                        try:
                            worker.outbox.send(("chunk", batch))
                        except (BrokenPipeError, OSError):
                            pass  # noticed as a dead worker below
                deadlines = [self._deadline(w) for w in self.workers if w.busy]
                wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 1.0
                requeue = self._pump(wait_for, results)
                for item in reversed(requeue):
                    pending.appendleft(item)
                if any(w.ready for w in self.workers):
                    stalled_since = None
                elif stalled_since is None:
                    stalled_since = time.monotonic()
                elif time.monotonic() - stalled_since > START_SECONDS:  # alive but never ready: bounded
                    for item in pending:
                        results[item[0]] = Outcome("error", message=f"no {self.label} worker became ready within {START_SECONDS:g} s")
                    pending.clear()
                    break
                now = time.monotonic()
                for worker in list(self.workers):  # kill workers whose current item is past its hard deadline
                    if worker.busy and now > self._deadline(worker):
                        hung = worker.items.popleft()
                        results[hung[0]] = Outcome("timeout", seconds=now - worker.item_started, phase=worker.phase)
                        for item in reversed(worker.items):
                            pending.appendleft(item)
                        worker.items.clear()
                        self._retire(worker, kill=True)
        return results

    def _pump(self, wait_for: float, results: dict[Any, Outcome]) -> list[tuple[Any, Any]]:
        """Read what the workers sent within ``wait_for`` seconds; handle dead workers.
        Returns the items to send again (those queued behind an item that killed a worker)."""
        requeue: list[tuple[Any, Any]] = []
        by_conn = {w.conn: w for w in self.workers}
        if not by_conn:
            return requeue
        dead: list[_Worker] = []
        for handle in wait(list(by_conn), timeout=wait_for):
            worker = by_conn[handle]  # type: ignore[index]
            try:
                while worker.conn.poll():
                    self._handle(worker, worker.conn.recv(), results)
            except (EOFError, OSError):
                dead.append(worker)  # the pipe closed: the worker exited or was killed
        for worker in dead:
            if worker not in self.workers:
                continue
            try:
                code = worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            if not worker.ready:
                self.start_failures += 1
                self.last_start_error = self.last_start_error or f"worker exited with code {code} while starting"
            if worker.items:
                crashed = worker.items.popleft()
                results[crashed[0]] = Outcome("crash", message=f"the {self.label} worker died ({describe_exit(code)}) on this item", phase=worker.phase, exit_code=code)
                requeue.extend(worker.items)
                worker.items.clear()
            self._retire(worker, kill=True)
        return requeue

    def _handle(self, worker: _Worker, message: tuple[Any, ...], results: dict[Any, Outcome]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self.start_failures = 0
        elif kind == "error":
            self.last_start_error = message[1]
        elif kind == "phase":
            _, item_id, name, seconds = message
            if worker.items and worker.items[0][0] == item_id:
                worker.phase, worker.item_started = name, time.monotonic()
                if seconds is not None:
                    worker.item_timeout = float(seconds)
        elif kind == "result":
            _, item_id, result, elapsed = message
            if worker.items and worker.items[0][0] == item_id:
                worker.items.popleft()
            phase = worker.phase
            if result[0] == "ok":
                results[item_id] = Outcome("ok", value=result[1], seconds=elapsed, phase=phase)
            elif result[0] == "timeout":
                results[item_id] = Outcome("timeout", seconds=elapsed, phase=phase)
            else:
                results[item_id] = Outcome("error", message=result[1], seconds=elapsed, phase=phase)
            self._next_item(worker, time.monotonic())

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        with self.lock:
            self.closed = True
            for worker in list(self.workers):
                try:
                    worker.outbox.send(("stop",))
                except (BrokenPipeError, OSError):
                    pass
            for worker in list(self.workers):
                try:
                    worker.process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
                self._retire(worker, kill=True)


@atexit.register
def _close_all_pools() -> None:
    for pool in list(_live_pools):
        if pool.owner_pid == os.getpid():
            try:
                pool.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
