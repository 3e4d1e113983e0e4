"""The verifiable rule rewards: match, format, length, repetition, overlap, JSON, tool calls.

Each reward is checked on what it scores, its options, its edge cases, and its failure paths
(a missing reference is an ``input`` failure, never a number).
"""

from __future__ import annotations

import doctest
import importlib
import json

import pydantic
import pytest

from assay.registry import REWARD_TYPES, reward_class
from assay.rewards.rules.extraction import extract_answer, last_boxed, normalize_answer
from assay.rewards.rules.format import RegexMatch, TagFormat
from assay.rewards.rules.json_format import JsonSchema, JsonValid
from assay.rewards.rules.length import LengthPenalty, OverlongPenalty, count_units
from assay.rewards.rules.match import ChoiceMatch, ExactMatch, TokenF1
from assay.rewards.rules.overlap import Bleu, ChrF, Rouge
from assay.rewards.rules.repetition import RepetitionPenalty
from assay.rewards.rules.tool_call import ToolCallMatch, best_pairing
from assay.types import Judgment, Sample

MINE = ["exact_match", "f1", "choice", "regex", "tag_format", "length_penalty", "overlong", "repetition", "bleu", "chrf", "rouge", "json_valid", "json_schema", "tool_call", "cosine_length"]
MODULES = ["extraction", "match", "format", "length", "repetition", "overlap", "json_format", "tool_call", "bounds"]  # cosine_length: its example is a config


def one(reward, response="", reference=None, **extra) -> Judgment:
    return reward.score([Sample(response=response, reference=reference, extra=extra)])[0]


def assert_input_failure(judgment: Judgment) -> None:
    assert judgment.score is None and judgment.failure is not None and judgment.failure.kind == "input", judgment


# --- registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", MINE)
def test_registry_entry_constructs_with_option_defaults(type_name):
    cls = reward_class(type_name)
    assert cls.type_name == type_name
    assert REWARD_TYPES[type_name].summary  # one description per type: the registry's
    reward = cls(name="x", **cls.Options.model_validate({}).model_dump())
    assert reward.name == "x"
    judgment = reward.score([Sample(response="hello", reference="hello")])[0]
    assert isinstance(judgment, Judgment) and judgment.rationale
    if judgment.failure is not None:
        assert judgment.failure.kind in ("input", "parse")  # e.g. tool_call/json_schema: unusable reference


@pytest.mark.parametrize("type_name", MINE)
def test_options_forbid_unknown_keys(type_name):
    with pytest.raises(pydantic.ValidationError, match='Extra inputs are not permitted'):
        reward_class(type_name).Options.model_validate({"no_such_option": 1})


@pytest.mark.parametrize("module", MODULES)
def test_module_doctests(module):
    result = doctest.testmod(importlib.import_module(f"assay.rewards.rules.{module}"))
    assert result.failed == 0 and result.attempted > 0


def test_all_my_types_are_registered():
    assert set(MINE) <= set(REWARD_TYPES)


# --- extraction and normalisation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, mode, answer, method",
    [
        ("<think>x</think><answer> 42 </answer>", "auto", "42", "answer_tag"),
        ("so \\boxed{\\frac{1}{2}} and \\boxed{3}", "auto", "3", "boxed"),
        ("so \\boxed{\\frac{1}{2}}", "boxed", "\\frac{1}{2}", "boxed"),
        ("steps\n#### 1,234", "auto", "1,234", "hashes"),
        ("I think the answer is Paris.", "auto", "Paris", "answer_is"),
        ("Final answer: **7**", "auto", "7", "answer_is"),
        ("just text", "auto", "just text", "whole"),
        ("a\nb\n\n", "last_line", "b", "last_line"),
        ("no tag", "answer_tag", None, "answer_tag"),
        ("\\boxed{unclosed", "boxed", None, "boxed"),
        ("  whole \n", "none", "whole", "whole"),
    ],
)
def test_extract_answer(text, mode, answer, method):
    found = extract_answer(text, mode)
    assert (found.answer, found.method) == (answer, method)


def test_extract_custom_pattern_last_match_wins():
    assert extract_answer("ANS=1 ... ANS=2", pattern=r"ANS=(\d+)").answer == "2"
    assert extract_answer("nothing", pattern=r"ANS=(\d+)").answer is None


def test_last_boxed_escaped_braces():
    assert last_boxed(r"\boxed{\{1, 2\}}") == r"\{1, 2\}"


def test_normalize_answer_squad_style():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a day") == "apple day"
    assert normalize_answer("3.5") == "3.5" and normalize_answer("1,000") == "1000"
    assert normalize_answer("Paris", case_sensitive=True) == "Paris"


# --- exact match / f1 -------------------------------------------------------------------------


def test_exact_match_basic_and_list_reference():
    j = one(ExactMatch(), "<answer>The Paris!</answer>", ["London", "paris"])
    assert j.score == 1.0 and "paris" in j.rationale and j.details["matched_reference"] == "paris"
    j = one(ExactMatch(), "<answer>Rome</answer>", ["London", "Paris"])
    assert j.score == 0.0 and "any of 2 references" in j.rationale


def test_exact_match_options():
    assert one(ExactMatch(normalize=False), "Paris.", "Paris").score == 0.0
    assert one(ExactMatch(normalize=False), "  paris ", "Paris").score == 1.0
    assert one(ExactMatch(normalize=False, case_sensitive=True), "paris", "Paris").score == 0.0
    assert one(ExactMatch(case_sensitive=True), "Paris", "Paris").score == 1.0
    assert one(ExactMatch(extract="none"), "the answer is 4", "4").score == 0.0
    assert one(ExactMatch(pattern=r"RESULT:\s*(\S+)"), "RESULT: 12", "12").score == 1.0


