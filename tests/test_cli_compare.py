"""``assay compare`` on the pairwise JSONL contract (rewards decide by score here; the
pairwise-judge path against a real server is in test_judge_llama.py), and
``assay llama-server --print-command``."""

from __future__ import annotations

import json

from assay.cli import main


def write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_compare_with_rewards_reports_accuracy_and_invalid_rate(tmp_path, capsys) -> None:
    pairs = tmp_path / "pairs.jsonl"
    write(pairs, [
        {"prompt": "Capital of France?", "response_a": "Paris", "response_b": "Lyon", "reference": "Paris", "label": "A"},
        {"prompt": "2+2?", "response_a": "5", "response_b": "4", "reference": "4", "label": "A"},
        {"prompt": "Say hi", "response_a": "hi", "response_b": "hi", "reference": "hi", "label": "tie", "id": 7},
    ])
    config = tmp_path / "c.yaml"
    config.write_text("rewards:\n  em: {type: exact_match}\n")
    output = tmp_path / "out.jsonl"
    assert main(["compare", str(pairs), "--config", str(config), "--output", str(output), "--summary-json", str(tmp_path / "s.json")]) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["winner"] for r in rows] == ["A", "B", "tie"]
    assert rows[2]["id"] == 7 and all("rationale" in r and r["failure"] is None for r in rows)
    printed = capsys.readouterr().out
    assert "accuracy:      66.7% of 3 labelled pairs" in printed
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["invalid_rate"] == 0.0 and summary["accuracy"] == 2 / 3


def test_compare_swap_and_bad_label(tmp_path, capsys) -> None:
    pairs = tmp_path / "pairs.jsonl"
    write(pairs, [
        {"prompt": "q", "response_a": "Paris", "response_b": "Lyon", "reference": "Paris"},
        {"prompt": "q", "response_a": "x", "response_b": "y", "label": "maybe"},
    ])
    config = tmp_path / "c.yaml"
    config.write_text("rewards:\n  em: {type: exact_match}\n")
    output = tmp_path / "out.jsonl"
    assert main(["compare", str(pairs), "--config", str(config), "--output", str(output), "--swap"]) == 2
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["winner"] == "A"  # the pair before the bad line is kept
    assert "field 'label'" in capsys.readouterr().err
    assert main(["compare", str(pairs), "--config", str(config), "--output", str(output), "--on-bad-line", "skip"]) == 0


def test_compare_missing_field(tmp_path, capsys) -> None:
    pairs = tmp_path / "pairs.jsonl"
    write(pairs, [{"prompt": "q", "response_a": "x"}])
    config = tmp_path / "c.yaml"
    config.write_text("rewards:\n  em: {type: exact_match}\n")
    assert main(["compare", str(pairs), "--config", str(config), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "response_b" in capsys.readouterr().err


def test_llama_server_command(capsys) -> None:
    import pytest

    pytest.importorskip("llama_cpp")
    assert main(["llama-server", "--port", "8123", "--print-command"]) == 0
    command = capsys.readouterr().out
    assert "llama_cpp.server" in command and "--port 8123" in command and "--chat_format gemma" in command
