"""The ``prm`` reward in its three conventions, on tiny models built and saved here (real
loading code, real tokenizers, random weights), checked against a naive computation."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from assay.backends import local_models  # noqa: E402
from assay.registry import reward_class  # noqa: E402
from assay.rewards.process.prm import StepRewardModel  # noqa: E402
from assay.types import Sample  # noqa: E402

SOLUTIONS = [
    Sample(prompt="What is 2 + 3 * 4?", response="", steps=["3 * 4 = 12", "2 + 12 = 14", "The answer is 14."]),
    Sample(prompt="Add 7 and 5.", response="7 + 5 = 12\n\nSo the sum is 12."),
    Sample(prompt="Halve 30.", response="", steps=["30 / 2 = 15"]),
]


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(local_models.default_encoder_path()), local_files_only=True)


@pytest.fixture(scope="module")
def token_prm(tmp_path_factory, minilm_tokenizer):
    import torch
    from transformers import BertConfig, BertForTokenClassification

    config = BertConfig(vocab_size=len(minilm_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=2)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("token-prm")
    BertForTokenClassification(config).save_pretrained(str(folder))
    minilm_tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tag_prm(tmp_path_factory):
    """A 2-layer Llama over the packaged Gemma tokenizer, in which ' ки', '+' and '-' are single tokens."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(local_models.default_causal_lm_path()), local_files_only=True)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tag-prm")
    LlamaForCausalLM(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def prefix_prm(tmp_path_factory, minilm_tokenizer):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=len(minilm_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=1)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("prefix-prm")
    BertForSequenceClassification(config).save_pretrained(str(folder))
    minilm_tokenizer.save_pretrained(str(folder))
    return folder


def steps_of(sample):
    from assay.rewards.process.steps import split_steps

    return list(sample.steps) if sample.steps else split_steps(sample.response_text)


def test_registered():
    assert reward_class("prm") is StepRewardModel


def test_token_classification_reads_each_separator(token_prm):
    import torch

    reward = StepRewardModel(model=str(token_prm), convention="token_classification", batch_size=2)
    judged = reward.score(SOLUTIONS)
    model, tokenizer = local_models.token_classifier(str(token_prm))
    for sample, judgment in zip(SOLUTIONS, judged, strict=True):
        steps = steps_of(sample)
        encoded = reward.encode(sample.prompt_text, steps, tokenizer)
        assert len(encoded.positions) == len(steps) and encoded.positions == sorted(set(encoded.positions))
        with torch.inference_mode():  # the naive way: the whole sequence alone, full head output
            logits = model(input_ids=torch.tensor([encoded.ids])).logits[0]
        naive = torch.softmax(logits[encoded.positions], dim=-1)[:, 1].tolist()
        assert judgment.ok
        assert judgment.details["step_scores"] == pytest.approx(naive, abs=1e-5)
        assert judgment.score == pytest.approx(min(naive), abs=1e-5)
        assert len(judgment.details["step_scores"]) == len(steps)


def test_tag_logits_equal_full_vocabulary_softmax(tag_prm):
    import torch

    reward = StepRewardModel(model=str(tag_prm), convention="tag_logits", aggregate="last")
    judged = reward.score(SOLUTIONS)
    model, tokenizer = local_models.causal_lm(str(tag_prm))
    tag, good, bad = (tokenizer(t, add_special_tokens=False)["input_ids"][0] for t in (" ки", "+", "-"))
    for sample, judgment in zip(SOLUTIONS, judged, strict=True):
        encoded = reward.encode(sample.prompt_text, steps_of(sample), tokenizer)
        assert [encoded.ids[p] for p in encoded.positions] == [tag] * len(encoded.positions)
        with torch.inference_mode():  # Math-Shepherd's way: full logits, then the two candidate tokens
            logits = model(input_ids=torch.tensor([encoded.ids])).logits[0]
        naive = torch.softmax(logits[encoded.positions][:, [good, bad]], dim=-1)[:, 0].tolist()
        assert judgment.details["step_scores"] == pytest.approx(naive, abs=1e-5)
        assert judgment.score == pytest.approx(naive[-1], abs=1e-5)


def test_prefix_classifier_scores_each_prefix(prefix_prm):
    import torch

    reward = StepRewardModel(model=str(prefix_prm), convention="prefix_classifier")
    [judgment] = reward.score(SOLUTIONS[:1])
    model, tokenizer = local_models.sequence_classifier(str(prefix_prm))
    steps = steps_of(SOLUTIONS[0])
    naive = []
    for k in range(len(steps)):
        text = SOLUTIONS[0].prompt_text + "\n" + "\n".join(steps[: k + 1])
        with torch.inference_mode():
            naive.append(torch.sigmoid(model(**tokenizer(text, return_tensors="pt")).logits[0, 0]).item())
    assert judgment.details["step_scores"] == pytest.approx(naive, abs=1e-5)


def test_failures_are_typed(token_prm, tag_prm):
    reward = StepRewardModel(model=str(token_prm), max_length=12)
    long, empty = reward.score([SOLUTIONS[0], Sample(prompt="p", response="")])
    assert long.failure.kind == "input" and "max_length 12" in long.rationale
    assert empty.failure.kind == "input" and "no steps" in empty.rationale
    bad_tag = StepRewardModel(model=str(tag_prm), convention="tag_logits", tag=" not one token at all")
    [judgment] = bad_tag.score(SOLUTIONS[:1])
    assert judgment.failure.kind == "backend" and "must be exactly one" in judgment.rationale
    [missing] = StepRewardModel(model="/nonexistent/prm").score(SOLUTIONS[:1])
    assert missing.failure.kind == "backend" and "/nonexistent/prm" in missing.rationale
