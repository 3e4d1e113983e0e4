"""The shipped default reward model: ``embedding_head`` with no ``head`` loads the head inside
the package and tells a real answer from a useless one; the package-data file is there and
small; the new ``interaction`` features are saved as format /2 and load; and the prompt
overlap filter of its rebuild (``assay.train.overlap``) drops a benchmark prompt."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest

from assay.rewards.models.classifier import EmbeddingHeadReward
from assay.rewards.models.head import DEFAULT_HEAD, EmbeddingHead, load_head
from assay.train.overlap import OverlapIndex, drop_overlapping, normalise, prompt_string, shingles
from assay.types import Sample

ROOT = Path(__file__).resolve().parents[1]


def refuse(*args, **kwargs):
    raise OSError("network access in a test")


def test_the_default_head_is_package_data_under_5_mb():
    assert DEFAULT_HEAD.is_file(), DEFAULT_HEAD
    assert DEFAULT_HEAD.stat().st_size < 5_000_000
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["assay"]
    assert "rewards/models/default_head/*.safetensors" in data
    config = load_head(DEFAULT_HEAD).config
    assert config["encoder"] is None  # the packaged MiniLM


def test_embedding_head_without_a_path_scores_with_the_default(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    reward = EmbeddingHeadReward()
    assert Path(reward.head_path) == DEFAULT_HEAD
    cases = [
        ("What is the capital of France?", "The capital of France is Paris, which is also its largest city.", "asdf qwer zxcv lorem 1234"),
        ("How do I boil an egg?",
         "Place the egg in a pot, cover it with cold water, bring it to a boil, then simmer for 9 to 12 minutes and cool it in cold water.",
         "The stock market closed slightly higher on Tuesday after a quiet session."),
    ]
    samples = [Sample(prompt=p, response=r) for p, good, bad in cases for r in (good, bad)]
    judgments = reward.score(samples + [Sample(prompt="q", response="")])
    assert all(j.ok for j in judgments[:-1])
    scores = [j.score for j in judgments[:-1]]
    assert scores[0] > scores[1] and scores[2] > scores[3], scores
    assert "default_rm.safetensors" in judgments[0].rationale
    assert judgments[-1].failure.kind == "input"  # empty is a typed failure, never a score


def test_the_default_does_not_prefer_a_reply_that_games_it(monkeypatch):
    """The hole a GRPO policy would find first: the first shipped head scored "egg egg egg" and
    a copy of the question above real answers. The recipe's degenerate pairs close it (card:
    "Degenerate replies"); these prompts are not training prompts."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reward = EmbeddingHeadReward()
    cases = [
        ("How do I boil an egg?",
         "Place the egg in a pot, cover it with cold water, bring it to a boil, then simmer for 9 to 12 minutes and cool it in cold water."),
        ("Give me three tips for sleeping better.",
         "Keep a regular bedtime, avoid screens for an hour before bed, and keep your bedroom cool, dark and quiet."),
        ("Explain what a prime number is.",
         "A prime number is a whole number greater than 1 whose only divisors are 1 and itself, such as 2, 3, 5 and 7."),
    ]
    games = {"echo": lambda q: q, "repeat": lambda q: " ".join([w for w in q.rstrip("?.").split() if len(w) > 3] * 12),
             "stock": lambda q: "I don't know."}
    samples = [Sample(prompt=q, response=r) for q, good in cases for r in (good, *(g(q) for g in games.values()))]
    scores = [j.score for j in reward.score(samples)]
    width = 1 + len(games)
    for i, (question, _) in enumerate(cases):
        real, *gamed = scores[i * width:(i + 1) * width]
        assert all(real > g for g in gamed), (question, dict(zip(games, gamed)), real)


def test_an_empty_head_path_is_an_error_not_the_default():
    with pytest.raises(ValueError, match="empty"):
        EmbeddingHeadReward(head=" ")


def test_interaction_heads_are_format_2_and_load(tmp_path):
    head = EmbeddingHead.build(4 * 384, (8,), features="interaction")
    assert head.config["format"] == "assay-embedding-head/2"
    assert EmbeddingHead.build(3 * 384, (8,), features="prompt_response").config["format"] == "assay-embedding-head/1"
    loaded = load_head(head.save(tmp_path / "h.safetensors"))
    assert loaded.config == head.config
    with pytest.raises(ValueError, match="features must be one of"):
        EmbeddingHead.build(384, features="nonsense")


def test_overlap_exact_and_near():
    index = OverlapIndex({"bench": ["Write a short poem about the sea and the wind at night, in the style of a sailor's song."]})
    assert index.matches("write a short poem about the sea and the wind at night, in the style of a sailor's song") == {"bench": "exact"}
    assert index.matches("Write a short poem about the sea and the wind at night, in the style of a pirate's song.") == {"bench": "near"}
    assert index.matches("What is the boiling point of water at sea level?") == {}
    assert normalise("  Hello\n World?  ") == "hello world"
    assert shingles("a b") == frozenset(["a b"])
    assert prompt_string([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]) == "hi\nyo"


@pytest.mark.data
def test_overlap_removal_drops_a_known_benchmark_prompt(data_dir):
    """RM-Bench's chat prompts are AlpacaEval instructions: one, respaced and upper-cased, is
    dropped from training items; an unrelated prompt stays."""
    from assay.bench.loaders import load

    rm_bench = [prompt_string(item.prompt) for item in load("rm-bench", data_dir).items]
    llmbar = [prompt_string(item.prompt) for item in load("llmbar", data_dir).items]
    index = OverlapIndex({"rm-bench": rm_bench, "llmbar": llmbar})
    known = rm_bench[0]
    items = [
        {"prompt": "  " + known.upper().replace(" ", "   ") + " ", "chosen": "a", "rejected": "b"},
        {"prompt": "Name three prime numbers larger than 1000 that end in 7.", "chosen": "a", "rejected": "b"},
    ]
    kept, record = drop_overlapping(items, lambda r: r["prompt"], index)
    assert [r["prompt"] for r in kept] == [items[1]["prompt"]]
    assert record["overlap_before"]["rm-bench"]["exact"] == 1 and record["overlap_after"]["rm-bench"] == {"exact": 0, "near": 0}
    assert record["items_before"] == 2 and record["items_after"] == 1


def test_the_degenerate_probe_shows_cosine_rewards_an_echo_and_the_default_rm_does_not(tmp_path, data_dir, monkeypatch):
    """`assay bench probes` on real RM-Bench prompts: the prompt echoed back is the perfect
    answer for prompt-response cosine (the semantic baseline), and the default RM ranks it
    below the real answer."""
    from assay.bench.probes.bias import run_probes

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    semantic = run_probes(str(ROOT / "perf" / "baselines" / "semantic_relevance.yaml"), data_dir, limit=12)
    default = run_probes({"rewards": {"rm": {"type": "embedding_head"}}}, data_dir, limit=12)
    assert set(default["degenerate"]) == {"echo", "repeat", "stock", "fragment"}
    assert semantic["degenerate"]["echo"]["gamed_at_or_above_rate"] == 1.0
    assert default["degenerate"]["echo"]["n"] == 12 and default["degenerate"]["echo"]["gamed_at_or_above_rate"] <= 0.1
    assert default["degenerate"]["stock"]["gamed_at_or_above_rate"] <= 0.1
