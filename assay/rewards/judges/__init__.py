"""LLM judges: the one call path they share (``base``), the pointwise, pairwise, listwise, rubric
and tournament judges, the verdict parsers, the prompt files (``prompts/``) and the wrappers
that combine judges (Swap, Vote, Ensemble). They reach a model only through ``assay.backends``.
"""
