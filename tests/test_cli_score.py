"""`assay score` and `assay list` on the JSONL contract."""

import json
import subprocess
import sys

import pytest

from assay.cli import main

REWARDS = '''
def length(response, reference=None):
    return float(len(response)), f"{len(response)} characters"
'''


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "funcs.py").write_text(REWARDS)
    (tmp_path / "rewards.yaml").write_text("rewards:\n  n: {type: function, path: funcs.py:length}\n")
    return tmp_path


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_writes_contract_rows_and_summary(setup, capsys):
    inp = setup / "in.jsonl"
    inp.write_text('{"prompt": "p", "response": "abc", "id": 1, "topic": "t"}\n\n{"response": [{"role": "assistant", "content": "hello"}]}\n')
    out = setup / "out.jsonl"
    assert main(["score", str(inp), "--config", str(setup / "rewards.yaml"), "--output", str(out), "-q"]) == 0
    first, second = rows(out)
    assert first["topic"] == "t" and first["id"] == 1  # every input field kept
    assert first["score"] == 3.0 and first["failure"] is None
    assert first["rewards"]["n"] == {"score": 3.0, "rationale": "3 characters", "failure": None, "details": {}}
    assert second["score"] == 5.0
    table = capsys.readouterr().out
    assert "reward" in table and "total" in table and "3.0000" not in table  # mean of 3 and 5
    assert "4.0000" in table


def test_malformed_line_names_file_line_field_and_keeps_scored_rows(setup, capsys):
    inp = setup / "in.jsonl"
    inp.write_text('{"response": "a"}\n{"response": "bb"}\n{"prompt": "no response"}\n{"response": "never"}\n')
    out = setup / "out.jsonl"
    code = main(["score", str(inp), "--config", str(setup / "rewards.yaml"), "--output", str(out), "-q", "--batch-size", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{inp}:3: field 'response': missing" in err
    assert [r["response"] for r in rows(out)] == ["a", "bb"]


def test_invalid_json_and_wrong_field_type(setup, capsys):
    inp = setup / "in.jsonl"
    inp.write_text('{"response": "a"}\n{"response": 5}\n{not json\n')
    out = setup / "out.jsonl"
    assert main(["score", str(inp), "--config", str(setup / "rewards.yaml"), "--output", str(out), "-q"]) == 2
    assert "in.jsonl:2: field 'response': expected a string" in capsys.readouterr().err
    assert main(["score", str(inp), "--config", str(setup / "rewards.yaml"), "--output", str(out), "-q", "--on-bad-line", "skip"]) == 0
    captured = capsys.readouterr()
    assert "skipped 2 malformed line(s)" in captured.err
    assert [r["response"] for r in rows(out)] == ["a"]


def test_bad_config_is_a_clear_error(setup, capsys):
    inp = setup / "in.jsonl"
    inp.write_text('{"response": "a"}\n')
    (setup / "bad.yaml").write_text("rewards:\n  n: {type: nope}\n")
    assert main(["score", str(inp), "--config", str(setup / "bad.yaml"), "--output", str(setup / "o.jsonl")]) == 2
    assert "unknown reward type 'nope'" in capsys.readouterr().err


def test_list_prints_every_type(capsys):
    from assay.registry import all_types

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in all_types():
        assert name in out


def test_console_script_help_shows_an_example():
    out = subprocess.run([sys.executable, "-m", "assay", "score", "--help"], capture_output=True, text=True, check=True).stdout
    assert "example:" in out and "--config" in out
