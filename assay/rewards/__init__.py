"""Reward families, a folder each: ``rules/`` (verifiable checks), ``math/``, ``models/`` (local
models), ``judges/`` (LLM judges), ``process/`` (steps), plus ``function.py`` (your own
function) and ``remote.py`` (an assay server). Types are registered in ``assay/registry.py``.
"""
