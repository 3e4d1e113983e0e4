"""assay.search: best-of-N, weighted vote, and step-level beam search (the generator scripted
here for control flow; against a real llama.cpp server in tests/test_process_llama.py), with
the real ``step_arithmetic`` step reward."""

from __future__ import annotations

import json
import re

import pytest
from scripted_backend import ScriptedBackend, user_text

from assay.backends.base import BackendError, Completion
from assay.cli import main as cli_main
from assay.compose.load import load_reward
from assay.reward import run_sync
from assay.search.beam import BeamSearch, BeamSettings
from assay.search.candidates import Candidate, answer_key, ascore_candidates
from assay.search.select import best_of_n, weighted_vote

ARITH = {"rewards": {"steps": {"type": "process", "step_reward": {"type": "step_arithmetic"}, "aggregate": "min"}}}


def cand(score, answer):
    return Candidate(text="", steps=[], score=score, answer=answer, key=answer_key(answer))


def test_answer_key_groups_numbers_by_value():
    assert answer_key("1,000") == answer_key("1000.0") == answer_key("\\$1000")
    assert answer_key("\\dfrac{1}{2}") == answer_key("\\frac{1}{2}")
    assert answer_key("50\\%") == answer_key("0.5") and answer_key(None) is None


def test_best_of_n_ranks_unscored_last_and_breaks_ties_early():
    assert best_of_n([cand(None, "1"), cand(0.2, "2"), cand(0.9, "3"), cand(0.9, "4")]).index == 2
    assert best_of_n([cand(None, "1"), cand(None, "2")]).index is None


def test_weighted_vote_sums_group_weights():
    cands = [cand(0.9, "7"), cand(0.3, "5"), cand(0.35, "5.0"), cand(0.4, "5")]
    choice = weighted_vote(cands)
    assert candidate_answer(cands, choice) == "5" and choice.index == 3  # 1.05 > 0.9, best member of the group
    assert weighted_vote(cands, "uniform").weights == {answer_key("7"): 1.0, answer_key("5"): 3.0}
    with pytest.raises(ValueError, match="softmax"):
        weighted_vote([cand(-1.0, "1"), cand(2.0, "2")])
    assert weighted_vote([cand(-1.0, "1"), cand(2.0, "2"), cand(1.9, "1")], "softmax").index == 1


def candidate_answer(cands, choice):
    return cands[choice.index].answer


def test_candidates_keep_step_scores_of_a_process_reward():
    reward = load_reward(ARITH)
    texts = ["He has 3 + 4 = 7 apples.\n\nThe answer is \\boxed{7}.", "He has 3 + 4 = 8 apples.\n\nThe answer is \\boxed{8}."]
    right, wrong = run_sync(ascore_candidates(reward, "3 + 4?", texts))
    assert right.step_scores == [1.0, None] and right.score == 1.0 and right.answer == "7"
    assert wrong.step_scores == [0.0, None] and wrong.score == 0.0
    assert best_of_n([wrong, right]).index == 1


def generator_script(messages, params):
    """A generator that, after the question, writes a right or a wrong first step (by seed),
    then the answer."""
    prompt = user_text(messages)
    assert params["stop"] == ["\n\n"] and params["max_tokens"] == 64
    if "apples." not in prompt:  # no step written yet
        return "So 3 + 4 = 7 apples.\n\n" if params["seed"] % 2 else "So 3 + 4 = 9 apples.\n\n"
    value = re.findall(r"= (\d+) apples", prompt)[-1]
    return Completion(text=f"The answer is \\boxed{{{value}}}.", finish_reason="stop")


def test_beam_search_keeps_the_beam_the_step_reward_prefers():
    generator = ScriptedBackend(generator_script)
    search = BeamSearch(load_reward(ARITH), generator, BeamSettings(width=1, expand=4, max_depth=4, max_step_tokens=64, seed=3))
    result = search.run("Tom has 3 apples and buys 4. How many?", item_id="q1")
    assert result.best is not None and result.best.answer == "7" and result.best.steps[0] == "So 3 + 4 = 7 apples."
    first_level = [n for n in result.nodes if n.depth == 0]
    assert {n.candidate.score for n in first_level} == {0.0, 1.0}  # both kinds were sampled and scored, and kept in the log
    assert any(n.status == "pruned" for n in first_level) and result.stopped_by == "finished"
    assert result.calls == len(generator.calls) <= 4 + 4
    assert json.loads(json.dumps(result.to_dict()))["best"]["answer"] == "7"


def test_beam_search_is_bounded_by_calls_and_depth():
    never_done = ScriptedBackend(lambda m, p: "And 1 + 1 = 2.\n\n")
    result = BeamSearch(load_reward(ARITH), never_done, BeamSettings(width=2, expand=2, max_depth=50, max_calls=7)).run("q")
    assert result.calls == 7 == len(never_done.calls) and result.stopped_by == "max_calls"
    assert result.finals and all(not n.finished and n.status == "truncated" for n in result.finals)
    result = BeamSearch(load_reward(ARITH), ScriptedBackend(lambda m, p: "And 1 + 1 = 2.\n\n"), BeamSettings(width=1, expand=1, max_depth=3)).run("q")
    assert result.stopped_by == "max_depth" and len(result.best.steps) == 3
    with pytest.raises(ValueError, match="width"):
        BeamSettings(width=0)


def test_beam_search_raises_when_the_generator_is_down():
    down = ScriptedBackend(lambda m, p: BackendError("connection refused"))
    with pytest.raises(BackendError):
        BeamSearch(load_reward(ARITH), down).run("q")


def test_cli_best_of_n_and_vote(tmp_path, capsys):
    config = tmp_path / "arith.yaml"
    config.write_text(json.dumps(ARITH))
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"prompt": "3 + 4?", "responses": ["3 + 4 = 8 so \\boxed{8}", "3 + 4 = 7 so \\boxed{7}"], "correct": [False, True]}) + "\n")
    out = tmp_path / "out.jsonl"
    assert cli_main(["search", str(rows), "-c", str(config), "--method", "bon", "-o", str(out)]) == 0
    row = json.loads(out.read_text())
    assert row["search"]["chosen"] == 1 and row["search"]["candidates"][0]["step_scores"] == [0.0]
    assert '"accuracy": 1.0' in capsys.readouterr().out
    assert cli_main(["search", str(rows), "-c", str(config), "--method", "vote", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["search"]["answer"] == "7"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "q", "responses": "not a list"}) + "\n")
    assert cli_main(["search", str(bad), "-c", str(config), "-o", str(out)]) == 2
    assert "bad.jsonl:1: field 'responses'" in capsys.readouterr().err


def test_cli_beam_reports_a_generator_that_is_down(tmp_path, capsys):
    config = tmp_path / "arith.yaml"
    config.write_text(json.dumps(ARITH))
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"prompt": "3 + 4?"}) + "\n")
    code = cli_main(["search", str(rows), "-c", str(config), "--method", "beam", "--base-url", "http://127.0.0.1:9/v1", "--timeout", "2", "-o", str(tmp_path / "o.jsonl")])
    assert code == 1 and "the generator at http://127.0.0.1:9/v1 failed" in capsys.readouterr().err
