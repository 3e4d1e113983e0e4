"""The runner on small hand-written benchmark files: failures and the failure policy, pairwise
judges in both orders, process rewards, resuming a killed run, the CLI and its report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.bench.runner import run_benchmark
from assay.cli import main
from assay.reward import Comparator, reward
from assay.types import Judgment, Preference

CALLS: list[str] = []


def write_llmbar(root: Path) -> None:
    rows = [
        {"input": "q1", "output_1": "long answer", "output_2": "short", "label": 1},
        {"input": "q2", "output_1": "tiny", "output_2": "much longer answer", "label": 1},
        {"input": "q3", "output_1": "same", "output_2": "SAME", "label": 2},  # equal length: a tie
        {"input": "q4", "output_1": "FAIL here", "output_2": "ok", "label": 1},
    ]
    (root / "llmbar").mkdir(parents=True, exist_ok=True)
    (root / "llmbar" / "natural.json").write_text(json.dumps(rows))


def write_config(folder: Path, body: str = "return float(len(response))") -> Path:
    (folder / "fn.py").write_text(
        "def score(response):\n"
        "    if 'FAIL' in response:\n"
        "        raise RuntimeError('cannot score this one')\n"
        f"    {body}\n"
    )
    config = folder / "rewards.yaml"
    config.write_text('rewards:\n  length: {type: function, path: "fn.py:score"}\n')
    return config


def test_failures_count_as_wrong_by_default_and_can_be_excluded(tmp_path):
    write_llmbar(tmp_path)
    config = write_config(tmp_path)
    report = run_benchmark("llmbar", config, tmp_path, progress=False)
    # q1 right, q2 wrong, q3 tie (wrong), q4 failed (counted wrong)
    assert report["overall"] == 0.25
    assert report["invalid"] == 1 and report["invalid_rate"] == 0.25
    assert report["failures"] == {"internal": 1}
    assert report["failure_policy"] == "counted_as_wrong"
    assert report["tie_rate"] == 0.25
    excluded = run_benchmark("llmbar", config, tmp_path, exclude_failures=True, progress=False)
    assert excluded["overall"] == pytest.approx(1 / 3)
    assert excluded["failure_policy"] == "excluded"
    assert report["ci"]["overall"] is not None and report["ci"]["seed"] == 0


class FirstWins(Comparator):
    """A maximally position-biased judge: always picks the response shown first."""

    def compare_batch(self, pairs):
        return [Preference(winner="a", rationale="first shown") for _ in pairs]


def test_pairwise_judge_runs_both_orders_and_reports_position_consistency(tmp_path):
    write_llmbar(tmp_path)
    report = run_benchmark("llmbar", data_dir=tmp_path, scorer=FirstWins(), progress=False)
    assert report["mode"] == "pairwise"
    assert report["overall"] == 0.5  # right in exactly one order of every pair
    assert report["position_consistency"] == 0.0


def test_judgebench_position_biased_judge_is_never_correct(tmp_path):
    (tmp_path / "judgebench").mkdir()
    rows = [{"pair_id": str(i), "source": "livebench-math", "question": "q", "response_A": "a", "response_B": "b", "label": label} for i, label in enumerate(["A>B", "B>A"])]
    (tmp_path / "judgebench" / "x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = run_benchmark("judgebench", data_dir=tmp_path, scorer=FirstWins(), progress=False)
    assert report["overall"] == 0.0 and report["math"] == 0.0  # +1 - 1 = 0 on every pair


def test_rm_bench_refuses_a_comparator(tmp_path):
    from assay.bench.runner import BenchError

    row = {"id": 1, "prompt": "p", "chosen": ["a", "b", "c"], "rejected": ["x", "y", "z"]}
    (tmp_path / "rm-bench").mkdir()
    (tmp_path / "rm-bench" / "chat.json").write_text(json.dumps([row]))
    with pytest.raises(BenchError, match="pointwise"):
        run_benchmark("rm-bench", data_dir=tmp_path, scorer=FirstWins(), progress=False)


def test_process_reward_on_processbench(tmp_path):
    rows = [
        {"id": 1, "problem": "p", "steps": ["ok", "BAD", "ok"], "label": 1},
        {"id": 2, "problem": "p", "steps": ["ok", "ok"], "label": -1},
        {"id": 3, "problem": "p", "steps": ["ok", "ok", "BAD"], "label": 1},  # predicted 2: wrong
    ]
    (tmp_path / "processbench").mkdir()
    (tmp_path / "processbench" / "gsm8k.json").write_text(json.dumps(rows))

    @reward
    def flags_bad(response, steps):
        scores = [0.0 if "BAD" in s else 1.0 for s in steps]
        return Judgment(score=min(scores), rationale="per step", details={"step_scores": scores})

    report = run_benchmark("processbench", data_dir=tmp_path, scorer=flags_bad, progress=False)
    assert report["gsm8k:acc_error"] == 0.5 and report["gsm8k:acc_correct"] == 1.0
    assert report["overall"] == pytest.approx(2 * 0.5 / 1.5)


def test_scalar_reward_on_a_process_benchmark_is_invalid_not_zero_scored(tmp_path):
    (tmp_path / "processbench").mkdir()
    (tmp_path / "processbench" / "math.json").write_text(json.dumps([{"id": 1, "problem": "p", "steps": ["a"], "label": -1}]))
    report = run_benchmark("processbench", data_dir=tmp_path, scorer=reward(lambda response: 1.0), progress=False)
    assert report["invalid"] == 1 and report["failures"] == {"input": 1}


def test_resume_reuses_logged_units_after_a_kill(tmp_path):
    write_llmbar(tmp_path)
    config = write_config(tmp_path)
    out = tmp_path / "run"
    first = run_benchmark("llmbar", config, tmp_path, out, progress=False)
    assert {k: first["units"][k] for k in ("total", "computed", "reused", "dropped_log_lines")} == {"total": 8, "computed": 8, "reused": 0, "dropped_log_lines": 0}
    log = out / "samples.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:5]) + lines[5][:10])  # killed while writing line 6
    again = run_benchmark("llmbar", config, tmp_path, out, progress=False)
    assert again["units"]["reused"] == 5 and again["units"]["computed"] == 3 and again["units"]["dropped_log_lines"] == 1
    assert again["overall"] == first["overall"]
    assert len(log.read_text().splitlines()) == 8
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_changed_function_file_changes_the_hash(tmp_path):
    write_llmbar(tmp_path)
    config = write_config(tmp_path)
    out = tmp_path / "run"
    run_benchmark("llmbar", config, tmp_path, out, progress=False)
    write_config(tmp_path, body="return -float(len(response))")
    from assay.bench.worklog import ConfigChanged

    with pytest.raises(ConfigChanged, match=r"was written under config hash [0-9a-f]+, this run's is [0-9a-f]+"):
        run_benchmark("llmbar", config, tmp_path, out, resume=True, progress=False)
    fresh = run_benchmark("llmbar", config, tmp_path, out, progress=False)  # automatic: starts over
    assert fresh["units"]["reused"] == 0 and fresh["overall"] == 0.25  # q2 now right, q1 wrong


def test_cli_writes_report_files(tmp_path, capsys):
    write_llmbar(tmp_path)
    config = write_config(tmp_path)
    out = tmp_path / "out"
    code = main(["bench", "llmbar", "--config", str(config), "--data-dir", str(tmp_path), "--output", str(out), "-q", "--bootstrap", "50"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["overall"] == 0.25 and report["natural"] == 0.25 and "_scores" not in report
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "invalid" in page
    printed = capsys.readouterr().out
    assert "invalid=1 (25.0%, counted as wrong)" in printed


def test_cli_list_and_unknown(capsys):
    assert main(["bench", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("rewardbench", "rewardbench2", "rm-bench", "judgebench", "llmbar", "rmb", "processbench", "prmbench", "math-bon"):
        assert name in listed
    assert main(["bench", "nope"]) == 2


def test_rewardbench2_and_rmb_end_to_end(tmp_path):
    rb2 = [
        {"id": "1", "prompt": "p", "chosen": ["aaaa"], "rejected": ["a", "aa", "aaa"], "subset": "Focus"},
        {"id": "2", "prompt": "p", "chosen": ["aa"], "rejected": ["aa", "a", "a"], "subset": "Focus"},  # 2-way tie: 1/2
        {"id": "ref:1", "prompt": "p", "chosen": ["aaa"], "rejected": ["a"], "subset": "Ties"},
        {"id": "tied:1", "prompt": "p", "chosen": ["aaa", "aaaa"], "rejected": ["a"], "subset": "Ties"},
    ]
    (tmp_path / "rewardbench2").mkdir()
    (tmp_path / "rewardbench2" / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rb2))
    length = reward(lambda response: float(len(response)))
    report = run_benchmark("rewardbench2", data_dir=tmp_path, scorer=length, progress=False)
    assert report["Focus"] == 0.75
    from assay.bench.scorers import ties_score

    assert report["ties"] == pytest.approx(ties_score([("ref:1", [3.0], [1.0]), ("tied:1", [3.0, 4.0], [1.0])]))
    assert report["overall"] == pytest.approx((0.75 + report["ties"]) / 2)

    conv = [{"role": "user", "content": "hi"}]
    (tmp_path / "rmb").mkdir()
    (tmp_path / "rmb" / "x.json").write_text(json.dumps([
        {"pair_uid": "p", "conversation_input": conv, "chosen": {"answer": "longer"}, "reject": {"answer": "s"}, "category_path": "Pairwise_set/Helpfulness/x"},
        {"bon_uid": "b", "conversation_input": conv, "bon_best": {"answer": "mid"}, "loser_list": [{"answer": "a"}, {"answer": "longest"}], "category_path": "BoN_set/Helpfulness/x"},
    ]))
    rmb = run_benchmark("rmb", data_dir=tmp_path, scorer=length, progress=False)
    assert rmb["pairwise"] == 1.0 and rmb["bon"] == 0.0 and rmb["overall"] == 0.5


def test_rewardbench_sections_end_to_end(tmp_path):
    rows = [
        {"prompt": "p", "chosen": "long one", "rejected": "s", "subset": "alpacaeval-easy"},
        {"prompt": "p", "chosen": "s", "rejected": "long one", "subset": "mt-bench-easy"},
        {"prompt": "p", "chosen": "xx", "rejected": "yy", "subset": "math-prm"},  # tie: wrong
        {"prompt": "p", "chosen": "long one", "rejected": "s", "subset": "hep-go"},
    ]
    (tmp_path / "rewardbench").mkdir()
    (tmp_path / "rewardbench" / "f.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = run_benchmark("rewardbench", data_dir=tmp_path, scorer=reward(lambda response: float(len(response))), progress=False)
    assert report["chat"] == pytest.approx(100 / 128)
    assert report["reasoning"] == pytest.approx(164 / (984 + 164))
    # no Chat Hard or Safety subset: reward-bench scores those sections 0, so the leaderboard's
    # 4-section mean halves (this test asserted the 2-section mean before the fix)
    assert report["chat_hard"] == 0.0 and report["safety"] == 0.0
    assert report["overall"] == pytest.approx((100 / 128 + 164 / 1148) / 4)
    assert report["overall_present"] == pytest.approx((100 / 128 + 164 / 1148) / 2)
    assert any("Chat Hard, Safety" in note for note in report["data"]["notes"])


def test_object_scorers_that_differ_never_share_saved_results(tmp_path):
    from assay.reward import reward
    from assay.rewards.rules.format import RegexMatch

    longer = reward(lambda response: len(response))
    shorter = reward(lambda response: -len(response))
    assert longer.identity() != shorter.identity()
    assert RegexMatch(pattern="a").identity() != RegexMatch(pattern="b").identity()
    assert RegexMatch(pattern="a").identity() == RegexMatch(pattern="a").identity()


def test_the_resume_hash_follows_a_function_comparators_saved_verdicts(tmp_path):
    """Replayed verdicts decide the scores as much as the config text does: editing the file
    must not resume from results computed with the old verdicts."""
    from assay.bench.worklog import config_hash
    from assay.spec import read_config

    verdicts = tmp_path / "saved.jsonl"
    config = tmp_path / "judge.yaml"
    config.write_text("comparator: {type: function, verdicts: saved.jsonl}\n")
    verdicts.write_text('{"response_a": "x", "response_b": "y", "winner": "a"}\n')
    before = config_hash(read_config(config), "pairs")
    verdicts.write_text('{"response_a": "x", "response_b": "y", "winner": "b"}\n')
    assert config_hash(read_config(config), "pairs") != before


def test_a_composite_identity_holds_its_components(tmp_path):
    from assay.compose.load import load_reward

    source = tmp_path / "f.py"
    config = {"rewards": {"f": {"type": "function", "path": f"{source}:f"}}}
    source.write_text("def f(response):\n    return 1.0\n")
    first = load_reward(config).identity()
    source.write_text("def f(response):\n    return 0.0\n")
    assert load_reward(config).identity() != first
