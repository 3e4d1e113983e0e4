"""Length instructions (IFEval's ``length_constraints:*``): words, sentences, paragraphs
separated by ``***``, and paragraphs separated by a blank line with a given first word.

What this is not: a token budget (``length_penalty``, ``overlong``).
"""

from __future__ import annotations

from pydantic import Field

from assay.rewards.rules.constraints.base import Args, Relation, Verdict, counted, plural
from assay.rewards.rules.constraints.text import sentences, words


class NumberWordsArgs(Args):
    num_words: int = Field(ge=0)
    relation: Relation


def number_words(text: str, args: NumberWordsArgs) -> Verdict:
    return counted(len(words(text)), "word", args.relation, args.num_words)


class NumberSentencesArgs(Args):
    num_sentences: int = Field(ge=0)
    relation: Relation


def number_sentences(text: str, args: NumberSentencesArgs) -> Verdict:
    return counted(len(sentences(text)), "sentence", args.relation, args.num_sentences)


class NumberParagraphsArgs(Args):
    num_paragraphs: int = Field(ge=0)


def number_paragraphs(text: str, args: NumberParagraphsArgs) -> Verdict:
    """Paragraphs are separated by the markdown divider ``***``; an empty paragraph at either
    end is not counted, an empty one in the middle fails the instruction (as IFEval)."""
    parts = text.split("***")
    count = len(parts)
    for index, part in enumerate(parts):
        if not part.strip():
            if index in (0, len(parts) - 1):
                count -= 1
            else:
                return Verdict(False, f"an empty paragraph between two *** dividers (paragraph {index + 1})")
    return Verdict(count == args.num_paragraphs, f"{plural(count, 'paragraph')} separated by *** (exactly {args.num_paragraphs} wanted)")


class NthParagraphArgs(Args):
    num_paragraphs: int = Field(ge=1)
    nth_paragraph: int = Field(ge=1)
    first_word: str = Field(min_length=1)


def nth_paragraph_first_word(text: str, args: NthParagraphArgs) -> Verdict:
    """Paragraphs are separated by a blank line (``\\n\\n``); paragraph ``nth_paragraph``
    must start with ``first_word`` (case-insensitive, leading quotes and trailing
    punctuation ignored) and there must be exactly ``num_paragraphs``."""
    paragraphs = text.split("\n\n")
    count = sum(1 for p in paragraphs if p.strip())
    wanted = args.first_word.lower()
    if args.nth_paragraph > count:
        return Verdict(False, f"{plural(count, 'paragraph')}: there is no paragraph {args.nth_paragraph}")
    paragraph = paragraphs[args.nth_paragraph - 1].strip()
    if not paragraph:
        return Verdict(False, f"paragraph {args.nth_paragraph} is empty")
    word = paragraph.split()[0].lstrip("'").lstrip('"')
    first = ""
    for letter in word:
        if letter in ".,?!'\"":
            break
        first += letter.lower()
    ok = count == args.num_paragraphs and first == wanted
    return Verdict(ok, f"{plural(count, 'paragraph')} (exactly {args.num_paragraphs} wanted); paragraph {args.nth_paragraph} starts with {first!r} ({wanted!r} wanted)")
