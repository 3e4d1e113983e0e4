"""Are two query results the same answer? Result comparison as Spider's and BIRD's evaluations do it.

Spider's test-suite evaluation (taoyds/test-suite-sql-eval, ``exec_eval.result_eq``) compares
the two results as bags of rows, or as lists when the gold query contains ``order by``; it
accepts a permutation of the columns (``SELECT a, b`` = ``SELECT b, a``); two empty results
are equal whatever their columns. BIRD's evaluation (``evaluation.py``) compares
``set(predicted) == set(gold)``: row order and duplicates ignored, column order kept.

:func:`compare` does either through three settings, defaults = Spider's:

- ``order``: ``auto`` (lists when the gold query has ``ORDER BY`` anywhere, Spider's rule),
  ``ignore`` (always unordered), ``strict`` (always lists);
- ``duplicates``: ``multiset`` (Spider) or ``set`` (BIRD);
- ``column_order``: ``any`` (Spider; an exact search over the permutations whose columns hold
  the same values) or ``strict`` (BIRD).

Values are normalised before comparing: integral floats equal integers (``3.0`` = ``3``,
as Python and both evaluations already have it) and other floats are rounded to
``float_digits`` significant digits (default 10; ``None`` compares floats exactly, as both
official scripts do), so ``AVG`` computed in another order still matches.

    >>> compare([(1, "a"), (2, "b")], [("b", 2), ("a", 1.0)], gold_sql="SELECT id, name FROM t").equal
    True
    >>> compare([(1,), (2,)], [(2,), (1,)], gold_sql="SELECT id FROM t ORDER BY id").reason
    'rows in a different order (the gold query has ORDER BY): row 1 is (2,), expected (1,)'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from assay.text import shorten

OrderRule = Literal["auto", "ignore", "strict"]
DuplicatesRule = Literal["multiset", "set"]
ColumnRule = Literal["any", "strict"]

_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
MAX_PERMUTATIONS = 5000


@dataclass(frozen=True)
class Verdict:
    equal: bool
    reason: str  # words for the rationale
    ordered: bool = False
    permutation: tuple[int, ...] | None = None  # pred column j for gold column i, when not the identity


def gold_orders(gold_sql: str) -> bool:
    """Spider's rule: order matters when the gold query contains ``order by``."""
    return bool(_ORDER_BY.search(gold_sql))


def normalise_value(value: Any, float_digits: int | None) -> Any:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        if float_digits is not None and value == value:
            return float(f"{value:.{float_digits}g}")
    return value


def normalise_rows(rows: list[tuple[Any, ...]], float_digits: int | None) -> list[tuple[Any, ...]]:
    if not any(isinstance(v, float) for row in rows for v in row):
        return rows
    return [tuple(normalise_value(v, float_digits) for v in row) for row in rows]


def _permute(rows: list[tuple[Any, ...]], perm: tuple[int, ...]) -> list[tuple[Any, ...]]:
    return [tuple(row[j] for j in perm) for row in rows]


def _candidate_permutations(gold: list[tuple], pred: list[tuple], ordered: bool, set_rule: bool):
    """Column permutations (pred column for each gold column) under which each column holds
    the same values; yields at most MAX_PERMUTATIONS."""
    width = len(gold[0])

    def signature(rows: list[tuple], col: int) -> Any:
        values = [row[col] for row in rows]
        if ordered:
            return tuple(values)
        if set_rule:
            return frozenset(values)
        return frozenset(Counter(values).items())

    gold_sigs = [signature(gold, i) for i in range(width)]
    pred_sigs = [signature(pred, j) for j in range(width)]
    options = [[j for j in range(width) if pred_sigs[j] == gold_sigs[i]] for i in range(width)]
    if any(not o for o in options):
        return
    count = 0
    chosen: list[int] = []
    used: set[int] = set()

    def walk(i: int):
        nonlocal count
        if count >= MAX_PERMUTATIONS:
            return
        if i == width:
            count += 1
            yield tuple(chosen)
            return
        for j in options[i]:
            if j not in used:
                used.add(j)
                chosen.append(j)
                yield from walk(i + 1)
                chosen.pop()
                used.discard(j)

    yield from walk(0)


