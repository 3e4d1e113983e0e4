"""Reward families, a folder each: ``rules/`` (verifiable checks on the text: matching, format,
length, JSON, tool calls, IFEval constraints), ``math/`` (math-verify behind a fast path),
``code/`` (programs run against tests in the sandbox), ``sql/`` (execution accuracy on SQLite),
``models/`` (local models), ``judges/`` (LLM judges), ``process/`` (steps: PRMs, the arithmetic
checker, any reward per step), plus ``function.py`` (your own function) and ``remote.py`` (an
assay server). Types are registered in ``assay/registry.py``.
"""
