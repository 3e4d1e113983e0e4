"""Training a PRM on PRMBench's training files: the converter's labelling on hand-written
rows (pure), its errors, the ``prm`` reward's partial results past ``max_length`` (a tiny
BERT token classifier the test builds with the packaged MiniLM tokenizer), and, from the real
files, converter + ``assay train prm`` + ``type: prm`` + ``assay bench prmbench`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assay.files.jsonl import InputError
from assay.train.prmbench_steps import convert, new_stats, solutions_of_row, step_labels

ROOT = Path(__file__).resolve().parents[1]

ROW = {
    "original_question": "What is 2 + 3 + 4?",
    "modified_question": "What is 2 + 3 + 4?",
    "original_process": ["2 + 3 = 5.", "5 + 4 = 9.", "The answer is 9."],
    "modified_process": ["2 + 3 = 5.", "5 + 4 = 10.", "Check: 10 is even.", "So 10 - 1 = 9 is odd.", "The answer is 10.", "Done."],
    "modified_steps": [2, 3, 5],
    "error_steps": [2, 5],
    "idx": "q7",
    "classification": "counterfactual",
}


# --- the converter's labelling (pure) --------------------------------------------------------


def test_step_labels_follow_prmbench_and_the_other_readings():
    # PRMBench's evaluation: a step is wrong exactly when listed, right otherwise (even after the first error)
    assert step_labels(6, [2, 5]) == (True, False, True, True, False, True)
    # nothing claimed about unlisted steps after the first error
    assert step_labels(6, [2, 5], "unlabelled") == (True, False, None, None, False, None)
    # PRM800K / Math-Shepherd: once wrong, wrong
    assert step_labels(6, [2, 5], "wrong") == (True, False, False, False, False, False)
    assert step_labels(3, []) == (True, True, True)
    with pytest.raises(ValueError, match="after_error"):
        step_labels(3, [1], "later")


def test_a_hand_written_row_gives_the_original_right_and_the_modified_labelled():
    original, modified = solutions_of_row(ROW, "rows.jsonl", 4)
    assert (original.prompt, original.labels, original.field, original.group) == ("What is 2 + 3 + 4?", (True, True, True), "original_process", "q7")
    assert modified.steps == tuple(ROW["modified_process"]) and modified.labels == (True, False, True, True, False, True)
    assert (modified.group, modified.classification, modified.line) == ("q7", "counterfactual", 4)
    row = modified.to_row()
    assert row["labels"] == [True, False, True, True, False, True] and row["source"] == {
        "file": "rows.jsonl", "line": 4, "field": "modified_process", "classification": "counterfactual"}


def test_error_steps_past_the_end_are_dropped_and_a_row_with_only_those_is_left_out():
    stats = new_stats()
    _, modified = solutions_of_row({**ROW, "error_steps": [2, 9]}, "r.jsonl", 1, stats=stats)
    assert modified.labels == (True, False, True, True, True, True) and stats["error_steps_past_end"] == 1
    only_past = solutions_of_row({**ROW, "error_steps": [7, 9]}, "r.jsonl", 2, stats=stats)
    assert [s.field for s in only_past] == ["original_process"] and stats["modified_left_out"] == 1


def test_one_original_solution_per_idx_across_files():
    rows = [("a.jsonl", 1, ROW), ("b.jsonl", 1, {**ROW, "classification": "circular"}), ("a.jsonl", 2, {**ROW, "idx": "q8"})]
    stats = new_stats()
    fields = [(s.path, s.field, s.group) for s in convert(iter(rows), stats=stats)]
    assert fields == [("a.jsonl", "original_process", "q7"), ("a.jsonl", "modified_process", "q7"), ("b.jsonl", "modified_process", "q7"),
                      ("a.jsonl", "original_process", "q8"), ("a.jsonl", "modified_process", "q8")]
    assert stats["originals"] == 2 and stats["originals_repeated"] == 1 and stats["modified"] == 3


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"error_steps": [0, 2]}, "error_steps", "1-based step numbers"),
    ({"error_steps": "2"}, "error_steps", "1-based step numbers"),
    ({"modified_process": ["a", 3]}, "modified_process", "step 2 is int"),
    ({"modified_process": [" ", ""]}, "modified_process", "every step is empty"),
    ({"original_process": []}, "original_process", "non-empty list"),
    ({"original_question": None}, "original_question", "string"),
])
def test_a_bad_row_names_file_line_and_field(change, field, message):
    with pytest.raises(InputError, match=rf"rows.jsonl:3: field '{field}': .*{message}"):
        solutions_of_row({**ROW, **change}, "rows.jsonl", 3)


def test_the_script_writes_rows_that_train_prm_reads_grouped_by_question(tmp_path):
    from assay.train.prm import read_step_rows

    first, second = tmp_path / "p_circular.jsonl", tmp_path / "p_deception.jsonl"
    first.write_text(json.dumps(ROW) + "\n" + json.dumps({**ROW, "idx": "q8"}) + "\n")
    second.write_text(json.dumps({**ROW, "classification": "deception", "error_steps": [3]}) + "\n")
    out = tmp_path / "steps.jsonl"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "prmbench_to_steps.py"), str(first), str(second), "-o", str(out), "--after-error", "unlabelled"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 0, run.stderr
    assert '"originals": 2' in run.stderr and "wrote 5 solutions" in run.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[1]["labels"] == [True, False, None, None, False, None]  # JSON null: unlabelled
    groups = read_step_rows(out)
    assert [[e.labels for e in g] for g in groups][0] == [(1, 1, 1), (1, 0, None, None, 0, None), (1, 1, 0, None, None, None)]
    assert [g[0].group for g in groups] == ["q7", "q8"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROW) + "\n" + json.dumps({**ROW, "error_steps": [-1]}) + "\n")
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "prmbench_to_steps.py"), str(bad), "-o", str(tmp_path / "x.jsonl")],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 2 and "bad.jsonl:2: field 'error_steps'" in run.stderr


def test_a_step_row_label_may_be_null_but_not_all_null(tmp_path):
    from assay.train.prm import read_step_rows

    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "q", "steps": ["a", "b"], "labels": [true, null]}\n{"prompt": "q", "steps": ["a"], "labels": [null]}\n')
    with pytest.raises(InputError, match=r"s.jsonl:2: field 'labels': every label is null"):
        read_step_rows(path)


def test_the_bench_reads_the_scored_steps_of_a_partial_result():
    from assay.bench.protocols import scored_step_prefix

    assert scored_step_prefix({"details": {"step_scores": [0.9, 0.2, None, None]}}) == [0.9, 0.2]
    assert scored_step_prefix({"details": {"step_scores": [0.9, 0.2]}}) is None  # complete
    assert scored_step_prefix({"details": {"step_scores": [None, 0.2, None]}}) is None  # a hole, not a cut
    assert scored_step_prefix({"details": {"prm": {"details": {"step_scores": [1.0, None]}}}}) == [1.0]  # a component


# --- the prm reward past max_length (a tiny BERT token classifier) ---------------------------


@pytest.fixture(scope="module")
def tiny_bert_prm(tmp_path_factory):
    """A 2-layer BERT token classifier (random weights, 2 classes, 128 positions) with the
    packaged MiniLM tokenizer: the architecture the trained MiniLM PRM has."""
    pytest.importorskip("transformers")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from assay.backends import local_models

    tokenizer = AutoTokenizer.from_pretrained(str(local_models.default_encoder_path()), local_files_only=True)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                        max_position_embeddings=128, num_labels=2, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert-prm")
    BertForTokenClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_steps_past_max_length_are_unscored_not_guessed(tiny_bert_prm):
    from assay.rewards.process.prm import StepRewardModel
    from assay.types import Sample

    steps = [f"step {k} adds {k} to the running total of the long sum." for k in range(30)]
    sample = Sample(prompt="Add the numbers.", response="\n".join(steps), steps=steps)
    short = Sample(prompt="Add.", response="1 + 1 = 2.", steps=["1 + 1 = 2."])
    failing = StepRewardModel(model=str(tiny_bert_prm), separator=" [SEP]", max_length=4096)  # the model's 128 positions bind
    judgment = failing.score([sample])[0]
    assert judgment.failure is not None and judgment.failure.kind == "input" and "max_length 128" in judgment.rationale
    partial = StepRewardModel(model=str(tiny_bert_prm), separator=" [SEP]", max_length=100, too_long="unscored")
    long_judgment, short_judgment = partial.score([sample, short])
    scores = long_judgment.details["step_scores"]
    kept = long_judgment.details["unscored_steps"]
    assert long_judgment.ok and 0 < kept < 30 and scores[30 - kept:] == [None] * kept and all(isinstance(s, float) for s in scores[: 30 - kept])
    assert long_judgment.rationale.startswith(f"partial: steps {30 - kept + 1}-30 lie past max_length 100 tokens")
    assert long_judgment.score == pytest.approx(min(scores[: 30 - kept]))
    # the scored steps are scored as they are in a solution cut by hand to those steps
    alone = partial.score([Sample(prompt=sample.prompt, response="", steps=steps[: 30 - kept])])[0]
    assert alone.details["step_scores"] == pytest.approx(scores[: 30 - kept], abs=1e-5)
    assert short_judgment.ok and "unscored_steps" not in short_judgment.details
    prompt_only = partial.score([Sample(prompt="many words " * 80, response="x", steps=["x"])])[0]
    assert prompt_only.failure is not None and prompt_only.failure.kind == "input" and "not even the first step fits" in prompt_only.rationale


# --- end to end from the real files -----------------------------------------------------------


@pytest.mark.data
def test_converter_train_prm_type_prm_and_prmbench_end_to_end(tiny_bert_prm, data_dir, tmp_path):
    from assay.bench.runner import run_benchmark
    from assay.train.prm import train_prm

    train_files = sorted((data_dir / "prmbench").glob("prm800k_train_p1_first400_*.jsonl"))
    if len(train_files) != 8:
        pytest.skip("PRMBench's 8 training files are absent")
    steps = tmp_path / "steps.jsonl"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "prmbench_to_steps.py"), *map(str, train_files), "-o", str(steps), "--rows-per-file", "2"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 0, run.stderr
    out = tmp_path / "prm"
    report = train_prm(steps, str(tiny_bert_prm), out, step_separator=" [SEP]", max_length=128, lr=1e-3, batch_size=8, eval_fraction=0.3,
                       wrong_weight=3.0, progress=False, device="cpu")
    assert report["truncated"]["train"]["solutions"] > 0 and report["truncated"]["train"]["steps"] > 0  # 128 tokens cut most solutions
    assert report["load_with"]["too_long"] == "unscored" and report["eval_scored"]["unscored_steps"] > 0 and report["eval_scored"]["failed"] == 0
    assert (out / "report.json").exists() and (out / "curves.png").exists()
    config = {"rewards": {"prm": {**report["load_with"], "batch_size": 16}}}
    bench = run_benchmark("prmbench", config=config, data_dir=data_dir, limit=30, progress=False, resamples=0, options={"files": "test"},
                          output=tmp_path / "bench")
    assert all("train" not in Path(f).name for f in bench["data"]["files"]) and len(bench["data"]["files"]) == 17
    assert bench["prm_score"] is None or 0 <= bench["prm_score"] <= 1
    assert "f1_positive" in bench and any("scored in part" in note for note in bench["data"]["notes"])
