"""The ``math`` reward's worker: math-verify's ``parse`` and ``verify``, run inside a process of
``assay.sandbox.pool`` (named there as ``"assay.rewards.math.worker:make_checker"``).

Why a separate module: this is the only code that imports math-verify and sympy, and it runs
only in worker processes, under the pool's per-item deadline. What it does not do: extraction,
the fast path or the verdict's wording (``reward.py``).

A payload is ``(gold, answer, method, full_text)``: the gold answer text, the answer the
extractor found (None when none), how it was found, and the response text to read whole when
the answer cannot be parsed. The result is one of ``("ok", equal, gold_parsed, parsed, used)``,
``("no_answer", gold_parsed)`` or ``("bad_gold",)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from assay.text import shorten

MATH_WORKER = "assay.rewards.math.worker:make_checker"


def gold_inputs(gold: str) -> list[str]:
    """The texts math-verify is given for a gold answer, in order: a bare answer inside
    ``$...$`` first (without it math-verify reads only part of ``4a-2`` or ``7\\pi``), then as
    written."""
    if "$" not in gold and "\\boxed" not in gold and "\\(" not in gold and "\\[" not in gold:
        return [f"${gold}$", gold]
    return [gold]


def make_checker(precision: int = 6, strict: bool = True, targets: list[str] | None = None, set_relation: bool = False) -> Callable[[Any], tuple[Any, ...]]:
    """Import math-verify, warm it up, and return the per-item check (runs in the worker).

    ``precision`` is math-verify's ``float_rounding``, ``strict`` its ``strict``, ``targets``
    which extractions it runs (``latex``, ``expr``), ``set_relation`` its
    ``allow_set_relation_comp``."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    chosen = targets or ["latex", "expr"]
    configs: list[Any] = []
    if "latex" in chosen:
        configs.append(LatexExtractionConfig())
    if "expr" in chosen:
        configs.append(ExprExtractionConfig())

    def read(text: str) -> list[Any]:
        return parse(text, extraction_config=configs, parsing_timeout=None)

    def same(gold: list[Any], answer: list[Any]) -> bool:
        return bool(verify(gold, answer, float_rounding=precision, strict=strict, allow_set_relation_comp=set_relation, timeout_seconds=None))

    # the lazy imports inside sympy and the LaTeX parser happen now, not inside the first items' deadlines
    for gold, answer in (("$\\frac{1}{2}$", "\\boxed{0.5}"), ("$3$", "x = 3"), ("$\\sqrt{2}$", "2^{1/2} + 0*x"), ("$(1,2]$", "\\boxed{(1, 2]}")):
        same(read(gold), read(answer))

    gold_cache: dict[str, list[Any]] = {}

    def parse_gold(gold: str) -> list[Any]:
        cached = gold_cache.get(gold)
        if cached is not None:
            return cached
        parsed: list[Any] = []
        for text in gold_inputs(gold):
            parsed = read(text)
            if parsed:
                break
        if len(gold_cache) > 4096:
            gold_cache.clear()
        gold_cache[gold] = parsed
        return parsed

    def check(payload: Any) -> tuple[Any, ...]:
        gold, answer, method, full_text = payload
        gold_parsed = parse_gold(gold)
        if all(isinstance(value, str) for value in gold_parsed):  # nothing, or only the raw text back
            return ("bad_gold",)
        parsed: list[Any] = []
        used = method
        if answer is not None:
            parsed = read(answer)
        if not parsed and full_text is not None:
            parsed = read(full_text)
            used = "math_verify"
        if not parsed:
            return ("no_answer", shorten(gold_parsed, 200))
        return ("ok", same(gold_parsed, parsed), shorten(gold_parsed, 200), shorten(parsed, 200), used)

    return check
