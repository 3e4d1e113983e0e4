"""The core contract: types, the Reward base, @reward, and light import."""

import asyncio
import subprocess
import sys

import pytest

from assay import Judgment, Reward, Sample, reward, run_sync
from assay.text import text_of
from assay.types import Failure, Pair


def test_sample_from_dict_keeps_extras_and_reads_fields():
    s = Sample.from_dict({"prompt": "q", "response": "r", "reference": "x", "rubric": ["a"], "id": 3})
    assert s.extra == {"rubric": ["a"]}
    assert s.get("rubric") == ["a"] and s.get("reference") == "x" and s.get("missing", 7) == 7
    assert s.fields() == {"prompt": "q", "response": "r", "reference": "x", "id": 3, "rubric": ["a"]}


def test_chat_response_reads_last_assistant_message():
    messages = [
        {"role": "assistant", "content": "calling a tool"},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": [{"type": "text", "text": "The answer is 42"}]},
    ]
    assert text_of(messages) == "The answer is 42"
    assert Sample(prompt=[{"role": "user", "content": "q"}], response=messages).prompt_text == "user: q"


def test_failure_kind_is_checked_and_round_trips():
    with pytest.raises(ValueError, match=r"unknown failure kind 'made_up'"):
        Failure("made_up", "x")  # type: ignore[arg-type]
    j = Judgment.fail("parse", "no verdict", raw="blah")
    assert not j.ok and j.score is None
    assert Judgment.from_dict(j.to_dict()).failure == j.failure


def test_pair_swap():
    p = Pair("q", "a", "b")
    assert p.swapped().response_a == "b" and p.sample_b().response == "b"


class Flaky(Reward):
    type_name = "flaky"

    def score_one(self, sample):
        if sample.response == "boom":
            raise RuntimeError("exploded")
        return Judgment(score=1.0, rationale="fine")


def test_exception_in_one_sample_fails_only_that_sample():
    out = Flaky().score([Sample(response="a"), Sample(response="boom"), Sample(response="c")])
    assert [j.score for j in out] == [1.0, None, 1.0]
    assert out[1].failure.kind == "internal" and "exploded" in out[1].rationale


class BatchOnly(Reward):
    def score_batch(self, samples):
        raise MemoryError("out of memory")


def test_batch_exception_fails_the_batch_with_typed_failures():
    out = BatchOnly().score([Sample(response="a"), Sample(response="b")])
    assert all(j.failure and j.failure.kind == "internal" for j in out)


class WrongLength(Reward):
    def score_batch(self, samples):
        return []


def test_wrong_length_is_an_error_not_a_silent_truncation():
    with pytest.raises(RuntimeError, match="returned 0 judgments for 1 samples"):
        WrongLength().score([Sample(response="a")])


class AsyncReward(Reward):
    async def ascore_batch(self, samples):
        await asyncio.sleep(0)
        return [Judgment(score=float(len(s.response_text))) for s in samples]


def test_async_reward_scores_from_sync_code_and_inside_a_running_loop():
    samples = [Sample(response="ab")]
    assert AsyncReward().score(samples)[0].score == 2.0

    async def inside_loop():
        return AsyncReward().score(samples)  # a notebook / async trainer calling sync code

    assert asyncio.run(inside_loop())[0].score == 2.0
    assert asyncio.run(AsyncReward().ascore(samples))[0].score == 2.0
    assert run_sync(asyncio.sleep(0, result=5)) == 5


def test_reward_decorator_shapes():
    @reward
    def plain(response, reference):
        return 1.0 if response == reference else 0.0

    @reward(name="why")
    def with_reason(response, **fields):
        return 0.5, f"extra field {fields['topic']}"

    @reward
    def abstains(response):
        return None

    @reward
    def nan(response):
        return float("nan")

    @reward
    def wrong_type(response):
        return "high"

    s = Sample(prompt="p", response="x", reference="x", extra={"topic": "t"})
    assert plain.score([s])[0].score == 1.0
    assert plain("a", "a") == 1.0  # still callable as the original function
    j = with_reason.score([s])[0]
    assert (j.score, j.rationale, with_reason.name) == (0.5, "extra field t", "why")
    j = abstains.score([s])[0]
    assert j.score is None and j.failure is None and "abstained" in j.rationale
    assert nan.score([s])[0].failure.kind == "internal"
    assert wrong_type.score([s])[0].failure.kind == "internal"


def test_import_assay_is_light():
    code = "import sys, assay; heavy = [m for m in ('torch', 'transformers', 'fastapi', 'ray', 'sympy') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reference_shown_to_judges_keeps_every_acceptable_answer():
    from assay.text import reference_shown

    assert reference_shown("Paris") == "Paris" and reference_shown(None) == ""
    both = reference_shown(["Paris", "paris, France"])
    assert "Paris" in both and "paris, France" in both
    assert reference_shown([{"role": "assistant", "content": "42"}]) == "42" and reference_shown(7) == "7"
