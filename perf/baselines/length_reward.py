"""Cheap baselines for `assay bench`: rewards any benchmark should beat.

``length``: the response's length in characters (longer is better): the length bias every
preference benchmark tries to expose. ``longest_step_wrong``: a process "reward" that
judges the longest step of a solution to be its first error when it is more than twice the
median step length, else finds no error (for ProcessBench/PRMBench).
"""

from assay.types import Judgment


def length(response):
    return float(len(response)), f"{len(response)} characters"


def longest_step_wrong(response, steps=None):
    steps = steps or [response]
    lengths = sorted(len(s) for s in steps)
    median = lengths[len(lengths) // 2]
    longest = max(range(len(steps)), key=lambda i: len(steps[i]))
    if len(steps[longest]) <= 2 * median:
        return Judgment(score=1.0, rationale=f"no step is over twice the median step length ({median} characters): no error found", details={"step_scores": [1.0] * len(steps)})
    scores = [0.0 if i == longest else 1.0 for i in range(len(steps))]
    why = f"step {longest + 1} of {len(steps)} ({len(steps[longest])} characters) is over twice the median ({median}): judged the first error"
    return Judgment(score=0.0, rationale=why, details={"step_scores": scores})
