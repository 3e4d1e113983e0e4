"""Integration: the step judge (and PRM-guided beam search) against a real llama.cpp server on
loopback serving the packaged Gemma-3-270M (``assay llama-server``, the fixture of
tests/test_judge_llama.py).

Gemma-3-270M is a tiny base model: these tests check the machinery, not its wisdom. Every
result is a readable step verdict carrying ``step_scores`` / ``first_error`` or a typed
failure with the raw text kept, over the real HTTP path.
"""

from __future__ import annotations

import pytest
from test_judge_llama import MODEL, llama_url  # noqa: F401  (the session fixture: one server)

from assay.rewards.process.judge import StepJudge
from assay.types import Sample

pytestmark = pytest.mark.slow

ITEMS = [
    Sample(prompt="Tom has 3 apples and buys 4 more. How many apples does he have?", id="a",
           steps=["Tom starts with 3 apples.", "He buys 4 more, so 3 + 4 = 8.", "The answer is 8."], response=""),
    Sample(prompt="A pen costs $2. How much do 5 pens cost?", id="b",
           steps=["Each pen costs $2.", "5 pens cost 5 * 2 = 10 dollars.", "The answer is 10."], response=""),
]


def _readable_or_typed(judgment, n_steps):
    if judgment.failure is not None:
        assert judgment.score is None and judgment.failure.kind in ("parse", "backend", "timeout")
        if judgment.failure.kind == "parse":
            assert judgment.failure.raw is not None
        return False
    assert len(judgment.details["step_scores"]) == n_steps and -1 <= judgment.details["first_error"] < n_steps
    assert 0.0 <= judgment.score <= 1.0
    return True


def test_step_judge_first_error_over_real_http(llama_url):  # noqa: F811
    judge = StepJudge(base_url=llama_url, model=MODEL, max_tokens=96, timeout=120, retries=1)
    judgments = judge.score(ITEMS)
    for sample, judgment in zip(ITEMS, judgments):
        _readable_or_typed(judgment, len(sample.steps))
        assert judgment.failure is not None or judgment.meta["usage"]["completion_tokens"] > 0


def test_step_judge_per_step_logprobs_over_real_http(llama_url):  # noqa: F811
    judge = StepJudge(base_url=llama_url, model=MODEL, protocol="per_step", verdict_by="logprobs", mode="completions", timeout=120, retries=1, top_logprobs=20)
    judgments = judge.score(ITEMS)
    readable = [_readable_or_typed(j, len(s.steps)) for s, j in zip(ITEMS, judgments)]
    assert any(readable), [j.rationale for j in judgments]  # Yes/No are among Gemma's top-20 after "Answer:"
    for judgment in judgments:
        assert judgment.meta["calls"] == 3


def test_beam_search_end_to_end_on_gsm8k(llama_url, data_dir):  # noqa: F811
    """Gemma writes GSM8K solutions one step at a time (stopping at blank lines), the
    tool-checked step reward scores the beams; bounded so it runs in well under a minute."""
    import json

    from assay.backends.openai import OpenAIBackend
    from assay.compose.load import load_reward
    from assay.search.beam import BeamSearch, BeamSettings

    rows = [json.loads(line) for line in (data_dir / "gsm8k" / "test.jsonl").open()][:2]
    reward = load_reward({"rewards": {"steps": {"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min", "abstained_step_score": 1.0}}})
    generator = OpenAIBackend(base_url=llama_url, model=MODEL, mode="completions", timeout=120, retries=1)
    settings = BeamSettings(width=2, expand=2, max_depth=3, max_calls=10, max_step_tokens=48, seed=0)
    for row in rows:
        result = BeamSearch(reward, generator, settings).run(row["question"], item_id=row["question"][:20])
        assert 1 <= result.calls <= settings.max_calls and result.stopped_by in ("finished", "max_depth", "max_calls", "no_beams")
        assert result.nodes and all(len(n.candidate.steps) in (n.depth, n.depth + 1) for n in result.nodes)
        for node in result.nodes:  # every extension kept with its step scores, none made up
            c = node.candidate
            assert c.step_scores is not None and len(c.step_scores) == len(c.steps)
            assert c.score is None or 0.0 <= c.score <= 1.0
            assert node.status in ("kept", "pruned", "finished", "truncated")
        assert result.best is not None and result.best.steps
