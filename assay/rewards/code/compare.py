"""Compare a program's output with the expected output of a stdin/stdout test.

Modes (``compare`` option): ``tokens`` (default: equal as whitespace-separated tokens, the
usual judge rule of APPS, CodeContests and TACO), ``lines`` (equal line by line after
stripping trailing spaces and trailing empty lines), ``exact``. ``float_tolerance``: tokens
that both read as numbers match within that absolute or relative difference.

    >>> outputs_match("1 2\\n3\\n", "1 2 3", "tokens")
    True
    >>> outputs_match("0.3333333", "0.333333333", "tokens", float_tolerance=1e-6)
    True
    >>> outputs_match("YES", "yes", "tokens")
    False
"""

from __future__ import annotations

import math


def _close(a: str, b: str, tolerance: float) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if math.isnan(x) or math.isnan(y):
        return False
    return math.isclose(x, y, rel_tol=tolerance, abs_tol=tolerance)


def outputs_match(actual: str, expected: str, mode: str = "tokens", float_tolerance: float | None = None, case_sensitive: bool = True) -> bool:
    if not case_sensitive:
        actual, expected = actual.lower(), expected.lower()
    if mode == "exact":
        return actual == expected
    if mode == "lines":
        a = [line.rstrip() for line in actual.rstrip().splitlines()]
        e = [line.rstrip() for line in expected.rstrip().splitlines()]
        if float_tolerance is None or len(a) != len(e):
            return a == e
        return all(outputs_match(x, y, "tokens", float_tolerance) for x, y in zip(a, e))
    a, e = actual.split(), expected.split()
    if len(a) != len(e):
        return False
    if float_tolerance is None:
        return a == e
    return all(x == y or _close(x, y, float_tolerance) for x, y in zip(a, e))


def shown(value: str, limit: int = 80) -> str:
    """A program's input or output for a rationale: quoted as Python would (newlines as \\n),
    cut to about ``limit`` characters."""
    if len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    return repr(value)
