"""``assay train distill`` end to end: a rule teacher (``math`` on GSM8K's example model
solutions, 300+ rows of real data) and a judge teacher (the packaged Gemma-3-270M behind the
local llama.cpp server, a small set) label the data, a head (or rm) student trains on the teacher's
pairs, and the report carries the held-out agreement, the teacher's failures by kind (never
labels) and the speed-up per label. Plus the reader's errors and the pairing rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from test_judge_llama import MODEL, llama_url  # noqa: E402,F401  (the session fixture: one server)
from test_train import tiny_llama  # noqa: E402,F401  (the tiny sequence classifier the rm tests train)

from assay.cli import main  # noqa: E402
from assay.files.jsonl import InputError  # noqa: E402
from assay.train.distill import distill, pairs_from_scores, read_distill_rows  # noqa: E402


def gsm8k_rows(data_dir: Path, questions: int) -> list[dict]:
    rows = []
    with open(data_dir / "gsm8k" / "example_model_solutions.jsonl") as handle:
        for i, line in enumerate(handle):
            if i >= questions:
                break
            item = json.loads(line)
            gold = item["ground_truth"].rsplit("A:", 1)[-1].strip()
            for value in item.values():
                if isinstance(value, dict) and "solution" in value:
                    rows.append({"prompt": item["question"], "response": value["solution"], "reference": gold})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_pairs_come_from_score_differences_within_a_prompt() -> None:
    items = [({"prompt": "q", "response": "x"}, 1.0), ({"prompt": "q", "response": "y"}, 0.0), ({"prompt": "q", "response": "z"}, 1.0)]
    pairs = pairs_from_scores(items, min_gap=0.0)
    assert {(p.chosen, p.rejected) for p in pairs} == {("x", "y"), ("z", "y")}  # equal scores make no pair
    assert pairs_from_scores(items, min_gap=1.0) == []


def test_a_file_mixing_pointwise_and_pair_rows_is_an_error(tmp_path) -> None:
    path = write_rows(tmp_path / "mixed.jsonl", [{"prompt": "p", "response": "r"}, {"prompt": "p", "chosen": "a", "rejected": "b"}])
    with pytest.raises(InputError, match=r"mixed.jsonl:2: field 'response'"):
        read_distill_rows(path)
    empty = write_rows(tmp_path / "empty.jsonl", [{"prompt": "p", "response": "  "}])
    with pytest.raises(InputError, match="empty"):
        read_distill_rows(empty)


@pytest.mark.slow
@pytest.mark.data
def test_rule_teacher_on_gsm8k_solutions(data_dir, tmp_path, capsys) -> None:
    rows = gsm8k_rows(data_dir, 76)  # 304 solutions, 4 per question
    broken = [{"prompt": "What is 2 + 2?", "response": "4"}, {"prompt": "What is 3 + 3?", "response": "6"}]  # no reference: the teacher fails
    data = write_rows(tmp_path / "gsm.jsonl", rows + broken)
    teacher = tmp_path / "math.yaml"
    teacher.write_text("rewards:\n  correct: {type: math}\n")
    out = tmp_path / "run"
    code = main(["train", "distill", str(data), "--teacher", str(teacher), "--output", str(out), "--student", "head",
                 "--epochs", "40", "--hidden", "16", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert '"agreement"' in printed and "load with:" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["rows"] == len(rows) + 2
    assert report["teacher_failures_by_kind"] == {"input": 2} and report["teacher_failures"] == 2
    assert report["teacher_outcomes"]["scored"] == len(rows)
    labels = [json.loads(line) for line in (out / "teacher_labels.jsonl").read_text().splitlines()]
    failed = [row for row in labels if row["outcome"] != "scored"]
    assert len(failed) == 2 and all(row["score"] is None and row["teacher"]["failure"]["kind"] == "input" for row in failed)
    trained = [json.loads(line) for line in (out / "teacher_pairs.train.jsonl").read_text().splitlines()]
    assert not any(p["chosen"] in ("4", "6") or p["rejected"] in ("4", "6") for p in trained)  # a failure is never a label
    held = [json.loads(line) for line in (out / "teacher_pairs.eval.jsonl").read_text().splitlines()]
    assert {p["prompt"] for p in trained}.isdisjoint({p["prompt"] for p in held})  # split by prompt
    assert report["pairs"] == {"train": len(trained), "eval": len(held)} and len(held) >= 10
    assert 0.0 <= report["agreement"] <= 1.0 and report["agreement_detail"]["pairs"] == len(held)
    assert report["teacher_seconds_per_label"] > 0 and report["student_seconds_per_label"] > 0 and report["speedup"] > 0
    assert (out / "student" / "head.safetensors").is_file() and report["load_with"]["type"] == "embedding_head"


@pytest.mark.slow
@pytest.mark.timeout(1500)  # a shared 2-core CPU: each judge call waits for the one server
def test_judge_teacher_over_the_local_llama_server(llama_url, tmp_path) -> None:  # noqa: F811
    """The packaged Gemma-3-270M as a pointwise judge (score by token probabilities): its
    labels are noisy; what is checked is the machinery: labels or counted failures, pairs,
    a student, the agreement figure and the speed-up."""
    topics = ["tea", "rivers", "chess", "bread", "bees"]
    rows = []
    for t in topics:
        rows += [{"prompt": f"Tell me about {t}.", "response": f"Sure: {t} is a fascinating subject, and here is a clear explanation of {t}."},
                 {"prompt": f"Tell me about {t}.", "response": f"No. Figure out {t} yourself."}]
    data = write_rows(tmp_path / "rows.jsonl", rows)
    teacher = {"rewards": {"judge": {"type": "judge", "base_url": llama_url, "model": MODEL, "mode": "completions", "score_by": "logprobs",
                                     "top_logprobs": 20, "scale_min": 1, "scale_max": 9, "concurrency": 1, "timeout": 120, "retries": 1}}}
    report = distill(data, teacher, tmp_path / "run", student="head", student_options={"epochs": 30, "hidden": (8,)},
                     eval_fraction=0.4, concurrency=2, chunk_size=2, progress=False)
    outcomes = report["teacher_outcomes"]
    assert sum(outcomes.values()) == len(rows)
    assert report["teacher_failures"] == sum(v for k, v in outcomes.items() if k not in ("scored", "abstained"))
    labels = [json.loads(line) for line in (tmp_path / "run" / "teacher_labels.jsonl").read_text().splitlines()]
    assert all((row["score"] is None) == (row["outcome"] != "scored") for row in labels)
    if report["pairs"]["train"] == 0:
        assert "stopped" in report  # every label failed or tied: said so, nothing trained
        return
    if report["pairs"]["eval"]:
        assert 0.0 <= report["agreement"] <= 1.0
        assert report["teacher_seconds_per_label"] > 0 and report["speedup"] > 0


@pytest.mark.slow
def test_rm_student_and_labels_only(tmp_path, tiny_llama) -> None:  # noqa: F811
    """The rm student (a tiny Llama built by test_train's recipe) on a rule teacher's pairs,
    loaded back as ``type: classifier``; ``labels_only`` writes the pairs and trains nothing."""
    pytest.importorskip("trl")

    rows = []
    for a in range(2, 14):
        for b in (3, 7):
            rows += [{"prompt": f"What is {a} + {b}?", "response": f"The answer is {a + b}.", "reference": str(a + b)},
                     {"prompt": f"What is {a} + {b}?", "response": f"The answer is {a + b + 2}.", "reference": str(a + b)}]
    data = write_rows(tmp_path / "sums.jsonl", rows)
    teacher = {"rewards": {"correct": {"type": "math"}}}
    only = distill(data, teacher, tmp_path / "labels", labels_only=True, progress=False)
    assert only["pairs"]["train"] + only["pairs"]["eval"] == len(rows) // 2 and "load_with" not in only
    assert not (tmp_path / "labels" / "student").exists()
    model = tiny_llama
    report = distill(data, teacher, tmp_path / "rm", student="rm", student_options={"model": str(model), "max_length": 64, "lr": 1e-4},
                     progress=False)
    assert report["load_with"]["type"] == "classifier" and 0.0 <= report["agreement"] <= 1.0 and report["speedup"] > 0
    assert report["student_report"]["pairs"] == report["pairs"]