def test_exact_match_numeric_and_gsm8k_reference():
    assert one(ExactMatch(), "#### 72", 72).score == 1.0
    assert one(ExactMatch(), "#### 72", 72.0).score == 1.0
    assert one(ExactMatch(), "the final answer is 72", "72").score == 1.0
    assert extract_answer("I answered yes\nanswer: no").answer == "no"
    assert one(ExactMatch(reference_extract="auto"), "the answer is 72", "She sold 48/2 = 24...\n#### 72").score == 1.0
    assert one(ExactMatch(), "3.5", "35").score == 0.0


def test_exact_match_no_answer_found_is_zero_with_reason():
    j = one(ExactMatch(extract="boxed"), "no box here", "4")
    assert j.score == 0.0 and j.ok and "no answer found" in j.rationale


@pytest.mark.parametrize("reference", [None, [], "", "   ", {"a": 1}, [None], True])
def test_match_missing_reference_is_input_failure(reference):
    assert_input_failure(one(ExactMatch(), "x", reference))
    assert_input_failure(one(TokenF1(), "x", reference))


def test_bad_pattern_is_a_construction_error():
    with pytest.raises(pydantic.ValidationError, match=r"extraction pattern '\(unclosed' is not a valid regular expression"):
        ExactMatch(pattern="(unclosed")
    with pytest.raises(pydantic.ValidationError, match='must have exactly one group, it has 0'):
        ExactMatch(pattern="no group")
    with pytest.raises(pydantic.ValidationError, match='must have exactly one group, it has 2'):
        ExactMatch.Options.model_validate({"pattern": "(a)(b)"})


def test_token_f1():
    j = one(TokenF1(extract="none"), "the Eiffel tower in Paris", "Eiffel Tower")
    assert j.score == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert "2 of 2 reference tokens found" in j.rationale and "F1 0.67" in j.rationale
    assert j.details["precision"] == 0.5 and j.details["recall"] == 1.0


def test_token_f1_max_over_references_and_edge_cases():
    j = one(TokenF1(), "new york city", ["york", "New York City"])
    assert j.score == 1.0 and j.details["best_reference"] == "New York City" and "best of 2" in j.rationale
    assert one(TokenF1(), "completely different", "answer").score == 0.0
    assert one(TokenF1(), "the", "a").score == 1.0  # both empty after normalisation (SQuAD)
    assert one(TokenF1(), "the", "cat").score == 0.0
    assert one(TokenF1(), "cat cat", "cat").score == pytest.approx(2 / 3)  # multiplicity counts


# --- choice -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        "(B)",
        "B",
        "b",
        "Answer: B",
        "the answer is B.",
        "**B**",
        "\\boxed{B}",
        "\\boxed{\\text{B}}",
        "The correct answer is: **(B)**",
        "**Answer:** B",
        "Let me think. Option A is wrong since...\nThe answer is B because A fails.",
        "<answer>(B) Paris</answer>",
        "Reasoning...\nB",
        "Reasoning...\nSo I pick (B).",
        "The answer is not A. The final answer is B",
    ],
)
def test_choice_finds_letter(response):
    j = one(ChoiceMatch(), response, "B")
    assert j.score == 1.0, (response, j.rationale)
    assert j.details["chosen"] == "B"


@pytest.mark.parametrize("response", ["Answer: A or C", "The answer is A, C", "<answer>A and C</answer>", "(A) 3 (C) 4"])
def test_choice_ambiguous_is_parse_failure(response):
    j = one(ChoiceMatch(), response, "A")
    assert j.failure is not None and j.failure.kind == "parse" and "ambiguous" in j.rationale
    assert j.failure.raw == response


def test_choice_no_letter_found_scores_zero():
    for response in ["I have no idea", "The answer is a prime number", ""]:
        j = one(ChoiceMatch(), response, "A")
        assert j.ok and j.score == 0.0 and "no choice letter found" in j.rationale


def test_choice_wrong_letter_and_reference_forms():
    j = one(ChoiceMatch(), "Answer: C", "B")
    assert j.score == 0.0 and "chose C" in j.rationale and "wrong" in j.rationale
    assert one(ChoiceMatch(), "Answer: B", 1).score == 1.0  # 0-based index
    assert one(ChoiceMatch(), "Answer: B", "(B) Paris").score == 1.0
    assert one(ChoiceMatch(), "Answer: B", ["A", "B"]).score == 1.0


def test_choice_options():
    assert one(ChoiceMatch(choices="ABCD"), "Answer: E", "A").score == 0.0  # E is not a choice
    assert one(ChoiceMatch(extract="answer_tag"), "Answer: B", "B").score == 0.0  # no tag
    with pytest.raises(pydantic.ValidationError, match=r"choices must be distinct uppercase letters .* got 'abc'"):
        ChoiceMatch(choices="abc")
    with pytest.raises(pydantic.ValidationError, match=r"choices must be distinct uppercase letters .* got 'AAB'"):
        ChoiceMatch(choices="AAB")


@pytest.mark.parametrize("reference", [None, "Z", "maybe", 7, {"x": 1}])
def test_choice_bad_reference_is_input_failure(reference):
    assert_input_failure(one(ChoiceMatch(choices="ABCD"), "Answer: A", reference))


# --- format -----------------------------------------------------------------------------------

GOOD = "<think>\n2+2 is 4\n</think>\n<answer>4</answer>"


def test_regex_default_is_r1_format():
    assert one(RegexMatch(), GOOD).score == 1.0
    j = one(RegexMatch(), "4")
    assert j.score == 0.0 and "no match" in j.rationale
    assert one(RegexMatch(), "Sure. " + GOOD).score == 0.0  # anchored: nothing before <think>
    assert one(RegexMatch(), GOOD + "\n").score == 1.0


def test_regex_default_mode_is_search():
    assert one(RegexMatch(pattern=r"(?m)^A: .+$"), "4\nA: 4").score == 1.0
    assert one(RegexMatch(pattern=r"<answer>.*</answer>"), "<think>x</think><answer>4</answer>").score == 1.0
    j = one(RegexMatch(pattern=r"(?m)^A: .+$", mode="fullmatch"), "4\nA: 4")
    assert j.score == 0.0 and "whole response does not match" in j.rationale


