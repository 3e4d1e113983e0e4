"""``assay train head|rm|prm`` end to end on this CPU: a few hundred synthetic pairs with a
learnable signal (a courteous on-topic answer beats a rude one), tiny 2-layer Llama models
built here with the packaged MiniLM tokenizer (no downloads), and each result loaded back
through its reward type and scored on the held-out split. Plus the pairs reader's errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from assay.backends import local_models  # noqa: E402
from assay.cli import main  # noqa: E402
from assay.compose.load import load_reward  # noqa: E402
from assay.files.jsonl import InputError  # noqa: E402
from assay.train.pairs import pair_outcomes, read_pairs, split_pairs  # noqa: E402
from assay.types import Sample  # noqa: E402

TOPICS = ["the moon", "rivers", "bread", "chess", "volcanoes", "tea", "bicycles", "whales", "music", "rain", "glass", "trees", "maps", "bees"]
GOOD = ["Sure, happy to help: {t} is a fascinating subject, and here is a clear explanation.",
        "Great question! Here is a careful, friendly answer about {t}.",
        "Thanks for asking. I will explain {t} step by step, with an example."]
BAD = ["No. Figure out {t} yourself, idiot.", "Stupid question about {t}, go away.", "I hate answering about {t}; leave me alone, fool."]


def write_pairs(path: Path, n: int, seed: int = 0, margin: bool = False) -> Path:
    rng = random.Random(seed)
    with path.open("w") as handle:
        for _ in range(n):
            t = rng.choice(TOPICS)
            row = {"prompt": f"Tell me about {t}.", "chosen": rng.choice(GOOD).format(t=t), "rejected": rng.choice(BAD).format(t=t)}
            if margin:
                row["margin"] = 0.5
            handle.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A 2-layer Llama sequence classifier (random weights) with the MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(local_models.default_encoder_path()), local_files_only=True)
    tokenizer.bos_token = tokenizer.cls_token
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=512, num_labels=1, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.cls_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def pair_accuracy(reward, pairs) -> float:
    judgments = reward.score([s for p in pairs for s in p.samples()])
    return sum(judgments[2 * i].score > judgments[2 * i + 1].score for i in range(len(pairs))) / len(pairs)


# --- the pairs reader ----------------------------------------------------------------------


def test_pairs_in_both_forms_and_a_seeded_split(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"prompt": "q", "chosen": "good", "rejected": "bad"}\n\n'
        '{"prompt": "q2", "response_a": "worse", "response_b": "better", "label": "B"}\n'
        '{"prompt": [{"role": "user", "content": "hi"}], "chosen": "hello", "rejected": "go"}\n'
    )
    pairs = read_pairs(path)
    assert [(p.chosen, p.rejected, p.line) for p in pairs] == [("good", "bad", 1), ("better", "worse", 3), ("hello", "go", 4)]
    assert pairs[2].texts[0] == "user: hi"  # as assay renders a chat prompt as text
    train, held = split_pairs(pairs, 0.34, seed=1)
    assert len(train) == 2 and len(held) == 1 and split_pairs(pairs, 0.34, seed=1) == (train, held)


@pytest.mark.parametrize(("line", "field", "problem"), [
    ('{"prompt": "q", "chosen": "a"}', "rejected", "missing"),
    ('{"prompt": "q", "response_a": "a", "response_b": "b", "label": "tie"}', "label", "must be A or B"),
    ('{"prompt": "q", "chosen": "a", "rejected": "  "}', "rejected", "empty"),
    ('{"prompt": "q", "chosen": "a", "rejected": "b", "margin": "big"}', "margin", "finite number"),
    ('{"prompt": "q", "answer": "a"}', "chosen", "missing"),
    ('{"prompt": "q", "chosen": 3, "rejected": "b"}', "chosen", "expected a string"),
    ("not json", None, "not valid JSON"),
])
def test_a_bad_row_names_file_line_and_field(tmp_path, line, field, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n' + line + "\n")
    with pytest.raises(InputError) as caught:
        read_pairs(path)
    assert caught.value.line == 2 and caught.value.field == field and problem in str(caught.value)
    assert str(path) in str(caught.value)


def test_margin_on_some_rows_only_is_an_error(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"chosen": "a", "rejected": "b", "margin": 1}\n{"chosen": "a", "rejected": "b"}\n')
    with pytest.raises(InputError, match=r"m.jsonl:2: field 'margin': missing: 1 of 2"):
        read_pairs(path)


def test_the_cli_reports_a_bad_row_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "q", "chosen": "a"}\n')
    assert main(["train", "head", str(path), "--output", str(tmp_path / "out"), "--quiet"]) == 2
    assert f"{path}:1: field 'rejected': missing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- the trainers --------------------------------------------------------------------------


def test_train_head_cli_writes_a_small_head_that_scores_held_out_pairs(tmp_path, monkeypatch, capsys):
    from assay.rewards.models.classifier import EmbeddingHeadReward

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = write_pairs(tmp_path / "train.jsonl", 200)
    held_path = write_pairs(tmp_path / "held.jsonl", 40, seed=7)
    out = tmp_path / "head"
    assert main(["train", "head", str(data), "--output", str(out), "--epochs", "60", "--hidden", "16", "--quiet", "--seed", "3"]) == 0
    assert '"type": "embedding_head"' in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["pairs"] == {"train": 180, "eval": 20} and report["eval_accuracy"] > 0.8
    assert report["history"][-1]["epoch"] == 60 and "eval_accuracy" in report["history"][0]
    assert (out / "head.safetensors").stat().st_size < 5_000_000
    pytest.importorskip("matplotlib")
    assert (out / "curves.png").stat().st_size > 1000
    reward = EmbeddingHeadReward(head=str(out / "head.safetensors"))
    assert pair_accuracy(reward, read_pairs(held_path)) > 0.8


def test_train_head_with_degenerate_pairs_ranks_real_answers_above_gamed_replies(tmp_path, monkeypatch):
    """--degenerate N adds, per training prompt, its answer against N degenerate replies
    (assay.train.degenerate); the eval split stays as read, and the head learns that an echo
    or a stock non-answer is worse than an answer."""
    from assay.rewards.models.classifier import EmbeddingHeadReward
    from assay.types import Sample

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = write_pairs(tmp_path / "train.jsonl", 120)
    out = tmp_path / "head"
    assert main(["train", "head", str(data), "--output", str(out), "--epochs", "60", "--hidden", "16", "--quiet", "--degenerate", "4", "--degenerate-kinds", "echo,repeat,stock,fragment"]) == 0
    report = json.loads((out / "report.json").read_text())
    prompts = {json.loads(line)["prompt"] for line in data.read_text().splitlines()}
    counts = report["degenerate_pairs"]
    assert counts["skipped"] == 0 and counts["echo"] + counts["repeat"] + counts["stock"] + counts["fragment"] > 3 * len(prompts)
    assert report["pairs"] == {"train": 108 + sum(v for k, v in counts.items() if k != "skipped"), "eval": 12}
    reward = EmbeddingHeadReward(head=str(out / "head.safetensors"))
    topic = TOPICS[0]
    prompt = f"Tell me about {topic}."
    answer = GOOD[0].format(t=topic)
    scores = [j.score for j in reward.score([Sample(prompt=prompt, response=r) for r in (answer, prompt, "I don't know.")])]
    assert scores[0] > scores[1] and scores[0] > scores[2], scores


def test_a_trainer_ends_with_the_benchmarks_the_user_names(tmp_path, monkeypatch, capsys, data_dir):
    """--bench runs `assay bench` on the trained model in the same run: its table lands in
    report.json and benchmarks.md; a benchmark that cannot run is a row with its error."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = write_pairs(tmp_path / "train.jsonl", 40)
    out = tmp_path / "head"
    argv = ["train", "head", str(data), "--output", str(out), "--epochs", "20", "--quiet", "--bench", "llmbar", "no-such-bench",
            "--bench-limit", "6", "--data-dir", str(data_dir)]
    assert main(argv) == 0
    rows = json.loads((out / "report.json").read_text())["benchmarks"]
    assert rows[0]["benchmark"] == "llmbar" and rows[0]["n"] == 6 and 0.0 <= rows[0]["value"] <= 1.0 and rows[0]["ci"]
    assert Path(rows[0]["report"]).is_file()
    assert rows[1]["benchmark"] == "no-such-bench" and "unknown benchmark" in rows[1]["error"]
    table = (out / "benchmarks.md").read_text()
    assert "| llmbar | overall |" in table and "no-such-bench | error" in table


