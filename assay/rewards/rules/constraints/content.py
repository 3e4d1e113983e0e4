"""Content instructions (IFEval's ``detectable_content:*``): ``[placeholder]``s and a
postscript.

A placeholder is ``[...]`` within one line (the shortest span from a ``[`` to the next
``]``, as IFEval's ``\\[.*?\\]``). A postscript is its marker anywhere in the text, case
ignored; for ``P.S.`` and ``P.P.S`` one white-space character may follow each dot but the
last (``p. s.``), as IFEval's patterns allow.

What this is not: a check of what the placeholder or postscript says.
"""

from __future__ import annotations

from pydantic import Field

from assay.rewards.rules.constraints.base import Args, Verdict, plural


class PlaceholderArgs(Args):
    num_placeholders: int = Field(ge=0)


def placeholder_count(text: str) -> int:
    count, open_ = 0, False
    for char in text:
        if char == "\n":
            open_ = False
        elif not open_ and char == "[":
            open_ = True
        elif open_ and char == "]":
            count += 1
            open_ = False
    return count


def number_placeholders(text: str, args: PlaceholderArgs) -> Verdict:
    count = placeholder_count(text)
    return Verdict(count >= args.num_placeholders, f"{plural(count, 'placeholder')} in [brackets] (at least {args.num_placeholders} wanted)")


class PostscriptArgs(Args):
    postscript_marker: str = Field(min_length=1)


def _spaced_match(text: str, pieces: list[str]) -> bool:
    """``pieces`` in order, each after the last with at most one white-space character between."""
    first = pieces[0]
    start = text.find(first)
    while start != -1:
        at, ok = start + len(first), True
        for piece in pieces[1:]:
            if text.startswith(piece, at):
                at += len(piece)
            elif at < len(text) and text[at].isspace() and text.startswith(piece, at + 1):
                at += 1 + len(piece)
            else:
                ok = False
                break
        if ok:
            return True
        start = text.find(first, start + 1)
    return False


def postscript(text: str, args: PostscriptArgs) -> Verdict:
    marker = args.postscript_marker.strip()
    lowered = text.lower()
    if marker == "P.P.S":
        found = _spaced_match(lowered, ["p.", "p.", "s"])
    elif marker == "P.S.":
        found = _spaced_match(lowered, ["p.", "s."])
    else:
        found = marker.lower() in lowered
    return Verdict(found, f"postscript {marker!r} {'found' if found else 'not found'}")