def test_regex_options():
    assert one(RegexMatch(pattern=r"\d+", mode="search"), "abc 123").score == 1.0
    assert one(RegexMatch(pattern=r"\d+", mode="fullmatch"), "abc 123").score == 0.0
    assert one(RegexMatch(pattern=r"abc", mode="match"), "abc 123").score == 1.0
    assert one(RegexMatch(pattern=r"a.b", flags=[]), "a\nb").score == 0.0
    assert one(RegexMatch(pattern=r"a.b"), "a\nb").score == 1.0  # dotall by default
    assert one(RegexMatch(pattern=r"ABC", flags=["ignorecase"]), "abc").score == 1.0
    j = one(RegexMatch(pattern=r"(\d+)-(\d+)"), "12-34")
    assert j.details["groups"] == ["12", "34"]


def test_regex_bad_config():
    with pytest.raises(pydantic.ValidationError, match=r"regex pattern '\(' is not a valid regular expression"):
        RegexMatch(pattern="(")
    with pytest.raises(pydantic.ValidationError, match=r"regex pattern '\(' is not a valid regular expression"):
        RegexMatch.Options.model_validate({"pattern": "("})
    with pytest.raises(pydantic.ValidationError, match=r"flags\.0\n  Input should be 'dotall'"):
        RegexMatch.Options.model_validate({"flags": ["bogus"]})


def test_tag_format_all_pass():
    j = one(TagFormat(), GOOD)
    assert j.score == 1.0 and "all 4 format checks passed" in j.rationale


@pytest.mark.parametrize(
    "response, failed",
    [
        ("<answer>4</answer><think>x</think>", "out of order"),
        ("<think>x</think><think>y</think><answer>4</answer>", "<think> appears 2 times"),
        ("<think>x</think>\n<answer>4</answer> trailing words", "text outside the tags"),
        ("<think>x</think><answer>4", "</answer> appears 0 times"),
        ("</think>x<think><answer>4</answer>", "</think> comes before <think>"),
        ("<think>x<answer>4</answer></think>", "overlapping"),
        ("", "text outside"),
    ],
)
def test_tag_format_failures(response, failed):
    j = one(TagFormat(), response)
    assert j.score == 0.0 and failed in j.rationale, j.rationale


def test_tag_format_partial_and_lenient():
    j = one(TagFormat(partial=True), "<think>x</think>\n<answer>4</answer> extra")
    assert j.score == pytest.approx(3 / 4) and "3 of 4" in j.rationale
    assert one(TagFormat(strict=False), "Sure! <think>x</think><answer>4</answer> bye").score == 1.0
    assert one(TagFormat(ordered=False), "<answer>4</answer><think>x</think>").score == 1.0
    assert one(TagFormat(tags=["answer"]), "<answer>4</answer>").score == 1.0
    with pytest.raises(pydantic.ValidationError, match=r"'<think>' is not a tag name"):
        TagFormat(tags=["<think>"])
    with pytest.raises(pydantic.ValidationError, match='tags must name at least one tag'):
        TagFormat(tags=[])


# --- length -----------------------------------------------------------------------------------


def test_count_units():
    assert count_units("Hello, world!", "tokens") == 4
    assert count_units("Hello, world!", "words") == 2
    assert count_units("Hello", "chars") == 5


def test_length_penalty():
    r = LengthPenalty(max_tokens=10, unit="words")
    assert one(r, "w " * 10).score == 0.0
    j = one(r, "w " * 15)
    assert j.score == -0.5 and "5 over the budget of 10" in j.rationale
    assert one(r, "w " * 100).score == -1.0
    assert one(LengthPenalty(max_tokens=10, unit="words", ramp=5), "w " * 15).score == -1.0
    assert one(LengthPenalty(max_tokens=2, unit="chars"), "abc").score == -0.5
    assert one(LengthPenalty(max_tokens=0, unit="chars"), "").score == 0.0


def test_length_field():
    r = LengthPenalty(max_tokens=100, length_field="completion_tokens")
    assert one(r, "short", completion_tokens=150).score == -0.5
    assert_input_failure(one(r, "short"))
    assert_input_failure(one(r, "short", completion_tokens="many"))


def test_length_bad_options():
    with pytest.raises(pydantic.ValidationError, match='max_tokens must be >= 0, got -1'):
        LengthPenalty(max_tokens=-1)
    with pytest.raises(pydantic.ValidationError, match=r"unit\n  Input should be 'tokens', 'words' or 'chars'"):
        LengthPenalty(unit="lines")
    with pytest.raises(pydantic.ValidationError, match='a tokenizer counts tokens; set unit: tokens'):
        LengthPenalty(unit="words", tokenizer="gpt2")
    with pytest.raises(pydantic.ValidationError, match=r"buffer must be between 0 and max_length \(10\), got 11"):
        OverlongPenalty(max_length=10, buffer=11)


@pytest.mark.parametrize("length, expected", [(0, 0.0), (6, 0.0), (7, -0.25), (8, -0.5), (10, -1.0), (11, -1.0), (1000, -1.0)])
def test_overlong_dapo(length, expected):
    j = one(OverlongPenalty(max_length=10, buffer=4, unit="chars"), "x" * length)
    assert j.score == pytest.approx(expected), j.rationale
    assert str(length) in j.rationale


def test_overlong_hard_cut():
    r = OverlongPenalty(max_length=5, buffer=0, unit="chars")
    assert one(r, "x" * 5).score == 0.0 and one(r, "x" * 6).score == -1.0


def test_overlong_counts_last_assistant_message():
    r = OverlongPenalty(max_length=4, buffer=2, unit="words")
    messages = [{"role": "user", "content": "a b c d e f g h"}, {"role": "assistant", "content": "a b c"}]
    assert r.score([Sample(response=messages)])[0].score == -0.5


# --- repetition -------------------------------------------------------------------------------


