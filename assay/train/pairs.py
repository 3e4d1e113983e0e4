"""Reading preference pairs for training: one :class:`Pair` per JSONL row, with errors that
name the file, the line and the field.

A row is either ``{prompt, chosen, rejected, margin?}`` (the trainers' own form) or the
pairwise form ``assay compare`` reads: ``{prompt, response_a, response_b, label}`` with
``label`` A or B (a tie, or a row without a label, is an error: a tie says nothing about
which is better). ``prompt`` may be empty or absent; ``margin``, when present, is a number
(how much better ``chosen`` is; TRL's RewardTrainer subtracts it inside the loss). Texts are
strings or chat messages, as everywhere in assay; chat messages are kept as they are so the
reward model's chat template can render them. :func:`split_pairs` makes the seeded
train/eval split. Not here: tokenising (each trainer's module) and writing files.

    >>> pairs = read_pairs("pairs.jsonl")          # doctest: +SKIP
    >>> train, held_out = split_pairs(pairs, eval_fraction=0.1, seed=0)   # doctest: +SKIP
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.files.jsonl import InputError, read_rows
from assay.text import prompt_text, text_of
from assay.types import Sample

_LABEL_A = {"a", "response_a"}
_LABEL_B = {"b", "response_b"}


@dataclass(frozen=True)
class Pair:
    """One preference: ``chosen`` is better than ``rejected`` for ``prompt``."""

    prompt: Any
    chosen: Any
    rejected: Any
    margin: float | None = None
    line: int = 0

    @property
    def texts(self) -> tuple[str, str, str]:
        """``(prompt, chosen, rejected)`` as plain text (chat messages joined)."""
        return prompt_text(self.prompt), text_of(self.chosen), text_of(self.rejected)

    def samples(self) -> tuple[Sample, Sample]:
        """The chosen and the rejected response as :class:`Sample` rows, as a reward scores them."""
        return Sample(prompt=self.prompt, response=self.chosen), Sample(prompt=self.prompt, response=self.rejected)


def pair_of_row(data: dict[str, Any], path: str | Path, line: int) -> Pair:
    """The :class:`Pair` in one parsed row; raises InputError naming the field."""
    if "chosen" in data or "rejected" in data:
        for field in ("chosen", "rejected"):
            if field not in data:
                raise InputError(path, line, field, "missing (a pair has both 'chosen' and 'rejected')")
        chosen, rejected = data["chosen"], data["rejected"]
    elif "response_a" in data or "response_b" in data:
        for field in ("response_a", "response_b", "label"):
            if data.get(field) is None:
                raise InputError(path, line, field, "missing (a pairwise row for training needs response_a, response_b and label A or B)")
        label = str(data["label"]).strip().lower()
        if label in _LABEL_A:
            chosen, rejected = data["response_a"], data["response_b"]
        elif label in _LABEL_B:
            chosen, rejected = data["response_b"], data["response_a"]
        else:
            raise InputError(path, line, "label", f"must be A or B to train on, got {data['label']!r} (ties say nothing about which is better)")
    else:
        raise InputError(path, line, "chosen", "missing: a row needs chosen and rejected (or response_a, response_b and label)")
    for field, value in (("chosen", chosen), ("rejected", rejected)):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InputError(path, line, field, "empty: nothing to train on")
    margin = data.get("margin")
    if margin is not None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin):
            raise InputError(path, line, "margin", f"must be a finite number, got {margin!r}")
        margin = float(margin)
    return Pair(data.get("prompt") or "", chosen, rejected, margin, line)


def shared_prefix_as_prompt(pair: Pair, marker: str = "\n\nAssistant:") -> Pair:
    """A pair without a prompt whose two texts are whole transcripts with one shared start
    (Anthropic HH-RLHF's rows): the shared start up to its last ``marker`` becomes the
    prompt, the rest of each text the response. Unchanged when there is a prompt, a text is
    chat messages, or no marker lies in the shared start."""
    if pair.prompt or not isinstance(pair.chosen, str) or not isinstance(pair.rejected, str):
        return pair
    shared = 0
    for a, b in zip(pair.chosen, pair.rejected):
        if a != b:
            break
        shared += 1
    cut = pair.chosen.rfind(marker, 0, shared)
    if cut < 0:
        return pair
    end = cut + len(marker)
    chosen, rejected = pair.chosen[end:].strip(), pair.rejected[end:].strip()
    if not chosen or not rejected:
        return pair
    return Pair(pair.chosen[:end], chosen, rejected, pair.margin, pair.line)


def read_pairs(path: str | Path, limit: int | None = None, split_transcripts: bool = False) -> list[Pair]:
    """Every pair of a JSONL file (the first bad line raises InputError). With ``limit``,
    the first ``limit`` pairs; with ``split_transcripts``, :func:`shared_prefix_as_prompt`
    on each (a sentence encoder reads only a text's start, and a transcript's start is the
    part both responses share)."""
    text_fields = ("prompt", "chosen", "rejected", "response_a", "response_b")
    pairs: list[Pair] = []
    for row in read_rows(path, required=(), text_fields=text_fields):
        pair = pair_of_row(row.data, path, row.line)
        pairs.append(shared_prefix_as_prompt(pair) if split_transcripts else pair)
        if limit is not None and len(pairs) >= limit:
            break
    if not pairs:
        raise InputError(path, 0, None, "no pairs in the file")
    with_margin = sum(p.margin is not None for p in pairs)
    if 0 < with_margin < len(pairs):
        first = next(p for p in pairs if p.margin is None)
        raise InputError(path, first.line, "margin", f"missing: {with_margin} of {len(pairs)} rows have a margin; give it on every row or on none")
    return pairs


def split_pairs(pairs: Sequence[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """A seeded shuffle, then the last ``eval_fraction`` (at least one pair when the
    fraction is above 0 and there are two pairs or more) held out for evaluation."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    order = list(pairs)
    random.Random(f"{seed}:split").shuffle(order)
    n_eval = 0 if eval_fraction == 0 or len(order) < 2 else max(1, round(len(order) * eval_fraction))
    return order[: len(order) - n_eval], order[len(order) - n_eval :]


def pair_outcomes(judgments: Sequence[Any]) -> tuple[int, int]:
    """``(right, failed)`` over judgments laid out chosen, rejected, chosen, rejected, ...:
    a pair is right when both scored and chosen is higher, failed when either did not score
    (a failure is never counted as a win or a loss)."""
    right = failed = 0
    for chosen, rejected in zip(judgments[0::2], judgments[1::2]):
        if not (chosen.ok and rejected.ok):
            failed += 1
        elif chosen.score > rejected.score:
            right += 1
    return right, failed