def test_train_rm_loads_unchanged_as_classifier_and_beats_chance(tiny_llama, tmp_path):
    from assay.rewards.models.classifier import SequenceClassifierReward
    from assay.train.rm import train_rm

    data = write_pairs(tmp_path / "train.jsonl", 300, margin=True)
    held_path = write_pairs(tmp_path / "held.jsonl", 60, seed=11)
    out = tmp_path / "rm"
    report = train_rm(data, str(tiny_llama), out, lr=1e-3, batch_size=16, max_length=24, seed=0, progress=False, device="cpu",
                      center_rewards=0.01, logging_steps=5)
    assert report["pairs"] == {"train": 270, "eval": 30} and report["margin"] is True
    assert report["truncated"]["train"] > 0 and report["truncated"]["max_length"] == 24  # the long polite answers were cut
    assert report["eval_accuracy"] > 0.8 and report["eval_scored"]["failed"] == 0
    assert any("loss" in row for row in report["history"]) and any("eval_accuracy" in row for row in report["history"])
    assert list((out / "checkpoints").glob("checkpoint-*"))
    reward = SequenceClassifierReward(model=str(out), max_length=24)
    assert pair_accuracy(reward, read_pairs(held_path)) > 0.8
    judgment = reward.score([Sample(prompt="Tell me about tea.", response="Go away, fool.")])[0]
    assert judgment.ok and "truncated" not in judgment.rationale


