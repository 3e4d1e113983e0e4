"""The constraints reward: every IFEval instruction id on rows written here (met and not met),
the one-pass scanners against IFEval's own patterns on fuzzed text, strict vs loose, input
failures, bounded time on hostile text, and real AlpacaEval outputs against independent counts."""

from __future__ import annotations

import gzip
import json
import random
import re
import time

import pytest

from assay.registry import reward_class
from assay.rewards.rules.constraints import content, format, keywords
from assay.rewards.rules.constraints.registry import INSTRUCTIONS
from assay.types import Sample

pytest.importorskip("langdetect")
pytest.importorskip("pysbd")

Constraints = reward_class("constraints")
ENGLISH = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."

# (instruction id, kwargs, a response that follows it, a response that does not)
ROWS = [
    ("keywords:existence", {"keywords": ["fox", "Porch"]}, ENGLISH, "The quick brown fox."),
    ("keywords:frequency", {"keyword": "the", "frequency": 3, "relation": "at least"}, ENGLISH, "The fox."),
    ("keywords:frequency", {"keyword": "fox", "frequency": 2, "relation": "less than"}, "one fox", "fox and fox"),
    ("keywords:forbidden_words", {"forbidden_words": ["cat", "dog"]}, "A doghouse and a category.", "The Dog sat."),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "at least"}, "pizza", "pizza? no: piza"[10:]),
    ("language:response_language", {"language": "fr"}, "Le renard brun saute par-dessus le chien paresseux pendant que le fermier regarde.", ENGLISH),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "one two three four", "one two three four five"),
    ("length_constraints:number_words", {"num_words": 3, "relation": "at least"}, "don't stop", "stop now"),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}, "Dr. Smith came. He sat down. Then he left!", "Dr. Smith came. He left."),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First part.\n***\nSecond part.", "First.\n***\n\n***\nSecond."),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"}, "First.\n\n\"Then, second.", "First.\n\nNext second."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at [address].", "Dear [name\n], at address."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Bye.\np. s. see you", "Bye. PS see you"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Bye.\nP.P.S more", "Bye.\nP.S. more"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "List:\n* one\n  - two\n**bold** line", "* one\n* two\n* three"),
    ("detectable_format:constrained_response", {}, "My answer is maybe.", "Maybe."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", "*one* and ** **"),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2}, "SECTION 1\na\nSECTION 2\nb", "SECTION 1\na\nSection 2\nb"),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', '{"a": 1} and more'),
    ("detectable_format:title", {}, "<<A Poem of Joy>>\nroses", "<< >>\nroses"),
    ("combination:two_responses", {}, "First answer.\n******\nSecond answer.", "Same.\n******\nSame."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}, "write a poem. Roses are red.", "Roses are red."),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, 'Done. any other questions?"', "Any other questions? Done."),
    ("startend:quotation", {}, ' "quoted" ', '"half quoted'),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}, "THIS is VERY well-KNOWN.", "This is Very known."),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"}, "ONE word.", "TWO WORDS."),
    ("change_case:english_capital", {}, ENGLISH.upper(), ENGLISH),
    ("change_case:english_lowercase", {}, ENGLISH.lower(), ENGLISH),
    ("punctuation:no_comma", {}, "No commas here.", "Yes, one."),
]


def ifeval_row(response: str, ids: list[str], kwargs: list[dict]) -> Sample:
    return Sample(response=response, extra={"instruction_id_list": ids, "kwargs": kwargs})


def test_every_instruction_id_has_rows_that_pass_and_fail() -> None:
    assert {row[0] for row in ROWS} == set(INSTRUCTIONS)
    reward = Constraints()
    samples = [ifeval_row(text, [iid], [kw]) for iid, kw, good, bad in ROWS for text in (good, bad)]
    judgments = reward.score(samples)
    for index, (iid, kw, good, bad) in enumerate(ROWS):
        passed, failed = judgments[2 * index], judgments[2 * index + 1]
        assert passed.score == 1.0, (iid, good, passed.rationale)
        assert failed.score == 0.0, (iid, bad, failed.rationale)
        assert failed.details["constraints"][0]["met"] is False and failed.details["constraints"][0]["id"] == iid
        assert "NOT met: " + iid in failed.rationale


