"""Hostile outputs: every rule reward, fed 1 MiB of each degenerate shape a broken policy (or a
hostile client) produces, answers within a stated time per sample, with a score or a typed
failure, never ``internal``.

The bound is ``BOUND_SECONDS`` per sample for the rule rewards (docs/rewards/verifiable.md,
docs/reliability.md) and ``MATH_BOUND_SECONDS`` for ``math``, whose math-verify step has its
own 5 s worker timeout. Measured on the shared 2-core development machine, where the slowest
case takes a few tenths of a second, so the bound has a wide margin.

Shapes whose cost lies in the shared answer extractor (``assay/rewards/rules/extraction.py``:
``\\boxed{``, ``<answer>``, "answer:"/``####`` followed by long runs, many newlines) are
bounded by its single-pass scanners, and checked here through every reward that uses it.
"""

from __future__ import annotations

import math
import time

import pytest

from assay.registry import reward_class
from assay.types import Judgment, Sample

MIB = 1 << 20
BOUND_SECONDS = 2.0
MATH_BOUND_SECONDS = 10.0


def _fill(unit: str, size: int = MIB) -> str:
    """``unit`` repeated to ``size`` characters: every window of the text holds the shape."""
    return (unit * (size // len(unit) + 1))[:size]


SHAPES: dict[str, str] = {
    "spaces": " " * MIB,
    "claim_then_spaces": _fill("the answer is" + " " * 2000 + "x"),
    "colon_then_spaces": _fill("Answer:" + " " * 2000 + "x "),
    "hashes_then_spaces": _fill("#### " + " " * 2000 + "x\n"),
    "newlines": "\n" * MIB,
    "newlines_then_text": _fill("\n" * 20_000 + "x"),
    "unclosed_boxed": _fill("\\boxed{"),
    "unclosed_tool_call": _fill("<tool_call>"),
    "unclosed_think": _fill("<think>"),
    "unclosed_answer": _fill("<answer>"),
    "r1_prefixes": _fill("<think></think><answer>"),
    "fence_then_spaces": "```" + " " * MIB,
    "unclosed_fences": _fill("```json\n{"),
    "deep_brackets": "[" * MIB,
    "deep_json": "[" * (MIB // 2) + "]" * (MIB // 2),
    "deep_objects": _fill('{"a":'),
    "one_char": "a" * MIB,
    "letters_and_commas": _fill("answer is B, "),
    "repeated_words": _fill("the cat sat "),
    "many_tool_calls": _fill('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'),
}

# one instruction of each IFEval kind, for the constraints reward
IFEVAL_EVERY_KIND = [
    ("keywords:existence", {"keywords": ["fox"]}), ("keywords:frequency", {"keyword": "the", "frequency": 3, "relation": "at least"}),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}), ("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "at least"}),
    ("language:response_language", {"language": "en"}), ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}), ("length_constraints:number_paragraphs", {"num_paragraphs": 2}),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"}),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}), ("detectable_content:postscript", {"postscript_marker": "P.S."}),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}), ("detectable_format:constrained_response", {}),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}), ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2}),
    ("detectable_format:json_format", {}), ("detectable_format:title", {}), ("combination:two_responses", {}),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}), ("startend:end_checker", {"end_phrase": "Any other questions?"}),
    ("startend:quotation", {}), ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}),
    ("change_case:english_capital", {}), ("change_case:english_lowercase", {}), ("punctuation:no_comma", {}),
]

