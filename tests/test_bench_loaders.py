"""Every loader on a small file the test writes in that benchmark's format, and the errors
that name file, line/index and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.bench.items import BestOfN, LabeledPair, PreferencePair, ProcessItem, SampledSolutions, StyledPair
from assay.bench.loaders import DataError, load


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_json(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))


def test_rewardbench(tmp_path):
    write_jsonl(tmp_path / "rewardbench/filtered.jsonl", [
        {"id": 7, "prompt": "hi", "chosen": "hello", "rejected": "go away", "subset": "alpacaeval-easy"},
        {"prompt": "2+2", "chosen": "4", "rejected": "5", "subset": "math-prm"},
    ])
    items = load("rewardbench", tmp_path).items
    assert [type(i) for i in items] == [PreferencePair, PreferencePair]
    assert items[0].id == "7" and items[0].subset == "alpacaeval-easy" and items[1].id == "filtered:2"


def test_rewardbench_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    (tmp_path / "rewardbench").mkdir()
    pd.DataFrame([{"id": 1, "prompt": "p", "chosen": "a", "rejected": "b", "subset": "hep-go"}]).to_parquet(tmp_path / "rewardbench/x.parquet")
    assert load("rewardbench", tmp_path).items[0].subset == "hep-go"


def test_rewardbench_missing_field_names_file_line_field(tmp_path):
    write_jsonl(tmp_path / "rewardbench/f.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b", "subset": "s"}, {"prompt": "p", "chosen": "a", "subset": "s"}])
    with pytest.raises(DataError, match=r"f\.jsonl: line 2: field 'rejected': missing"):
        load("rewardbench", tmp_path)


def test_rewardbench2_with_ties_rows(tmp_path):
    write_jsonl(tmp_path / "rewardbench2/test.jsonl", [
        {"id": "12", "prompt": "p", "chosen": ["good"], "rejected": ["b1", "b2", "b3"], "subset": "Focus"},
        {"id": "ref:3", "prompt": "p", "chosen": ["c"], "rejected": ["x", "y"], "subset": "Ties", "num_correct": 1},
        {"id": "tied:3", "prompt": "p", "chosen": ["c", "d"], "rejected": ["x"], "subset": "Ties", "num_correct": 2},
    ])
    items = load("rewardbench2", tmp_path).items
    assert all(isinstance(i, BestOfN) for i in items)
    assert items[2].chosen == ["c", "d"] and items[2].meta["num_correct"] == 2


def test_rewardbench2_bad_ties_id(tmp_path):
    write_jsonl(tmp_path / "rewardbench2/test.jsonl", [{"id": "3", "prompt": "p", "chosen": ["c"], "rejected": ["x"], "subset": "Ties"}])
    with pytest.raises(DataError, match=r"line 1: field 'id'"):
        load("rewardbench2", tmp_path)


def test_rmbench_files_domains_and_missing_math(tmp_path):
    row = {"id": 1, "prompt": "p", "chosen": ["c0", "c1", "c2"], "rejected": ["r0", "r1", "r2"], "subset": "s"}
    write_json(tmp_path / "rm-bench/chat.json", [row])
    write_json(tmp_path / "rm-bench/safety-refuse.json", [row])
    write_json(tmp_path / "rm-bench/safety-response_filtered.json", [{**row, "id": 2}])
    loaded = load("rm-bench", tmp_path)
    assert [i.id for i in loaded.items] == ["chat:1", "safety-refuse:1", "safety-response:2"]
    assert [i.domain for i in loaded.items] == ["chat", "safety", "safety"]
    assert all(isinstance(i, StyledPair) for i in loaded.items)
    assert any("code.json not found" in n for n in loaded.notes)


def test_rmbench_wrong_number_of_styles(tmp_path):
    write_json(tmp_path / "rm-bench/chat.json", [{"id": 1, "prompt": "p", "chosen": ["a", "b"], "rejected": ["x", "y", "z"]}])
    with pytest.raises(DataError, match=r"chat\.json: item 0: field 'chosen': expected 3 responses, got 2"):
        load("rm-bench", tmp_path)


def test_judgebench(tmp_path):
    base = {"question": "q", "response_A": "a", "response_B": "b"}
    write_jsonl(tmp_path / "judgebench/gpt-4o.jsonl", [
        {**base, "pair_id": "x", "source": "mmlu-pro-law", "label": "A>B"},
        {**base, "pair_id": "y", "source": "livecodebench", "label": "B>A"},
    ])
    items = load("judgebench", tmp_path).items
    assert all(isinstance(i, LabeledPair) for i in items)
    assert [(i.subset, i.better, i.meta["source"]) for i in items] == [("knowledge", "a", "mmlu-pro-law"), ("coding", "b", "livecodebench")]


def test_judgebench_bad_label(tmp_path):
    write_jsonl(tmp_path / "judgebench/j.jsonl", [{"question": "q", "response_A": "a", "response_B": "b", "pair_id": "x", "source": "s", "label": "A=B"}])
    with pytest.raises(DataError, match=r"j\.jsonl: line 1: field 'label'"):
        load("judgebench", tmp_path)


def test_llmbar(tmp_path):
    write_json(tmp_path / "llmbar/natural.json", [{"input": "i", "output_1": "a", "output_2": "b", "label": 2}])
    item = load("llmbar", tmp_path).items[0]
    assert (item.id, item.subset, item.better) == ("natural:0", "natural", "b")


def test_llmbar_bad_label_names_index(tmp_path):
    write_json(tmp_path / "llmbar/natural.json", [{"input": "i", "output_1": "a", "output_2": "b", "label": 1}, {"input": "i", "output_1": "a", "output_2": "b", "label": 3}])
    with pytest.raises(DataError, match=r"natural\.json: item 1: field 'label'"):
        load("llmbar", tmp_path)


def test_rmb_pairwise_and_bon(tmp_path):
    conv = [{"role": "user", "content": "hi", "language": "English"}]
    write_json(tmp_path / "rmb/Pairwise_set/Helpfulness/Chat/x.json", [
        {"pair_uid": "p1", "conversation_input": conv, "chosen": {"answer": "good", "llm_name": "m"}, "reject": {"answer": "bad", "llm_name": "n"}, "category_path": "Pairwise_set/Helpfulness/Chat"},
    ])
    write_json(tmp_path / "rmb/BoN_set/Harmlessness/S/y.json", [
        {"bon_uid": "b1", "conversation_input": conv, "bon_best": {"answer": "best"}, "loser_list": [{"answer": "l1"}, {"answer": "l2"}], "category_path": "BoN_set/Harmlessness/S"},
    ])
    items = load("rmb", tmp_path).items
    kinds = {type(i).__name__: i for i in items}
    assert kinds["PreferencePair"].chosen == "good" and kinds["PreferencePair"].subset == "Pairwise_set/Helpfulness"
    assert kinds["BestOfN"].rejected == ["l1", "l2"] and kinds["BestOfN"].prompt[0]["content"] == "hi"


def test_rmb_bad_answer(tmp_path):
    write_json(tmp_path / "rmb/a.json", [{"pair_uid": "p", "conversation_input": [{"role": "user", "content": "x"}], "chosen": "oops", "reject": {"answer": "b"}}])
    with pytest.raises(DataError, match=r"item 0: field 'chosen'"):
        load("rmb", tmp_path)


def test_processbench(tmp_path):
    write_json(tmp_path / "processbench/gsm8k.json", [
        {"id": "g-1", "problem": "p", "steps": ["s1", "s2"], "label": 1},
        {"id": "g-2", "problem": "p", "steps": ["s1"], "label": -1},
    ])
    items = load("processbench", tmp_path).items
    assert all(isinstance(i, ProcessItem) for i in items)
    assert [(i.id, i.label, i.subset) for i in items] == [("gsm8k:g-1", 1, "gsm8k"), ("gsm8k:g-2", -1, "gsm8k")]


def test_processbench_label_out_of_range(tmp_path):
    write_json(tmp_path / "processbench/math.json", [{"id": 1, "problem": "p", "steps": ["s1"], "label": 4}])
    with pytest.raises(DataError, match=r"item 0: field 'label'"):
        load("processbench", tmp_path)


def test_prmbench_reads_every_file_keeps_first_duplicate_and_takes_originals_from_redundency(tmp_path):
    """As ssmisya/PRMBench mr_eval/tasks/prmtest_classified/task.py: load_data_function: every
    .jsonl of the folder, the first of each (classification, idx), one correct solution per
    idx from the ``redundency`` rows."""
    row = {"idx": "t0", "question": "q", "original_process": ["a", "b", "c"], "modified_process": ["a", "x", "y"], "error_steps": [3, 2], "classification": "circular"}
    write_jsonl(tmp_path / "prmbench/prm_test_circular.jsonl", [row, {**row, "error_steps": [1]}])  # a duplicated (circular, t0)
    write_jsonl(tmp_path / "prmbench/prm_test_redundency.jsonl", [{**row, "classification": "redundency", "error_steps": [3]}])
    write_jsonl(tmp_path / "prmbench/prm_train_x.jsonl", [{**row, "idx": "t1", "classification": "confidence"}])
    loaded = load("prmbench", tmp_path)
    got = sorted((i.subset, i.id, i.label, tuple(i.error_steps)) for i in loaded.items)
    assert got == [
        ("circular", "circular:t0:modified", 1, (1, 2)),
        ("confidence", "confidence:t1:modified", 1, (1, 2)),
        ("original", "original:t0", -1, ()),
        ("redundency", "redundency:t0:modified", 2, (2,)),
    ]
    assert "read all 3 .jsonl file(s)" in loaded.notes[0] and "prm_train_x.jsonl" in [p.name for p in loaded.files]
    assert any("dropped 1" in n and "(circular:t0)" in n for n in loaded.notes)
    test_only = load("prmbench", tmp_path, files="test")
    assert [p.name for p in test_only.files] == ["prm_test_circular.jsonl", "prm_test_redundency.jsonl"]
    assert "confidence" not in {i.subset for i in test_only.items} and "left out" in test_only.notes[0]
    with pytest.raises(ValueError, match="all, test"):
        load("prmbench", tmp_path, files="train")


def test_prmbench_keeps_a_row_whose_first_error_is_past_the_end(tmp_path):
    row = {"idx": "t0", "original_process": ["a"], "modified_process": ["a", "b"], "error_steps": [5], "classification": "c"}
    write_jsonl(tmp_path / "prmbench/test.jsonl", [row])
    loaded = load("prmbench", tmp_path)
    assert [(i.subset, i.label, i.error_steps) for i in loaded.items] == [("c", 4, [4])]
    assert any("line 1" in n and "past the last step are kept" in n for n in loaded.notes)


def test_judgebench_splits_are_not_pooled_and_identical_pairs_are_named(tmp_path):
    row = {"pair_id": "p1", "source": "livebench-math", "question": "q", "response_A": "same", "response_B": "same ", "label": "A>B"}
    write_jsonl(tmp_path / "judgebench/dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl", [row])
    loaded = load("judgebench", tmp_path)
    assert "read 1 file(s)" in loaded.notes[0] and "gpt-4o-2024-05-13" in loaded.notes[0]
    assert "identical" in loaded.notes[1] and "p1" in loaded.notes[1]
    write_jsonl(tmp_path / "judgebench/dataset=judgebench,response_model=claude-3-5-sonnet-20240620.jsonl", [row])
    with pytest.raises(DataError, match="2 response-model splits.*--judgebench-mix-splits"):
        load("judgebench", tmp_path)
    pooled = load("judgebench", tmp_path, mix_splits=True)
    assert len(pooled.items) == 2 and "pooled" in pooled.notes[0]


def test_math_bon_nested_scores(tmp_path):
    write_jsonl(tmp_path / "math-bon/x.jsonl", [{
        "idx": 0, "question": "q", "response": ["r1", "r2"], "pred": ["1", "2"], "score": [True, False], "pred_score": [[0.5], [0.25]],
    }])
    item = load("math-bon", tmp_path).items[0]
    assert isinstance(item, SampledSolutions)
    assert item.stored_scores == [0.5, 0.25] and item.correct == [True, False] and item.id == "x:0"


def test_math_bon_length_mismatch(tmp_path):
    write_jsonl(tmp_path / "math-bon/x.jsonl", [{"question": "q", "response": ["r1", "r2"], "pred": ["1"], "score": [True, False]}])
    with pytest.raises(DataError, match=r"x\.jsonl: line 1: field 'pred'"):
        load("math-bon", tmp_path)


def test_bad_json_line(tmp_path):
    (tmp_path / "judgebench").mkdir()
    (tmp_path / "judgebench/j.jsonl").write_text('{"a": 1\n')
    with pytest.raises(DataError, match=r"j\.jsonl: line 1: not valid JSON"):
        load("judgebench", tmp_path)


def test_missing_folder_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmark folder not found"):
        load("llmbar", tmp_path)
