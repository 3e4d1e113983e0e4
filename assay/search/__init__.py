"""Search at test time guided by step scores: best-of-N, PRM-weighted vote, step-level beam search.

- :mod:`assay.search.candidates`: a candidate solution with its steps, step scores, aggregate
  and final answer; scoring candidates with any assay reward that gives ``step_scores``
  (``prm``, ``step_arithmetic``, ``step_judge``, ``process``) or only a score (an outcome RM).
- :mod:`assay.search.select`: best-of-N and (PRM-)weighted majority vote over candidates.
- :mod:`assay.search.beam`: step-level beam search with a generator behind any
  OpenAI-compatible server, the reward scoring the beams.

The ``assay search`` command (``assay/cli/search.py``) runs them on JSONL files. Not here:
training with step rewards (``assay.integrations``), or the PRMs themselves
(``assay.rewards.process``).
"""
