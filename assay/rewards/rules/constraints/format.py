"""Format instructions (IFEval's ``detectable_format:*``): JSON, bullet points, numbered
sections, highlighted sections, a ``<<title>>``, and one of the fixed answers.

Each is a single scan of the text, with the meaning IFEval's patterns give:

- a bullet point is a line whose first non-blank character is ``*`` followed by anything but
  ``*``, or ``-`` (so a ``---`` rule counts, as in IFEval); exactly ``num_bullets`` wanted;
- a section starts at ``section_spliter``, an optional white-space character and a digit;
  at least ``num_sections`` wanted;
- a highlight is ``*text*`` or ``**text**`` on one line with some non-blank text (IFEval
  counts both patterns left to right; ``**x**`` ends up counted once);
- a title is ``<<...>>`` on one line with some non-blank text between.

What this is not: schema validation (``json_schema``).
"""

from __future__ import annotations

import json

from pydantic import Field

from assay.rewards.rules.constraints.base import Args, NoArgs, Verdict, plural

CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def json_format(text: str, args: NoArgs) -> Verdict:
    """The whole response is JSON, optionally wrapped in a ``` fence (```json, ```Json, ```JSON)."""
    body = text.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        if body.startswith(prefix):
            body = body[len(prefix):]
            break
    body = body.removesuffix("```").strip()
    try:
        json.loads(body)
    except ValueError as error:
        return Verdict(False, f"not JSON: {error}")
    except RecursionError:
        return Verdict(False, "not JSON that can be read: nested deeper than Python's recursion limit")
    return Verdict(True, "the whole response is JSON")


class BulletArgs(Args):
    num_bullets: int = Field(ge=0)


def bullet_count(text: str) -> int:
    count = 0
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("-") or (stripped.startswith("*") and len(stripped) > 1 and stripped[1] != "*"):
            count += 1
    return count


def number_bullet_lists(text: str, args: BulletArgs) -> Verdict:
    count = bullet_count(text)
    return Verdict(count == args.num_bullets, f"{plural(count, 'bullet point')} (exactly {args.num_bullets} wanted)")


class SectionArgs(Args):
    section_spliter: str = Field(min_length=1)  # IFEval's spelling
    num_sections: int = Field(ge=0)


def section_count(text: str, splitter: str) -> int:
    count, start = 0, text.find(splitter)
    while start != -1:
        after = start + len(splitter)
        if after < len(text) and text[after].isspace():
            after += 1
        if after < len(text) and text[after].isdecimal():
            count += 1
        start = text.find(splitter, start + len(splitter))
    return count


def multiple_sections(text: str, args: SectionArgs) -> Verdict:
    splitter = args.section_spliter.strip()
    count = section_count(text, splitter)
    return Verdict(count >= args.num_sections, f"{plural(count, 'section')} marked {splitter!r} N (at least {args.num_sections} wanted)")


class HighlightArgs(Args):
    num_highlights: int = Field(ge=0)


def highlight_count(text: str) -> int:
    """``*x*`` spans (x non-blank, no ``*`` or newline) plus ``**x**`` spans, each counted
    left to right without overlap, as ``re.findall`` finds them."""
    count = 0
    for width in (1, 2):
        marker = "*" * width
        i, n = 0, len(text)
        while i < n:
            if text.startswith(marker, i):
                j = i + width
                while j < n and text[j] not in "*\n":
                    j += 1
                if j < n and text.startswith(marker, j):
                    if text[i + width:j].strip():
                        count += 1
                    i = j + width
                    continue
                if j >= n or text[j] == "\n":
                    i = j + 1  # no span can start before the newline and cross it
                    continue
            i += 1
    return count


def number_highlighted_sections(text: str, args: HighlightArgs) -> Verdict:
    count = highlight_count(text)
    return Verdict(count >= args.num_highlights, f"{plural(count, 'highlighted section')} (at least {args.num_highlights} wanted)")


def title(text: str, args: NoArgs) -> Verdict:
    for line in text.split("\n"):
        start = line.find("<<")
        end = line.rfind(">>")
        if start != -1 and end >= start + 3:
            inner = line[start:end + 2].lstrip("<").rstrip(">").strip()
            if inner:
                return Verdict(True, f"title <<{inner[:60]}>>")
    return Verdict(False, "no <<title>> found")


def constrained_response(text: str, args: NoArgs) -> Verdict:
    body = text.strip()
    for option in CONSTRAINED_RESPONSES:
        if option in body:
            return Verdict(True, f"contains {option!r}")
    return Verdict(False, f"none of {', '.join(repr(o) for o in CONSTRAINED_RESPONSES)}")
