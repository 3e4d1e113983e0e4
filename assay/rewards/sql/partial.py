"""Reasoning-SQL's partial rewards, each its own type: syntax, schema linking, n-gram similarity.

Execution accuracy (``sql``) is sparse: a query that is almost right earns the same 0 as
noise. Reasoning-SQL (Pourreza et al., 2025) adds partial rewards to weigh beside it:

- ``sql_syntax``: 1.0 when the predicted query is a valid query. ``check: explain`` compiles it
  on the sample's database with ``EXPLAIN`` (parsed and name-resolved by SQLite, not run;
  read-only and under the authorizer of :mod:`.guard`), ``check: sqlglot`` parses it with
  sqlglot's sqlite dialect (no database needed, looser: names are not checked), ``auto``
  (default) uses ``explain`` when the sample has a database, else ``sqlglot``;
- ``sql_schema_linking``: the Jaccard similarity of the tables and columns referenced by the
  predicted and the gold query (:func:`assay.rewards.sql.parsing.schema_items`, sqlglot;
  the database schema resolves unqualified columns when a database is given);
- ``sql_ngram``: the Jaccard similarity of the token n-grams (``n: 2`` by default) of the
  predicted and the gold query.

A response with no query, or a predicted query that does not parse, scores 0 with the
reason; a missing gold query (or a gold query that does not parse) is an ``input`` failure.
They combine with ``sql`` through the usual ``weight``, ``only_if`` and ``gates`` keys
(``examples/sql_reasoning.yaml``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from typing import Any, Literal

from pydantic import Field

from assay.reward import Reward
from assay.rewards.sql.guard import statement_kind
from assay.rewards.sql.inputs import SqlInputOptions, extract_query, gold_query, named_database
from assay.rewards.sql.parsing import QueryParseError, database_schema, jaccard, ngrams, parse_query, schema_items, sql_tokens
from assay.types import Judgment, Sample

__all__ = ["SqlSyntax", "SqlSchemaLinking", "SqlNgram"]


def _shown(items: set[str], limit: int = 6) -> str:
    ordered = sorted(items)
    text = ", ".join(ordered[:limit])
    return text + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "") if ordered else "none"


class SqlSyntaxOptions(SqlInputOptions):
    check: Literal["auto", "explain", "sqlglot"] = Field("auto", description="explain: compile on the database; sqlglot: parse only; auto: explain when there is a database")
    timeout_seconds: float = Field(2.0, gt=0, le=60, description="time limit for compiling the query")


class SqlSyntax(Reward):
    """1.0 when the predicted query is a valid query (compiles on the database, or parses)."""

    type_name = "sql_syntax"
    Options = SqlSyntaxOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._databases: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def _database(self, path: str) -> Any:
        from assay.rewards.sql.execution import Database

        info = os.stat(path)
        key = (path, info.st_mtime_ns, info.st_size)
        found = self._databases.get(key)
        if found is None:
            found = self._databases[key] = Database(path)
            if len(self._databases) > 16:
                self._databases.popitem(last=False)[1].close()
        return found

    def score_one(self, sample: Sample) -> Judgment:
        extracted = extract_query(sample.response_text, self.options.extract, self.options.tag)
        if extracted.query is None:
            return Judgment(0.0, f"no query found: {extracted.how}", details={"query": None})
        query = extracted.query
        check = self.options.check
        path = None
        if check in ("auto", "explain"):
            path, failure = named_database(sample, self.options)
            if failure is not None:
                return failure
            if path is None and check == "explain":
                return Judgment.fail("input", "check: explain needs a database: the sample names none and the reward has no 'database' option")
            if path is None:
                check = "sqlglot"
        details = {"query": query, "check": check}
        if check == "sqlglot":
            try:
                parse_query(query)
            except QueryParseError as error:
                return Judgment(0.0, f"the query from {extracted.how} does not parse (sqlglot, sqlite dialect): {error}", details=details)
            return Judgment(1.0, f"the query from {extracted.how} parses (sqlglot, sqlite dialect)", details=details)
        # a query is compiled as EXPLAIN (listed, not run); any other statement is never run
        # either: the executor only compiles it, for the database's error or the policy's refusal
        text = "EXPLAIN " + query if statement_kind(query) == "query" and not query.lstrip().upper().startswith("EXPLAIN") else query
        name = os.path.basename(path)  # type: ignore[arg-type]
        try:
            with self._lock:
                outcome = self._database(path).run(text, self.options.timeout_seconds, 10_000_000)  # type: ignore[arg-type]
        except (OSError, sqlite3.Error) as error:  # the database, not the query: never a 0
            return Judgment.fail("input", f"the database {name} could not be opened: {error}")
        if outcome.status == "error" and any(m in outcome.message for m in _NOT_A_DATABASE):
            return Judgment.fail("input", f"{name} is not a usable SQLite database: {outcome.message}")
        if outcome.ok:
            return Judgment(1.0, f"the query from {extracted.how} compiles on {name} (EXPLAIN)", details=details)
        return Judgment(0.0, f"the query from {extracted.how} does not compile on {name}: {outcome.message}", details={**details, "outcome": outcome.status})


_NOT_A_DATABASE = ("file is not a database", "database disk image is malformed")


class SqlSchemaLinkingOptions(SqlInputOptions):
    use_schema: bool = Field(True, description="read the database's schema (when one is given) to resolve unqualified columns")


class SqlSchemaLinking(Reward):
    """Jaccard of the tables and columns referenced by the predicted and the gold query."""

    type_name = "sql_schema_linking"
    Options = SqlSchemaLinkingOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._schemas: dict[tuple, dict[str, set[str]]] = {}
        self._gold_items: dict[tuple, set[str]] = {}

    def _schema(self, path: str | None) -> dict[str, set[str]] | None:
        if path is None or not self.options.use_schema:
            return None
        info = os.stat(path)
        key = (path, info.st_mtime_ns, info.st_size)
        if key not in self._schemas:
            if len(self._schemas) > 64:
                self._schemas.clear()
            self._schemas[key] = database_schema(path)
        return self._schemas[key]

    def score_one(self, sample: Sample) -> Judgment:
        gold, failure = gold_query(sample, self.options)
        if failure is not None:
            return failure
        path, failure = named_database(sample, self.options)
        if failure is not None:
            return failure
        schema = self._schema(path)
        key = (gold, path)
        gold_items = self._gold_items.get(key)
        if gold_items is None:
            try:
                gold_items = schema_items(parse_query(gold), schema)  # type: ignore[arg-type]
            except QueryParseError as error:
                return Judgment.fail("input", f"the gold query does not parse (sqlglot, sqlite dialect): {error}", raw=gold)
            if len(self._gold_items) > 65536:
                self._gold_items.clear()
            self._gold_items[key] = gold_items
        extracted = extract_query(sample.response_text, self.options.extract, self.options.tag)
        if extracted.query is None:
            return Judgment(0.0, f"no query found: {extracted.how}", details={"query": None, "gold_items": sorted(gold_items)})
        try:
            items = schema_items(parse_query(extracted.query), schema)
        except QueryParseError as error:
            return Judgment(0.0, f"the query from {extracted.how} does not parse (sqlglot, sqlite dialect): {error}", details={"query": extracted.query})
        score = jaccard(items, gold_items)
        details = {"query": extracted.query, "items": sorted(items), "gold_items": sorted(gold_items), "schema": schema is not None}
        rationale = (
            f"schema items of the query from {extracted.how}: Jaccard {score:.2f} with the gold query's "
            f"({len(items & gold_items)} shared of {len(items | gold_items)}); missing: {_shown(gold_items - items)}; extra: {_shown(items - gold_items)}"
        )
        return Judgment(score, rationale, details=details)


class SqlNgramOptions(SqlInputOptions):
    n: int = Field(2, ge=1, le=8, description="n-gram length")


class SqlNgram(Reward):
    """Jaccard of the token n-grams of the predicted and the gold query."""

    type_name = "sql_ngram"
    Options = SqlNgramOptions

    def score_one(self, sample: Sample) -> Judgment:
        gold, failure = gold_query(sample, self.options)
        if failure is not None:
            return failure
        extracted = extract_query(sample.response_text, self.options.extract, self.options.tag)
        if extracted.query is None:
            return Judgment(0.0, f"no query found: {extracted.how}", details={"query": None})
        n = self.options.n
        mine, theirs = ngrams(sql_tokens(extracted.query), n), ngrams(sql_tokens(gold), n)  # type: ignore[arg-type]
        score = jaccard(mine, theirs)
        return Judgment(
            score,
            f"{n}-grams of the query from {extracted.how}: Jaccard {score:.2f} with the gold query's ({len(mine & theirs)} shared of {len(mine | theirs)})",
            details={"query": extracted.query, "n": n},
        )