def test_repetition_formula():
    j = one(RepetitionPenalty(ngram_size=2, max_penalty=-1.0), "a b a b a b")
    # 5 bigrams, 2 unique -> -(1 - 2/5) = -0.6
    assert j.score == pytest.approx(-0.6) and j.details == {**j.details, "total_ngrams": 5, "unique_ngrams": 2}
    assert "2 of 5" in j.rationale and "'a b' x3" in j.rationale
    assert one(RepetitionPenalty(ngram_size=2, max_penalty=-0.5), "a b a b a b").score == pytest.approx(-0.3)


def test_repetition_edge_cases():
    j = one(RepetitionPenalty(), "")
    assert j.score == 0.0 and "empty" in j.rationale
    j = one(RepetitionPenalty(ngram_size=3), "two words")
    assert j.score == 0.0 and "shorter than one 3-gram" in j.rationale
    j = one(RepetitionPenalty(), "all these words are different ones")
    assert j.score == 0.0 and "distinct" in j.rationale
    assert one(RepetitionPenalty(ngram_size=2), "The the THE the").score < 0  # lowercased
    assert one(RepetitionPenalty(ngram_size=2, unit="chars"), "哈哈哈哈").score == pytest.approx(-(1 - 1 / 3))
    with pytest.raises(pydantic.ValidationError, match=r"max_penalty must be <= 0 \(it is a penalty\), got 0.5"):
        RepetitionPenalty(max_penalty=0.5)
    with pytest.raises(pydantic.ValidationError, match='ngram_size must be >= 1, got 0'):
        RepetitionPenalty(ngram_size=0)


# --- overlap ----------------------------------------------------------------------------------


def test_bleu():
    j = one(Bleu(), "the cat sat on the mat", "the cat sat on the mat")
    assert j.score == pytest.approx(1.0) and "BLEU 100.0" in j.rationale
    j = one(Bleu(), "the cat sat on the mat", ["a dog ran", "the cat sat on a mat"])
    assert 0 < j.score < 1 and "2 references" in j.rationale and len(j.details["precisions"]) == 4
    assert one(Bleu(), "", "the cat").score == 0.0
    assert one(Bleu(lowercase=True), "THE CAT SAT", "the cat sat").score == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"cannot build sacrebleu BLEU with tokenize='bogus'"):
        Bleu(tokenize="bogus")


def test_chrf_and_rouge():
    assert one(ChrF(), "hello world", "hello world").score == pytest.approx(1.0)
    assert 0 < one(ChrF(word_order=2), "hello word", "hello world").score < 1
    assert "chrF++" in one(ChrF(word_order=2), "a", "a b").rationale
    j = one(Rouge(), "the cat sat on the mat", ["zzz", "the cat sat on a mat"])
    assert j.score == pytest.approx(5 / 6) and "best of 2" in j.rationale
    assert one(Rouge(variant="rouge2"), "the cat", "the cat").score == 1.0
    assert one(Rouge(use_stemmer=True), "cats running", "cat run").score == 1.0
    assert one(Rouge(use_stemmer=False), "cats running", "cat run").score == 0.0
    with pytest.raises(pydantic.ValidationError, match=r"variant\n  Input should be 'rouge1'"):
        Rouge(variant="rouge9")


def test_rouge_unreadable_reference_is_input_failure():
    assert_input_failure(one(Rouge(), "猫", "猫が座った"))


@pytest.mark.parametrize("cls", [Bleu, ChrF, Rouge])
@pytest.mark.parametrize("reference", [None, "", ["", " "], True, [{"text": "a"}]])
def test_overlap_missing_reference_is_input_failure(cls, reference):
    assert_input_failure(one(cls(), "text", reference))


@pytest.mark.parametrize("cls", [Bleu, ChrF, Rouge])
def test_overlap_reads_a_number_reference_as_its_text(cls):
    """One reading of references for every rule reward (assay.text.reference_texts): 3 is "3"."""
    assert one(cls(), "3", 3).score == one(cls(), "3", "3").score


# --- json -------------------------------------------------------------------------------------


def test_json_valid():
    assert one(JsonValid(), '{"a": [1, 2]}').score == 1.0
    j = one(JsonValid(), "Sure:\n```json\n[1, 2]\n```\nDone.")
    assert j.score == 1.0 and "fenced" in j.rationale and "array of 2 items" in j.rationale
    assert one(JsonValid(), "```\n{}\n```").score == 1.0
    j = one(JsonValid(), '{"a": 1,}')
    assert j.score == 0.0 and "not valid JSON" in j.rationale and j.ok
    assert one(JsonValid(), '{"a": NaN}').score == 0.0
    assert one(JsonValid(), "").score == 0.0


def test_json_valid_options():
    text = 'Here: ```json\n{"a": 1}\n```'
    assert one(JsonValid(extract="whole"), text).score == 0.0
    assert one(JsonValid(extract="fenced"), '{"a": 1}').score == 0.0
    assert one(JsonValid(extract="fenced"), text).score == 1.0
    assert one(JsonValid(top_level="object"), "[1]").score == 0.0
    assert one(JsonValid(top_level="array"), "[1]").score == 1.0
    with pytest.raises(pydantic.ValidationError, match=r"extract\n  Input should be 'auto', 'whole' or 'fenced'"):
        JsonValid(extract="xml")


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_json_schema():
    r = JsonSchema(schema=SCHEMA)
    assert one(r, '{"name": "Ada", "age": 36}').score == 1.0
    j = one(r, '{"name": 5, "age": -1, "x": 1}')
    assert j.score == 0.0 and "3 errors" in j.rationale
    assert "at $.age" in j.rationale and "at $.name" in j.rationale and len(j.details["errors"]) == 3
    j = one(JsonSchema(schema=SCHEMA, max_errors=1), '{"name": 5, "age": -1, "x": 1}')
    assert "and 2 more" in j.rationale
    j = one(r, "not json")
    assert j.score == 0.0 and j.ok and "not valid JSON" in j.rationale


