"""The bounded, read-only SQLite executor: one query in, its rows or the reason it has none out.

A connection opened here is read-only three times over: the file is opened with the URI flag
``mode=ro``, ``PRAGMA query_only`` is set, and the authorizer of :mod:`.guard` refuses every
action that is not a read (ATTACH, writes, state-changing PRAGMAs, extension loading).
Extension loading stays disabled on the connection. Each run is bounded

- in time: a progress handler, called every ``PROGRESS_STEPS`` virtual-machine steps,
  interrupts the query once its deadline has passed (``timeout``);
- in rows: at most ``max_rows`` rows are fetched; one more means ``row_cap``;
- in size: a string or blob longer than ``max_value_bytes`` is an error, and temporary
  b-trees live in memory, so a huge sort runs into the memory bound instead of the disk;
- in memory, in a worker process (:mod:`.pool`): :func:`limit_process` sets SQLite's hard
  heap limit and the address-space rlimit, so a blow-up ends as ``memory``, not as a swapped
  machine. Those two are process-wide, so only a worker calls them.

What this does not do: it does not sandbox SQLite itself (a memory-safety bug in SQLite would
reach the worker process), and it does not hide the database's own contents from the query.

    >>> from assay.rewards.sql.execution import Database
    >>> db = Database("/work/shared/data/sql/chinook.sqlite")  # doctest: +SKIP
    >>> db.run("SELECT count(*) FROM Genre", timeout_seconds=1, max_rows=10).rows  # doctest: +SKIP
    [(25,)]
"""

from __future__ import annotations

import os
import resource
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assay.rewards.sql.guard import Refusals, statement_kind

PROGRESS_STEPS = 1000
MAX_SQL_CHARS = 100_000

Status = Literal["ok", "error", "refused", "timeout", "row_cap", "memory"]


@dataclass
class Outcome:
    """What running one query gave: ``rows`` when ``status`` is ``ok``, else the reason."""

    status: Status
    rows: list[tuple[Any, ...]] | None = None
    columns: list[str] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def database_uri(path: str | os.PathLike[str]) -> str:
    """The read-only ``file:`` URI of a database path (special characters escaped)."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def limit_process(memory_mb: int) -> None:
    """Bound this whole process: SQLite's hard heap limit at 3/4 of ``memory_mb`` (SQLite
    answers "out of memory" first) and the address space at ``memory_mb`` (Python's own
    allocations fail with MemoryError). For worker processes only."""
    heap = memory_mb * 1024 * 1024 * 3 // 4
    connection = sqlite3.connect(":memory:")
    connection.execute(f"PRAGMA hard_heap_limit = {heap}")
    connection.close()
    limit = memory_mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class Database:
    """One read-only, guarded connection to a database file, reused across queries."""

    def __init__(self, path: str | os.PathLike[str], max_value_bytes: int = 1_000_000) -> None:
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"no database file at {self.path}")
        self.connection = sqlite3.connect(database_uri(self.path), uri=True, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA query_only = 1")
        self.connection.execute("PRAGMA temp_store = MEMORY")
        self.connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(1000, max_value_bytes))
        self.connection.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS)
        self.connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        self.refusals = Refusals()
        self.connection.set_authorizer(self.refusals)
        self.deadline = float("inf")
        self.connection.set_progress_handler(self._past_deadline, PROGRESS_STEPS)

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0

    def close(self) -> None:
        self.connection.close()

    def run(self, sql: str, timeout_seconds: float, max_rows: int) -> Outcome:
        """Run one statement under the bounds; never raises for anything the query does."""
        started = time.monotonic()
        kind = statement_kind(sql)
        if kind == "other":
            outcome = self._not_a_query(sql, timeout_seconds, started)
            outcome.seconds = time.monotonic() - started
            return outcome
        outcome = self._run(sql, timeout_seconds, max_rows, started)
        if outcome.status == "error" and "Could not decode to UTF-8" in outcome.message:
            self.connection.text_factory = _lenient_text  # as Spider's evaluation does: undecodable bytes replaced
            try:
                outcome = self._run(sql, timeout_seconds, max_rows, started)
            finally:
                self.connection.text_factory = str
        outcome.seconds = time.monotonic() - started
        return outcome

    def _not_a_query(self, sql: str, timeout_seconds: float, started: float) -> Outcome:
        """A statement that does not start as a query is never run. It is only compiled (as
        ``EXPLAIN``, which lists the program without running it, under the authorizer) so that
        a syntax error is reported with the database's own message."""
        outcome = self._run("EXPLAIN " + sql, timeout_seconds, 1_000_000, started)
        if outcome.status in ("error", "refused", "timeout"):
            return outcome
        first = sql.strip().split(None, 1)[0][:30] if sql.strip() else "nothing"
        return Outcome("refused", message=f"refused by the read-only policy: only queries are run, this statement starts with {first!r}")

    def _run(self, sql: str, timeout_seconds: float, max_rows: int, started: float) -> Outcome:
        self.refusals.refused.clear()
        self.deadline = started + timeout_seconds
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            rows = cursor.fetchmany(max_rows + 1)
            columns = [d[0] for d in cursor.description or ()]
        except MemoryError:
            return Outcome("memory", message="memory limit exceeded (the query needed more memory than the worker's bound)")
        except sqlite3.Error as error:
            if self.refusals.refused:
                return Outcome("refused", message=self.refusals.reason())
            text = str(error)
            if text == "interrupted" and time.monotonic() > self.deadline:
                return Outcome("timeout", message=f"time limit exceeded ({timeout_seconds:g} s)")
            if text == "string or blob too big":
                text += " (a value is longer than the per-value bound)"
            return Outcome("error", message=f"{type(error).__name__}: {text}")
        finally:
            self.deadline = float("inf")
            try:
                cursor.close()
            except sqlite3.Error:
                pass
        if len(rows) > max_rows:
            return Outcome("row_cap", columns=columns, message=f"more than {max_rows} rows (the row cap)")
        return Outcome("ok", rows=rows, columns=columns)
