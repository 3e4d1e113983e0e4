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


def test_hostile_lines_are_bad_lines_and_good_rows_are_kept(setup, capsys):
    inp = setup / "in.jsonl"
    good = [b'{"response": "g%d"}' % i for i in range(5)]
    hostile = [
        b'{"response": "caf\xe9"}',  # Latin-1, not UTF-8
        b'{"response": "x", "extra": ' + b"[" * 1000 + b"]" * 1000 + b"}",  # nested ~1,000 deep
        b'{"response": "lone \\ud800"}',  # a lone surrogate escape
        b'{"response": [{"role": "user", "content": "no answer"}]}',  # no assistant turn
        b'{"response": [{"role": "assistant", "content": 7}]}',  # content not a string
    ]
    inp.write_bytes(b"\xef\xbb\xbf" + b"\n".join(good[:2] + hostile + good[2:]) + b"\n")  # a BOM first
    out = setup / "out.jsonl"
    args = ["score", str(inp), "--config", str(setup / "rewards.yaml"), "--output", str(out), "-q", "--batch-size", "2"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{inp}:3: not UTF-8 text" in err and "Traceback" not in err
    assert [r["response"] for r in rows(out)] == ["g0", "g1"]  # the BOM line is a good row
    assert main([*args, "--on-bad-line", "skip"]) == 0
    err = capsys.readouterr().err
    assert "skipped 5 malformed line(s)" in err
    assert f"{inp}:4: " in err and "nested" in err
    assert f"{inp}:5: field 'response': holds a lone surrogate" in err
    assert f"{inp}:6: field 'response': chat messages without an assistant turn" in err
    assert f"{inp}:7: field 'response': message 0: 'content' must be a string" in err
    assert [r["response"] for r in rows(out)] == ["g0", "g1", "g2", "g3", "g4"]


def test_empty_input_is_an_error_and_leaves_the_output(setup, capsys):
    inp = setup / "in.jsonl"
    inp.write_text("\n\n")
    out = setup / "out.jsonl"
    out.write_text("earlier\n")
    assert main(["score", str(inp), "--config", str(setup / "rewards.yaml"), "--output", str(out), "-q"]) == 2
    assert "no rows to score" in capsys.readouterr().err
    assert out.read_text() == "earlier\n"


def test_unhashable_group_is_that_rows_input_failure(setup):
    (setup / "norm.yaml").write_text("rewards:\n  n: {type: function, path: funcs.py:length}\ncombine: {method: weighted_sum, normalize: group_zscore}\n")
    inp = setup / "in.jsonl"
    inp.write_text('{"response": "a", "group": "g"}\n{"response": "abc", "group": "g"}\n{"response": "x", "group": [1, 2]}\n')
    out = setup / "out.jsonl"
    assert main(["score", str(inp), "--config", str(setup / "norm.yaml"), "--output", str(out), "-q"]) == 0
    a, b, bad = rows(out)
    assert a["score"] < 0 < b["score"]
    assert bad["score"] is None and bad["failure"]["kind"] == "input" and "group" in bad["failure"]["message"]


COUNTING = '''
import os, time
def counted(response, reference=None):
    with open(os.environ["COUNTER"], "a") as f:
        f.write(response + "\\n")
    time.sleep(0.02)
    return float(len(response)), "length"
'''


def test_resume_after_kill_reuses_every_written_row_and_recomputes_none(tmp_path):
    import os
    import signal
    import time
    from pathlib import Path

    (tmp_path / "funcs.py").write_text(COUNTING)
    (tmp_path / "rewards.yaml").write_text("rewards:\n  n: {type: function, path: funcs.py:counted}\n")
    inp = tmp_path / "in.jsonl"
    n = 150
    inp.write_text("".join(json.dumps({"id": i, "response": "r" * (i % 7 + 1) + str(i)}) + "\n" for i in range(n)))
    out = tmp_path / "out.jsonl"
    out.write_text("an earlier output, kept until the new one replaces it\n")
    counter = tmp_path / "calls.txt"
    env = {**os.environ, "COUNTER": str(counter), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "assay", "score", str(inp), "--config", str(tmp_path / "rewards.yaml"), "--output", str(out), "-q", "--batch-size", "4"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    partial = []
    while time.monotonic() < deadline:
        partial = list(tmp_path.glob("out.jsonl.partial-*"))
        if partial and partial[0].read_text().count("\n") >= 40:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert out.read_text().startswith("an earlier output")  # not truncated by the killed run
    written = [json.loads(line) for line in partial[0].read_text().splitlines(keepends=True) if line.endswith("\n")]
    assert 40 <= len(written) < n
    before = counter.read_text().count("\n")
    rerun = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    recomputed = counter.read_text().splitlines()[before:]
    assert len(recomputed) == n - len(written)  # every written row reused, every other scored once
    assert not set(recomputed) & {r["response"] for r in written}
    final = rows(out)
    assert [r["id"] for r in final] == list(range(n)) and all(r["score"] == len(r["response"]) for r in final)
    assert f"{len(written)} row(s) reused" in rerun.stderr
    assert not list(tmp_path.glob("out.jsonl.partial-*"))


@pytest.mark.parametrize(
    "source, name, expected",
    [
        ("def ok(response):\n    return 1.0\nraise RuntimeError('boom at import')\n", "ok", "importing it raised RuntimeError: boom at import (at "),
        ("def f(:\n", "f", "syntax error in "),
        ("ok = 3\n", "ok", "is not callable"),
        ("def f(response):\n    return 1.0\n", "missing", "has no attribute 'missing'"),
    ],
)
def test_function_load_errors_name_the_config_entry(tmp_path, capsys, source, name, expected):
    (tmp_path / "user.py").write_text(source)
    (tmp_path / "c.yaml").write_text(f"rewards:\n  mine: {{type: function, path: 'user.py:{name}'}}\n")
    (tmp_path / "in.jsonl").write_text('{"response": "a"}\n')
    assert main(["score", str(tmp_path / "in.jsonl"), "-c", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "o.jsonl"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"rewards.mine.path: 'user.py:{name}' could not be loaded" in err and expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize("weight", [".nan", ".inf", "-.inf"])
def test_a_non_finite_weight_is_refused_at_load(setup, capsys, weight):
    (setup / "c.yaml").write_text(f"rewards:\n  n: {{type: function, path: funcs.py:length, weight: {weight}}}\n")
    (setup / "in.jsonl").write_text('{"response": "a"}\n')
    assert main(["score", str(setup / "in.jsonl"), "-c", str(setup / "c.yaml"), "-o", str(setup / "o.jsonl"), "-q"]) == 2
    assert "rewards.n.weight: Input should be a finite number" in capsys.readouterr().err


def test_resume_reuses_rows_of_the_same_config_only(setup, capsys):
    inp = setup / "in.jsonl"
    inp.write_text('{"response": "a"}\n{"response": "bb"}\n')
    out = setup / "out.jsonl"
    base = ["score", str(inp), "--config", str(setup / "rewards.yaml"), "--output", str(out), "-q", "--resume"]
    assert main(base) == 0 and "0 row(s) reused from earlier output, 2 scored" in capsys.readouterr().err  # nothing to resume from: a plain run
    inp.write_text('{"response": "a"}\n{"response": "bb"}\n{"response": "ccc"}\n')
    assert main(base) == 0 and "2 row(s) reused from earlier output, 1 scored" in capsys.readouterr().err
    (setup / "other.yaml").write_text("rewards:\n  m: {type: function, path: funcs.py:length}\n")
    assert main([*base[:3], str(setup / "other.yaml"), *base[4:]]) == 0
    assert "0 row(s) reused from earlier output, 3 scored" in capsys.readouterr().err
    assert [r["rewards"].keys() == {"m"} for r in rows(out)] == [True] * 3
