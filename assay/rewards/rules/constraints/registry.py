"""The instruction ids the ``constraints`` reward knows: IFEval's ids, spelled as in its data
(``length_constraints:number_words``), each with its kwargs model and its checker.

One visible dict, ``INSTRUCTIONS``. A constraint may also name an instruction by the part
after the colon (``number_words``) when that part is unambiguous. IFEval's registry has 25
ids; all are here. IFBench's extra ids (``count:*``, ``ratio:*``, ...) are not.

    >>> INSTRUCTIONS["punctuation:no_comma"].check("no commas here", INSTRUCTIONS["punctuation:no_comma"].args()).met
    True
"""

from __future__ import annotations

from assay.rewards.rules.constraints import case, content, format, keywords, language, length, startend
from assay.rewards.rules.constraints.base import Instruction, NoArgs


def _entries(*entries: tuple) -> dict[str, Instruction]:
    return {e[0]: Instruction(*e) for e in entries}


INSTRUCTIONS: dict[str, Instruction] = _entries(
    ("keywords:existence", keywords.ExistenceArgs, keywords.existence, "every keyword appears (case-insensitive)"),
    ("keywords:frequency", keywords.FrequencyArgs, keywords.frequency, "a keyword appears less than / at least N times"),
    ("keywords:forbidden_words", keywords.ForbiddenArgs, keywords.forbidden_words, "none of the words appears as a whole word"),
    ("keywords:letter_frequency", keywords.LetterArgs, keywords.letter_frequency, "a letter appears less than / at least N times"),
    ("language:response_language", language.LanguageArgs, language.response_language, "the response is in the language (langdetect)"),
    ("length_constraints:number_words", length.NumberWordsArgs, length.number_words, "less than / at least N words"),
    ("length_constraints:number_sentences", length.NumberSentencesArgs, length.number_sentences, "less than / at least N sentences (pysbd)"),
    ("length_constraints:number_paragraphs", length.NumberParagraphsArgs, length.number_paragraphs, "exactly N paragraphs separated by ***"),
    ("length_constraints:nth_paragraph_first_word", length.NthParagraphArgs, length.nth_paragraph_first_word, "N blank-line paragraphs, paragraph n starts with a word"),
    ("detectable_content:number_placeholders", content.PlaceholderArgs, content.number_placeholders, "at least N [placeholders]"),
    ("detectable_content:postscript", content.PostscriptArgs, content.postscript, "a postscript starting with a marker (P.S.)"),
    ("detectable_format:number_bullet_lists", format.BulletArgs, format.number_bullet_lists, "exactly N markdown bullet points"),
    ("detectable_format:constrained_response", NoArgs, format.constrained_response, "one of: My answer is yes. / no. / maybe."),
    ("detectable_format:number_highlighted_sections", format.HighlightArgs, format.number_highlighted_sections, "at least N *highlighted* sections"),
    ("detectable_format:multiple_sections", format.SectionArgs, format.multiple_sections, "at least N sections marked SECTION X"),
    ("detectable_format:json_format", NoArgs, format.json_format, "the whole response is JSON (a ``` fence allowed)"),
    ("detectable_format:title", NoArgs, format.title, "a title in <<double angular brackets>>"),
    ("combination:two_responses", NoArgs, startend.two_responses, "two different responses separated by ******"),
    ("combination:repeat_prompt", startend.RepeatPromptArgs, startend.repeat_prompt, "the prompt repeated word for word first"),
    ("startend:end_checker", startend.EndArgs, startend.end_checker, "ends with an exact phrase"),
    ("startend:quotation", NoArgs, startend.quotation, "the whole response wrapped in double quotes"),
    ("change_case:capital_word_frequency", case.CapitalFrequencyArgs, case.capital_word_frequency, "less than / at least N all-capital words"),
    ("change_case:english_capital", NoArgs, case.english_capital, "all capitals, in English"),
    ("change_case:english_lowercase", NoArgs, case.english_lowercase, "all lower case, in English"),
    ("punctuation:no_comma", NoArgs, startend.no_comma, "no commas at all"),
)

_BY_SHORT_NAME: dict[str, list[str]] = {}
for _id in INSTRUCTIONS:
    _BY_SHORT_NAME.setdefault(_id.split(":", 1)[1], []).append(_id)


def lookup(instruction_id: str) -> Instruction:
    """The instruction for a full id or an unambiguous short name; KeyError saying why not."""
    found = INSTRUCTIONS.get(instruction_id)
    if found is not None:
        return found
    matches = _BY_SHORT_NAME.get(instruction_id, [])
    if len(matches) == 1:
        return INSTRUCTIONS[matches[0]]
    if matches:
        raise KeyError(f"instruction {instruction_id!r} is ambiguous: {', '.join(matches)}")
    raise KeyError(f"unknown instruction id {instruction_id!r}; known: {', '.join(INSTRUCTIONS)}")
