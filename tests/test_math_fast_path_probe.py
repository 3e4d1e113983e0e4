"""The fast-path invariant, probed: over every pair of a grid of number formats, the fast path
says "wrong" only where math-verify (the same reward with ``fast_path: false``, i.e.
math-verify on the same reference and response) could not say "right".

Formats: thousands separators (``1,234``, ``1{,}234``, ``1\\,234``, ``1\\!234``, ``1 234``),
decimal commas (``1234,5``, ``0,111``, ``1,22``, ``1.234,5``), percent, currency, signs
(``+``, ``-``, the Unicode minus), leading dots, scientific notation, ``\\text{}``-style
wrappers, trailing dots, leading zeros, fractions.
"""

from __future__ import annotations

import itertools

import pytest

from assay.rewards.math.fast_path import fast_compare
from assay.rewards.math.reward import MathReward
from assay.types import Sample

pytestmark = pytest.mark.slow

FORMATS = [
    "1234", "1,234", "1{,}234", "1\\,234", "1\\!234", "1 234", "1234.0", "1,234.00", "1234,5", "1234.5", "1.234,5",
    "0,111", "0.111", ".111", "111", "0,5", "0.5", ".5", "-.5", "-0.5", "+0.5", "\u22120.5", "1,22", "1.22", "122",
    "50\\%", "50%", "0.5\\%", "$18", "\\$18", "\\$18.00", "18", "-18", "+18", "1.8e1", "1.8\\times10^{1}", "10^{3}",
    "1e3", "1000", "1,000", "1{,}000", "\\text{18}", "\\text{1,234}", "\\mathrm{0.5}", "\\textbf{50\\%}", "18.", "018",
    "1,2345", "12,34,567", "1234567", "1,234,567", "0", "-0", "00", "1/2", "\\frac{1}{2}", "2.50", "2.5", "25",
]
SHAPES = ["so \\boxed{{{}}}", "#### {}"]


def test_decimal_commas_never_read_as_thousands():
    assert fast_compare("0,111", "111") is None and fast_compare("0,111", "0.111") is None
    assert fast_compare("1,22", "122") is None


def test_fast_path_never_says_wrong_where_math_verify_says_right():
    pairs = [(g, shape.format(a)) for g, a in itertools.product(FORMATS, FORMATS) for shape in SHAPES]
    fast, slow = MathReward(workers=2), MathReward(workers=2, fast_path=False)
    try:
        samples = [Sample(response=response, reference=gold) for gold, response in pairs]
        quick = fast.score(samples)
        decided = [i for i, j in enumerate(quick) if j.ok and j.details.get("path") == "fast"]
        said_wrong = [i for i in decided if quick[i].score == 0.0]
        checked = slow.score([samples[i] for i in said_wrong])
    finally:
        fast.close()
        slow.close()
    assert len(pairs) == 2 * len(FORMATS) ** 2 and len(said_wrong) > 1000
    broken = [f"{pairs[i]}: fast path 0.0, math-verify {j.score} ({j.rationale})" for i, j in zip(said_wrong, checked) if j.score == 1.0]
    assert not broken, "\n".join(broken[:20])
