"""The ``sql`` reward's worker: runs one (gold, predicted) pair inside a process of
``assay.sandbox.pool`` (named there as ``"assay.rewards.sql.worker:make_runner"``), and what
the reward makes of an item whose worker overran or died.

Why processes: a query's memory can only be bounded for a whole process (the address-space
rlimit and SQLite's hard heap limit are process-wide), and a query stuck inside one long
virtual-machine step can only be stopped by killing what runs it. Each worker

- bounds itself at start (:func:`assay.rewards.sql.execution.limit_process`, in
  :func:`make_runner`, so inside the worker), then answers items: open the database read-only
  and guarded (connections kept per file), run the gold query (its result cached per database
  file and query text, so the 8 samples of one prompt run it once per worker), enter the
  ``prediction`` phase (:func:`assay.sandbox.pool.enter_phase`, with the prediction's bound),
  run the predicted query, compare;
- sends back only the verdict, never the rows.

The pool gives every item a hard deadline per phase: the gold query's bound (the pool's
``timeout_seconds``), then the prediction's, each plus a grace of :data:`GRACE_SECONDS`; the
queries bound themselves (a progress handler), so the worker has no alarm of its own. What an
overrun or a dead worker means depends on the phase (:func:`result_of`): the gold phase is the
reward's problem (``gold`` results), the prediction phase is the prediction's (``pred``).

What it is not: the verdict's wording (``reward.py``), the pool's scheduling (``assay.sandbox.pool``).

A payload is ``(db_path, gold_sql, pred_sql)``; a result is one of
``("compared", equal, reason, shape, seconds)``, ``("pred", status, message, seconds)``,
``("gold", status, message)``, ``("no_database", message)`` or ``("error", message)``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from assay.sandbox.pool import Outcome, describe_exit, enter_phase

SQL_WORKER = "assay.rewards.sql.worker:make_runner"
PREDICTION = "prediction"  # the phase after the gold query; before it, the item is in the gold phase
GRACE_SECONDS = 1.0  # beyond a phase's own bound (the progress handler), before the parent kills
_DATABASES_KEPT = 16
_GOLD_RESULTS_KEPT = 512


def make_runner(
    *, timeout_seconds: float, gold_timeout_seconds: float, max_rows: int, max_value_bytes: int, memory_mb: int,
    order: str, duplicates: str, column_order: str, float_digits: int | None,
) -> Callable[[Any], tuple[Any, ...]]:
    """Bound this worker process's memory and return the per-item check (runs in the worker)."""
    from assay.rewards.sql.compare import compare
    from assay.rewards.sql.execution import Database, limit_process

    limit_process(int(memory_mb))
    databases: OrderedDict[tuple, Database] = OrderedDict()
    gold_results: OrderedDict[tuple, Any] = OrderedDict()

    def database(path: str) -> tuple[tuple, Database]:
        info = os.stat(path)
        key = (path, info.st_mtime_ns, info.st_size)
        found = databases.get(key)
        if found is None:
            found = Database(path, max_value_bytes=int(max_value_bytes))
            databases[key] = found
            if len(databases) > _DATABASES_KEPT:
                databases.popitem(last=False)[1].close()
        else:
            databases.move_to_end(key)
        return key, found

    def check(path: str, gold_sql: str, pred_sql: str) -> tuple[Any, ...]:
        try:
            key, db = database(path)
        except Exception as error:  # noqa: BLE001 - OSError and sqlite3 errors alike
            return ("no_database", f"{type(error).__name__}: {error}")
        gold = gold_results.get((key, gold_sql))
        if gold is None:
            gold = db.run(gold_sql, float(gold_timeout_seconds), int(max_rows))
            if gold.status not in ("timeout", "memory"):  # deterministic outcomes only
                gold_results[(key, gold_sql)] = gold
                if len(gold_results) > _GOLD_RESULTS_KEPT:
                    gold_results.popitem(last=False)
        else:
            gold_results.move_to_end((key, gold_sql))
        enter_phase(PREDICTION, float(timeout_seconds))
        if not gold.ok:
            return ("gold", gold.status, gold.message)
        pred = db.run(pred_sql, float(timeout_seconds), int(max_rows))
        if not pred.ok:
            return ("pred", pred.status, pred.message, pred.seconds)
        verdict = compare(gold.rows, pred.rows, gold_sql, order=order, duplicates=duplicates, column_order=column_order, float_digits=float_digits)
        shape = {"rows": len(pred.rows), "columns": len(pred.columns), "gold_rows": len(gold.rows), "gold_columns": len(gold.columns)}
        return ("compared", verdict.equal, verdict.reason, shape, pred.seconds)

    def run(payload: Any) -> tuple[Any, ...]:
        try:
            return check(*payload)
        except MemoryError:
            return ("pred", "memory", "memory limit exceeded (the worker ran out of memory comparing the results)", 0.0)

    return run


def result_of(outcome: Outcome, timeout_seconds: float, gold_timeout_seconds: float) -> tuple[Any, ...]:
    """The result tuple for one item's :class:`~assay.sandbox.pool.Outcome`: the worker's own
    (ok), or what a killed, dead or failing worker means in the phase the item was in."""
    in_prediction = outcome.phase == PREDICTION
    if outcome.kind == "ok":
        return tuple(outcome.value)
    if outcome.kind == "timeout":
        if in_prediction:
            return ("pred", "timeout", f"time limit exceeded ({timeout_seconds:g} s; the worker was killed)", float(timeout_seconds))
        return ("gold", "timeout", f"the gold query did not finish within {gold_timeout_seconds:g} s (the worker was killed)")
    if outcome.kind == "crash":
        how = describe_exit(outcome.exit_code)
        if in_prediction:
            return ("pred", "crash", f"the worker running the predicted query died ({how}): it ran past its memory bound or crashed", 0.0)
        return ("gold", "crash", f"the worker running the gold query died ({how})")
    return ("error", outcome.message)
