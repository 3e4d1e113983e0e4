"""``assay bench processbench`` on files in ProcessBench's own format (id, generator, problem,
steps, final_answer_correct, label), with the tool step checker: the predictions read off its
step scores and the F1 pinned against the official formula computed again
(``test_bench_fidelity.official_processbench``), strict and with abstained steps counted right;
and on the files ``perf/processbench_files.py`` writes from the GSM8K data."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from test_bench_fidelity import official_processbench

from assay.bench.runner import run_benchmark

REPO = Path(__file__).resolve().parents[1]
STRICT = REPO / "perf" / "baselines" / "step_arithmetic.yaml"
FILLED = REPO / "perf" / "baselines" / "step_arithmetic_filled.yaml"


def row(rid, steps, label, correct=None, generator="hand-written"):
    return {"id": rid, "generator": generator, "problem": "Tom has 3 boxes of 4 apples and gives 2 away. How many are left?",
            "steps": steps, "final_answer_correct": label == -1 if correct is None else correct, "label": label}


GSM8K = [
    row("gsm8k-0", ["3 * 4 = 12 apples.", "12 - 2 = 10 are left."], -1),             # checker: -1
    row("gsm8k-1", ["3 * 4 = 12 apples.", "12 - 2 = 11 are left."], 1),              # checker: 1
    row("gsm8k-2", ["3 * 4 = 13 apples.", "13 - 2 = 11 are left."], 0, False),       # checker: 0
    row("gsm8k-3", ["3 * 4 = 12 apples.", "He gives two away, so nine are left."], 1),  # no claim in the wrong step
]
MATH = [
    row("math-0", ["$\\frac{3}{4} \\times 8 = 6$", "So $x = 6$."], -1),  # second step: an unknown, abstains
    row("math-1", ["$2^3 = 9$", "So the answer is 9."], 0),              # checker: 0
]
# what the checker predicts, by hand: strict (an abstained step is unjudged: no prediction, -2) and filled (abstained = right)
STRICT_PREDICTIONS = {"gsm8k": [-1, 1, 0, -2], "math": [-2, 0]}
FILLED_PREDICTIONS = {"gsm8k": [-1, 1, 0, -1], "math": [-1, 0]}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "processbench").mkdir()
    (tmp_path / "processbench" / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in GSM8K))
    (tmp_path / "processbench" / "math.json").write_text(json.dumps(MATH))  # a split exported as one JSON list
    return tmp_path


def official(predictions):
    rows = {"gsm8k": [(p, r["label"]) for p, r in zip(predictions["gsm8k"], GSM8K, strict=True)],
            "math": [(p, r["label"]) for p, r in zip(predictions["math"], MATH, strict=True)]}
    return official_processbench(rows)


@pytest.mark.parametrize(("config", "predictions"), [(STRICT, STRICT_PREDICTIONS), (FILLED, FILLED_PREDICTIONS)])
def test_step_checker_on_processbench_format_files_through_the_cli(folder, tmp_path, config, predictions):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "assay", "bench", "processbench", "-c", str(config), "--data-dir", str(folder),
                           "-o", str(out), "--bootstrap", "0", "--quiet", "--no-html"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    f1s, mean = official(predictions)
    assert report["gsm8k"] == pytest.approx(f1s["gsm8k"]) and report["math"] == pytest.approx(f1s["math"])
    assert report["overall"] == pytest.approx(mean)
    logged = {json.loads(line)["key"]: json.loads(line)["result"] for line in (out / "samples.jsonl").read_text().splitlines()}
    assert len(logged) == 6 and all(key.endswith("/steps") for key in logged)
    if config == STRICT:
        assert report["invalid"] == 2 and (f1s["gsm8k"], f1s["math"]) == (pytest.approx(0.8), 0.0)
    else:
        assert report["invalid"] == 0 and (f1s["gsm8k"], f1s["math"], mean) == (pytest.approx(0.8), 1.0, pytest.approx(0.9))


def test_written_gsm8k_file_and_its_figures(data_dir, tmp_path):
    sys.path.insert(0, str(REPO / "perf"))
    from processbench_files import gsm8k_rows

    rows = gsm8k_rows(data_dir, 40, random.Random(0))
    originals = {r["id"]: r for r in rows if r["label"] == -1}
    for r in rows:
        assert set(r) == {"id", "generator", "problem", "steps", "final_answer_correct", "label"}
        if r["label"] >= 0:  # one step changed, by one number, the rest as written
            source = originals[r["id"].removesuffix("-slip")]["steps"]
            changed = [k for k, (a, b) in enumerate(zip(source, r["steps"], strict=True)) if a != b]
            assert changed == [r["label"]]
    (tmp_path / "processbench").mkdir()
    (tmp_path / "processbench" / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    report = run_benchmark("processbench", FILLED, data_dir=tmp_path, output=out, progress=False, resamples=0)
    assert report["n"] == len(rows) and report["invalid"] == 0
    # the F1 again, from the logged step scores and the file's labels
    from assay.bench.protocols import step_prediction

    logged = {json.loads(line)["key"]: json.loads(line)["result"] for line in (out / "samples.jsonl").read_text().splitlines()}
    pairs = [(step_prediction(logged[f"gsm8k:{r['id']}/steps"])[0], r["label"]) for r in rows]
    f1s, _ = official_processbench({"gsm8k": pairs})
    assert report["gsm8k"] == pytest.approx(f1s["gsm8k"]) and report["gsm8k"] > 0.5
