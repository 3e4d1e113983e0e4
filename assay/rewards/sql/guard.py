"""What a query may do on the database: the SQLite authorizer policy of the ``sql`` rewards.

SQLite asks an authorizer callback about every action a statement will take, while it
compiles the statement. This one allows only reading: ``SELECT``, reading a column, calling a
function, a recursive CTE, and the PRAGMAs that only describe the schema. It refuses
everything else, in particular

- ``ATTACH`` / ``DETACH`` (another file, also the first step of ``VACUUM INTO 'file'``);
- every write: ``INSERT``, ``UPDATE``, ``DELETE``, ``CREATE`` / ``DROP`` / ``ALTER`` of
  tables, indexes, views, triggers and virtual tables (temporary ones too), ``REINDEX``,
  ``ANALYZE``, transactions and savepoints;
- every PRAGMA outside :data:`READ_ONLY_PRAGMAS` (``journal_mode``, ``writable_schema``,
  ``query_only``, ``temp_store_directory``, ... with or without a value);
- table-valued functions (``json_each``, ``pragma_table_info``, ...): SQLite sets those
  virtual tables up by asking to update ``sqlite_master``, refused like any write;
- the functions in :data:`DENIED_FUNCTIONS`: ``load_extension`` (extension loading is also
  off at the connection level) and ``fts3_tokenizer`` (a known way to reach native pointers).

The authorizer is one of three layers: the database is opened read-only (``mode=ro``), and
:func:`statement_kind` refuses text that does not start as a query before SQLite sees it.

    >>> statement_kind("  -- top tracks\\n WITH t AS (SELECT 1) SELECT * FROM t")
    'query'
    >>> statement_kind("DROP TABLE Track")
    'other'
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

READ_ONLY_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "collation_list", "function_list", "pragma_list",
})
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})

_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}

_AUTHORIZER_ACTIONS = (
    "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX", "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER",
    "CREATE_TEMP_VIEW", "CREATE_TRIGGER", "CREATE_VIEW", "DELETE", "DROP_INDEX", "DROP_TABLE",
    "DROP_TEMP_INDEX", "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW", "DROP_TRIGGER",
    "DROP_VIEW", "INSERT", "PRAGMA", "READ", "SELECT", "TRANSACTION", "UPDATE", "ATTACH", "DETACH",
    "ALTER_TABLE", "REINDEX", "ANALYZE", "CREATE_VTABLE", "DROP_VTABLE", "FUNCTION", "SAVEPOINT", "RECURSIVE",
)
_ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{name}"): name.lower().replace("_", " ") for name in _AUTHORIZER_ACTIONS if hasattr(sqlite3, f"SQLITE_{name}")}


class Refusals:
    """The authorizer callback, remembering what it refused (for the rationale)."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def __call__(self, action: int, arg1: Any, arg2: Any, database: Any, trigger: Any) -> int:
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            name = str(arg2 or "").lower()
            if name in DENIED_FUNCTIONS:
                self.refused.append(f"the function {name}()")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = str(arg1 or "").lower()
            if name in READ_ONLY_PRAGMAS:
                return sqlite3.SQLITE_OK
            self.refused.append(f"PRAGMA {name}" + (f" = {arg2}" if arg2 is not None else ""))
            return sqlite3.SQLITE_DENY
        what = _ACTION_NAMES.get(action, f"action {action}")
        target = next((str(a) for a in (arg1, arg2) if a), "")
        if len(self.refused) < 50:  # enough to name what was refused
            self.refused.append(f"{what} {target}".strip())
        return sqlite3.SQLITE_DENY

    def reason(self) -> str:
        if not self.refused:
            return ""
        shown = list(dict.fromkeys(self.refused))
        more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
        return "refused by the read-only policy: " + ", ".join(shown[:3]) + more


_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)
_FIRST_WORD = re.compile(r"[A-Za-z]+")


def statement_kind(sql: str) -> str:
    """``query`` when the text starts (after comments and opening parentheses) with
    ``SELECT``, ``WITH``, ``VALUES`` or ``EXPLAIN``; ``pragma`` for ``PRAGMA``; else ``other``."""
    rest = sql[_LEADING_NOISE.match(sql).end():]  # type: ignore[union-attr]
    word = _FIRST_WORD.match(rest)
    first = word.group(0).upper() if word else ""
    if first in {"SELECT", "WITH", "VALUES", "EXPLAIN"}:
        return "query"
    if first == "PRAGMA":
        return "pragma"
    return "other"