def test_json_schema_from_config_and_file(tmp_path):
    options = JsonSchema.Options.model_validate({"schema": SCHEMA})
    r = JsonSchema(name="x", **options.model_dump())
    assert one(r, '{"name": "a", "age": 1}').score == 1.0
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SCHEMA))
    r = JsonSchema(schema_path="s.json", base_dir=tmp_path)
    assert one(r, '{"name": "a", "age": 1}').score == 1.0
    (tmp_path / "s.yaml").write_text("type: array\n")
    assert one(JsonSchema(schema_path=str(tmp_path / "s.yaml")), "[]").score == 1.0
    with pytest.raises(FileNotFoundError, match=r"schema file 'missing.json' not found"):
        JsonSchema(schema_path="missing.json", base_dir=tmp_path)


def test_json_schema_bad_schema_is_a_clear_construction_error():
    with pytest.raises(pydantic.ValidationError, match="not a valid JSON schema"):
        JsonSchema(schema={"type": "objec"})
    with pytest.raises(pydantic.ValidationError, match="not a valid JSON schema"):
        JsonSchema.Options.model_validate({"schema": {"type": 5}})
    with pytest.raises(pydantic.ValidationError, match="not both"):
        JsonSchema.Options.model_validate({"schema": SCHEMA, "schema_path": "x.json"})


def test_json_schema_per_sample_schema():
    r = JsonSchema()
    assert one(r, '{"name": "a", "age": 1}', schema=SCHEMA).score == 1.0
    assert one(r, "[1]", schema=json.dumps({"type": "array"})).score == 1.0
    assert_input_failure(one(r, "{}"))  # no schema anywhere
    assert_input_failure(one(r, "{}", schema={"type": "objec"}))
    assert_input_failure(one(r, "{}", schema="{not json"))


def test_json_schema_formats():
    schema = {"type": "string", "format": "email"}
    assert one(JsonSchema(schema=schema), '"not an email"').score == 1.0
    assert one(JsonSchema(schema=schema, check_formats=True), '"not an email"').score == 0.0


# --- tool calls -------------------------------------------------------------------------------

WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
SEARCH = {"name": "search", "arguments": {"query": "news"}}


def hermes(*calls) -> str:
    return "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)


def test_tool_call_exact_and_order_free():
    r = ToolCallMatch()
    assert one(r, hermes(WEATHER), [WEATHER]).score == 1.0
    assert one(r, hermes(SEARCH, WEATHER), [WEATHER, SEARCH]).score == 1.0
    j = one(ToolCallMatch(ordered=True), hermes(SEARCH, WEATHER), [WEATHER, SEARCH])
    assert j.score == 0.0


def test_tool_call_argument_f1_and_json_normalisation():
    r = ToolCallMatch()
    half = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "F"}}
    j = one(r, hermes(half), [WEATHER])
    assert j.score == pytest.approx(0.5 + 0.5 * 0.5)
    assert "1 of 2 arguments right" in j.rationale and "wrong or missing: unit" in j.rationale
    assert one(r, hermes({"name": "f", "arguments": {"x": 2.0, "y": {"b": 1, "a": [1]}}}), [{"name": "f", "arguments": {"y": {"a": [1], "b": 1}, "x": 2}}]).score == 1.0
    assert one(r, hermes({"name": "f", "arguments": {"x": "2"}}), [{"name": "f", "arguments": {"x": 2}}]).score == 0.5
    assert one(ToolCallMatch(name_weight=0.2), hermes({"name": "get_weather", "arguments": {}}), [WEATHER]).score == pytest.approx(0.2)


def test_tool_call_extra_and_missing_calls():
    r = ToolCallMatch()
    j = one(r, hermes(WEATHER, SEARCH), [WEATHER])
    assert j.score == 0.5 and "extra" in j.rationale and j.details["extra"] == ['search(query="news")']
    j = one(r, hermes(WEATHER), [WEATHER, SEARCH])
    assert j.score == 0.5 and "not made" in j.rationale
    assert one(r, hermes({"name": "wrong", "arguments": {}}), [WEATHER]).score == 0.0
    assert one(r, "I'll just answer directly.", [WEATHER]).score == 0.0
    j = one(r, "I'll just answer directly.", [])
    assert j.score == 1.0 and "no tool call expected" in j.rationale
    assert one(r, hermes(WEATHER), []).score == 0.0


def test_tool_call_response_forms():
    r = ToolCallMatch()
    openai = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps(WEATHER["arguments"])}}]},
    ]
    assert r.score([Sample(response=openai, reference=[WEATHER])])[0].score == 1.0
    text_in_message = [{"role": "assistant", "content": hermes(WEATHER)}]
    assert r.score([Sample(response=text_in_message, reference=[WEATHER])])[0].score == 1.0
    assert one(r, json.dumps([WEATHER, SEARCH]), [WEATHER, SEARCH]).score == 1.0
    assert one(r, json.dumps(WEATHER), [WEATHER]).score == 1.0
    assert one(r, "```json\n" + json.dumps({"tool_calls": [WEATHER]}) + "\n```", [WEATHER]).score == 1.0
    assert one(r, json.dumps({"name": "get_weather", "parameters": WEATHER["arguments"]}), [WEATHER]).score == 1.0


@pytest.mark.parametrize(
    "response",
    [
        "<tool_call>{not json}</tool_call>",
        "<tool_call>" + json.dumps(WEATHER),  # never closed
        '{"name": "get_weather", "arguments": {"city": ',
        json.dumps({"arguments": {}}),  # no name
        json.dumps({"name": "f", "arguments": "{bad"}),
        json.dumps({"name": "f", "arguments": [1]}),
        json.dumps({"city": "Paris"}),
    ],
)
def test_tool_call_malformed_scores_zero_with_raw(response):
    j = one(ToolCallMatch(), response, [WEATHER])
    assert j.ok and j.score == 0.0 and j.rationale.startswith("malformed tool call") and j.details["raw"]


def test_tool_call_reference_forms_and_failures():
    r = ToolCallMatch()
    assert one(r, hermes(WEATHER), WEATHER).score == 1.0
    assert one(r, hermes(WEATHER), hermes(WEATHER)).score == 1.0
    assert one(r, hermes(WEATHER), json.dumps([WEATHER])).score == 1.0
    assert one(r, "no call", "[]").score == 1.0
    for bad in [None, "just prose", "<tool_call>{oops</tool_call>", [{"arguments": {}}], 42]:
        assert_input_failure(one(r, hermes(WEATHER), bad))


