"""Start/end, punctuation and combination instructions (IFEval's ``startend:*``,
``punctuation:no_comma``, ``combination:*``): the closing phrase, the whole response in
double quotes, no commas, two different responses split by ``******``, the prompt repeated
word for word before the answer.

What this is not: a check of the answer itself.
"""

from __future__ import annotations

from pydantic import Field

from assay.rewards.rules.constraints.base import Args, NoArgs, Verdict, plural


class EndArgs(Args):
    end_phrase: str = Field(min_length=1)


def end_checker(text: str, args: EndArgs) -> Verdict:
    body = text.strip().strip('"').lower()
    phrase = args.end_phrase.strip().lower()
    ok = body.endswith(phrase)
    return Verdict(ok, f"ends with {phrase!r}" if ok else f"does not end with {phrase!r} (ends with {body[-40:]!r})")


def quotation(text: str, args: NoArgs) -> Verdict:
    body = text.strip()
    ok = len(body) > 1 and body[0] == '"' and body[-1] == '"'
    return Verdict(ok, "wrapped in double quotes" if ok else "not wrapped in double quotes")


def no_comma(text: str, args: NoArgs) -> Verdict:
    count = text.count(",")
    return Verdict(count == 0, "no commas" if count == 0 else plural(count, "comma"))


def two_responses(text: str, args: NoArgs) -> Verdict:
    parts = text.split("******")
    kept = []
    for index, part in enumerate(parts):
        if part.strip():
            kept.append(part.strip())
        elif index not in (0, len(parts) - 1):
            return Verdict(False, "an empty response between two ****** dividers")
    if len(kept) != 2:
        return Verdict(False, f"{plural(len(kept), 'response')} separated by ****** (2 wanted)")
    return Verdict(kept[0] != kept[1], "two different responses" if kept[0] != kept[1] else "the two responses are the same")


class RepeatPromptArgs(Args):
    prompt_to_repeat: str = Field(min_length=1)


def repeat_prompt(text: str, args: RepeatPromptArgs) -> Verdict:
    ok = text.strip().lower().startswith(args.prompt_to_repeat.strip().lower())
    return Verdict(ok, "starts with the prompt repeated" if ok else "does not start with the prompt repeated word for word")
