"""Hostile output against the one answer extractor: every shape that used to be super-linear
(unclosed ``\\boxed{``, a marker followed by a long run of spaces, tens of thousands of
newlines, unclosed tags, long chains of boxes), at 1 MB, read within a stated bound.

The bound (``BOUND_SECONDS`` per call at 1 MB) is documented in docs/rewards/math.md; the
scanners are linear, so the real cost on this 2-core machine is 0.1-1 s. A quadratic pattern
would take minutes here.
"""

from __future__ import annotations

import time

import pytest

from assay.rewards.math.reward import MathReward
from assay.rewards.rules import extraction
from assay.rewards.rules.match import ExactMatch, TokenF1
from assay.types import Sample

MB = 1_000_000
BOUND_SECONDS = 3.0


def repeat(unit: str, size: int = MB) -> str:
    return (unit * (size // len(unit) + 1))[:size]


SHAPES = {
    "unclosed_boxed": repeat("\\boxed{"),
    "boxed_then_open_braces": "\\boxed{1}" + repeat("{"),
    "answer_colon_then_spaces": "answer:" + " " * MB,
    "answer_is_spaces_then_x": "the answer is" + " " * MB + "x",
    "hashes_then_spaces": "####" + " " * MB,
    "hashes_spaces_then_x": "#### " + " " * MB + "x",
    "newlines": "\n" * MB,
    "a_line_then_newlines": "A:" + "\n" * MB,
    "a_word_then_newlines": "Answer" + "\n" * MB,
    "a_lines_without_colons": repeat("Answer \n"),
    "many_a_lines": repeat("A:\n"),
    "unclosed_answer_tags": repeat("<answer>"),
    "final_answer_runs": repeat("final answer "),
    "the_answer_is_runs": repeat("the answer is "),
    "chain_of_boxes": repeat("\\boxed{1}, "),
    "chain_of_equal_boxes": repeat("\\boxed{1}\\boxed{1}"),
    "open_then_close_braces": "\\boxed" + repeat("{", MB // 2) + repeat("}", MB // 2),
    "backslashes": repeat("\\"),
    "mixed_whitespace": repeat(" \t\r\n"),
}

READERS = {
    "last_boxed": extraction.last_boxed,
    "extract_answer_auto": extraction.extract_answer,
    "extract_final_answer": extraction.extract_final_answer,
    "answer_tag": extraction.answer_tag,
    "after_hashes": extraction.after_hashes,
    "answer_is": extraction.answer_is,
    "answer_line": extraction.answer_line,
}


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_scanner_is_bounded_at_1mb(shape):
    text = SHAPES[shape]
    for name, reader in READERS.items():
        _, seconds = timed(reader, text)
        assert seconds < BOUND_SECONDS, f"{name} on {shape}: {seconds:.2f} s"


@pytest.mark.parametrize("shape", ["unclosed_boxed", "answer_colon_then_spaces", "hashes_then_spaces", "newlines", "chain_of_boxes"])
def test_match_rewards_bounded_at_1mb(shape):
    sample = Sample(response=SHAPES[shape], reference="x")
    for reward in (ExactMatch(), TokenF1()):
        judgments, seconds = timed(reward.score, [sample])
        assert judgments[0].ok and seconds < BOUND_SECONDS, f"{reward.type_name} on {shape}: {seconds:.2f} s"


@pytest.mark.parametrize("shape", ["unclosed_boxed", "newlines", "many_a_lines", "hashes_then_spaces", "chain_of_boxes"])
def test_math_extraction_in_the_caller_is_bounded(shape):
    """math's own extraction runs in the caller (outside the killable pool): bounded too. A
    response of 1 MB is cut to its last ``max_chars``; the reference is read whole here."""
    reward = MathReward(workers=1, timeout_seconds=2)
    try:
        _, seconds = timed(reward._prepare, Sample(response=SHAPES[shape], reference="7"))
        assert seconds < BOUND_SECONDS, f"math on {shape}: {seconds:.2f} s"
        _, seconds = timed(extraction.extract_final_answer, SHAPES[shape])
        assert seconds < BOUND_SECONDS
    finally:
        reward.close()


def test_answers_are_still_found_after_the_noise():
    assert extraction.extract_final_answer("\n" * 20000 + "A: 5").answer == "5"
    assert extraction.after_hashes("#### " + " " * 10000 + "42") == "42"
    assert extraction.last_boxed(repeat("\\boxed{", 28000) + "\\boxed{3}") == "3"
    assert extraction.answer_is("answer:" + " " * 10000 + "Paris") == "Paris"
