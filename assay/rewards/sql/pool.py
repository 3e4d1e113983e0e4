"""Worker processes that run SQL pairs (gold, predicted) under hard bounds, and the pool that feeds them.

Why processes: a query's memory can only be bounded for a whole process (the address-space
rlimit and SQLite's hard heap limit are process-wide), and a query stuck inside one long
virtual-machine step can only be stopped by killing what runs it. Each worker

- bounds itself at start (:func:`assay.rewards.sql.execution.limit_process`), then answers
  items: open the database read-only and guarded (connections kept per file), run the gold
  query (its result cached per database file and query text, so the 8 samples of one prompt
  run it once per worker), say so (a ``phase`` message), run the predicted query, compare;
- sends back only the verdict, never the rows.

The parent sends work in chunks grouped by database and gold query, gives every item a hard
deadline per phase (the gold query's time bound, then the prediction's, plus a grace), and
kills and replaces a worker that overruns or dies. What the parent reports for such an item
depends on the phase: the gold query's phase is the reward's problem (``gold`` results), the
prediction's phase is the prediction's (``pred`` results).

Workers are plain ``python -c`` subprocesses with a pipe each way, not ``multiprocessing``:
spawn re-imports the caller's ``__main__`` and fork is unsafe in a threaded trainer.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

GRACE_SECONDS = 1.0  # beyond a phase's own bound (the progress handler), before the parent kills
START_SECONDS = 60.0
MAX_START_FAILURES = 3
_DATABASES_KEPT = 16
_GOLD_RESULTS_KEPT = 512
_live_pools: weakref.WeakSet[SqlPool] = weakref.WeakSet()

# --- the worker side ------------------------------------------------------------------------


def _worker_main(inbox: Connection, conn: Connection, settings: dict[str, Any]) -> None:
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
        from assay.rewards.sql.compare import compare
        from assay.rewards.sql.execution import Database, limit_process

        limit_process(int(settings["memory_mb"]))
        conn.send(("ready", os.getpid()))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, then exit
        conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    databases: OrderedDict[tuple, Database] = OrderedDict()
    gold_results: OrderedDict[tuple, Any] = OrderedDict()

    def database(path: str) -> tuple[tuple, Database]:
        info = os.stat(path)
        key = (path, info.st_mtime_ns, info.st_size)
        found = databases.get(key)
        if found is None:
            found = Database(path, max_value_bytes=int(settings["max_value_bytes"]))
            databases[key] = found
            if len(databases) > _DATABASES_KEPT:
                databases.popitem(last=False)[1].close()
        else:
            databases.move_to_end(key)
        return key, found

    def check(item_id: Any, path: str, gold_sql: str, pred_sql: str) -> tuple[Any, ...]:
        try:
            key, db = database(path)
        except Exception as error:  # noqa: BLE001 - OSError and sqlite3 errors alike
            return ("no_database", f"{type(error).__name__}: {error}")
        gold = gold_results.get((key, gold_sql))
        if gold is None:
            gold = db.run(gold_sql, float(settings["gold_timeout_seconds"]), int(settings["max_rows"]))
            if gold.status not in ("timeout", "memory"):  # deterministic outcomes only
                gold_results[(key, gold_sql)] = gold
                if len(gold_results) > _GOLD_RESULTS_KEPT:
                    gold_results.popitem(last=False)
        else:
            gold_results.move_to_end((key, gold_sql))
        conn.send(("phase", item_id))
        if not gold.ok:
            return ("gold", gold.status, gold.message)
        pred = db.run(pred_sql, float(settings["timeout_seconds"]), int(settings["max_rows"]))
        if not pred.ok:
            return ("pred", pred.status, pred.message, pred.seconds)
        verdict = compare(
            gold.rows, pred.rows, gold_sql,
            order=settings["order"], duplicates=settings["duplicates"],
            column_order=settings["column_order"], float_digits=settings["float_digits"],
        )
        shape = {"rows": len(pred.rows), "columns": len(pred.columns), "gold_rows": len(gold.rows), "gold_columns": len(gold.columns)}
        return ("compared", verdict.equal, verdict.reason, shape, pred.seconds)

    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if message[0] == "stop":
            return
        for item_id, path, gold_sql, pred_sql in message[1]:
            try:
                result = check(item_id, path, gold_sql, pred_sql)
            except MemoryError:
                result = ("pred", "memory", "memory limit exceeded (the worker ran out of memory comparing the results)", 0.0)
            except Exception as error:  # noqa: BLE001 - one item's error stays that item's
                result = ("error", f"{type(error).__name__}: {error}")
            try:
                conn.send(("result", item_id, result))
            except (BrokenPipeError, OSError):
                return


def _worker_entry(read_fd: int, write_fd: int, settings_json: str) -> None:
    _worker_main(Connection(read_fd, writable=False), Connection(write_fd, readable=False), json.loads(settings_json))


def _start_worker(settings: dict[str, Any]) -> tuple[subprocess.Popen, Connection, Connection]:
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    code = (
        "import sys; sys.path[:0] = " + repr([p for p in sys.path if p]) + "\n"
        "from assay.rewards.sql.pool import _worker_entry\n"
        f"_worker_entry({to_child_r}, {from_child_w}, {json.dumps(json.dumps(settings))})"
    )
    try:
        process = subprocess.Popen([sys.executable, "-c", code], pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, close_fds=True)
    finally:
        os.close(to_child_r)
        os.close(from_child_w)
    return process, Connection(from_child_r, writable=False), Connection(to_child_w, readable=False)


# --- the parent side ------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen
    conn: Connection
    outbox: Connection
    ready: bool = False
    items: deque = field(default_factory=deque)
    item_started: float = 0.0
    in_prediction: bool = False  # the current item's gold phase is done

    @property
    def busy(self) -> bool:
        return bool(self.items)


class SqlPool:
    """A fixed number of SQL workers; ``run(items)`` answers ``(item_id, db_path, gold_sql,
    pred_sql)`` tuples with item_id -> result tuple (see the worker's ``check``)."""

    def __init__(self, workers: int, settings: dict[str, Any]) -> None:
        self.size = workers
        self.settings = settings
        self.owner_pid = os.getpid()
        self.lock = threading.Lock()
        self.workers: list[_Worker] = []
        self.start_failures = 0
        self.last_start_error = ""
        self.closed = False
        _live_pools.add(self)

    def _deadline(self, worker: _Worker) -> float:
        bound = self.settings["timeout_seconds"] if worker.in_prediction else self.settings["gold_timeout_seconds"]
        return worker.item_started + float(bound) + GRACE_SECONDS

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

    def _top_up(self) -> None:
        while len(self.workers) < self.size and self.start_failures < MAX_START_FAILURES:
            process, conn, outbox = _start_worker(self.settings)
            self.workers.append(_Worker(process, conn, outbox))

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    def start(self, timeout: float = START_SECONDS) -> None:
        """Start the workers and wait until they are ready."""
        with self.lock:
            self._top_up()
            deadline = time.monotonic() + timeout
            while any(not w.ready for w in self.workers) and time.monotonic() < deadline:
                self._pump(deadline - time.monotonic(), {})

    def run(self, items: list[tuple[Any, str, str, str]]) -> dict[Any, tuple[Any, ...]]:
        results: dict[Any, tuple[Any, ...]] = {}
        if not items:
            return results
        with self.lock:
            if self.closed:
                raise RuntimeError("the SQL worker pool is closed")
            pending = deque(sorted(items, key=lambda item: (item[1], item[2])))  # one prompt's samples together
            chunk = max(1, min(32, len(items) // (2 * self.size) or 1))
            stalled_since: float | None = None
            while pending or any(w.busy for w in self.workers):
                self._top_up()
                if not self.workers:
                    for item in pending:
                        results[item[0]] = ("error", f"the SQL workers could not start: {self.last_start_error or 'unknown error'}")
                    break
                now = time.monotonic()
                for worker in self.workers:
                    if worker.ready and not worker.busy and pending:
                        batch = [pending.popleft() for _ in range(min(chunk, len(pending)))]
                        worker.items.extend(batch)
                        worker.item_started, worker.in_prediction = now, False
                        try:
                            worker.outbox.send(("chunk", batch))
                        except (BrokenPipeError, OSError):
                            pass  # seen as a dead worker below
                deadlines = [self._deadline(w) for w in self.workers if w.busy]
                wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 1.0
                for item in reversed(self._pump(wait_for, results)):
                    pending.appendleft(item)
                if any(w.ready for w in self.workers):
                    stalled_since = None
                elif stalled_since is None:
                    stalled_since = time.monotonic()
                elif time.monotonic() - stalled_since > START_SECONDS:
                    for item in pending:
                        results[item[0]] = ("error", f"no SQL worker became ready within {START_SECONDS:g} s")
                    pending.clear()
                    break
                now = time.monotonic()
                for worker in list(self.workers):
                    if worker.busy and now > self._deadline(worker):
                        hung = worker.items.popleft()
                        if worker.in_prediction:
                            bound = float(self.settings["timeout_seconds"])
                            results[hung[0]] = ("pred", "timeout", f"time limit exceeded ({bound:g} s; the worker was killed)", bound)
                        else:
                            results[hung[0]] = ("gold", "timeout", f"the gold query did not finish within {float(self.settings['gold_timeout_seconds']):g} s (the worker was killed)")
                        for item in reversed(worker.items):
                            pending.appendleft(item)
                        worker.items.clear()
                        self._retire(worker, kill=True)
        return results

    def _pump(self, wait_for: float, results: dict[Any, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Read what the workers sent within ``wait_for`` seconds; handle dead workers; return
        the items to send again (those queued behind an item that killed its worker)."""
        requeue: list[tuple[Any, ...]] = []
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
                dead.append(worker)
        for worker in dead:
            if worker not in self.workers:
                continue
            try:
                code = worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            if not worker.ready:
                self.start_failures += 1
                self.last_start_error = self.last_start_error or f"worker exited ({how}) while starting"
            if worker.items:
                crashed = worker.items.popleft()
                if worker.in_prediction:
                    results[crashed[0]] = ("pred", "crash", f"the worker running the predicted query died ({how}): it ran past its memory bound or crashed", 0.0)
                else:
                    results[crashed[0]] = ("gold", "crash", f"the worker running the gold query died ({how})")
                requeue.extend(worker.items)
                worker.items.clear()
            self._retire(worker, kill=True)
        return requeue

    def _handle(self, worker: _Worker, message: tuple[Any, ...], results: dict[Any, tuple[Any, ...]]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self.start_failures = 0
        elif kind == "error":
            self.last_start_error = message[1]
        elif kind == "phase":
            if worker.items and worker.items[0][0] == message[1]:
                worker.in_prediction = True
                worker.item_started = time.monotonic()
        elif kind == "result":
            _, item_id, result = message
            if worker.items and worker.items[0][0] == item_id:
                worker.items.popleft()
            results[item_id] = result
            worker.item_started, worker.in_prediction = time.monotonic(), False

    def close(self) -> None:
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
