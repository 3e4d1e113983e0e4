"""The ``likelihood`` and ``follow_up`` rewards on the real default Gemma-3-270M (converted
once from the packaged GGUF and cached) and on a tiny user model folder, offline."""

from __future__ import annotations

import math
import socket

import pytest

pytest.importorskip("transformers")

from assay.backends import local_models  # noqa: E402
from assay.registry import reward_class  # noqa: E402
from assay.rewards.models.likelihood import FollowUpLikelihood, ReferenceLikelihood, build_input, score_inputs  # noqa: E402
from assay.types import Sample  # noqa: E402


def refuse(*args, **kwargs):
    raise OSError("network disabled in this test")


@pytest.fixture(scope="module")
def gemma():
    """The default reward, its model loaded with the network refused (converts on first use)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        local_models.clear()
        reward = ReferenceLikelihood()
        reward.lm()
    return reward


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, gemma):
    """A 2-layer Gemma-3 with final logit soft-capping and a 16-token sliding window, saved as
    a user model folder with the Gemma tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    _, tokenizer = gemma.lm()
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, sliding_window=16, final_logit_softcapping=30.0,
        layer_types=["sliding_attention", "full_attention"], pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    folder = tmp_path_factory.mktemp("tiny-gemma")
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def naive_mean(model, item):
    """The naive way: full-vocabulary logits for the whole sequence, then gather."""
    import torch

    with torch.inference_mode():
        ids = torch.tensor([item.ids])
        logprobs = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)[0]
    n, k = len(item.ids), item.n_continuation
    return float(logprobs[torch.arange(n - k - 1, n - 1), ids[0, n - k:]].mean())


def test_registry_names_the_classes():
    assert reward_class("likelihood") is ReferenceLikelihood
    assert reward_class("follow_up") is FollowUpLikelihood


def test_default_model_prefers_the_right_answer(gemma):
    right, wrong = gemma.score([
        Sample(prompt="What is 2 + 3?", response="2 + 3 = 5.", reference="5"),
        Sample(prompt="What is 2 + 3?", response="2 + 3 = 5.", reference="banana"),
    ])
    assert right.ok and wrong.ok
    assert right.score > wrong.score
    assert "mean log-probability per token" in right.rationale and "'5'" in right.rationale
    assert not right.meta["truncated"]


def test_default_model_matches_the_naive_way(gemma):
    model, tokenizer = gemma.lm()
    samples = [Sample(prompt="Tom has 3 apples and buys 4 more. How many?", response=r, reference="7")
               for r in ("3 + 4 = 7 apples.", "He has 3 + 4 = 7.", "3 * 4 = 12 apples.")]
    samples.append(Sample(prompt="Name a colour.", response="Blue.", reference="blue"))
    items = [build_input(tokenizer, *gemma.split_template(gemma.context_of(s), gemma.scored_of(s)), 1024) for s in samples]
    expected = [naive_mean(model, item) for item in items]
    for share in (True, False):
        gemma.options.share_prefix = share
        got = [j.score for j in gemma.score(samples)]
        assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-3
    gemma.options.share_prefix = True
    first = items[0].ids
    assert first[0] == tokenizer.bos_token_id and first[1] != tokenizer.bos_token_id  # one BOS


def test_reductions(gemma):
    sample = Sample(prompt="What is 10 + 10?", response="10 + 10 = 20.", reference="20")
    mean = gemma.score([sample])[0]
    total = ReferenceLikelihood(reduction="sum").score([sample])[0]
    prob = ReferenceLikelihood(reduction="prob").score([sample])[0]
    assert total.score == pytest.approx(mean.score * mean.details["tokens"], rel=1e-5)
    assert prob.score == pytest.approx(math.exp(mean.score), rel=1e-5) and 0 < prob.score <= 1


def test_truncation_keeps_the_reference_and_says_so(gemma):
    model, tokenizer = gemma.lm()
    reward = ReferenceLikelihood(max_length=32)
    sample = Sample(prompt="Count: " + " ".join(str(i) for i in range(60)), response="The next number is 60.", reference="60")
    judgment = reward.score([sample])[0]
    assert judgment.ok and judgment.meta["truncated"] and judgment.meta["dropped_context_tokens"] > 0
    assert "context truncated" in judgment.rationale and "max_length=32" in judgment.rationale
    item = build_input(tokenizer, *reward.split_template(reward.context_of(sample), "60"), 32)
    assert len(item.ids) == 32 and item.ids[0] == tokenizer.bos_token_id
    assert judgment.score == pytest.approx(naive_mean(model, item), abs=1e-3)
    too_long = ReferenceLikelihood(max_length=8).score([Sample(prompt="p", response="r", reference="one two three four five six seven eight")])[0]
    assert too_long.failure.kind == "input" and "does not fit" in too_long.rationale