def test_train_rm_takes_degenerate_pairs_but_not_beside_margins(tiny_llama, tmp_path):
    from assay.train.rm import train_rm

    with pytest.raises(ValueError, match="no-margin"):
        train_rm(write_pairs(tmp_path / "m.jsonl", 20, margin=True), str(tiny_llama), tmp_path / "x", degenerate=1, progress=False, device="cpu")
    data = write_pairs(tmp_path / "train.jsonl", 40)
    report = train_rm(data, str(tiny_llama), tmp_path / "rm", lr=1e-3, batch_size=16, max_length=24, progress=False, device="cpu",
                      degenerate=2, degenerate_kinds=("echo", "stock"))
    counts = report["degenerate_pairs"]
    assert set(counts) == {"echo", "stock", "skipped"} and counts["echo"] > 0 and counts["stock"] > 0
    assert report["pairs"]["train"] == 36 + counts["echo"] + counts["stock"]


def test_train_rm_with_lora_saves_a_merged_model(tiny_llama, tmp_path):
    """Also: the truncation side (right: an encoder's way) is the one training and scoring share."""
    from assay.train.rm import train_rm

    data = write_pairs(tmp_path / "train.jsonl", 200)
    out = tmp_path / "rm-lora"
    report = train_rm(data, str(tiny_llama), out, lr=2e-3, batch_size=16, max_length=64, lora=True, lora_r=4, progress=False, device="cpu",
                      truncation_side="right")
    assert not (out / "adapter_config.json").exists() and (out / "model.safetensors").exists()
    assert report["options"]["lora"] == {"r": 4, "alpha": 32} and report["eval_accuracy"] > 0.6
    assert report["load_with"]["truncation_side"] == "right" == report["truncated"]["side"]
    samples = [Sample(prompt="q", response="a"), Sample(prompt="tea?", response="Sure, happy to help with tea.")]
    merged = load_reward({"rewards": {"rm": report["load_with"]}}).score(samples)
    # the adapter alone, saved before the merge, loads over its base and scores the same
    adapter = out / "adapter"
    assert (adapter / "adapter_config.json").is_file() and not (adapter / "config.json").exists()
    assert (adapter / "adapter_model.safetensors").stat().st_size < (out / "model.safetensors").stat().st_size
    alone = load_reward({"rewards": {"rm": {**report["load_with"], "model": str(adapter)}}}).score(samples)
    assert all(j.ok for j in merged + alone)
    assert [round(j.score, 4) for j in alone] == [round(j.score, 4) for j in merged]


def test_train_prm_on_prmbench_rows_loads_through_type_prm(tiny_llama, tmp_path, data_dir):
    from assay.compose.load import load_reward
    from assay.train.prm import read_step_rows, train_prm

    source = data_dir / "prmbench" / "prm800k_train_p1_first400_4o_circular.jsonl"
    if not source.exists():
        pytest.skip("PRMBench training file absent")
    rows = read_step_rows(source, limit=2)
    assert rows[0][0].labels == (1,) * len(rows[0][0].steps)  # original_process: every step right
    assert 0 in rows[0][1].labels  # modified_process: the error_steps are wrong
    out = tmp_path / "prm"
    report = train_prm(source, str(tiny_llama), out, limit=24, lr=1e-3, batch_size=8, max_length=256, progress=False, device="cpu")
    assert report["examples"]["train"] > 0 and report["eval_scored"]["failed"] == 0
    trainer_row = next(row for row in reversed(report["history"]) if "eval_step_accuracy" in row)
    assert report["eval_accuracy"] == pytest.approx(trainer_row["eval_step_accuracy"])  # training and scoring read the same positions
    reward = load_reward({"rewards": {"prm": {"type": "prm", "model": str(out), "convention": "token_classification", "separator": "\n"}}})
    judgment = reward.score([Sample(prompt="What is 2 + 2?", response="2 + 2 = 4.\nSo the answer is 4.", steps=["2 + 2 = 4.", "So the answer is 4."])])[0]
    assert judgment.ok, judgment.rationale


