"""The ``sql`` reward: execution accuracy on SQLite, as Spider and BIRD score it.

The predicted query (extracted from the response, :mod:`.inputs`) and the gold query run on
the sample's database in bounded worker processes (:mod:`.worker`, run by
``assay.sandbox.pool``): read-only, guarded by an authorizer (:mod:`.guard`), time-bounded
by a progress handler, row-capped, memory-bounded (:mod:`.execution`). The two results are compared as multisets of rows, or as lists when the
gold query has ``ORDER BY``, columns in any order, floats rounded (:mod:`.compare`; Spider's
test-suite semantics by default, BIRD's with ``order: ignore, duplicates: set,
column_order: strict``).

Scores and failures:

- 1.0 when the results are the same answer, 0.0 when they differ (the rationale says how);
- 0.0 when the response holds no query, or the predicted query fails to parse or run (the
  database's error is the reason), is refused by the read-only policy, runs past its time
  limit ("time limit exceeded"), returns more than ``max_rows`` rows, or exhausts the
  worker's memory;
- an ``input`` failure when the gold query or the database is missing, or when the gold
  query itself fails, is refused or exceeds the row cap (the sample is wrong, not the
  prediction);
- a ``timeout`` failure when the gold query runs past ``gold_timeout_seconds`` (no verdict is
  possible, and it is not the prediction's fault);
- an ``internal`` failure when a worker dies on the gold query or cannot start.

    >>> from assay.rewards.sql.reward import SqlExecution
    >>> reward = SqlExecution(database="/work/shared/data/sql/chinook.sqlite")  # doctest: +SKIP
    >>> reward.score([Sample(response="```sql\\nSELECT count(*) FROM Genre\\n```",
    ...                      reference="SELECT COUNT(GenreId) FROM Genre")])[0].score  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from assay.reward import Reward
from assay.rewards.sql.compare import ColumnRule, DuplicatesRule, OrderRule
from assay.rewards.sql.inputs import SqlInputOptions, database_path, extract_query, gold_query
from assay.rewards.sql.worker import GRACE_SECONDS, SQL_WORKER, result_of
from assay.sandbox.pool import Outcome, WorkerPool
from assay.sandbox.pool_owner import PoolOwner
from assay.types import Judgment, Sample

__all__ = ["SqlExecution", "SqlExecutionOptions"]

_PRED_WORDS = {
    "error": "the predicted query failed",
    "refused": "the predicted query was refused",
    "timeout": "the predicted query ran past its time limit",
    "row_cap": "the predicted query returned too many rows",
    "memory": "the predicted query ran out of memory",
    "crash": "the predicted query crashed its worker",
}


class SqlExecutionOptions(SqlInputOptions):
    """Options of the ``sql`` reward."""

    timeout_seconds: float = Field(5.0, gt=0, le=600, description="time limit of the predicted query")
    gold_timeout_seconds: float = Field(30.0, gt=0, le=3600, description="time limit of the gold query (BIRD's evaluation allows 30 s)")
    max_rows: int = Field(10000, ge=1, le=10_000_000, description="row cap of either query")
    max_value_bytes: int = Field(1_000_000, ge=1000, description="longest string or blob a query may build")
    memory_mb: int = Field(1024, ge=128, description="address-space bound of each worker process, MiB")
    workers: int | None = Field(None, ge=1, description="worker processes (default: CPU count)")
    order: OrderRule = Field("auto", description="auto: rows compared as lists when the gold query has ORDER BY; ignore; strict")
    duplicates: DuplicatesRule = Field("multiset", description="multiset (Spider) or set (BIRD)")
    column_order: ColumnRule = Field("any", description="any: a permutation of the columns is accepted (Spider); strict (BIRD)")
    float_digits: int | None = Field(10, ge=1, le=17, description="significant digits floats are rounded to before comparing; null: exact")


class SqlExecution(PoolOwner, Reward):
    """1.0 when the predicted query returns the same result as the gold query on the sample's database."""

    type_name = "sql"
    Options = SqlExecutionOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.worker_count = self.options.workers or os.cpu_count() or 1

    # pool lifecycle
    def _settings(self) -> dict[str, Any]:
        o = self.options
        return {
            "timeout_seconds": o.timeout_seconds, "gold_timeout_seconds": o.gold_timeout_seconds, "max_rows": o.max_rows,
            "max_value_bytes": o.max_value_bytes, "memory_mb": o.memory_mb, "order": o.order, "duplicates": o.duplicates,
            "column_order": o.column_order, "float_digits": o.float_digits,
        }

    def _new_pool(self) -> WorkerPool:
        return WorkerPool(
            SQL_WORKER, size=self.worker_count, timeout_seconds=self.options.gold_timeout_seconds, config=self._settings(),
            label="SQL", grace_seconds=GRACE_SECONDS, alarm=False,  # the queries bound themselves; the gold phase comes first
        )

    # scoring
    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        judgments: list[Judgment | None] = [None] * len(samples)
        todo: list[tuple[Any, str, str, str]] = []
        found: dict[int, Any] = {}
        for index, sample in enumerate(samples):
            gold, failure = gold_query(sample, self.options)
            if failure is None:
                path, failure = database_path(sample, self.options)
            if failure is not None:
                judgments[index] = failure
                continue
            extracted = extract_query(sample.response_text, self.options.extract, self.options.tag)
            found[index] = extracted
            if extracted.query is None:
                judgments[index] = Judgment(0.0, f"no query found: {extracted.how}", details={"query": None})
                continue
            todo.append((index, path, gold, extracted.query))  # type: ignore[arg-type]
        if todo:
            todo.sort(key=lambda item: (item[1], item[2]))  # one prompt's samples together: its gold result is cached per worker
            outcomes = self._get_pool().run([(index, (path, gold, query)) for index, path, gold, query in todo])
            o = self.options
            for index, path, gold, query in todo:
                outcome = outcomes.get(index, Outcome("error", message="no result came back from the SQL worker pool"))
                judgments[index] = self._judgment(result_of(outcome, o.timeout_seconds, o.gold_timeout_seconds), found[index].how, query, path)
        return judgments  # type: ignore[return-value]

    def _judgment(self, result: tuple[Any, ...], how: str, query: str, path: str) -> Judgment:
        kind = result[0]
        details: dict[str, Any] = {"query": query, "database": path}
        name = os.path.basename(path)
        if kind == "compared":
            _, equal, reason, shape, seconds = result
            details.update(shape, seconds=round(seconds, 6), outcome="equal" if equal else "different")
            verdict = "same result as the gold query" if equal else "a different result from the gold query"
            return Judgment(1.0 if equal else 0.0, f"the query from {how} ran on {name}: {verdict}: {reason}", details=details)
        if kind == "pred":
            _, status, message, seconds = result
            details.update(outcome=status, seconds=round(seconds, 6))
            return Judgment(0.0, f"{_PRED_WORDS.get(status, 'the predicted query failed')} on {name}: {message}", details=details)
        if kind == "gold":
            _, status, message = result
            if status == "timeout":
                return Judgment.fail("timeout", f"the gold query ran past its time limit on {name}, so the prediction cannot be judged: {message}", raw=query)
            if status == "crash":
                return Judgment.fail("internal", f"{message}; the prediction was not judged", raw=query)
            words = {"row_cap": "returns more rows than max_rows", "refused": "is refused by the read-only policy", "memory": "runs out of memory"}.get(status, "fails")
            return Judgment.fail("input", f"the gold query {words} on {name}: {message}", raw=query)
        if kind == "no_database":
            return Judgment.fail("input", f"the database {path!r} could not be opened: {result[1]}", raw=query)
        return Judgment.fail("internal", f"the SQL worker could not judge this query: {result[1]}", raw=query)
