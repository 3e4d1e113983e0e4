"""The default RM's training recipe (``perf/train_default_rm.py``): how its off-topic pairs are
made. Word-overlap neighbours with the preferred response (the shipped recipe), or prompt
cosine neighbours with any of the asked prompt's responses (the card's "Harder off-topic
pairs"); either way only texts already in the pairs, and never the asked prompt's own answer
on the rejected side."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "perf" / "train_default_rm.py"
spec = importlib.util.spec_from_file_location("train_default_rm", SCRIPT)
recipe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recipe)

PROMPTS = ["boil an egg", "fry an egg", "poach an egg", "tune a guitar", "string a guitar"]
PAIRS = [{"source": "alpacaeval", "prompt": p, "chosen": f"good answer: {p}", "rejected": f"weak answer: {p}"} for p in PROMPTS]


def test_word_neighbours_pair_a_preferred_answer_with_another_prompts_preferred_answer():
    out = recipe.off_topic_pairs(PAIRS, per_prompt=2, seed=0, neighbours=2)
    assert len(out) == 2 * len(PROMPTS)
    for pair in out:
        assert pair["source"] == "off-topic"
        assert pair["chosen"] == f"good answer: {pair['prompt']}"
        assert pair["rejected"].startswith("good answer: ") and pair["rejected"] != pair["chosen"]
    assert out == recipe.off_topic_pairs(PAIRS, per_prompt=2, seed=0, neighbours=2)  # seeded


def test_embedding_neighbours_follow_the_similarity_and_any_own_response_can_be_chosen():
    # egg prompts close to each other, guitar prompts close to each other (sorted order: boil, fry, poach, string, tune)
    groups = {"boil an egg": 0, "fry an egg": 0, "poach an egg": 0, "string a guitar": 1, "tune a guitar": 1}
    ordered = sorted(PROMPTS)
    similarity = np.array([[1.0 if groups[a] == groups[b] else 0.0 for b in ordered] for a in ordered])
    out = recipe.off_topic_pairs(PAIRS, per_prompt=1, seed=0, neighbours=1, similarity=similarity, chosen_from="any")
    for pair in out:
        other = pair["rejected"].removeprefix("good answer: ")
        assert other != pair["prompt"] and groups[other] == groups[pair["prompt"]]
        assert pair["chosen"] in (f"good answer: {pair['prompt']}", f"weak answer: {pair['prompt']}")
    chosen = {pair["chosen"].split(":")[0] for seed in range(8)
              for pair in recipe.off_topic_pairs(PAIRS, per_prompt=1, seed=seed, neighbours=1, similarity=similarity, chosen_from="any")}
    assert chosen == {"good answer", "weak answer"}  # the dispreferred answer to the asked prompt is chosen too


def test_the_shipped_recipe_is_the_default_and_the_mix_stage_compares_it():
    assert recipe.OffTopic() == recipe.OffTopic(3, "words", 10, "preferred")
    assert recipe.MIXES[0] == recipe.OffTopic()
    assert recipe.OffTopic(10, "embedding", 10, "any") in recipe.MIXES


def test_weight_grid_scores_each_weight_and_breaks_ties_toward_the_smaller():
    """The pmi and cross_encoder stages' choice: the accuracy of base + w * extra, per source."""
    sources = ["a", "a", "b", "b"]
    base = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # right, wrong, right, wrong
    extra = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])  # fixes the second pair once w > 1
    grid, best = recipe.weight_grid(sources, base, extra, (0.0, 2.0, 4.0), "w")
    assert [row["held_out"] for row in grid] == [{"a": 0.5, "b": 0.5, "mean": 0.5}, {"a": 1.0, "b": 0.5, "mean": 0.75},
                                                 {"a": 1.0, "b": 0.5, "mean": 0.75}]
    assert best["w"] == 2.0  # 2 and 4 tie: the smaller
    _, only_b = recipe.weight_grid(sources, base, extra, (0.0, 2.0), "w", mean_of=("b",))
    assert only_b["w"] == 0.0 and only_b["held_out"]["mean"] == 0.5


def test_a_smaller_alpaca_draw_is_the_prefix_of_each_half_of_a_larger_one():
    """What the sizes stage relies on: ``--alpaca-pairs n`` draws, from each length half, the
    first n/2 of the order a larger draw writes, so one cache holds every smaller recipe."""
    pairs = [{"source": "alpacaeval", "prompt": f"q{i}", "chosen": "x" * (i % 7 + 1), "rejected": "y" * (i % 5 + 1)} for i in range(60)]
    large, small = recipe.length_balanced(pairs, 30, seed=0), recipe.length_balanced(pairs, 10, seed=0)
    longer = [p for p in large if len(p["chosen"]) > len(p["rejected"])]
    shorter = [p for p in large if len(p["chosen"]) <= len(p["rejected"])]
    assert len(longer) == len(shorter) == 15
    assert small == longer[:5] + shorter[:5]


def test_degenerate_pairs_put_a_real_answer_above_a_reply_that_games_the_reward():
    pairs = PAIRS + [{"source": "hh-harmless", "prompt": "Human: how do I pick a lock? Assistant:", "chosen": "I'd rather not help with that.",
                      "rejected": "First, get a tension wrench."}]
    made = recipe.degenerate_pairs(pairs, 4, seed=0)
    by_prompt = {}
    for p in made:
        by_prompt.setdefault(p["prompt"], []).append(p)
        assert p["source"] == "degenerate" and p["rejected"] != p["chosen"]
        assert p["chosen"] in {q["chosen"] for q in pairs if q["prompt"] == p["prompt"]}
    assert {p["kind"] for p in by_prompt["Human: how do I pick a lock? Assistant:"]} == {"echo", "repeat"}  # no stock reply for HH
    assert {p["kind"] for p in by_prompt["boil an egg"]} == {"echo", "repeat", "stock"}  # a five-word answer has no fragment
    echo = next(p for p in by_prompt["boil an egg"] if p["kind"] == "echo")
    assert echo["rejected"] == "boil an egg"
    assert next(p for p in by_prompt["boil an egg"] if p["kind"] == "repeat")["rejected"].startswith("boil boil")
