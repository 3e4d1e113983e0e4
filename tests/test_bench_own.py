"""`assay bench pairs --data` and `assay bench bon --data` on files written here, in each tie
convention (Auto-J three-class, Auto-J's dev-searched threshold, PandaLM's majority with macro
P/R/F1), pinned against an independent computation; and the `function` comparator, deciding
pairs with a function or replaying saved verdicts."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from assay.cli import main
from assay.registry import comparator_class
from assay.types import Pair

FUNCS = '''
def stated(response, **fields):
    """The number a response states first: the score a test row asks for."""
    head = response.split()[0]
    if head == "fail":
        raise RuntimeError("this response cannot be scored")
    return float(head), f"states {head}"

def longer(prompt, response_a, response_b):
    if len(response_a) == len(response_b):
        return "tie", "same length"
    return ("a" if len(response_a) > len(response_b) else "b"), "the longer one"
'''


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_config(folder: Path, body: str) -> Path:
    (folder / "funcs.py").write_text(FUNCS)
    path = folder / "config.yaml"
    path.write_text(body)
    return path


def bench(args: list[str], output: Path) -> dict:
    assert main(["bench", *args, "--output", str(output), "--quiet", "--bootstrap", "50", "--no-html"]) == 0
    return json.loads((output / "report.json").read_text())


def pick(sa: float, sb: float, t: float) -> str:
    return "tie" if abs(sa - sb) <= t else ("a" if sa > sb else "b")


def test_pairs_three_class_auto_j_with_mapped_fields_and_labels(tmp_path) -> None:
    rng = random.Random(5)
    rows, expected = [], []
    for i in range(40):
        sa, sb = rng.choice([0.1, 0.5, 0.9]), rng.choice([0.1, 0.5, 0.9])
        label = rng.choice([0, 1, 2])  # Auto-J's file: 0 = response 1 better, 1 = response 2, 2 = tie
        a, b = f"{sa} answer one {i}", f"{sb} answer two {i}"
        if i == 7:
            a = f"fail {i}"  # a reward failure: counted as wrong
        rows.append({"query": f"q{i}", "response 1": a, "response 2": b, "label": label})
        truth = ["a", "b", "tie"][label]
        expected.append(i != 7 and pick(sa, sb, 0.0) == truth)
    data = write_jsonl(tmp_path / "autoj.jsonl", rows)
    config = write_config(tmp_path, "rewards:\n  s: {type: function, path: funcs.py:stated}\n")
    report = bench(["pairs", "--data", str(data), "--config", str(config), "--field", "prompt=query", "--field", "response_a=response 1",
                    "--field", "response_b=response 2", "--label-map", "0=a,1=b,2=tie"], tmp_path / "out")
    assert report["overall"] == pytest.approx(sum(expected) / 40)
    assert report["invalid"] == 1 and report["failures"] == {"internal": 1} and report["failure_policy"] == "counted_as_wrong"
    assert report["label_counts"] == {c: sum(1 for r in rows if ["a", "b", "tie"][r["label"]] == c) for c in ("a", "b", "tie")}
    assert sum(sum(v.values()) for v in report["confusion"].values()) == 40
    # the per-item scores are fields of the log, not only rationale text
    logged = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()[1:]]
    assert all("score" in r["result"] for r in logged if "result" in r)


def test_pairs_threshold_searched_on_dev_auto_j_rm(tmp_path) -> None:
    rng = random.Random(11)
    rows = []
    for i in range(120):
        truth = rng.choice(["a", "b", "tie"])
        gap = rng.uniform(0.0, 0.3) if truth == "tie" else rng.uniform(0.1, 1.0)
        sign = 1 if truth != "b" else -1
        sa = round(0.5 + sign * gap / 2, 4)
        sb = round(0.5 - sign * gap / 2, 4)
        rows.append({"id": f"r{i}", "prompt": "p", "response_a": f"{sa} a{i}", "response_b": f"{sb} b{i}", "label": truth, "split": "dev" if i < 60 else "test"})
    data = write_jsonl(tmp_path / "rm.jsonl", rows)
    config = write_config(tmp_path, "rewards:\n  s: {type: function, path: funcs.py:stated}\n")
    report = bench(["pairs", "--data", str(data), "--config", str(config), "--ties", "threshold"], tmp_path / "out")

    def diff(r: dict) -> float:
        return float(r["response_a"].split()[0]) - float(r["response_b"].split()[0])

    dev, test = rows[:60], rows[60:]
    # independent search: every threshold on a fine grid and every observed |diff|; the smallest best
    grid = sorted({k / 10000 for k in range(0, 10001)} | {abs(diff(r)) for r in dev})
    scores = [(sum(pick(diff(r), 0, t) == r["label"] for r in dev), -t) for t in grid]
    best_right, neg_t = max(scores)
    threshold = min(t for t in grid if sum(pick(diff(r), 0, t) == r["label"] for r in dev) == best_right)
    # agreement is flat between observed |diff| values: the reported threshold reaches the same dev and test agreement
    assert report["dev_agreement"] == pytest.approx(best_right / 60)
    assert report["tie_threshold"] <= threshold + 1e-12
    assert report["overall"] == pytest.approx(sum(pick(diff(r), 0, report["tie_threshold"]) == r["label"] for r in test) / 60)
    assert report["overall"] == pytest.approx(sum(pick(diff(r), 0, threshold) == r["label"] for r in test) / 60)
    assert report["n_dev"] == 60 and report["n_test"] == 60
    assert 0 < report["tie_threshold"] < 0.3


def test_pairs_majority_pandalm_with_saved_verdicts(tmp_path) -> None:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = random.Random(3)
    rows, verdicts, truths, preds = [], [], [], []
    for i in range(50):
        votes = [rng.choice([0, 1, 2]) for _ in range(3)]  # PandaLM: 0 tie, 1 response1, 2 response2
        r1, r2 = f"first {i}", f"second {i}"
        rows.append({"idx": i, "instruction": f"do {i}", "response1": r1, "response2": r2, "annotator1": votes[0], "annotator2": votes[1], "annotator3": votes[2]})
        v1, v2 = rng.choice(["1", "2", "0"]), rng.choice(["1", "2", "0"])
        verdicts.append({"response_a": r1, "response_b": r2, "winner": v1})
        verdicts.append({"response_a": r2, "response_b": r1, "winner": v2})
        top = max(set(votes), key=votes.count)
        if votes.count(top) < 2:
            continue  # no majority: left out
        truths.append({0: "tie", 1: "a", 2: "b"}[top])
        first = {"1": "a", "2": "b", "0": "tie"}[v1]
        second = {"1": "b", "2": "a", "0": "tie"}[v2]  # the swapped game, read back in the original order
        preds.append(first if first == second else "tie")
    data = write_jsonl(tmp_path / "pandalm.jsonl", rows)
    write_jsonl(tmp_path / "verdicts.jsonl", verdicts)
    config = write_config(tmp_path, "comparator:\n  type: function\n  verdicts: verdicts.jsonl\n  label_map: {'1': a, '2': b, '0': tie}\n")
    report = bench(["pairs", "--data", str(data), "--config", str(config), "--ties", "majority", "--field", "id=idx", "--field", "prompt=instruction",
                    "--field", "response_a=response1", "--field", "response_b=response2", "--annotators", "annotator1,annotator2,annotator3",
                    "--label-map", "0=tie,1=a,2=b"], tmp_path / "out")
    precision, recall, f1, _ = precision_recall_fscore_support(truths, preds, average="macro", zero_division=0)
    assert report["n"] == len(truths) < 50
    assert report["overall"] == pytest.approx(accuracy_score(truths, preds))
    assert (report["precision"], report["recall"], report["f1"]) == pytest.approx((precision, recall, f1))
    assert report["mode"] == "pairwise" and report["position_consistency"] is not None
    assert any("without a majority" in note for note in report["data"]["notes"])


def test_bon_against_a_hand_count(tmp_path) -> None:
    rows = [
        {"prompt": "p0", "responses": ["0.9 x", "0.2 y", "0.5 z"], "correct": [0]},  # top is correct
        {"prompt": "p1", "responses": ["0.9 x", "0.9 y", "0.1 z"], "correct": [True, False, False]},  # tie at the top: 1/2
        {"prompt": "p2", "responses": ["0.3 x", "0.8 y"], "correct": [0]},  # top is wrong
        {"prompt": "p3", "responses": ["0.3 x", "0.1 y"], "correct": []},  # none correct
    ]
    data = write_jsonl(tmp_path / "bon.jsonl", rows)
    config = write_config(tmp_path, "rewards:\n  s: {type: function, path: funcs.py:stated}\n")
    report = bench(["bon", "--data", str(data), "--config", str(config)], tmp_path / "out")
    assert report["overall"] == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    assert report["any_of_n"] == pytest.approx(3 / 4)
    assert report["mean_sample"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 2 + 0) / 4)
    assert report["separation"] == pytest.approx(1 / 3)  # p0 separated; p1 (tie) and p2 not; p3 has no correct one


def test_bad_own_data_is_named(tmp_path, capsys) -> None:
    data = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "response_a": "x", "response_b": "y", "label": "maybe"}])
    config = write_config(tmp_path, "rewards:\n  s: {type: function, path: funcs.py:stated}\n")
    assert main(["bench", "pairs", "--data", str(data), "--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl: line 1: field 'label'" in err and "--label-map" in err
    assert main(["bench", "pairs", "--config", str(config), "--quiet"]) == 2
    assert "--data FILE" in capsys.readouterr().err
    comparator = write_config(tmp_path, "comparator: {type: function, path: funcs.py:longer}\n")
    good = write_jsonl(tmp_path / "good.jsonl", [{"prompt": "p", "response_a": "x", "response_b": "yy", "label": "b", "split": "dev"}])
    assert main(["bench", "pairs", "--data", str(good), "--config", str(comparator), "--ties", "threshold", "--quiet"]) == 2
    assert "needs a scalar reward" in capsys.readouterr().err


def test_function_comparator_from_a_function_and_from_saved_verdicts(tmp_path) -> None:
    (tmp_path / "funcs.py").write_text(FUNCS)
    Function = comparator_class("function")
    by_function = Function(path=str(tmp_path / "funcs.py") + ":longer")
    out = by_function.compare([Pair("p", "long answer", "short"), Pair("p", "ab", "cd")])
    assert [p.winner for p in out] == ["a", "tie"] and out[0].rationale == "the longer one"
    write_jsonl(tmp_path / "saved.jsonl", [{"response_a": "x", "response_b": "y", "winner": "B", "rationale": "y is right"}])
    replay = Function(verdicts=str(tmp_path / "saved.jsonl"))
    forward, backward, unreadable = replay.compare([Pair("p", "x", "y"), Pair("p", "y", "x"), Pair("p", "z", "w")])
    assert forward.winner == "b" and forward.rationale == "y is right"
    assert backward.winner is None and backward.failure.kind == "input" and "other order" in backward.failure.message
    assert unreadable.failure.kind == "input"
    write_jsonl(tmp_path / "odd.jsonl", [{"response_a": "x", "response_b": "y", "winner": "left"}])
    assert Function(verdicts=str(tmp_path / "odd.jsonl")).compare([Pair("p", "x", "y")])[0].failure.kind == "parse"
    with pytest.raises(ValueError, match="not both"):
        Function(path="funcs.py:longer", verdicts="saved.jsonl")
    assert replay.identity() != Function(verdicts=str(tmp_path / "odd.jsonl")).identity()  # the file decides: resumes never mix


def test_compare_writes_the_two_scores_as_fields(tmp_path) -> None:
    config = write_config(tmp_path, "rewards:\n  s: {type: function, path: funcs.py:stated}\n")
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "response_a": "0.25 x", "response_b": "0.75 y", "label": "B"}])
    assert main(["compare", str(pairs), "--config", str(config), "--output", str(tmp_path / "judged.jsonl")]) == 0
    row = json.loads((tmp_path / "judged.jsonl").read_text().splitlines()[0])
    assert (row["score_a"], row["score_b"], row["winner"]) == (0.25, 0.75, "B")
