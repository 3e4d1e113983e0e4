"""The text a reward reads, and the text it writes back: one home for each small helper.

Rewards see prompts and responses as strings or chat messages, references as a string or
a list of acceptable answers, and a batch as samples tied together by ``group``. These are
the only readings of those shapes in assay: :func:`text_of` (the answer text of a response),
:func:`prompt_text` (a prompt as one string), :func:`reference_texts` and
:func:`reference_shown` (a reference as strings, as text for a prompt), :func:`groups_of`
(a batch grouped by prompt group) and :func:`shorten` (a long text cut for a rationale).
Not here: answer extraction (``assay.rewards.rules.extraction``) and the data types
(``assay.types``). This module imports nothing from assay, so everything can import it.

    >>> text_of([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}])
    '4'
    >>> shorten("a  long\\n text", 8)
    'a long …'
    >>> groups_of([Sample(group=1), Sample(group=1), Sample()])   # doctest: +SKIP
    {('group', 1): [0, 1], ('alone', 2): [2]}
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

Message = dict[str, Any]
Text = str | list[Message]

RATIONALE_CHARS = 800  # how much of a judge's critique a rationale keeps


def text_of(value: Text | None) -> str:
    """The text a reward should read: a string as is, or the last assistant message's content
    when given chat messages (tools may append messages, so the answer is the last one)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for message in reversed(value):
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                return content_text(message.get("content"))
        return content_text(value[-1].get("content")) if value and isinstance(value[-1], dict) else ""
    raise TypeError(f"expected a string or a list of chat messages, got {type(value).__name__}")


def content_text(content: Any) -> str:
    """A message's ``content`` as text: a string, or OpenAI content parts joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def prompt_text(value: Text | None) -> str:
    """The prompt as one string: chat messages joined as ``role: content`` lines."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n".join(f"{m.get('role', 'user')}: {content_text(m.get('content'))}" for m in value)


def reference_texts(reference: Any) -> list[str] | None:
    """The acceptable answers in a reference as non-empty stripped strings: a string or a
    number, or a list of them (``3.0`` reads ``"3"``). None when there is no usable
    reference (missing, empty, a boolean, or another type anywhere in the list)."""
    if reference is None or isinstance(reference, bool):
        return None
    items = list(reference) if isinstance(reference, (list, tuple)) else [reference]
    out: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            return None
        text = str(int(item)) if isinstance(item, float) and item.is_integer() else str(item).strip()
        if text:
            out.append(text)
    return out or None


def reference_shown(reference: Any) -> str:
    """The reference as text for a judge's prompt: a string as is, several acceptable answers
    one per line, chat messages as their answer, anything else as ``str``; "" for none."""
    if reference is None:
        return ""
    texts = reference_texts(reference)
    if texts is not None:
        return texts[0] if len(texts) == 1 else "any of these answers is correct:\n" + "\n".join(f"- {t}" for t in texts)
    if isinstance(reference, list):
        return text_of(reference)
    return str(reference)


REASONING_END = "</think>"


def after_reasoning(text: str, delimiters: Sequence[str] = (REASONING_END,)) -> str | None:
    """The answer part of a response: the text after the last reasoning delimiter (the first
    of ``delimiters`` found), or None when the reasoning never ends. What None means is each
    family's to say: math's ``after_think`` scores it 0 (TRL's rule), the model rewards fail
    it ``parse``, code and SQL read the whole response (there may be no reasoning at all)."""
    for delimiter in delimiters:
        at = text.rfind(delimiter)
        if at >= 0:
            return text[at + len(delimiter):]
    return None


def shorten(value: Any, limit: int = RATIONALE_CHARS, *, quote: bool = False) -> str:
    """``value`` as text for a rationale: white space folded to single spaces, cut to at most
    ``limit`` characters with a trailing ``…``; with ``quote``, as a repr (quoted, escapes shown)."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return repr(text) if quote else text


def group_key(group: Any) -> Hashable:
    """A dict key for a ``group`` value: itself when hashable, else (a list, a dict from JSON)
    its canonical JSON text, tagged so that it never equals a string group."""
    try:
        hash(group)
    except TypeError:
        return ("unhashable group", json.dumps(group, sort_keys=True, default=str))
    return group


def groups_of(samples: Sequence[Any], *, by_prompt: bool = False) -> dict[tuple[str, Hashable], list[int]]:
    """The indices of a batch grouped by prompt group, in first-seen order.

    Samples with the same ``group`` are one group, keyed ``("group", group)``. A sample
    without a group is alone (``("alone", index)``), or with ``by_prompt`` grouped with the
    other group-less samples of the same prompt text (``("prompt", text)``).
    """
    groups: dict[tuple[str, Hashable], list[int]] = {}
    for index, sample in enumerate(samples):
        if sample.group is not None:
            key: tuple[str, Hashable] = ("group", group_key(sample.group))
        elif by_prompt:
            key = ("prompt", prompt_text(sample.prompt))
        else:
            key = ("alone", index)
        groups.setdefault(key, []).append(index)
    return groups
