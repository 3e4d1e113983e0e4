"""The one home of each small text and result helper: assay.text (text_of, prompt_text,
reference texts, shorten, groups_of) and the round trips and outcome() of assay.types."""

from __future__ import annotations

import pytest

from assay.text import content_text, groups_of, prompt_text, reference_texts, shorten, text_of
from assay.types import Failure, Judgment, Pair, Preference, Sample, outcome


def test_text_of_and_prompt_text_read_strings_and_messages():
    chat = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": [{"type": "text", "text": "4"}, {"type": "text", "text": 5}]}]
    assert text_of(chat) == "45" and text_of("plain") == "plain" and text_of(None) == ""
    assert prompt_text(chat[:1]) == "user: 2+2?"
    assert content_text(None) == "" and content_text(7) == "7"
    with pytest.raises(TypeError, match="expected a string or a list of chat messages, got int"):
        text_of(3)  # type: ignore[arg-type]


def test_reference_texts_keep_non_empty_strings_and_numbers():
    assert reference_texts(["a", " ", " b "]) == ["a", "b"]
    assert reference_texts(3) == ["3"] and reference_texts(["a", 3.0, 2.5]) == ["a", "3", "2.5"]
    assert reference_texts(" ") is None and reference_texts(True) is None and reference_texts(["a", {"x": 1}]) is None


def test_shorten_folds_white_space_and_cuts_with_an_ellipsis():
    assert shorten("a  b\n\tc") == "a b c"
    assert shorten("x" * 10, 5) == "xxxx…" and len(shorten("y" * 1000)) == 800
    assert shorten("it's\nlong", 4, quote=True) == '"it\'…"'
    assert shorten(ValueError("bad  value"), 100) == "bad value"


def test_groups_of_keys_by_group_then_alone_or_by_prompt():
    samples = [Sample(prompt="p", group=1), Sample(prompt="q"), Sample(prompt="p", group=1), Sample(prompt="q"), Sample(prompt="r", group=[1, 2])]
    assert groups_of(samples) == {("group", 1): [0, 2], ("alone", 1): [1], ("alone", 3): [3], ("group", ("unhashable group", "[1, 2]")): [4]}
    assert groups_of(samples, by_prompt=True) == {("group", 1): [0, 2], ("prompt", "q"): [1, 3], ("group", ("unhashable group", "[1, 2]")): [4]}
    chat = [{"role": "user", "content": "q"}]
    assert list(groups_of([Sample(prompt=chat), Sample(prompt=chat)], by_prompt=True).values()) == [[0, 1]]


def test_judgment_round_trip_rebuilds_component_judgments():
    inner = Judgment(0.5, "half", details={"note": {"score": 1}})
    total = Judgment(None, "failed", details={"em": inner, "raw": [1, 2]}, failure=Failure("parse", "no verdict", "xx"), meta={"k": 1})
    back = Judgment.from_dict(total.to_dict())
    assert isinstance(back.details["em"], Judgment) and back.details["em"].score == 0.5
    assert back.details["em"].details == {"note": {"score": 1}}  # no rationale: a plain dict stays a dict
    assert back.details["raw"] == [1, 2] and back.failure == total.failure and back.meta == {"k": 1}
    row = {"score": 1.0, "rationale": "r", "failure": None, "rewards": {"em": {"score": 1.0, "rationale": "equal", "failure": None, "details": {}}}}
    assert Judgment.from_dict(row, details_key="rewards").details["em"].rationale == "equal"


def test_preference_and_pair_from_dict():
    p = Preference("a", "A is better", probability=0.9, meta={"calls": 2})
    assert Preference.from_dict(p.to_dict()) == p
    failed = Preference.fail("backend", "down")
    assert Preference.from_dict(failed.to_dict()).failure == failed.failure
    pair = Pair.from_dict({"prompt": "q", "response_a": "x", "response_b": "y", "id": 3, "label": "A"})
    assert (pair.prompt, pair.response_a, pair.response_b, pair.reference, pair.id, pair.extra) == ("q", "x", "y", None, 3, {"label": "A"})
    with pytest.raises(KeyError, match="response_b"):
        Pair.from_dict({"response_a": "x"})


def test_outcome_names_scored_abstained_or_the_failure_kind():
    assert [outcome(j) for j in (Judgment(0.0), Judgment(None), Judgment.fail("timeout", "slow"))] == ["scored", "abstained", "timeout"]
    assert [outcome(p) for p in (Preference("tie"), Preference(None), Preference.fail("parse", "?"))] == ["scored", "abstained", "parse"]
