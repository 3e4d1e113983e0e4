"""The tools a judge may call before its verdict (``tools:`` in a judge's config).

One file per tool: :mod:`.python` (a program in assay's sandbox), :mod:`.calculator` (exact
arithmetic and algebra with sympy, no ``eval``), :mod:`.search` (BM25 over a local document
collection, bm25s), :mod:`.sql` (read-only queries over a SQLite database, with the ``sql``
reward's guarded executor). :mod:`.base` is what they share (the :class:`~.base.Tool`
interface, :class:`~.base.ToolError`, the name table and :func:`~.base.build_tools`) and
:mod:`.workers` the killable worker processes of the calculator and sql tools.

Not here: the loop that lets a judge call them (``assay.rewards.judges.tooluse``).
"""
