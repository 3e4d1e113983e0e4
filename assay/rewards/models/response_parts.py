"""The response text the local-model rewards (``semantic``, ``diversity``, ``likelihood``,
``follow_up``, ``embedding_head``) score, and the failures they give when there is none."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assay.text import after_reasoning
from assay.types import Judgment, Sample

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)


class PartError(ValueError):
    """The requested part of the response is absent (kind ``parse``)."""


def select_part(text: str, part: str) -> str:
    """The part of a response a reward compares: ``whole``, the text after the last
    ``</think>`` (``after_think``), or the content of the last ``<answer>`` tag (``answer_tag``)."""
    if part == "whole":
        return text
    if part == "after_think":
        answer = after_reasoning(text)
        if answer is None:
            raise PartError("part=after_think but the response has no </think> (thinking never ended)")
        return answer
    if part == "answer_tag":
        found = _ANSWER_RE.findall(text)
        if not found:
            raise PartError("part=answer_tag but the response has no <answer>...</answer>")
        return found[-1]
    raise ValueError(f"unknown part {part!r}; expected whole, after_think or answer_tag")


def response_part_or_failure(sample: Sample, part: str = "whole", empty: str | None = None) -> str | Judgment:
    """The ``part`` of the sample's response (see :func:`select_part`), or the failure to
    return for the sample: ``parse`` when the part is absent, ``input`` when the response is
    not text or chat messages, or -- when ``empty`` (the reason) is given -- when it is blank."""
    try:
        text = select_part(sample.response_text, part)
    except PartError as error:
        return Judgment.fail("parse", str(error), raw=sample.response_text)
    except (TypeError, AttributeError) as error:
        return Judgment.fail("input", f"response is not text or chat messages: {error}")
    if empty is not None and not text.strip():
        return Judgment.fail("input", empty)
    return text


def response_parts(samples: Sequence[Sample], part: str = "whole", empty: str | None = None) -> tuple[list[Judgment | None], dict[int, str]]:
    """:func:`response_part_or_failure` over a batch: the judgments list with each failure in
    its sample's place (None elsewhere, for the reward to fill), and the texts found, by index."""
    judgments: list[Judgment | None] = [None] * len(samples)
    texts: dict[int, str] = {}
    for i, sample in enumerate(samples):
        text = response_part_or_failure(sample, part, empty)
        if isinstance(text, Judgment):
            judgments[i] = text
        else:
            texts[i] = text
    return judgments, texts


def fail_the_rest(judgments: Sequence[Judgment | None], failure: Judgment) -> list[Judgment]:
    """The batch's judgments with every place not yet filled given ``failure``: what a reward
    returns when something the whole batch needs (its model, a shared context) is missing.
    The samples that already failed keep their own reason."""
    return [j or failure for j in judgments]