def test_best_pairing_is_optimal():
    # greedy would pair (0,0) for 0.9 and leave 1 with nothing; the best is (0,1)+(1,0)
    credit = [[0.9, 0.8], [0.7, 0.0]]
    assert sorted(best_pairing(credit, ordered=False)) == [(0, 1), (1, 0)]
    assert best_pairing([[0.5, 1.0, 0.0]], ordered=False) == [(0, 1)]
    assert sorted(best_pairing([[1.0], [0.0], [0.6]], ordered=False)) == [(0, 0)]


# --- contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", MINE)
def test_batch_keeps_length_and_order(type_name):
    cls = reward_class(type_name)
    reward = cls(name="x", **cls.Options.model_validate({}).model_dump())
    samples = [Sample(response=r, reference="a") for r in ["a", "", "b c d e f", "<answer>a</answer>"]]
    judgments = reward.score(samples)
    assert len(judgments) == 4
    for j in judgments:
        assert j.rationale
        assert (j.score is None) == (j.failure is not None)
        assert j.failure is None or j.failure.kind != "internal", j.failure


def test_unloadable_tokenizer_is_a_backend_failure_once(tmp_path):
    r = LengthPenalty(max_tokens=10, tokenizer=str(tmp_path / "no-such-tokenizer"))
    judgments = r.score([Sample(response="a"), Sample(response="b")])
    for j in judgments:
        assert j.failure is not None and j.failure.kind == "backend" and "cannot load tokenizer" in j.rationale


def test_regex_pattern_checked_with_its_flags():
    from assay.rewards.rules.format import RegexMatch

    assert RegexMatch(pattern="^a  # a comment (", flags=["verbose"]).score([Sample(response="a")])[0].score == 1.0
    with pytest.raises(pydantic.ValidationError, match=r"regex pattern '\^a  # a comment \(' is not a valid regular expression"):
        RegexMatch(pattern="^a  # a comment (", flags=[])


def test_length_tokenizer_read_from_a_local_folder(tmp_path):
    pytest.importorskip("transformers")
    from assay.backends.local_models import default_encoder_path

    folder = str(default_encoder_path())  # the packaged MiniLM folder holds a tokenizer
    [judgment] = LengthPenalty(max_tokens=2, tokenizer=folder).score([Sample(response="one two three four")])
    assert judgment.ok and judgment.score < 0 and "tokenizer" in judgment.rationale


# --- bounds (issue 12): linear scanners equal the patterns they replace ---------------------------


def test_r1_scanner_agrees_with_the_pattern():
    import random
    import re

    from assay.rewards.rules.format import R1_FORMAT, r1_layout

    pattern = re.compile(R1_FORMAT, re.DOTALL)
    pieces = ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x", "<", ">"]
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 9)))
        assert r1_layout(text) == bool(pattern.search(text)), repr(text)
    for text in (GOOD, " " + GOOD + " \n", "<think></think><answer></answer>", "<think></answer>", "<think>a</think>b<answer>c</answer>"):
        assert r1_layout(text) == bool(pattern.search(text)), repr(text)


def test_regex_default_is_linear_on_many_prefixes():
    import time

    text = "<think></think><answer>" * 20_000
    start = time.perf_counter()
    assert one(RegexMatch(), text).score == 0.0
    assert time.perf_counter() - start < 1.0


def test_choice_patterns_are_linear_and_keep_their_readings():
    import time

    reward = ChoiceMatch(max_chars=None)
    start = time.perf_counter()
    assert one(reward, "the answer is" + " " * 200_000 + "x", "B").score == 0.0
    assert one(reward, "(" + " " * 200_000 + "x", "B").score == 0.0
    assert time.perf_counter() - start < 2.0
    for response in ("the answer is ( B )", "Answer: **B**", "the answer is \\text{ B}", "answer is : B", "the answer is (B).", "The correct option is B"):
        assert one(reward, response, "B").score == 1.0, response
    assert one(reward, "<answer>B}, B}</answer>", "B").score == 1.0


def test_fence_pattern_reads_language_tags_with_spaces():
    from assay.rewards.rules.json_format import json_source

    assert json_source('```json  \n{"a": 1}\n```', "auto") == ('{"a": 1}', "the ```json fenced block")
    assert json_source('``` \n[1]\n```', "auto") == ("[1]", "the ``` fenced block")
    assert json_source("```" + " " * 100_000, "fenced") == (None, "a fenced block")


def test_rouge_l_equals_rouge_score():
    import random

    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rng = random.Random(3)
    for _ in range(200):
        response = " ".join(rng.choice(["cat", "cats", "mat", "sat", "on", "the"]) for _ in range(rng.randrange(0, 25)))
        reference = " ".join(rng.choice(["cat", "mat", "sat", "on", "the", "a"]) for _ in range(rng.randrange(1, 25)))
        want = scorer.score(reference, response)["rougeL"]
        got = one(Rouge(), response, reference)
        assert got.score == pytest.approx(want.fmeasure, abs=1e-12) and got.details["recall"] == pytest.approx(want.recall, abs=1e-12)


def test_length_counting_stops_where_the_score_saturates():
    judgment = one(LengthPenalty(max_tokens=10), "word " * 100_000)
    assert judgment.score == -1.0 and judgment.details["length_at_least"] and "more than 20" in judgment.rationale
    judgment = one(OverlongPenalty(max_length=10, buffer=2), "word " * 100_000)
    assert judgment.score == -1.0 and "more than 10" in judgment.rationale
    assert one(LengthPenalty(max_tokens=10), "word " * 15).score == -0.5  # below saturation: exact
    assert count_units("a b c d", "words", stop_after=1) == 2


# --- issue 12, Low: no row holds the response twice; deep JSON is not internal ----------------