def test_fraction_all_and_the_constraints_field() -> None:
    constraints = [
        {"id": "punctuation:no_comma"},
        {"id": "number_words", "num_words": 3, "relation": "at least"},  # a short name, kwargs inline
        {"instruction_id": "keywords:existence", "kwargs": {"keywords": ["zebra"]}},
    ]
    sample = Sample(response="Just four words here", extra={"constraints": constraints})
    fraction = Constraints().score([sample])[0]
    assert fraction.score == pytest.approx(2 / 3)
    assert fraction.details["met"] == 2 and fraction.details["total"] == 3
    assert fraction.rationale.startswith("2 of 3 constraints met")
    assert "missing 'zebra'" in fraction.rationale
    assert Constraints(aggregate="all").score([sample])[0].score == 0.0
    as_json = Sample(response="Just four words here", extra={"my_list": json.dumps(constraints[:2])})
    assert Constraints(field="my_list", aggregate="all").score([as_json])[0].score == 1.0


def test_ifeval_null_kwargs_are_dropped_as_its_evaluator_does() -> None:
    kwargs = [{"num_words": 10, "relation": "less than", "keywords": None, "language": None}, {"num_highlights": None}]
    row = ifeval_row("short answer", ["length_constraints:number_words", "punctuation:no_comma"], kwargs)
    assert Constraints().score([row])[0].score == 1.0


