"""Process rewards: step splitting, aggregation, first error, failures inside steps."""

import pytest

from assay import ConfigError, Sample, load_reward
from assay.rewards.process.steps import aggregate, split_steps

STEP_SCORER = '''
def step_ok(response, step_index, previous_steps):
    if "boom" in response:
        raise RuntimeError("scorer crashed")
    return (0.0 if "wrong" in response else 1.0), f"step {step_index} checked after {len(previous_steps)} earlier"
'''


def test_split_steps_forms():
    assert split_steps("Step 1: a\nStep 2: b\nStep 3: c") == ["Step 1: a", "Step 2: b", "Step 3: c"]
    assert split_steps("intro\nStep 1: a\nStep 2: b") == ["intro", "Step 1: a", "Step 2: b"]
    assert split_steps("first\n\nsecond\n\n") == ["first", "second"]
    assert split_steps("one\ntwo") == ["one", "two"]
    assert split_steps("   ") == []


def test_aggregate():
    assert aggregate([1.0, 0.5, 0.8], "min") == 0.5
    assert aggregate([1.0, 0.5], "mean") == 0.75
    assert aggregate([1.0, 0.5], "last") == 0.5
    assert aggregate([0.5, 0.5], "product") == 0.25
    with pytest.raises(ValueError, match=r"unknown aggregation 'max'"):
        aggregate([1.0], "max")


@pytest.fixture
def reward(tmp_path):
    (tmp_path / "prm.py").write_text(STEP_SCORER)
    return load_reward({"rewards": {"steps": {"type": "process", "step_reward": {"type": "function", "path": str(tmp_path / "prm.py") + ":step_ok"}}}})


def test_first_error_and_min(reward):
    good, bad, given = reward.score([
        Sample(response="Step 1: fine\nStep 2: fine"),
        Sample(response="a fine\n\nb wrong\n\nc fine"),
        Sample(response="ignored", steps=["fine", "fine", "wrong"]),
    ])
    assert good.score == 1.0 and good.details["steps"].details["first_error"] == -1
    assert bad.score == 0.0 and bad.details["steps"].details["first_error"] == 1
    assert "first error at step 2" in bad.details["steps"].rationale
    assert given.details["steps"].details["first_error"] == 2
    assert given.details["steps"].details["steps"][2]["rationale"] == "step 2 checked after 2 earlier"


def test_failed_step_fails_the_sample_not_the_batch(reward):
    crashed, fine, empty = reward.score([Sample(response="ok\nboom"), Sample(response="ok"), Sample(response="")])
    assert crashed.score is None and crashed.failure.kind == "internal"
    assert "step 2 of 2" in crashed.details["steps"].rationale
    assert fine.score == 1.0
    assert empty.score is None and empty.details["steps"].failure.kind == "input"


def test_step_reward_needs_a_type():
    with pytest.raises(ConfigError, match="needs a 'type'"):
        load_reward({"rewards": {"s": {"type": "process", "step_reward": {}}}})
