"""The ``classifier`` reward on a tiny real sequence-classification model built and saved
here (no downloads), and the ``embedding_head`` reward on the packaged MiniLM, offline."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pydantic
import pytest

pytest.importorskip("transformers")

from assay.backends import local_models  # noqa: E402
from assay.registry import reward_class  # noqa: E402
from assay.rewards.models.classifier import EmbeddingHeadReward, SequenceClassifierReward  # noqa: E402
from assay.rewards.models.head import load_head  # noqa: E402
from assay.train.heads import fit_head  # noqa: E402
from assay.types import Sample  # noqa: E402

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
)


def refuse(*args, **kwargs):
    raise OSError("network disabled in this test")


@pytest.fixture(scope="module")
def rm_folder(tmp_path_factory):
    """A 2-layer Llama reward model (one logit) with the MiniLM tokenizer and a chat template
    whose text starts with the BOS the tokenizer also adds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(local_models.default_encoder_path()), local_files_only=True)
    tokenizer.bos_token = tokenizer.cls_token
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, num_labels=1, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(config)
    folder = tmp_path_factory.mktemp("tiny-rm")
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_registry_names_the_classes():
    assert reward_class("classifier") is SequenceClassifierReward
    assert reward_class("embedding_head") is EmbeddingHeadReward


