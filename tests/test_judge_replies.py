"""Malformed judge-backend replies fail only their own item, and the logged latency is the
call's own time, with the wait for a concurrency slot apart.

A real HTTP server on loopback answers each request by what the judged response says:
a good completion, or one malformed 200 answer (choices as strings, a message that is a
string, usage as a list or holding 1e999, logprobs that are not numbers, a body that is not
JSON, 5,000 ``[`` as the judge's text). Each malformed reply must be that item's ``backend``
failure (a parser crash its ``parse`` failure), never the whole batch's ``internal``.
"""

from __future__ import annotations

import json
import time

import pytest
from loopback import JsonHandler, serving

from assay.backends.openai import OpenAIBackend
from assay.reward import run_sync
from assay.rewards.judges.listwise import ListwiseJudge
from assay.rewards.judges.pairwise import PairwiseJudge
from assay.rewards.judges.pointwise import PointwiseJudge
from assay.types import Pair, Sample


def completion(content: str, **extra) -> dict:
    return {"model": "m", "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}], **extra}


# what the server answers when the judged text contains the key (checked in this order)
REPLIES: dict[str, str] = {
    "CHOICES_AS_STRINGS": json.dumps({"model": "m", "choices": ["Score: 7", "[[A]]"]}),
    "MESSAGE_AS_STRING": json.dumps({"model": "m", "choices": [{"message": "Score: 7"}]}),
    "USAGE_AS_LIST": json.dumps(completion("Score: 7 [[A]]", usage=[1, 2, 3])),
    "USAGE_INFINITE": json.dumps(completion("Score: 7 [[A]]")).replace('"model": "m"', '"model": "m", "usage": {"prompt_tokens": 1e999}'),
    "LOGPROBS_NOT_NUMBERS": json.dumps({"model": "m", "choices": [{"message": {"content": "Score: 7 [[A]]"}, "logprobs": {"content": [{"token": "7", "logprob": "high"}]}}]}),
    "NOT_JSON": "{'choices': oops",
    "NULL_BODY": "null",
    "BRACKETS": json.dumps(completion("[" * 5000)),
}
GOOD = {
    "judge_pointwise": "The answer is right. Score: 7",
    "judge_pairwise": "A is better. [[A]]",
    "judge_listwise": json.dumps({"scores": {"1": 8, "2": 4}, "ranking": [1, 2]}),
}


class Handler(JsonHandler):
    def do_POST(self) -> None:  # noqa: N802
        payload = self.payload()
        text = "\n".join(m["content"] for m in payload["messages"])
        if payload["model"] == "slow":
            time.sleep(0.3)
        body = next((reply for key, reply in REPLIES.items() if key in text), None)
        if body is None:
            kind = "judge_listwise" if '"ranking"' in text else "judge_pairwise" if "[[A]]" in text else "judge_pointwise"
            body = json.dumps(completion(GOOD[kind], usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 0}}))
        self.send(200, body)


@pytest.fixture(scope="module")
def url():
    with serving(Handler) as base:
        yield base


def backend(url: str, model: str = "m", **kwargs) -> OpenAIBackend:
    return OpenAIBackend(url, model=model, retries=0, timeout=20, **kwargs)


MALFORMED = [key for key in REPLIES if key != "BRACKETS"]


def test_pointwise_one_malformed_reply_fails_only_its_item(url) -> None:
    samples = [Sample(prompt="2+2?", response="4")] + [Sample(prompt="2+2?", response=key) for key in REPLIES] + [Sample(prompt="3+3?", response="6")]
    judgments = PointwiseJudge(client=backend(url)).score(samples)
    assert [j.score for j in (judgments[0], judgments[-1])] == pytest.approx([6 / 9, 6 / 9])
    by_key = dict(zip(REPLIES, judgments[1:-1], strict=True))
    for key in MALFORMED:
        assert by_key[key].failure is not None and by_key[key].failure.kind == "backend", (key, by_key[key].rationale)
        assert "not an OpenAI completion" in by_key[key].rationale, key
    brackets = by_key["BRACKETS"]
    assert brackets.failure.kind == "parse"
    assert brackets.failure.raw == "[" * 5000
    assert "could not read a score" in brackets.rationale


def test_pairwise_one_malformed_reply_fails_only_its_pair(url) -> None:
    pairs = [Pair("q", "one", "two")] + [Pair("q", key, "two") for key in REPLIES]
    preferences = PairwiseJudge(client=backend(url)).compare(pairs)
    assert preferences[0].ok and preferences[0].winner == "a"
    kinds = {key: p.failure.kind for key, p in zip(REPLIES, preferences[1:], strict=True)}
    assert kinds == {**{key: "backend" for key in MALFORMED}, "BRACKETS": "parse"}


def test_listwise_one_malformed_reply_fails_only_its_group(url) -> None:
    samples = [Sample(prompt="q", response=r, group="good") for r in ("first", "second")]
    samples += [Sample(prompt="q", response=r, group="bad") for r in ("USAGE_INFINITE", "other")]
    samples += [Sample(prompt="q", response=r, group="crash") for r in ("BRACKETS", "other")]
    judgments = ListwiseJudge(client=backend(url), shuffle=False).score(samples)
    assert [j.score for j in judgments[:2]] == pytest.approx([7 / 9, 3 / 9])
    assert [j.failure.kind for j in judgments[2:]] == ["backend", "backend", "parse", "parse"]


def test_a_judge_that_raises_on_one_item_fails_that_item_as_internal(url) -> None:
    class Flaky(PointwiseJudge):
        def build_messages(self, sample):
            if sample.response == "boom":
                raise RuntimeError("a bug met by this item only")
            return super().build_messages(sample)

    judgments = Flaky(client=backend(url)).score([Sample(response="fine"), Sample(response="boom"), Sample(response="also fine")])
    assert [j.ok for j in judgments] == [True, False, True]
    assert judgments[1].failure.kind == "internal"
    assert "a bug met by this item only" in judgments[1].rationale


def test_latency_is_the_calls_own_time_and_the_queue_wait_is_apart(url) -> None:
    """Concurrency 1, four calls of at least 0.3 s each: the k-th waited at least
    k * 0.3 s for its slot, and its own latency leaves that wait out (before, the fourth read about
    1.2 s). Only lower bounds and one comparison: a loaded machine makes calls slower, never faster."""
    judge = PointwiseJudge(client=backend(url, "slow", concurrency=1))
    judgments = run_sync(judge.ascore([Sample(prompt="q", response=f"answer {i}") for i in range(4)]))
    assert all(j.ok for j in judgments)
    calls = sorted((j.meta["queue_s"], j.meta["latency_s"]) for j in judgments)
    assert all(latency >= 0.25 for _, latency in calls), calls
    assert all(queue >= 0.28 * k for k, (queue, _) in enumerate(calls)), calls
    assert calls[-1][1] < calls[-1][0], calls
