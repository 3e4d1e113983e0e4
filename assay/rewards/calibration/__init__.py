"""Confidence and calibration: a response's stated confidence, rewards that score it against
correctness, and calibrators that map any reward's or judge's scores to probabilities.

- ``confidence``: read a stated confidence (``<confidence>0.8</confidence>``, "Confidence: 80%",
  "I am 70% sure") in linear time; absent or unreadable is a ``parse`` failure, never 0.
- ``stated``: the stated confidence itself as a reward (``type: stated_confidence``).
- ``scoring_rules``: the Brier and logarithmic scores as pure functions.
- ``reward``: ``calibration_brier`` (RLCR's correctness minus Brier) and ``calibration_log``,
  with the correctness term taken from any other reward (a nested entry).
- ``calibrators``: temperature, Platt and isotonic (pool-adjacent-violators) fits, numpy only.
- ``fit_file``: a fit saved as a small JSON file with its data's provenance.
- ``calibrated``: a reward or comparator with a saved fit applied (``calibration: fit.json``).
"""