def _same(gold: list[tuple], pred: list[tuple], ordered: bool, set_rule: bool) -> bool:
    if ordered:
        if set_rule:  # lists without duplicates: compare the first occurrences in order
            return list(dict.fromkeys(gold)) == list(dict.fromkeys(pred))
        return gold == pred
    if set_rule:
        return set(gold) == set(pred)
    return len(gold) == len(pred) and Counter(gold) == Counter(pred)


def _difference(gold: list[tuple], pred: list[tuple], ordered: bool, set_rule: bool) -> str:
    """Words for why two same-width results differ."""
    g_keys, p_keys = (set(gold), set(pred)) if set_rule else (Counter(gold), Counter(pred))
    if not set_rule and len(gold) != len(pred) and set(gold) == set(pred):
        return f"the same rows with different multiplicities ({len(pred)} rows, expected {len(gold)})"
    missing = [row for row in gold if row not in p_keys] if set_rule else list((g_keys - p_keys).elements())  # type: ignore[operator]
    extra = [row for row in pred if row not in g_keys] if set_rule else list((p_keys - g_keys).elements())  # type: ignore[operator]
    if not missing and not extra and ordered:
        g_list = list(dict.fromkeys(gold)) if set_rule else gold
        p_list = list(dict.fromkeys(pred)) if set_rule else pred
        first = next(i for i, (a, b) in enumerate(zip(g_list, p_list)) if a != b)
        return f"rows in a different order (the gold query has ORDER BY): row {first + 1} is {shorten(repr(p_list[first]), 120)}, expected {shorten(repr(g_list[first]), 120)}"
    parts = [f"{len(pred)} rows, expected {len(gold)}"] if len(pred) != len(gold) else []
    if missing:
        parts.append(f"{len(missing)} expected row(s) missing, e.g. {shorten(repr(missing[0]), 120)}")
    if extra:
        parts.append(f"{len(extra)} unexpected row(s), e.g. {shorten(repr(extra[0]), 120)}")
    return "; ".join(parts)


def compare(
    gold: list[tuple[Any, ...]],
    pred: list[tuple[Any, ...]],
    gold_sql: str = "",
    order: OrderRule = "auto",
    duplicates: DuplicatesRule = "multiset",
    column_order: ColumnRule = "any",
    float_digits: int | None = 10,
) -> Verdict:
    """Whether ``pred`` (the predicted query's rows) is the same answer as ``gold``."""
    ordered = order == "strict" or (order == "auto" and gold_orders(gold_sql))
    set_rule = duplicates == "set"
    if not gold and not pred:
        return Verdict(True, "both results are empty", ordered)
    if not gold or not pred:
        return Verdict(False, "the predicted query returned no rows" if not pred else f"the predicted query returned {len(pred)} rows, expected none", ordered)
    g_width, p_width = len(gold[0]), len(pred[0])
    if g_width != p_width:
        return Verdict(False, f"{p_width} columns, expected {g_width}", ordered)
    gold, pred = normalise_rows(gold, float_digits), normalise_rows(pred, float_digits)
    how = "lists (the gold query has ORDER BY)" if ordered and order == "auto" else "lists" if ordered else "sets" if set_rule else "multisets"
    if _same(gold, pred, ordered, set_rule):
        return Verdict(True, f"equal as {how} ({len(pred)} rows x {p_width} columns)", ordered)
    if column_order == "any" and g_width > 1:
        for perm in _candidate_permutations(gold, pred, ordered, set_rule):
            if perm != tuple(range(g_width)) and _same(gold, _permute(pred, perm), ordered, set_rule):
                return Verdict(True, f"equal as {how} after reordering the columns ({len(pred)} rows x {p_width} columns)", ordered, perm)
    return Verdict(False, _difference(gold, pred, ordered, set_rule), ordered)
