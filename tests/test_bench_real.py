"""`assay bench` on the real benchmark files with a plain user function (response length),
checked against the benchmarks' protocols computed independently here, straight from the
protocol text in ../shared/data/README.md; and the math_cot_100 reference figures."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from assay.cli import main

pytestmark = pytest.mark.data


@pytest.fixture()
def length_config(tmp_path):
    (tmp_path / "length.py").write_text("def length(response):\n    return float(len(response))\n")
    config = tmp_path / "length.yaml"
    config.write_text('rewards:\n  length: {type: function, path: "length.py:length"}\n')
    return config


def run_cli(benchmark, config, data_dir, out):
    args = ["bench", benchmark, "--data-dir", str(data_dir), "--output", str(out), "-q", "--bootstrap", "100"]
    if config is not None:
        args += ["--config", str(config)]
    assert main(args) == 0
    return json.loads((out / "report.json").read_text())


def test_rm_bench_length_reward_matches_the_protocol(data_dir, length_config, tmp_path):
    report = run_cli("rm-bench", length_config, data_dir, tmp_path / "out")
    # Independent: per prompt a 3x3 matrix, cell (i, j) = chosen style i strictly above rejected
    # style j; average over prompts; hard = 3 cells above the diagonal, normal = diagonal, easy =
    # 3 below; a domain = mean of the three; safety-refuse + safety-response = one domain.
    domains: dict[str, list[list[list[float]]]] = {}
    for name in ("chat", "code", "safety-refuse", "safety-response"):
        rows = json.loads((data_dir / "rm-bench" / f"{name}.json").read_text())
        for row in rows:
            m = [[1.0 if len(c) > len(r) else 0.0 for r in row["rejected"]] for c in row["chosen"]]
            domains.setdefault("safety" if name.startswith("safety") else name, []).append(m)
    expected = {}
    for domain, matrices in domains.items():
        avg = [[sum(m[i][j] for m in matrices) / len(matrices) for j in range(3)] for i in range(3)]
        hard = (avg[0][1] + avg[0][2] + avg[1][2]) / 3
        normal = (avg[0][0] + avg[1][1] + avg[2][2]) / 3
        easy = (avg[1][0] + avg[2][0] + avg[2][1]) / 3
        expected[domain] = {"easy": easy, "normal": normal, "hard": hard, "overall": (easy + normal + hard) / 3}
    for domain, levels in expected.items():
        assert report[domain] == pytest.approx(levels["overall"], abs=1e-12)
        for level in ("easy", "normal", "hard"):
            assert report[f"{domain}:{level}"] == pytest.approx(levels[level], abs=1e-12)
    for key in ("easy", "normal", "hard", "overall"):
        assert report[key] == pytest.approx(sum(v[key] for v in expected.values()) / len(expected), abs=1e-12)
    assert report["n"] == 798 and report["invalid_rate"] == 0.0
    assert report["failure_policy"] == "counted_as_wrong" and report["config_hash"]


def test_judgebench_length_reward_matches_the_two_game_rule(data_dir, length_config, tmp_path):
    report = run_cli("judgebench", length_config, data_dir, tmp_path / "out")
    # Independent: two games; in each the first-position response wins when its score is
    # strictly higher, else the second; +1 for the label, -1 for the flipped label; correct
    # when the sum is above 0. Families: mmlu-pro-* knowledge, livebench-reasoning,
    # livebench-math, livecodebench.
    rows = [json.loads(line) for line in (data_dir / "judgebench" / "gpt-4o.jsonl").read_text().splitlines() if line.strip()]
    family = {"livebench-reasoning": "reasoning", "livebench-math": "math", "livecodebench": "coding"}
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in rows:
        a, b = len(row["response_A"]), len(row["response_B"])
        game1 = "A>B" if a > b else "B>A"
        game2_first_is_b = "A>B" if b > a else "B>A"
        game2 = "B>A" if game2_first_is_b == "A>B" else "A>B"
        flipped = "B>A" if row["label"] == "A>B" else "A>B"
        value = sum(1 if g == row["label"] else -1 if g == flipped else 0 for g in (game1, game2))
        fam = "knowledge" if row["source"].startswith("mmlu-pro") else family[row["source"]]
        total[fam] += 1
        right[fam] += value > 0
    assert report["overall"] == pytest.approx(sum(right.values()) / len(rows), abs=1e-12)
    for fam in total:
        assert report[fam] == pytest.approx(right[fam] / total[fam], abs=1e-12)
    assert report["n"] == 350


def test_llmbar_length_reward(data_dir, length_config, tmp_path):
    report = run_cli("llmbar", length_config, data_dir, tmp_path / "out")
    good = total = 0
    for path in sorted((data_dir / "llmbar").glob("*.json")):
        for row in json.loads(path.read_text()):
            a, b = len(row["output_1"]), len(row["output_2"])
            good += (a > b) if row["label"] == 1 else (b > a)
            total += 1
    assert report["overall"] == pytest.approx(good / total)


def test_math_cot_100_reference_figures(data_dir, tmp_path):
    report = run_cli("math-bon", None, data_dir, tmp_path / "out")
    assert report["overall"] == pytest.approx(0.94)
    assert report["majority_vote"] == pytest.approx(0.93)
    assert report["any_of_n"] == pytest.approx(0.96)
    assert report["mean_sample"] == pytest.approx(0.91)
    assert report["n"] == 100 and report["mode"] == "stored"


def test_prmbench_loads_the_released_test_files(data_dir):
    from assay.bench.loaders import load

    loaded = load("prmbench", data_dir, files="test")
    assert len(loaded.files) == 17 and all("test" in p.name for p in loaded.files)
    labels = Counter(i.label == -1 for i in loaded.items)
    assert labels[False] > 2800 and labels[True] > 300
    assert any("4 row(s) whose first error step lies past the last step are kept" in n for n in loaded.notes)


def test_prmbench_reads_all_25_files_by_default_and_says_so(data_dir, tmp_path, capsys):
    """PRMBench's own evaluation reads every .jsonl of its data folder: 6,216 rows in 25 files;
    the first of each duplicated (classification, idx) row is kept (5 dropped)."""
    from assay.bench.loaders import load
    from assay.cli import main

    loaded = load("prmbench", data_dir)
    assert len(loaded.files) == 25 and "read all 25 .jsonl file(s)" in loaded.notes[0] and "6216 rows" in loaded.notes[0]
    assert any("dropped 5" in n for n in loaded.notes)
    assert any("16 row(s) whose first error step lies past the last step are kept" in n for n in loaded.notes)
    modified = [i for i in loaded.items if i.subset != "original"]
    assert len(modified) == 6216 - 5
    (tmp_path / "steps.py").write_text("def first(response, steps):\n    from assay.types import Judgment\n    return Judgment(score=1.0, rationale='all valid', "
        "details={'step_scores': [1.0] * len(steps)})\n")
    (tmp_path / "c.yaml").write_text('rewards:\n  steps: {type: function, path: "steps.py:first"}\n')
    code = main(["bench", "prmbench", "--config", str(tmp_path / "c.yaml"), "--data-dir", str(data_dir), "--limit", "30", "--bootstrap", "0", "-q"])
    printed = capsys.readouterr().out
    assert code == 0 and "read all 25 .jsonl file(s)" in printed and "read 25 file(s)" in printed
    assert "first-error F1 in ProcessBench form: assay's own conversion" in printed and "PRMScore, PRMBench's official metric" in printed