def test_a_step_row_with_bad_error_steps_names_the_field(tmp_path):
    from assay.train.prm import read_step_rows

    path = tmp_path / "s.jsonl"
    path.write_text('{"question": "q", "original_process": ["a"], "modified_process": ["a", "b"], "error_steps": [0]}\n')
    with pytest.raises(InputError, match=r"s.jsonl:1: field 'error_steps': expected a list of 1-based step numbers"):
        read_step_rows(path)
    # a step number past the end is dropped, as PRMBench's evaluation never reaches it (tests/test_prm_prmbench.py)
    path.write_text('{"question": "q", "original_process": ["a"], "modified_process": ["a", "b"], "error_steps": [2, 3]}\n')
    assert [e.labels for e in read_step_rows(path)[0]] == [(1,), (1, 0)]


def test_import_assay_and_the_train_cli_parser_load_no_torch():
    code = ("import sys, assay, assay.cli; assay.cli.build_parser(); import assay.train.pairs, assay.train.report;"
            "print(sorted(m for m in ('torch', 'trl', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_train_prm_cli_on_two_files_of_labelled_steps(tiny_llama, tmp_path, capsys):
    rng = random.Random(0)
    files = []
    for k in range(2):
        path = tmp_path / f"steps{k}.jsonl"
        with path.open("w") as handle:
            for _ in range(10):
                a, b = rng.randint(2, 9), rng.randint(2, 9)
                wrong = rng.random() < 0.5
                steps = [f"{a} + {b} = {a + b + (1 if wrong else 0)}.", f"So the answer is {a + b + (1 if wrong else 0)}."]
                handle.write(json.dumps({"prompt": f"What is {a} + {b}?", "steps": steps, "labels": [not wrong, not wrong]}) + "\n")
        files.append(str(path))
    out = tmp_path / "prm"
    assert main(["train", "prm", *files, "--model", str(tiny_llama), "--output", str(out), "--lr", "1e-3", "--max-length", "64",
                 "--eval-fraction", "0.2", "--quiet", "--device", "cpu"]) == 0
    assert '"type": "prm"' in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["examples"] == {"train": 16, "eval": 4} and report["eval_scored"]["steps"] == 8


def test_split_transcripts_makes_the_shared_start_the_prompt(tmp_path):
    path = tmp_path / "hh.jsonl"
    path.write_text(json.dumps({"chosen": "\n\nHuman: hi\n\nAssistant: hello!", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}) + "\n"
                    + json.dumps({"chosen": "no marker a", "rejected": "no marker b"}) + "\n")
    first, second = read_pairs(path, split_transcripts=True)
    assert (first.prompt, first.chosen, first.rejected) == ("\n\nHuman: hi\n\nAssistant:", "hello!", "go away")
    assert (second.prompt, second.chosen) == ("", "no marker a")


def test_pair_outcomes_count_a_failed_side_as_failed_never_as_a_loss():
    from assay.types import Judgment

    def scored(value):
        return Judgment(score=value, rationale="")

    failed = Judgment.fail("backend", "down")
    assert pair_outcomes([scored(1), scored(0), scored(0), scored(1), failed, scored(1), scored(2), failed]) == (1, 2)
    assert pair_outcomes([]) == (0, 0)


def test_degenerate_replies_stay_bounded_on_hostile_text_and_a_bad_count_is_an_error():
    import random

    from assay.train.degenerate import degenerate_reply, degenerate_triples

    huge = "word " * 200_000
    assert len(degenerate_reply(huge, huge, "repeat", random.Random(0)).split()) == 60
    assert degenerate_reply(huge, huge, "fragment", random.Random(0)) == "word word word word word"
    # a blank answer has no fragment, and a blank prompt repeats a placeholder: nothing blank is kept
    assert all(rejected.strip() for _, _, rejected, _ in degenerate_triples({" " * 1_000_000: [" \n "]}, 4, random.Random(0)))
    with pytest.raises(ValueError, match="0 or more"):
        degenerate_triples({"q": ["an answer"]}, -1, random.Random(0))
    with pytest.raises(ValueError, match="unknown degenerate kind"):
        degenerate_triples({"q": ["an answer"]}, 1, random.Random(0), ("echo", "shout"))