def test_exact_match_row_does_not_store_a_long_response_again():
    line = "y" * 5_000_000
    judgment = one(ExactMatch(), line, "x")
    assert judgment.score == 0.0
    assert len(json.dumps(judgment.to_dict())) < 10_000
    assert "only its last 100,000 were read" in judgment.rationale


@pytest.mark.parametrize("response", ["[" * 100_000, "[" * 3000 + "]" * 3000, '{"a":' * 5000 + "1" + "}" * 5000])
def test_deep_json_is_a_score_not_internal(response):
    for reward in (JsonValid(), JsonSchema(schema={"type": "array"})):
        judgment = one(reward, response)
        assert judgment.ok and judgment.score == 0.0 and "levels deep" in judgment.rationale, judgment
    judgment = one(ToolCallMatch(), f"<tool_call>{response}</tool_call>", [{"name": "f", "arguments": {}}])
    assert judgment.ok and judgment.score == 0.0 and "malformed" in judgment.rationale


def test_deep_chat_tool_calls_are_not_internal():
    deep: object = {}
    for _ in range(5000):
        deep = {"a": deep}
    messages = [{"role": "assistant", "content": "", "tool_calls": [{"name": "f", "arguments": deep}]}]
    judgment = ToolCallMatch().score([Sample(response=messages, reference=[{"name": "f", "arguments": {}}])])[0]
    assert judgment.failure is None or judgment.failure.kind != "internal", judgment


def test_json_valid_accepts_moderate_nesting():
    assert one(JsonValid(), "[" * 200 + "]" * 200).score == 1.0
    assert one(JsonValid(), '["[[[[[[", "{{{{{{{"]').score == 1.0  # brackets in strings do not count


# --- issue 12 item 3: json_schema never fetches, bounds its schemas ----------------------------


def test_json_schema_remote_ref_is_refused_and_never_fetched():
    import http.server
    import threading

    requests: list[str] = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            requests.append(self.path)
            body = b'{"type": "integer"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Listener)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/schema.json"
        for schema in ({"$ref": url}, {"properties": {"a": {"$ref": url + "#/x"}}}, {"$id": url, "$ref": "other.json"}):
            judgment = one(JsonSchema(), '{"a": 1}', schema=schema)
            assert_input_failure(judgment)
            assert "never fetches" in judgment.rationale
        config_level = JsonSchema(schema={"$ref": url})
        assert_input_failure(one(config_level, "1"))
    finally:
        server.shutdown()
        server.server_close()
    assert requests == []


@pytest.mark.parametrize(
    "schema, words",
    [
        ({"$ref": "#"}, "recursed"),
        ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, "recursed"),
        ({"type": "string", "pattern": "("}, "regex"),
        ({"type": "nonsense"}, "not a valid JSON schema"),
        ({"enum": list(range(40_000))}, "max_schema_chars"),
        ("x" * 200_000, "max_schema_chars"),
        ({"patternProperties": {"^(a|aa)+$": {}}, "unevaluatedProperties": False}, "unevaluatedProperties"),
    ],
)
def test_json_schema_bad_schemas_are_input_failures(schema, words):
    judgment = one(JsonSchema(), '{"a": 1}', schema=schema)
    assert_input_failure(judgment)
    assert words in judgment.rationale, judgment.rationale


def test_json_schema_cache_is_bounded():
    from assay.rewards.rules import json_format

    reward = JsonSchema()
    for k in range(json_format._SAMPLE_SCHEMA_CACHE + 40):
        assert one(reward, "1", schema={"type": "integer", "minimum": -k}).score == 1.0
    assert len(reward._sample_validators) == json_format._SAMPLE_SCHEMA_CACHE


def test_json_schema_patterns_still_validate():
    schema = {"type": "object", "properties": {"a": {"pattern": "^[a-z]+$"}}, "patternProperties": {"^x_": {"type": "integer"}}, "additionalProperties": False}
    assert one(JsonSchema(schema=schema), '{"a": "abc", "x_1": 2}').score == 1.0
    j = one(JsonSchema(schema=schema), '{"a": "ABC", "x_1": "no", "b": 1}')
    assert j.score == 0.0 and "3 errors" in j.rationale
    assert "'b' does not match any of the regexes" in " ".join(j.details["errors"]) or "'b'" in " ".join(j.details["errors"])


# --- TRL parity (issue 11) ----------------------------------------------------------------------

# huggingface/trl tests/test_rewards.py, TestThinkFormatReward: 5 valid, 9 invalid completions
TRL_THINK_VALID = [
    "<think>This is my reasoning.</think>This is my answer.",
    "<think>\nThis is my reasoning.\n</think>\nThis is my answer.",
    "<think>\nThis is\nmy reasoning.\n</think>\nThis is my answer.",
    "<think>\nThis is <some tag> my reasoning.</think>\nThis is my answer.",
    "<think></think>\nThis is my answer.",
]
TRL_THINK_INVALID = [
    "<think>\nThis is my reasoning.\nThis is my answer.",
    "<think>This is my reasoning.\nThis is my answer.",
    "This is my reasoning. This is my answer.",
    "This is my reasoning.\nThis is my answer.",
    "This is my reasoning.</think>\nThis is my answer.",
    "This is my reasoning.</think>This is my answer.",
    "This<think>is my reasoning.</think>\nThis is my answer.",
    "<think>This is<think>my reasoning.</think></think>This is my answer.",
    "<think>This is</think>\nmy\n<think>reasoning.</think>\nThis is my answer.",
]


def test_tag_format_passes_trl_think_format_reward_cases():
    reward = TagFormat(tags=["think"], trailing_text=True)
    assert [one(reward, c).score for c in TRL_THINK_VALID] == [1.0] * 5
    assert [one(reward, c).score for c in TRL_THINK_INVALID] == [0.0] * 9
    # the mixed case of TRL's suite is the same texts again
    mixed = [TRL_THINK_VALID[0], TRL_THINK_VALID[1], TRL_THINK_INVALID[1], TRL_THINK_INVALID[2]]
    assert [one(reward, c).score for c in mixed] == [1.0, 1.0, 0.0, 0.0]
    # the default (strict) stays as it was: the answer after </think> is text outside the tags
    assert one(TagFormat(tags=["think"]), TRL_THINK_VALID[0]).score == 0.0
    j = one(reward, "Sure. <think>x</think> answer")
    assert j.score == 0.0 and "before or between the tags" in j.rationale


