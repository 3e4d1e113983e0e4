"""Case instructions (IFEval's ``change_case:*``): the whole response in English capitals,
in English lower case, and how many words are in capitals.

"All capitals" is Python's ``str.isupper()`` of the whole text (some cased letter, none in
lower case), "all lower case" ``str.islower()``, each with langdetect reading English, as
IFEval defines them. Capital words are counted as ``text.capital_words`` says.

What this is not: a style or tone check.
"""

from __future__ import annotations

from pydantic import Field

from assay.rewards.rules.constraints.base import Args, NoArgs, Relation, Verdict, counted
from assay.rewards.rules.constraints.language import detect
from assay.rewards.rules.constraints.text import capital_words


def _english(text: str) -> tuple[bool, str]:
    found = detect(text)
    if found is None:
        return True, "no language detectable; counted as English, as IFEval does"
    return found == "en", f"detected language {found!r}"


def english_capital(text: str, args: NoArgs) -> Verdict:
    if not text.isupper():
        lower = sum(1 for c in text if c.islower())
        return Verdict(False, f"not all capitals ({lower} lower-case letters)" if lower else "no cased letters")
    english, said = _english(text)
    return Verdict(english, f"all capitals; {said}")


def english_lowercase(text: str, args: NoArgs) -> Verdict:
    if not text.islower():
        upper = sum(1 for c in text if c.isupper())
        return Verdict(False, f"not all lower case ({upper} capital letters)" if upper else "no cased letters")
    english, said = _english(text)
    return Verdict(english, f"all lower case; {said}")


class CapitalFrequencyArgs(Args):
    capital_frequency: int = Field(ge=0)
    capital_relation: Relation


def capital_word_frequency(text: str, args: CapitalFrequencyArgs) -> Verdict:
    return counted(len(capital_words(text)), "all-capital word", args.capital_relation, args.capital_frequency)
