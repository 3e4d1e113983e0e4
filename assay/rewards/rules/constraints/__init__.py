"""Instruction-following constraints (IFEval / IFBench style): one checker family per file
(``length``, ``keywords``, ``language``, ``case``, ``format``, ``content``, ``startend``),
the explicit registry of instruction ids (``registry``) and the ``constraints`` reward
(``reward``). Language detection needs langdetect and sentence counting pysbd
(``pip install 'assay[ifeval]'``); both are imported on first use.
"""
