"""The ``sql`` judge tool: read-only queries over a configured SQLite database, as the ``sql``
reward runs them.

``database`` is a SQLite file. A query runs in a worker process (``assay.sandbox.pool``; ``workers`` of them, :mod:`.workers`)
through the ``sql`` reward's executor (``assay.rewards.sql.execution.Database``): the file
opened ``mode=ro``, ``PRAGMA query_only``, the read-only authorizer (no ATTACH, no writes, no
state-changing PRAGMAs, no extension loading), a progress-handler deadline (the call's time
bound), a row cap (``max_rows``), a per-value size bound and the worker's memory bound
(``memory_mb``); a worker stuck past its deadline is killed. The answer is the column names
and the rows as tab-separated lines, or why there are none (a syntax error, a refusal, the
time limit, the row cap), which the judge reads as the tool's answer.

    tools: [{sql: {database: data/chinook.sqlite, max_rows: 50}}]

Not here: comparing a predicted query with a gold one (the ``sql`` reward).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from assay.rewards.judges.tools.base import Tool, ToolError, ToolOptions

SQL_TOOL_WORKER = "assay.rewards.judges.tools.sql:make_worker"
GRACE_SECONDS = 1.0


class SqlOptions(ToolOptions):
    database: str  # a SQLite file
    max_rows: int = Field(50, ge=1, le=100_000)
    max_value_bytes: int = Field(100_000, ge=1000)
    memory_mb: int = Field(512, ge=64, le=16384)
    timeout_seconds: float = Field(5.0, gt=0, le=300)
    workers: int = Field(2, ge=1, le=32)  # worker processes: queries of concurrent judgments run side by side


def make_worker(database: str, max_rows: int, max_value_bytes: int, memory_mb: int) -> Callable[[tuple[str, float]], tuple[str, Any, str]]:
    """The worker's handler (runs in a pool process): bound the process, open the database
    read-only and guarded once, answer ``(status, (columns, rows), message)`` per query."""
    from assay.rewards.sql.execution import Database, limit_process

    limit_process(int(memory_mb))
    db = Database(database, max_value_bytes=max_value_bytes)

    def handle(payload: tuple[str, float]) -> tuple[str, Any, str]:
        sql, timeout_seconds = payload
        outcome = db.run(sql, timeout_seconds=timeout_seconds, max_rows=max_rows)
        if outcome.ok:
            rows = [tuple(v if isinstance(v, (int, float, str)) or v is None else repr(v) for v in row) for row in outcome.rows or []]
            return "ok", (outcome.columns, rows), ""
        return outcome.status, None, outcome.message

    return handle


def table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Columns and rows as tab-separated lines under a count."""
    if not rows:
        return "(no rows)" + (f"\ncolumns: {', '.join(columns)}" if columns else "")
    lines = [f"{len(rows)} row{'s' if len(rows) != 1 else ''}", "\t".join(columns)]
    lines += ["\t".join("NULL" if v is None else str(v) for v in row) for row in rows]
    return "\n".join(lines)


class SqlTool(Tool):
    name = "sql"
    description = "Run one read-only SQL query (SQLite) on the configured database and see the rows it returns."
    input_name = "query"
    input_description = "one SQLite SELECT statement"
    Options = SqlOptions

    def __init__(self, base_dir: Path | None = None, **options: Any) -> None:
        super().__init__(base_dir, **options)
        self.database = self.path(self.options.database).resolve()
        if not self.database.is_file():
            raise ValueError(f"database: no SQLite file at {self.database}")
        from assay.rewards.judges.tools.workers import Workers

        o = self.options
        self.workers = Workers(
            SQL_TOOL_WORKER, {"database": str(self.database), "max_rows": o.max_rows, "max_value_bytes": o.max_value_bytes, "memory_mb": o.memory_mb},
            size=o.workers, timeout_seconds=o.timeout_seconds, label="sql tool", grace_seconds=GRACE_SECONDS, alarm=False,
        )

    def warm_up(self) -> None:
        """Start the workers now (not waiting for them), so the first call is not charged their start-up."""
        self.workers.start()

    def call(self, text: str, timeout_seconds: float) -> str:
        query = text.strip().strip("`").strip()
        if query.lower().startswith("sql\n"):
            query = query[4:]
        if not query:
            raise ToolError("the query is empty")
        bound = max(0.1, min(self.options.timeout_seconds, timeout_seconds))
        outcome = self.workers.run((query, bound), bound)
        if outcome.kind == "timeout":
            raise ToolError(f"the query did not finish within {bound:g} s (its worker was stopped)")
        if outcome.kind != "ok":
            raise ToolError(f"the query could not run ({outcome.kind}: {outcome.message})")
        status, value, message = outcome.value
        if status != "ok":
            raise ToolError(f"{status}: {message}")
        columns, rows = value
        return table(columns, rows)

    def close(self) -> None:
        self.workers.close()