def test_empty_and_chat_input(gemma):
    empty, no_ref = gemma.score([Sample(prompt="q", response=" ", reference="1"), Sample(prompt="q", response="r")])
    assert empty.failure.kind == "input" and "empty" in empty.rationale
    assert no_ref.failure.kind == "input"
    chat, text = gemma.score([
        Sample(prompt=[{"role": "user", "content": "What is 1+1?"}], response=[{"role": "assistant", "content": "1+1 = 2."}], reference="2"),
        Sample(prompt="user: What is 1+1?", response="1+1 = 2.", reference="2"),
    ])
    assert chat.ok and chat.score == pytest.approx(text.score, abs=1e-4)


def test_failure_in_a_batch_leaves_the_rest_scored(gemma):
    good = Sample(prompt="What is 6 * 7?", response="6 * 7 = 42.", reference="42")
    judgments = gemma.score([good, Sample(prompt="x", response="", reference="1"), Sample(prompt="x", response=123, reference="1"),
                             Sample(prompt="x", response="y", reference=["a"]), good])
    assert [j.ok for j in judgments] == [True, False, False, False, True]
    alone = gemma.score([good])[0].score
    assert judgments[0].score == pytest.approx(alone, abs=1e-4) and judgments[4].score == pytest.approx(alone, abs=1e-4)


def test_follow_up(gemma):
    reward = FollowUpLikelihood(follow_up="Thanks, that helps!")
    from_field, fixed, missing = reward.score([
        Sample(prompt="How do I boil an egg?", response="Put it in boiling water for 8 minutes.", extra={"follow_up": "Thanks!"}),
        Sample(prompt="How do I boil an egg?", response="Put it in boiling water for 8 minutes."),
        Sample(prompt="q", response="r", extra={"follow_up": ""}),
    ])
    assert from_field.ok and fixed.ok and "'Thanks!'" in from_field.rationale and "follow_up" in from_field.rationale
    assert missing.failure.kind == "input"
    assert FollowUpLikelihood().score([Sample(prompt="q", response="r")])[0].failure.kind == "input"
    assert reward.context_of(Sample(prompt="hi", response="hello")) == "user: hi\nassistant: hello"


def test_user_model_folder_with_softcapping_and_sliding_window(tiny_folder):
    import torch

    reward = ReferenceLikelihood(model=str(tiny_folder), batch_size=4)
    model, tokenizer = reward.lm()
    assert model.config.final_logit_softcapping == 30.0
    samples = [Sample(prompt="short", response=f"answer {i}", reference=str(i)) for i in range(3)]
    samples += [Sample(prompt="a much longer prompt " * 4, response=f"longer response number {i}", reference=str(i)) for i in range(3)]
    items = [build_input(tokenizer, *reward.split_template(reward.context_of(s), reward.scored_of(s)), 1024) for s in samples]
    expected = [naive_mean(model, item) for item in items]
    got = [j.score for j in reward.score(samples)]
    assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-4
    assert items[0].ids[:4] == items[1].ids[:4] == items[2].ids[:4] and max(len(i.ids) for i in items[:3]) <= 16
    for unpadded in (True, False):  # the shared-prefix paths (CPU: rests alone; GPU: one padded batch) are exact too
        with torch.inference_mode():
            shared = score_inputs(model, tokenizer, items[:3], batch_size=8, min_prefix=2, unpadded_rests=unpadded)
        assert max(abs(sum(r.logprobs) / len(r.logprobs) - e) for r, e in zip(shared, expected[:3])) < 1e-4


def test_missing_user_folder_is_a_backend_failure(tmp_path):
    judgment = ReferenceLikelihood(model=str(tmp_path / "nope")).score([Sample(prompt="q", response="r", reference="1")])[0]
    assert judgment.failure.kind == "backend" and "does not exist" in judgment.rationale


def test_context_template_fills_in_one_pass():
    from assay.rewards.models.likelihood import ReferenceLikelihood

    context = ReferenceLikelihood().context_of(Sample(prompt='print(f"{response}")', response="RESP"))
    assert context == 'print(f"{response}")\nRESP'  # a placeholder inside the prompt stays as written
