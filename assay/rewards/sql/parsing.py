"""What a query refers to and what it is made of: schema items with sqlglot, tokens and n-grams.

- :func:`parse_query` parses one statement with sqlglot's ``sqlite`` dialect (sqlglot is
  imported here, on first use, never by ``import assay``);
- :func:`schema_items` lists the tables and columns a parsed query references, as
  ``table:<name>`` and ``column:<table>.<name>`` (lower case). A column's table comes from its
  qualifier through the query's aliases, else, when the database schema is known, from the
  one table of the query that has such a column, else from the query's only table; a column
  that stays ambiguous is kept as ``column:<name>``. CTE and subquery names are not tables;
  output aliases (``AS n``) are not columns. Both queries go through the same rules, so a
  rule's blind spots cancel in the Jaccard;
- :func:`sql_tokens` and :func:`ngrams`: a plain tokenizer (identifiers and keywords folded
  to lower case, quoted identifiers unquoted, string literals kept as written) and the set of
  its n-grams. No sqlglot needed.

    >>> sql_tokens("SELECT t.Name FROM [Track] AS t WHERE t.Milliseconds > 300000")
    ['select', 't', '.', 'name', 'from', 'track', 'as', 't', 'where', 't', '.', 'milliseconds', '>', '300000']
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<string>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`)
    | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<op><=|>=|<>|!=|==|\|\||<<|>>|[-+*/%<>=(),.;~&|])
    """,
    re.VERBOSE,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def sql_tokens(sql: str) -> list[str]:
    """The query's tokens (comments dropped; anything unrecognised skipped)."""
    out: list[str] = []
    for match in _TOKEN.finditer(_COMMENT.sub(" ", sql)):
        kind, text = match.lastgroup, match.group()
        if kind == "quoted":
            out.append(text[1:-1].lower())
        elif kind in ("word",):
            out.append(text.lower())
        elif kind == "op" and text == ";":
            continue
        else:
            out.append(text)
    return out


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    """The set of n-grams; a query shorter than n gives its whole token tuple."""
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: set[Any], b: set[Any]) -> float:
    """|a ∩ b| / |a ∪ b|; two empty sets are identical (1.0)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class QueryParseError(ValueError):
    """sqlglot could not read the text as one SQL statement."""


def parse_query(sql: str) -> Any:
    """One query (SELECT, WITH ... SELECT, a set operation, VALUES) parsed by sqlglot's sqlite
    dialect; QueryParseError otherwise (sqlglot alone reads ``SELEC x`` as a column alias, so
    the text must also start as a query)."""
    from assay.rewards.sql.guard import statement_kind

    if statement_kind(sql) != "query" or sql.lstrip().upper().startswith("EXPLAIN"):
        raise QueryParseError("not a query: it does not start with SELECT, WITH or VALUES")
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except SqlglotError as error:
        raise QueryParseError(" ".join(_ANSI.sub("", str(error)).split())[:300]) from error
    if len(statements) != 1:
        raise QueryParseError(f"expected one statement, found {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, (exp.Query, exp.Values)):
        raise QueryParseError(f"not a query: sqlglot read it as {type(tree).__name__}")
    return tree


def database_schema(path: str) -> dict[str, set[str]]:
    """Table name -> column names (lower case) of a database file, read read-only."""
    from assay.rewards.sql.execution import database_uri

    connection = sqlite3.connect(database_uri(path), uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        schema: dict[str, set[str]] = {}
        for table in tables:
            quoted = table.replace('"', '""')
            schema[table.lower()] = {row[1].lower() for row in connection.execute(f'PRAGMA table_info("{quoted}")')}
        return schema
    finally:
        connection.close()


def schema_items(tree: Any, schema: dict[str, set[str]] | None = None) -> set[str]:
    """The tables and columns a parsed query references (see the module docstring)."""
    from sqlglot import exp

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    derived = {sub.alias.lower() for sub in tree.find_all(exp.Subquery) if sub.alias}
    aliases: dict[str, str] = {}
    tables: set[str] = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if not name or name in ctes:
            continue
        tables.add(name)
        aliases[table.alias_or_name.lower()] = name
        aliases.setdefault(name, name)
    output_aliases = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    items = {f"table:{t}" for t in tables}
    for column in tree.find_all(exp.Column):
        name = column.name.lower()
        if not name or isinstance(column.this, exp.Star):
            continue
        qualifier = column.table.lower() if column.table else ""
        if qualifier:
            if qualifier in aliases:
                items.add(f"column:{aliases[qualifier]}.{name}")
            elif qualifier in ctes or qualifier in derived:
                items.add(f"column:{name}")
            else:
                items.add(f"column:{qualifier}.{name}")
            continue
        if schema is not None:
            owners = [t for t in tables if name in schema.get(t, ())]
            if len(owners) == 1:
                items.add(f"column:{owners[0]}.{name}")
                continue
            if not owners and name in output_aliases:
                continue
        elif name in output_aliases:
            continue
        if len(tables) == 1 and (schema is None or name in schema.get(next(iter(tables)), ())):
            items.add(f"column:{next(iter(tables))}.{name}")
        else:
            items.add(f"column:{name}")
    for join in tree.find_all(exp.Join):  # JOIN ... USING (col): the column of every joined table that has it
        for ident in join.args.get("using") or ():
            name = ident.name.lower() if hasattr(ident, "name") else str(ident).lower()
            owners = [t for t in tables if schema is not None and name in schema.get(t, ())]
            if owners:
                items.update(f"column:{t}.{name}" for t in owners)
            else:
                items.add(f"column:{name}")
    return items
