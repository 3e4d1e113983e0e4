"""``assay train genrm``: the verdict reward (``verdict_match``) on its own, and a few GRPO
steps (with an SFT warm-up on rationales) on a tiny randomly initialised Llama this test
builds (the packaged Gemma-3-270M run is recorded once under perf/results/genrm_gemma/: too
slow for a test on this CPU). Checked: per-step reward and verdict accuracy reach TRL's log
and the report, the pairs are shown A and B in a seeded order, and the saved folder loads as
``pairwise_judge`` with ``backend: local``."""

from __future__ import annotations

import json
import random

import pytest

from assay.rewards.judges.verdict_match import VerdictMatch
from assay.types import Sample


def test_verdict_match_grades_the_verdict_against_the_label() -> None:
    reward = VerdictMatch()
    right, wrong, unreadable, tie, no_label = reward.score([
        Sample(response="B insults the user.\n\n[[A]]", reference="A"),
        Sample(response="Final verdict: **[[B]]**", reference="A"),
        Sample(response="I like both.", reference="B"),
        Sample(response="[[C]]", reference="B"),
        Sample(response="[[A]]", reference="maybe"),
    ])
    assert (right.score, wrong.score) == (1.0, 0.0) and "matches" in right.rationale
    assert unreadable.score == 0.0 and "no verdict could be read" in unreadable.rationale
    assert tie.score == 0.0  # a tie is not a pick when ties are not allowed
    assert no_label.score is None and no_label.failure.kind == "input"
    parses = VerdictMatch(check="parses").score([Sample(response="[[B]]"), Sample(response="no idea")])
    assert [j.score for j in parses] == [1.0, 0.0]


def test_pairs_are_shown_in_a_seeded_order_with_both_labels() -> None:
    from assay.train.genrm import shown
    from assay.train.pairs import Pair

    pairs = [Pair("q", f"good {i}", f"bad {i}", line=i) for i in range(1, 41)]
    labels = [shown(p, 0)[1] for p in pairs]
    assert 10 < labels.count("A") < 30 and labels == [shown(p, 0)[1] for p in pairs]
    for pair, label in zip(pairs, labels):
        view, _ = shown(pair, 0)
        assert (view.response_a if label == "A" else view.response_b) == pair.chosen


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory):
    pytest.importorskip("trl")
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from assay.backends import local_models

    tokenizer = AutoTokenizer.from_pretrained(str(local_models.default_encoder_path()), local_files_only=True)
    tokenizer.bos_token, tokenizer.eos_token = tokenizer.cls_token, tokenizer.sep_token
    tokenizer.model_max_length = 2048
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-causal")
    LlamaForCausalLM(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.mark.slow
def test_a_few_grpo_steps_log_reward_and_verdict_accuracy(tiny_causal_lm, tmp_path, capsys) -> None:
    from assay.cli import main

    rng = random.Random(0)
    topics = ["tea", "rivers", "chess", "bread", "bees", "maps", "rain", "whales"]
    data = tmp_path / "pairs.jsonl"
    with data.open("w") as handle:
        for i in range(12):
            t = rng.choice(topics)
            row = {"prompt": f"Tell me about {t}.", "chosen": f"Happy to help: {t} is a fascinating subject.", "rejected": f"No. Figure out {t} yourself."}
            if i % 2 == 0:
                row["rationale"] = "The polite response answers; the other refuses rudely."
            handle.write(json.dumps(row) + "\n")
    out = tmp_path / "genrm"
    code = main(["train", "genrm", str(data), "--model", str(tiny_causal_lm), "--output", str(out), "--max-steps", "3", "--batch-size", "2",
                 "--num-generations", "2", "--max-completion-length", "8", "--format-weight", "0.1", "--eval-fraction", "0.2",
                 "--sft-warmup", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert '"verdict_accuracy"' in printed and "load with:" in printed
    report = json.loads((out / "report.json").read_text())
    steps = [row for row in report["history"] if "verdict_accuracy" in row]
    assert [row["step"] for row in steps] == [1, 2, 3]
    for row in steps:
        assert 0.0 <= row["verdict_accuracy"] <= 1.0 and 0.0 <= row["readable"] <= 1.0
        assert "reward" in row and "rewards/verdict/mean" in row and "assay/verdict/failed" in row
    assert report["sft"]["rows"] >= 4 and report["pairs"] == {"train": 10, "eval": 2, "with_rationale": 6}
    scored = report["eval_scored"]
    assert scored["pairs"] == 2 and sum(scored["outcomes"].values()) == 2 and 0.0 <= report["eval_accuracy"] <= 1.0
    assert report["load_with"]["comparator"]["local_model"] == str(out) and (out / "config.json").is_file()
