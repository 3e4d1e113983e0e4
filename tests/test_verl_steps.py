"""Step rewards to veRL: the ``assay_steps`` reward manager (veRL's batch manager with the
placement replaced) on a real DataProto, fed by ``get_custom_reward_fn`` from a veRL config
as tests/test_integrations.py does for outcome rewards; and the placement itself."""

from __future__ import annotations

import json
import math

import pytest
from test_integrations import _verl_batch, _verl_loaded

from assay.integrations import verl

CONFIG = {"rewards": {"steps": {"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min", "abstained_step_score": 1.0}}}
PROMPTS = ["what is 3 + 4 ?", "what is 3 + 4 - 1 ?", "say hi"]
RESPONSES = ["3 + 4 = 7.\n\nSo the answer is 7.", "3 + 4 = 8.\n\nThen 8 - 1 = 7.\n\nThe answer is 7.", ""]
TRUTHS = ["7", "6", "hi"]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from assay.backends.local_models import default_causal_lm_path

    return AutoTokenizer.from_pretrained(str(default_causal_lm_path()))  # Gemma's tokenizer keeps the blank lines


def test_token_rewards_put_each_step_on_its_last_token(tokenizer):
    text = RESPONSES[1]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    decode = lambda t: tokenizer.decode(t, skip_special_tokens=True)  # noqa: E731
    values, info = verl.token_rewards(decode, ids, text, 0.0, [0.0, 1.0, 1.0], "steps")
    ends = verl.step_end_tokens(decode, ids, text, ["3 + 4 = 8.", "Then 8 - 1 = 7.", "The answer is 7."])
    for step, end in zip(["3 + 4 = 8.", "Then 8 - 1 = 7.", "The answer is 7."], ends):
        assert decode(ids[: end + 1]).endswith(step) and not decode(ids[:end]).endswith(step)
    assert ends[-1] == len(ids) - 1 and info == {"steps_placed": 3, "steps_unplaced": 0}
    assert [k for k, v in enumerate(values) if v] == ends[1:]  # step 1 scored 0: its token holds 0
    both, _ = verl.token_rewards(decode, ids, text, 0.5, [0.0, 1.0, 1.0], "steps_and_outcome")
    assert both[-1] == 1.5 and sum(both) == 2.5
    outcome, _ = verl.token_rewards(decode, ids, text, 0.5, [0.0, 1.0, 1.0], "outcome")
    assert outcome[-1] == 0.5 and sum(outcome) == 0.5
    mismatched, info = verl.token_rewards(decode, ids, text, 0.5, [1.0, 1.0], "steps")
    assert mismatched[-1] == 0.5 and info["steps_unplaced"] == 2  # steps that do not line up: the outcome only
    with pytest.raises(ValueError, match="token_rewards"):
        verl.token_rewards(decode, ids, text, 0.5, None, "per_token")


def test_assay_steps_manager_on_a_real_dataproto(tmp_path, tokenizer):
    pytest.importorskip("verl.workers.reward_manager.batch", reason="veRL is not importable here (scripts/setup.sh all installs it)")
    from verl.workers.reward_manager import get_reward_manager_cls

    import assay.integrations.verl_steps  # noqa: F401  (registers assay_steps)

    path = tmp_path / "prm.yaml"
    path.write_text(json.dumps(CONFIG))
    manager_cls = get_reward_manager_cls("assay_steps")
    for how in ("steps_and_outcome", "steps", "outcome"):
        manager = manager_cls(tokenizer, num_examine=0, compute_score=_verl_loaded(tmp_path, "compute_score_batch", config=str(path)), token_rewards=how)
        data = _verl_batch(tokenizer, PROMPTS, RESPONSES, TRUTHS)
        out = manager(data, return_dict=True)
        rewards, info = out["reward_tensor"], out["reward_extra_info"]
        prompt_len = data.batch["prompts"].shape[-1]
        lengths = data.batch["attention_mask"][:, prompt_len:].sum(-1).tolist()
        decode = lambda t: tokenizer.decode(t, skip_special_tokens=True)  # noqa: E731
        # response 0: steps [1, 1] (the second step has no claim: 1.0), total 1
        ids0 = data.batch["responses"][0][: lengths[0]].tolist()
        end0 = verl.step_end_tokens(decode, ids0, decode(ids0), ["3 + 4 = 7.", "So the answer is 7."])
        row0 = rewards[0].tolist()
        want0 = {"steps_and_outcome": {end0[0]: 1.0, end0[1]: 2.0}, "steps": {end0[0]: 1.0, end0[1]: 1.0}, "outcome": {lengths[0] - 1: 1.0}}[how]
        assert {k: v for k, v in enumerate(row0) if v} == want0, how
        # response 1: steps [0, 1, 1], total 0: the wrong first step's token holds 0, nothing is made up
        row1 = rewards[1].tolist()
        assert row1[lengths[1] - 1] == (1.0 if how != "outcome" else 0.0) and sum(row1) == (2.0 if how != "outcome" else 0.0), how
        assert not any(rewards[i, lengths[i]:].tolist() for i in range(3) if any(rewards[i, lengths[i]:].tolist()))  # nothing on padding
        # response 2 is empty: the process reward fails on it (input), NaN stays visible
        assert info["failed"][2] == 1 and info["failure_kind"][2] == "input"
        assert "step_scores" not in info and info["steps_placed"][:2] == ([2, 3] if how != "outcome" else [0, 0]), how
        assert all(len(v) == 3 for v in info.values())
        assert math.isnan(info["score"][2])


def test_trl_gets_the_aggregate_and_logs_the_step_scores():
    from assay.integrations import trl

    funcs, weights = trl.reward_funcs(CONFIG)
    logged, metrics = {}, {}
    scores = funcs[0](prompts=PROMPTS[:2], completions=RESPONSES[:2], log_extra=logged.__setitem__, log_metric=metrics.__setitem__)
    assert scores == [1.0, 0.0]  # the min over the steps: one scalar per completion
    assert logged["step_scores/steps"] == ["1, 1", "0, 1, 1"]
    assert metrics["assay/steps/first_error_rate"] == 0.5