def test_loose_removes_first_and_last_lines_and_asterisks() -> None:
    response = "Sure, here it is:\n\nroses are red\nviolets are blue\n\nHope that helps, friend!"
    row = ifeval_row(response, ["punctuation:no_comma", "change_case:english_lowercase"], [{}, {}])
    strict = Constraints().score([row])[0]
    loose = Constraints(mode="loose").score([row])[0]
    assert strict.score == 0.0
    assert loose.score == 1.0 and "without its first and last lines" in loose.rationale
    starred = ifeval_row("**Title**\nThe end", ["startend:end_checker"], [{"end_phrase": "The end"}])
    assert Constraints(mode="loose").score([starred])[0].score == 1.0
    # an empty response follows nothing, in either mode
    empty = ifeval_row("  ", ["punctuation:no_comma"], [{}])
    assert Constraints(mode="loose").score([empty])[0].score == 0.0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"instruction_id_list": ["keywords:nonexistent"], "kwargs": [{}]}, "unknown instruction id 'keywords:nonexistent'"),
        ({"instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"num_words": 5}]}, "relation: Field required"),
        ({"instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"num_words": 5, "relation": "at most"}]}, "relation"),
        ({"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{"typo": 1}]}, "typo: Extra inputs are not permitted"),
        ({"instruction_id_list": ["language:response_language"], "kwargs": [{"language": "klingon"}]}, "unknown language code 'klingon'"),
        ({"instruction_id_list": ["punctuation:no_comma", "detectable_format:title"], "kwargs": [{}]}, "as long as"),
        ({"constraints": [{"num_words": 3}]}, "has no 'id'"),
        ({"constraints": []}, "empty"),
        ({}, "no constraints"),
    ],
)
def test_bad_constraints_are_input_failures(fields: dict, message: str) -> None:
    judgment = Constraints().score([Sample(response="text", extra=fields)])[0]
    assert judgment.score is None and judgment.failure is not None
    assert judgment.failure.kind == "input"
    assert message in judgment.failure.message


def test_scanners_agree_with_ifevals_patterns_on_fuzzed_text() -> None:
    rng = random.Random(17)
    alphabet = "ab *-[]<>\n\t.,sSpP0123456789ECTION"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert content.placeholder_count(text) == len(re.findall(r"\[.*?\]", text)), text
        single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
        double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h.removeprefix("**").removesuffix("**").strip()]
        assert format.highlight_count(text) == len(single) + len(double), text
        bullets = len(re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)) + len(re.findall(r"^\s*-.*$", text, flags=re.MULTILINE))
        # IFEval's ^\s* may run across blank lines; on texts without blank lines the counts are equal
        if not re.search(r"\n\s*\n", text) and not re.search(r"\*\n", text):
            assert format.bullet_count(text) == bullets, text
        assert format.section_count(text, "S") == len(re.split(r"\s?S\s?\d+\s?", text)) - 1, text
        lowered = text.lower()
        assert content.postscript(text, content.PostscriptArgs(postscript_marker="P.S.")).met == bool(re.findall(r"\s*p\.\s?s\..*$", lowered, flags=re.MULTILINE)), text
        assert content.postscript(text, content.PostscriptArgs(postscript_marker="P.P.S")).met == bool(re.findall(r"\s*p\.\s?p\.\s?s.*$", lowered, flags=re.MULTILINE)), text
        titles = [t for t in re.findall(r"<<[^\n]+>>", text) if t.lstrip("<").rstrip(">").strip()]
        assert format.title(text, None).met == bool(titles), text  # type: ignore[arg-type]
        for word in ("a", "ab", "b a"):
            assert keywords.whole_word_found(text, word) == bool(re.search(r"\b" + word + r"\b", text, flags=re.IGNORECASE)), (text, word)


def test_hostile_text_is_checked_in_bounded_time() -> None:
    ids = [i for i in INSTRUCTIONS if i not in ("language:response_language", "change_case:english_capital", "change_case:english_lowercase")]
    by_id = {}
    for iid, kw, _, _ in ROWS:
        by_id.setdefault(iid, kw)
    reward = Constraints(mode="loose")
    for hostile in ("*" * 30_000, "[" * 30_000, "{" * 30_000, "<<" * 15_000, "p." * 15_000, "SECTION" * 5_000, "a " * 15_000, "Go. Now! " * 2_000):
        row = ifeval_row(hostile, ids, [by_id[i] for i in ids])
        start = time.perf_counter()
        judgment = reward.score([row])[0]
        assert judgment.ok
        assert time.perf_counter() - start < 10, hostile[:10]


@pytest.mark.data
def test_real_alpacaeval_outputs_against_independent_counts(data_dir) -> None:
    with_comma, without = [], []  # the first 150 outputs with a comma and the first 50 without
    with gzip.open(data_dir / "alpacaeval" / "judged_outputs.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["output"].strip():
                (with_comma if "," in row["output"] else without).append(row)
            if len(with_comma) >= 150 and len(without) >= 50:
                break
    rows = with_comma[:150] + without[:50]
    samples, expected = [], []
    for row in rows:
        text = row["output"]
        words = 0  # an independent count of \w+ runs: a character scan
        inside = False
        for char in text:
            word_char = char.isalnum() or char == "_"
            words += word_char and not inside
            inside = word_char
        constraints = [
            {"id": "length_constraints:number_words", "num_words": words + 1, "relation": "less than"},
            {"id": "length_constraints:number_words", "num_words": words, "relation": "less than"},
            {"id": "length_constraints:number_words", "num_words": words, "relation": "at least"},
            {"id": "punctuation:no_comma"},
        ]
        samples.append(Sample(prompt=row["instruction"], response=text, extra={"constraints": constraints}))
        expected.append([True, False, True, "," not in text])
    judgments = Constraints().score(samples)
    assert all(j.ok for j in judgments)
    assert [[c["met"] for c in j.details["constraints"]] for j in judgments] == expected
    assert sum(e[3] for e in expected) == 50  # both verdicts of no_comma occur
    english = Constraints().score([Sample(response=s.response, extra={"constraints": [{"id": "language:response_language", "language": "en"}]}) for s in samples[:60]])
    assert sum(j.score for j in english) >= 55  # AlpacaEval's instructions and outputs are English


def test_chinese_as_ifevals_data_names_it() -> None:
    # IFEval's data says "zh"; langdetect answers zh-cn or zh-tw: both are Chinese
    row = ifeval_row("这是一个用中文写的句子，我们用它来测试语言检测。", ["language:response_language"], [{"language": "zh"}])
    judgment = Constraints().score([row])[0]
    assert judgment.score == 1.0 and "zh-cn" in judgment.rationale


@pytest.mark.parametrize("module", ["reward", "registry"])
def test_module_doctests(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"assay.rewards.rules.constraints.{module}"))
    assert result.failed == 0 and result.attempted > 0


def test_registered_with_checked_options() -> None:
    assert Constraints.type_name == "constraints"
    with pytest.raises(Exception):
        Constraints(no_such_option=1)
    with pytest.raises(Exception):
        Constraints(mode="lenient")
