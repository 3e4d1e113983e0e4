"""Keyword instructions (IFEval's ``keywords:*``): keywords present, a keyword's frequency,
forbidden words, a letter's frequency.

Keywords are matched as literal text, case-insensitively (IFEval passes them to ``re`` as
patterns; its keywords are plain words, so the verdicts agree, and a keyword holding ``(`` or
``*`` cannot break or slow the check here). A forbidden word is found only as a whole word:
not preceded or followed by a letter, digit or underscore (IFEval's ``\\b...\\b``).

What this is not: overlap with a reference (``f1``, ``rouge``).
"""

from __future__ import annotations

from pydantic import Field

from assay.rewards.rules.constraints.base import Args, Relation, Verdict, compare, plural


def occurrences(text: str, keyword: str) -> int:
    """Non-overlapping, case-insensitive occurrences of ``keyword`` (as ``re.findall`` counts)."""
    return text.lower().count(keyword.lower()) if keyword else 0


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def whole_word_found(text: str, word: str) -> bool:
    """``word`` occurs in ``text`` with no word character right before or after it."""
    haystack, needle = text.lower(), word.lower()
    if not needle:
        return False
    start = haystack.find(needle)
    while start != -1:
        end = start + len(needle)
        before_ok = start == 0 or not _is_word_char(haystack[start - 1]) or not _is_word_char(needle[0])
        after_ok = end == len(haystack) or not _is_word_char(haystack[end]) or not _is_word_char(needle[-1])
        if before_ok and after_ok:
            return True
        start = haystack.find(needle, start + 1)
    return False


class ExistenceArgs(Args):
    keywords: list[str] = Field(min_length=1)


def existence(text: str, args: ExistenceArgs) -> Verdict:
    missing = [k for k in args.keywords if occurrences(text, k) == 0]
    if missing:
        return Verdict(False, f"missing {', '.join(repr(k) for k in missing)} (of {len(args.keywords)} keywords)")
    return Verdict(True, f"all {len(args.keywords)} keywords present")


class FrequencyArgs(Args):
    keyword: str = Field(min_length=1)
    frequency: int = Field(ge=0)
    relation: Relation


def frequency(text: str, args: FrequencyArgs) -> Verdict:
    count = occurrences(text, args.keyword.strip())
    return Verdict(compare(count, args.relation, args.frequency), f"{args.keyword.strip()!r} appears {plural(count, 'time')} ({args.relation} {args.frequency} wanted)")


class ForbiddenArgs(Args):
    forbidden_words: list[str] = Field(min_length=1)


def forbidden_words(text: str, args: ForbiddenArgs) -> Verdict:
    used = [w for w in sorted(set(args.forbidden_words)) if whole_word_found(text, w)]
    if used:
        return Verdict(False, f"uses forbidden {', '.join(repr(w) for w in used)}")
    return Verdict(True, f"none of the {len(set(args.forbidden_words))} forbidden words used")


class LetterArgs(Args):
    letter: str = Field(min_length=1, max_length=1)
    let_frequency: int = Field(ge=0)
    let_relation: Relation


def letter_frequency(text: str, args: LetterArgs) -> Verdict:
    letter = args.letter.lower()
    count = text.lower().count(letter)
    return Verdict(compare(count, args.let_relation, args.let_frequency), f"the letter {letter!r} appears {plural(count, 'time')} ({args.let_relation} {args.let_frequency} wanted)")
