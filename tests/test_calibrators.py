"""Calibrators (temperature, Platt, isotonic by pool-adjacent-violators), their files, the
``calibration:`` config key on rewards and comparators, and ``assay calibrate`` end to end,
on constructed data and on math_cot_100's reward-model scores."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from assay.cli import main
from assay.compose.load import load_reward
from assay.reward import Comparator
from assay.rewards.calibration.calibrated import CalibratedComparator
from assay.rewards.calibration.calibrators import fit_calibrator, pool_adjacent_violators
from assay.rewards.calibration.fit_file import FitFileError, read_fit, write_fit
from assay.spec import ConfigError
from assay.types import Pair, Preference, Sample


def logistic_data(n: int = 4000, a: float = 2.0, b: float = -1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(a * x + b)))).astype(float)
    return x, y


def test_pool_adjacent_violators_is_the_least_squares_monotone_fit():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 30, size=200).astype(float)
    y = (rng.random(200) < x / 30).astype(float)
    xs, ys = pool_adjacent_violators(x, y)
    assert np.all(np.diff(xs) >= 0) and np.all(np.diff(ys) >= 0)
    fitted = np.interp(x, xs, ys)
    # no monotone step function does better: compare with many random monotone perturbations
    base = float(np.sum((fitted - y) ** 2))
    for k in range(200):
        noise = np.sort(rng.normal(scale=0.05, size=len(np.unique(x))))
        other = np.interp(x, np.unique(x), np.clip(np.interp(np.unique(x), xs, ys) + noise, 0, 1))
        assert base <= float(np.sum((other - y) ** 2)) + 1e-9
    isotonic = pytest.importorskip("sklearn.isotonic")
    reference = isotonic.IsotonicRegression(out_of_bounds="clip").fit(x, y)
    grid = np.linspace(-5, 35, 500)
    assert np.allclose(np.interp(grid, xs, ys), reference.predict(grid), atol=1e-12)


def test_platt_and_temperature_recover_the_parameters_that_made_the_data():
    x, y = logistic_data()
    platt = fit_calibrator("platt", x, y)
    assert platt.input == "raw"
    assert platt.params["a"] == pytest.approx(2.0, abs=0.2) and platt.params["b"] == pytest.approx(-1.0, abs=0.15)
    z = np.random.default_rng(2).normal(scale=1.5, size=4000)
    truth = (np.random.default_rng(3).random(4000) < 1 / (1 + np.exp(-z))).astype(float)
    overconfident = 1 / (1 + np.exp(-3 * z))  # a judge three times too sure
    temperature = fit_calibrator("temperature", overconfident, truth)
    assert temperature.input == "probability" and temperature.params["temperature"] == pytest.approx(3.0, rel=0.12)
    with pytest.raises(ValueError, match="outside"):
        temperature.apply([1.5])


def test_fit_files_round_trip_and_bad_files_name_the_field(tmp_path):
    fit = fit_calibrator("isotonic", [0.1, 0.4, 0.35, 0.8], [0, 1, 0, 1])
    path = write_fit(tmp_path / "fit.json", fit, {"file": "x.jsonl", "n": 4})
    again, record = read_fit(path)
    assert again.params == fit.params and record["provenance"]["n"] == 4
    assert again.apply([0.1, 0.9]).tolist() == fit.apply([0.1, 0.9]).tolist()
    bad = json.loads(path.read_text())
    bad["params"]["y"] = [1.0, 0.0, 0.5]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(FitFileError, match=r"bad.json: params.x, params.y"):
        read_fit(tmp_path / "bad.json")
    (tmp_path / "t.json").write_text(json.dumps({"assay_calibration": 1, "method": "temperature", "input": "raw", "params": {"temperature": -1}}))
    with pytest.raises(FitFileError, match="params.temperature"):
        read_fit(tmp_path / "t.json")


def write_function_config(folder, calibration: str | None) -> str:
    (folder / "rm.py").write_text(
        "def score(response):\n"
        "    if response == 'broken':\n"
        "        raise RuntimeError('cannot score')\n"
        "    return float(len(response))\n"
    )
    line = f", calibration: {calibration}" if calibration else ""
    (folder / "rewards.yaml").write_text(f'rewards:\n  rm: {{type: function, path: "rm.py:score"{line}}}\n')
    return str(folder / "rewards.yaml")


def test_a_calibration_line_on_a_reward_entry_applies_the_fit(tmp_path):
    fit = fit_calibrator("platt", [1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 1, 0, 1, 1, 1])
    write_fit(tmp_path / "fits" / "rm.json", fit, {"file": "made up"})
    raw = load_reward(write_function_config(tmp_path, None))
    calibrated = load_reward(write_function_config(tmp_path, "fits/rm.json"))
    plain, broken = calibrated.score([Sample(response="abcdef"), Sample(response="broken")])
    assert plain.score == pytest.approx(float(fit.apply([6.0])[0]))
    inner = plain.details["rm"]
    assert inner.details["uncalibrated_score"] == 6.0 and "calibrated by platt fit rm.json" in inner.rationale
    assert broken.failure is not None and broken.failure.kind == "internal"  # the inner failure, untouched
    assert raw.components["rm"].identity() != calibrated.components["rm"].identity()
    with pytest.raises(ConfigError, match=r"rewards\.rm\.calibration: .*not found"):
        load_reward(write_function_config(tmp_path, "fits/missing.json"))


def test_a_probability_fit_refuses_a_score_outside_its_domain(tmp_path):
    write_fit(tmp_path / "p.json", fit_calibrator("temperature", [0.1, 0.9, 0.8, 0.3], [0, 1, 0, 1]), {})
    reward = load_reward(write_function_config(tmp_path, "p.json"))
    judged = reward.score([Sample(response="abc")])[0]  # length 3 is not a probability
    assert judged.score is None and judged.details["rm"].failure.kind == "input"


class Sure(Comparator):
    def compare_batch(self, pairs):
        return [Preference(winner="a", rationale="A", probability=0.99) if p.response_b else Preference(winner="b", rationale="no p") for p in pairs]


def test_a_comparators_probability_is_calibrated_and_its_verdict_kept(tmp_path):
    write_fit(tmp_path / "t.json", fit_calibrator("temperature", [0.99, 0.99, 0.99, 0.01], [1, 0, 1, 0]), {})
    judge = CalibratedComparator(Sure(name="sure"), tmp_path / "t.json")
    with_p, without_p = judge.compare([Pair("q", "x", "y"), Pair("q", "x", "")])
    assert with_p.winner == "a" and with_p.probability < 0.99 and with_p.meta["uncalibrated_probability"] == 0.99
    assert without_p.winner == "b" and without_p.probability is None and "nothing to calibrate" in without_p.meta["calibration"]["note"]


def test_cli_fits_and_reports_before_and_after_on_a_held_out_split(tmp_path, capsys):
    rng = np.random.default_rng(5)
    rows = []
    for i in range(300):
        z = rng.normal(size=4)
        truth = rng.random(4) < 1 / (1 + np.exp(-z))
        rows.append({"id": i, "p": (1 / (1 + np.exp(-4 * z))).round(6).tolist(), "ok": truth.tolist()})  # overconfident
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "fit.json"
    assert main(["calibrate", str(data), "--score-field", "p", "--label-field", "ok", "--method", "temperature", "-o", str(out)]) == 0
    record = json.loads(out.read_text())
    p = record["provenance"]
    assert p["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest() and p["n"] == 1200 and p["n_rows"] == 300
    assert p["n_holdout"] == 360 and p["method"] == "temperature" and p["date"]
    held = record["evaluation"]["holdout"]
    assert held["after"]["ece_equal_width"] < held["before"]["ece_equal_width"] / 2
    assert held["after"]["log_loss"] < held["before"]["log_loss"]
    assert record["params"]["temperature"] == pytest.approx(4.0, rel=0.25)
    assert "before (holdout)" in capsys.readouterr().out


def test_cli_computes_scores_with_a_config_and_counts_failures(tmp_path):
    config = write_function_config(tmp_path, None)
    rows = [{"response": "x" * (i % 9 + 1), "label": int(i % 9 > 4)} for i in range(60)] + [{"response": "broken", "label": 1}]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "fit.json"
    assert main(["calibrate", str(data), "--config", config, "--method", "isotonic", "--holdout", "0.25", "-o", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["provenance"]["failures_left_out"] == {"internal": 1} and record["provenance"]["n"] == 60
    assert record["input"] == "raw" and record["evaluation"]["holdout"]["after"]["ece_equal_width"] == pytest.approx(0.0, abs=1e-9)
    (tmp_path / "bad.jsonl").write_text('{"response": "x", "label": "yes"}\n')
    assert main(["calibrate", str(tmp_path / "bad.jsonl"), "--config", config, "-o", str(out)]) == 2


def test_math_cot_100_reward_model_scores(data_dir, tmp_path):
    data = data_dir / "math-bon" / "math_cot_100.jsonl"
    for method in ("platt", "isotonic"):
        out = tmp_path / f"{method}.json"
        assert main(["calibrate", str(data), "--score-field", "pred_score", "--label-field", "score", "--method", method, "-o", str(out)]) == 0
        record = json.loads(out.read_text())
        assert record["provenance"]["n"] == 800 and record["input"] == "raw"
        fitted = record["evaluation"]["fit"]
        assert fitted["before"] is None and fitted["before_sigmoid"] is not None  # RM logits are not probabilities
        if method == "isotonic":  # in-sample, the least-squares monotone map beats any other monotone map, sigmoid included
            assert fitted["after"]["brier"] <= fitted["before_sigmoid"]["brier"]
        assert math.isfinite(record["evaluation"]["holdout"]["after"]["log_loss"])


def test_a_changed_fit_file_changes_the_benchmark_resume_hash(tmp_path):
    from assay.bench.worklog import config_hash
    from assay.spec import read_config

    write_fit(tmp_path / "fits" / "rm.json", fit_calibrator("platt", [1, 2, 3, 4], [0, 1, 0, 1]), {})
    config = write_function_config(tmp_path, "fits/rm.json")
    before = config_hash(read_config(config), "llmbar")
    write_fit(tmp_path / "fits" / "rm.json", fit_calibrator("isotonic", [1, 2, 3, 4], [0, 1, 0, 1]), {})
    assert config_hash(read_config(config), "llmbar") != before


class LengthP(Comparator):
    def compare_batch(self, pairs):
        out = []
        for pair in pairs:
            if pair.response_a == "fail":
                out.append(Preference.fail("backend", "server down"))
                continue
            pa = len(pair.response_a) / (len(pair.response_a) + len(pair.response_b))
            out.append(Preference(winner="a" if pa >= 0.5 else "b", rationale="length", probability=pa))
        return out


def test_labelled_pairs_give_the_comparators_probability(tmp_path):
    from assay.files.labelled import read_scored

    rows = [{"prompt": "q", "response_a": "a" * (i + 1), "response_b": "b" * 5, "label": i > 4} for i in range(10)]
    rows.append({"prompt": "q", "response_a": "fail", "response_b": "b", "label": True})
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labelled = read_scored(data, "label", LengthP(name="len"))
    assert labelled.n == 10 and labelled.failures == {"backend": 1}
    assert labelled.rows[0].scores == [pytest.approx(1 / 6)] and labelled.rows[9].labels == [1]


def test_a_calibrated_reward_gets_calibration_metrics_in_the_benchmark_report(tmp_path):
    from assay.bench.runner import run_benchmark

    rows = [{"input": f"q{i}", "output_1": "a" * (i % 7 + 3), "output_2": "b" * (i % 5 + 1), "label": 1 + (i % 3 == 0)} for i in range(30)]
    (tmp_path / "llmbar").mkdir()
    (tmp_path / "llmbar" / "natural.json").write_text(json.dumps(rows))
    raw = run_benchmark("llmbar", write_function_config(tmp_path, None), tmp_path, progress=False, resamples=0)
    assert "score" in raw["calibration"]["skipped"]  # lengths are not probabilities
    write_fit(tmp_path / "fit.json", fit_calibrator("platt", [1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 0, 1, 0, 1, 1, 0, 1, 1]), {})
    calibrated = run_benchmark("llmbar", write_function_config(tmp_path, "fit.json"), tmp_path, progress=False, resamples=0)
    assert calibrated["calibration"]["sources"]["score"]["n"] == 60
    assert calibrated["overall"] == raw["overall"]  # a monotone map keeps every pair's order