def test_user_reward_model_scores_in_batches(rm_folder, monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", refuse)
    reward = SequenceClassifierReward(model=str(rm_folder), batch_size=3)
    samples = [Sample(prompt=f"question {i}", response="word " * (i * 5 + 1)) for i in range(7)]
    batched = reward.score(samples)
    assert all(j.ok for j in batched)
    alone = [reward.score([s])[0].score for s in samples]
    assert max(abs(j.score - a) for j, a in zip(batched, alone)) < 1e-5
    assert len({round(j.score, 6) for j in batched}) > 1
    assert "logit" in batched[0].rationale and "tokens" in batched[0].rationale


def test_chat_template_and_single_bos(rm_folder):
    reward = SequenceClassifierReward(model=str(rm_folder))
    model, tokenizer = local_models.sequence_classifier(str(rm_folder))
    text = reward.text_of(Sample(prompt="hi", response="hello"), tokenizer)
    assert text.startswith("<user> hi") and "<assistant> hello" in text  # the template's BOS was stripped
    ids, cut = reward.encode(text, tokenizer)
    assert ids[0] == tokenizer.cls_token_id and ids.count(tokenizer.cls_token_id) == 1 and cut == 0
    plain = SequenceClassifierReward(model=str(rm_folder), chat_template="never")
    assert plain.text_of(Sample(prompt="hi", response="hello"), tokenizer) == "hi\n\nhello"


def test_chat_message_input(rm_folder):
    reward = SequenceClassifierReward(model=str(rm_folder))
    chat, text = reward.score([
        Sample(prompt=[{"role": "user", "content": "hi"}], response=[{"role": "assistant", "content": "hello there"}]),
        Sample(prompt="hi", response="hello there"),
    ])
    assert chat.ok and chat.score == pytest.approx(text.score, abs=1e-6)


def test_truncation_keeps_bos_and_the_end(rm_folder):
    reward = SequenceClassifierReward(model=str(rm_folder), max_length=16)
    _, tokenizer = local_models.sequence_classifier(str(rm_folder))
    long = Sample(prompt="p", response="one two three " * 20 + "final")
    judgment = reward.score([long])[0]
    assert judgment.ok and judgment.meta["truncated"] and judgment.meta["tokens"] == 16
    assert "input truncated" in judgment.rationale and "max_length=16" in judgment.rationale
    ids, cut = reward.encode(reward.text_of(long, tokenizer), tokenizer)
    assert ids[0] == tokenizer.cls_token_id and len(ids) == 16 and cut > 0
    assert "final" in tokenizer.decode(ids[-3:])  # the end of the response is kept


def test_right_truncation_keeps_the_prompt_and_the_last_special_token():
    """An encoder (here the packaged MiniLM's tokenizer: [CLS] ... [SEP]) must see the prompt:
    truncation_side=right cuts the response's end and keeps [SEP]."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(local_models.default_encoder_path()), local_files_only=True)
    reward = SequenceClassifierReward(model="unused", max_length=12, chat_template="never", truncation_side="right")
    ids, cut = reward.encode(reward.text_of(Sample(prompt="start here", response="one two three " * 20 + "final"), tokenizer), tokenizer)
    assert len(ids) == 12 and cut > 0
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.decode(ids[1:3]) == "start here" and "final" not in tokenizer.decode(ids)


def test_failures_are_typed_and_isolated(rm_folder, tmp_path):
    reward = SequenceClassifierReward(model=str(rm_folder))
    good = Sample(prompt="q", response="a fine answer")
    judgments = reward.score([good, Sample(prompt="q", response=""), Sample(prompt="q", response=42), good])
    assert [j.ok for j in judgments] == [True, False, False, True]
    assert judgments[1].failure.kind == "input" and "empty" in judgments[1].rationale
    assert judgments[0].score == pytest.approx(judgments[3].score, abs=1e-6)
    missing = SequenceClassifierReward(model=str(tmp_path / "absent")).score([good])[0]
    assert missing.failure.kind == "backend" and "does not exist" in missing.rationale
    with pytest.raises(pydantic.ValidationError, match=r"model\n  Field required"):
        SequenceClassifierReward()


def test_embedding_head_fit_save_load_score(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    pairs = [
        ("What is the capital of France?", "The capital of France is Paris.", "I don't know, maybe bananas."),
        ("How many legs does a spider have?", "A spider has eight legs.", "Spiders are purple on Tuesdays."),
        ("What is 2 + 2?", "2 + 2 equals 4.", "Whatever, I refuse to answer."),
        ("Translate 'hola' to English.", "'Hola' means 'hello'.", "No."),
    ]
    head = fit_head(pairs, hidden=(16,), epochs=100)
    path = head.save(tmp_path / "head.safetensors")
    assert path.stat().st_size < 200_000
    loaded = load_head(path)
    assert loaded.config["features"] == "prompt_response" and loaded.config["hidden"] == [16]
    reward = EmbeddingHeadReward(head=str(path))
    samples = [Sample(prompt=p, response=r) for p, c, w in pairs for r in (c, w)]
    judgments = reward.score(samples + [Sample(prompt="q", response="  ")])
    scores = [j.score for j in judgments[:-1]]
    assert all(scores[2 * i] > scores[2 * i + 1] for i in range(len(pairs)))
    assert "head head.safetensors" in judgments[0].rationale and "prompt and response" in judgments[0].rationale
    assert judgments[-1].failure.kind == "input"
    truncated = EmbeddingHeadReward(head=str(path), max_length=8).score([Sample(prompt="q", response="word " * 40)])[0]
    assert truncated.ok and truncated.meta["truncated"] and "truncated to its first 8" in truncated.rationale
    bad = EmbeddingHeadReward(head=str(tmp_path / "absent.safetensors")).score([samples[0]])[0]
    assert bad.failure.kind == "backend"


def test_a_cosine_weight_adds_the_semantic_cosine_to_the_head(tmp_path, monkeypatch):
    """Format /3: the score is the MLP's plus cosine_weight x the prompt-response cosine the
    `semantic` reward computes (same encoder, same length); the rationale shows both parts."""
    from assay.rewards.models.semantic import SemanticSimilarity

    monkeypatch.setattr(socket.socket, "connect", refuse)
    pairs = [("What is 2 + 2?", "4.", "Spiders have eight legs."), ("Capital of France?", "Paris.", "I like trains.")]
    plain = fit_head(pairs, hidden=(4,), epochs=5, features="interaction")
    plain_path = plain.save(tmp_path / "plain.safetensors")
    path = plain.with_cosine(2.5).save(tmp_path / "cosine.safetensors")
    assert load_head(path).config["format"] == "assay-embedding-head/3" and load_head(path).config["cosine_weight"] == 2.5
    samples = [Sample(prompt=q, response=r) for q, c, w in pairs for r in (c, w)]
    cosines = [j.details["cosine"] for j in SemanticSimilarity(against="prompt", max_length=128).score(samples)]
    before = [j.score for j in EmbeddingHeadReward(head=str(plain_path), max_length=128).score(samples)]
    after = EmbeddingHeadReward(head=str(path), max_length=128).score(samples)
    assert [j.score for j in after] == pytest.approx([b + 2.5 * c for b, c in zip(before, cosines)], abs=1e-4)
    assert "x the prompt-response cosine" in after[0].rationale
    with pytest.raises(ValueError, match="needs the prompt"):
        fit_head(pairs, hidden=(), epochs=1, features="response").with_cosine(1.0)


def test_a_head_with_a_malformed_cosine_weight_fails_as_backend(tmp_path):
    from safetensors.torch import load_file, save_file

    path = fit_head([("q", "good answer", "bad")], hidden=(), epochs=1, features="interaction").with_cosine(1.0).save(tmp_path / "h.safetensors")
    config = load_head(path).config
    for bad, shown in (("much", "'much'"), (float("nan"), "nan"), (None, "None")):
        save_file(load_file(str(path)), str(path), metadata={"assay_head": json.dumps({**config, "cosine_weight": bad})})
        [judgment] = EmbeddingHeadReward(head=str(path)).score([Sample(prompt=f"q {shown}", response="a")])
        assert judgment.score is None and judgment.failure.kind == "backend" and f"cosine_weight {shown}" in judgment.rationale


def test_a_head_saved_before_the_move_to_assay_train_still_scores(monkeypatch):
    """tests/fixtures/head_v1.safetensors was written by save_head when it lived in
    rewards/models/classifier.py (commit 02f7b6c); the scores are the ones that code gave."""
    monkeypatch.setattr(socket.socket, "connect", refuse)
    path = Path(__file__).parent / "fixtures" / "head_v1.safetensors"
    assert load_head(path).config == {"format": "assay-embedding-head/1", "input_dim": 1152, "hidden": [4], "activation": "gelu", "features": "prompt_response", "encoder": None}
    judgments = EmbeddingHeadReward(head=str(path)).score([Sample(prompt="What is 2 + 2?", response="4"), Sample(prompt="Capital of France?", response="Paris.")])
    assert [j.score for j in judgments] == pytest.approx([-0.4740108549594879, -0.480500727891922], abs=1e-5)


def test_a_label_index_the_model_lacks_fails_as_setup(rm_folder):
    [judgment] = SequenceClassifierReward(model=str(rm_folder), label_index=5).score([Sample(prompt="q", response="a")])
    assert judgment.score is None and judgment.failure.kind == "backend" and "label_index 5" in judgment.rationale


def test_an_adapter_whose_base_is_missing_fails_as_backend_naming_it(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "/nowhere/base-model", "peft_type": "LORA"}')
    judgment = SequenceClassifierReward(model=str(adapter)).score([Sample(prompt="q", response="a")])[0]
    assert judgment.failure.kind == "backend" and judgment.score is None
    assert "/nowhere/base-model" in judgment.rationale and "adapter_config.json" in judgment.rationale
    for config in ('{"base_model_name_or_path": ""}', '[1, 2]', '[' * 100_000):  # no base named, not an object, too deep
        (adapter / "adapter_config.json").write_text(config)
        local_models.clear()
        failed = SequenceClassifierReward(model=str(adapter)).score([Sample(prompt="q", response="a")])[0]
        assert failed.failure.kind == "backend" and failed.score is None and str(adapter) in failed.rationale