def _cosine(correct_answer: bool, length: int, **options):
    from assay.rewards.rules.cosine_length import CosineLength

    reward = CosineLength(max_len=100, length_field="completion_tokens", **options)
    response = r"\boxed{\frac{1}{3}}" if correct_answer else r"\boxed{\frac{1}{2}}"
    return reward, Sample(response=response, reference=r"\frac{1}{3}", extra={"completion_tokens": length})


def test_cosine_length_matches_trl_cases():
    """huggingface/trl tests/test_rewards.py, TestCosineScaledReward (max_len=100, lengths as
    completion token counts), scored through assay's own math reward."""
    from assay.rewards.rules.cosine_length import CosineLength

    reward = CosineLength(max_len=100, length_field="completion_tokens")
    cases = [  # (correct?, length, TRL's expected reward)
        (True, 25, 0.92678), (True, 75, 0.57322),
        (False, 25, -0.92678), (False, 75, -0.57322),
        (True, 50, 0.75), (False, 50, -0.75),
        (True, 0, 1.0), (True, 100, 0.5),
        (False, 0, -1.0), (False, 100, -0.5),
        (True, 200, 0.5), (False, 200, -0.5),
    ]
    samples = [_cosine(correct, length)[1] for correct, length, _ in cases]
    judgments = reward.score(samples)
    for (correct, length, want), judgment in zip(cases, judgments):
        assert judgment.score == pytest.approx(want, abs=1e-4), (correct, length, judgment.rationale)
    custom = CosineLength(max_len=100, length_field="completion_tokens", min_value_correct=0.0, max_value_correct=2.0)
    assert custom.score([_cosine(True, 50)[1]])[0].score == pytest.approx(1.0)


def test_cosine_length_follows_math_on_a_word_gold():
    """TRL skips a gold it cannot parse (None). assay's cosine_length makes nothing up: it
    takes the math reward's verdict on a word reference (docs/rewards/math.md), a failure
    staying a failure and "wrong" getting the wrong-answer value, never the correct one."""
    from assay.rewards.rules.cosine_length import CosineLength

    judgment = CosineLength(max_len=100, length_field="completion_tokens").score(
        [Sample(response=r"\boxed{42}", reference="forty two", extra={"completion_tokens": 50})]
    )[0]
    assert judgment.score is None or judgment.score == pytest.approx(-0.75), judgment


def test_cosine_length_keeps_the_correctness_failure():
    from assay.rewards.rules.cosine_length import CosineLength

    reward = CosineLength(correctness={"type": "exact_match"}, max_len=10, unit="words")
    failed = reward.score([Sample(response="x", reference=None)])[0]
    assert_input_failure(failed)
    assert "correctness" in failed.rationale
    good = reward.score([Sample(response="paris", reference="Paris")])[0]
    assert good.score == pytest.approx(0.5 + 0.5 * (1 + __import__("math").cos(__import__("math").pi * 0.1)) / 2)
    with pytest.raises(Exception):
        CosineLength(correctness={"max_len": 3})


def test_think_layout_and_cosine_agree_with_installed_trl():
    """The same cases through TRL's own functions, when TRL is installed (the train extra)."""
    trl_rewards = pytest.importorskip("trl.rewards")
    from assay.rewards.rules.cosine_length import CosineLength

    cases = TRL_THINK_VALID + TRL_THINK_INVALID + ["<think>a</think>", "<think>a</think>\n<answer>4</answer>", "<think>\n</think>"]
    want = trl_rewards.think_format_reward([[{"content": c}] for c in cases])
    reward = TagFormat(tags=["think"], trailing_text=True)
    assert [one(reward, c).score for c in cases] == want

    lengths = [0, 1, 10, 33, 50, 67, 99, 100, 101, 250]
    completions = [[{"content": r"\boxed{\frac{1}{3}}" if k % 2 else r"\boxed{\frac{1}{2}}"}] for k in range(len(lengths))]
    want = trl_rewards.get_cosine_scaled_reward(max_len=100)(completions, [r"\frac{1}{3}"] * len(lengths), [[1] * n for n in lengths])
    samples = [Sample(response=c[0]["content"], reference=r"\frac{1}{3}", extra={"completion_tokens": n}) for c, n in zip(completions, lengths)]
    got = [j.score for j in CosineLength(max_len=100, length_field="completion_tokens").score(samples)]
    assert got == pytest.approx(want, abs=1e-9)


def test_a_custom_pattern_is_checked_by_the_engine_that_runs_it():
    """Patterns run on the ``regex`` module: one that only ``regex`` reads (a possessive
    quantifier before Python 3.11's re, an atomic group, \\p{...}) is accepted when the config is
    read, and a pattern neither reads is refused then, not per sample."""
    from assay.rewards.rules.extraction import compile_pattern

    assert compile_pattern(r"answer: (\p{Lu}+)").search("answer: ABC").group(1) == "ABC"
    with pytest.raises(ValueError, match="is not a valid regular expression"):
        compile_pattern(r"answer: (\d+")


def test_per_sample_schema_text_is_built_once_per_group(monkeypatch):
    """An RL group shares one schema text: it is parsed and compiled once, the rest are cache hits."""
    from assay.rewards.rules import json_format

    parsed = []
    real = json_format.parse_json
    monkeypatch.setattr(json_format, "parse_json", lambda text: parsed.append(text) or real(text))
    schema = '{"type": "object", "required": ["a"]}'
    reward = JsonSchema()
    scores = [j.score for j in reward.score([Sample(response=r, extra={"schema": schema}) for r in ('{"a": 1}', '{"b": 1}', '{"a": 2}')])]
    assert scores == [1.0, 0.0, 1.0]
    assert parsed.count(schema) == 1 and len(reward._sample_validators) == 1