# reward type -> (options, reference, extra fields)
REWARDS: dict[str, tuple[dict, object, dict]] = {
    "exact_match": ({}, "x", {}),
    "f1": ({}, "x", {}),
    "choice": ({}, "B", {}),
    "regex": ({}, None, {}),
    "tag_format": ({}, None, {}),
    "length_penalty": ({}, None, {}),
    "overlong": ({}, None, {}),
    "repetition": ({}, None, {}),
    "bleu": ({}, "the cat sat on the mat", {}),
    "chrf": ({}, "the cat sat on the mat", {}),
    "rouge": ({}, "the cat sat on the mat", {}),
    "json_valid": ({}, None, {}),
    "json_schema": ({"schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "^[a-z]+$"}}}}, None, {}),
    "tool_call": ({}, [{"name": "get_weather", "arguments": {"city": "Paris"}}], {}),
    "math": ({"timeout_seconds": 5}, "42", {}),
    "constraints": ({}, None, {"instruction_id_list": [i for i, _ in IFEVAL_EVERY_KIND], "kwargs": [k for _, k in IFEVAL_EVERY_KIND]}),
}

_built: dict[str, object] = {}


def _reward(type_name: str):
    if type_name not in _built:
        options, _, _ = REWARDS[type_name]
        reward = reward_class(type_name)(name=type_name, **options)
        reward.score([Sample(response="warm up: 42", reference=REWARDS[type_name][1])])  # pools, scorers
        _built[type_name] = reward
    return _built[type_name]


def _cases():
    for type_name in REWARDS:
        for shape in SHAPES:
            yield pytest.param(type_name, shape, id=f"{type_name}-{shape}")


def _check(judgment: Judgment) -> None:
    assert isinstance(judgment, Judgment) and judgment.rationale
    if judgment.failure is not None:
        assert judgment.failure.kind in ("input", "parse", "timeout"), judgment
    elif judgment.score is not None:
        assert math.isfinite(judgment.score)
    # a result row must not hold the response again, in full
    assert len(repr(judgment.to_dict())) < 64_000, f"{len(repr(judgment.to_dict()))} characters stored"


@pytest.mark.parametrize("type_name, shape", list(_cases()))
def test_hostile_shape_is_scored_within_the_bound(type_name, shape):
    reward = _reward(type_name)
    _, reference, extra = REWARDS[type_name]
    sample = Sample(response=SHAPES[shape], reference=reference, extra=extra)
    start = time.perf_counter()
    judgment = reward.score([sample])[0]
    elapsed = time.perf_counter() - start
    bound = MATH_BOUND_SECONDS if type_name == "math" else BOUND_SECONDS
    assert elapsed < bound, f"{type_name} on {shape}: {elapsed:.2f} s (bound {bound} s)"
    _check(judgment)


def test_every_rule_reward_is_covered():
    from assay.registry import REWARD_TYPES

    rules = {name for name, entry in REWARD_TYPES.items() if entry.target.startswith("assay.rewards.rules.")}
    assert rules - {"cosine_length"} <= set(REWARDS), rules - set(REWARDS)


# --- user patterns: bounded, a typed timeout ----------------------------------------------------

EXPONENTIAL = r"^(a|aa)+$"  # re and regex both backtrack exponentially on "aaa...b"


@pytest.mark.parametrize(
    "type_name, options",
    [
        ("regex", {"pattern": EXPONENTIAL, "timeout_seconds": 0.5}),
        ("exact_match", {"pattern": r"((?:a|aa)+)$", "timeout_seconds": 0.5}),
        ("f1", {"pattern": r"((?:a|aa)+)$", "timeout_seconds": 0.5}),
        ("choice", {"pattern": r"((?:a|aa)+)$", "timeout_seconds": 0.5}),
    ],
)
def test_exponential_user_pattern_is_a_timeout_failure(type_name, options):
    reward = reward_class(type_name)(**options)
    start = time.perf_counter()
    judgment = reward.score([Sample(response="a" * 5000 + "b", reference="B" if type_name == "choice" else "x")])[0]
    elapsed = time.perf_counter() - start
    assert judgment.failure is not None and judgment.failure.kind == "timeout", judgment
    assert "limit" in judgment.rationale
    # the regex module counts the matching thread's CPU time: on a loaded machine the wall
    # clock runs longer (about 3x on the shared 2-core machine at load 11)
    assert elapsed < 8 * options["timeout_seconds"] + 1


def test_nested_quantifier_from_the_issue_is_bounded():
    reward = reward_class("regex")(pattern=r"^(a+)+$", timeout_seconds=0.5)
    start = time.perf_counter()
    judgment = reward.score([Sample(response="a" * 100_000 + "!")])[0]
    assert time.perf_counter() - start < 2.5
    assert judgment.score == 0.0 or (judgment.failure and judgment.failure.kind == "timeout")


def test_json_schema_client_pattern_is_bounded():
    schema = {"type": "string", "pattern": EXPONENTIAL}
    reward = reward_class("json_schema")(timeout_seconds=1.0)
    start = time.perf_counter()
    judgment = reward.score([Sample(response='"' + "a" * 5000 + 'b"', extra={"schema": schema})])[0]
    assert time.perf_counter() - start < 9.0  # 1 s of CPU time; see above
    assert judgment.failure is not None and judgment.failure.kind == "timeout", judgment


# --- caps are stated ----------------------------------------------------------------------------


def test_truncation_is_stated_in_the_rationale():
    long = "x " * MIB + "<think>a</think><answer>b</answer>"
    for type_name, which in (("regex", "first"), ("tag_format", "first"), ("json_valid", "first"), ("repetition", "first"), ("exact_match", "last"), ("bleu", "first")):
        judgment = reward_class(type_name)().score([Sample(response=long, reference="b")])[0]
        assert "characters; only its " + which in judgment.rationale, (type_name, judgment.rationale[-200:])


def test_max_chars_null_reads_everything():
    text = " " * 1_500_000 + "<think>a</think><answer>b</answer>"
    assert reward_class("regex")(max_chars=None).score([Sample(response=text)])[0].score == 1.0
    assert reward_class("regex")().score([Sample(response=text)])[0].score == 0.0


def test_tool_call_pairing_is_bounded():
    from assay.rewards.rules.tool_call import MAX_CALLS

    calls = [{"name": "f", "arguments": {"a": k}} for k in range(MAX_CALLS)]
    response = "".join(f'<tool_call>{{"name": "f", "arguments": {{"a": {k}}}}}</tool_call>' for k in range(MAX_CALLS))
    for reference in (calls, calls[:12], calls[:1]):
        start = time.perf_counter()
        judgment = reward_class("tool_call")().score([Sample(response=response, reference=reference)])[0]
        assert time.perf_counter() - start < BOUND_SECONDS
        assert judgment.ok and judgment.score == pytest.approx(len(reference) / MAX_CALLS)
    too_many = reward_class("tool_call")().score([Sample(response=response, reference=calls + calls[:1])])[0]
    assert too_many.failure is not None and too_many.failure.kind == "input"


def test_a_user_pattern_lets_other_threads_run():
    """The bounded matcher releases the interpreter lock: while one sample's pattern runs to
    its limit, other Python threads (a server's /health, say) keep running."""
    import threading

    reward = reward_class("regex")(pattern=EXPONENTIAL, timeout_seconds=1.0)
    result: list[Judgment] = []
    worker = threading.Thread(target=lambda: result.extend(reward.score([Sample(response="a" * 5000 + "b")])))
    worker.start()
    time.sleep(0.1)
    ticks, until = 0, time.perf_counter() + 0.5
    while time.perf_counter() < until and worker.is_alive():
        ticks += 1
    worker.join()
    assert result and result[0].failure is not None and result[0].failure.kind == "timeout"
    assert ticks > 10_000, ticks  # with the lock held for the whole match this thread would not run
