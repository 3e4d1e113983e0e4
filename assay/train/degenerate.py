"""Degenerate negatives: training pairs that put a real answer above a reply that games a reward.

Why: a reward trained only on pairs of real answers has never seen a reply that answers
nothing, and a policy optimised against it finds one quickly. assay's first default reward
model scored "I don't know." above a correct answer to "How do I boil an egg?" and ranked a
real answer above the prompt echoed back in only 82 % of held-out prompts
(docs/rewards/default-rm.md, "Degenerate replies"). Adding, per prompt, a few pairs of its
preferred answer against such replies closes that hole at no cost in new data.

The kinds (:data:`KINDS`): ``echo`` (the prompt copied), ``repeat`` (its longer words
repeated: "boil boil egg egg ..."), ``stock`` (a stock non-answer from
:data:`STOCK_REPLIES`), ``fragment`` (the answer's first five words, a reply cut short).
What not: a judge of which kinds fit a prompt. For harmful requests a short non-answer may be
the *right* reply, so callers with such prompts pass ``kinds`` without ``stock`` and
``fragment`` for them (the default RM's recipe does, for HH prompts).

    >>> from assay.train.degenerate import degenerate_triples
    >>> import random
    >>> degenerate_triples({"How do I boil an egg?": ["Simmer it for 10 minutes."]}, 1, random.Random(0), ("echo",))
    [('How do I boil an egg?', 'Simmer it for 10 minutes.', 'How do I boil an egg?', 'echo')]
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

STOCK_REPLIES = ("I don't know.", "Sure!", "OK.", "Yes.", "Here is the answer:")
KINDS = ("echo", "repeat", "stock", "fragment")
_WORD = re.compile(r"[A-Za-z]+")


def degenerate_reply(prompt: str, answer: str, kind: str, rng: random.Random) -> str:
    """One reply of ``kind`` (see :data:`KINDS`) for ``prompt``; ``answer`` is the real one
    (what a ``fragment`` cuts)."""
    if kind == "echo":
        return prompt
    if kind == "repeat":
        words = itertools.islice((w for w in _WORD.findall(prompt) if len(w) > 3), 60)  # 60 words, however long the prompt
        return " ".join(itertools.islice(itertools.cycle(list(words) or ["answer"]), 60))
    if kind == "stock":
        return rng.choice(STOCK_REPLIES)
    if kind == "fragment":
        return " ".join(answer.split(maxsplit=5)[:5])
    raise ValueError(f"unknown degenerate kind {kind!r}: one of {', '.join(KINDS)}")


def degenerate_triples(answers: Mapping[str, Sequence[str]], per_prompt: int, rng: random.Random,
                       kinds: Sequence[str] | Mapping[str, Sequence[str]] = KINDS) -> list[tuple[str, str, str, str]]:
    """``(prompt, chosen, rejected, kind)`` for each prompt of ``answers`` (its preferred
    answers): ``per_prompt`` distinct kinds drawn from ``kinds`` (one sequence for all, or a
    sequence per prompt), each against one of its answers. A draw that would equal the answer
    (a fragment of a five-word answer) or be blank is left out."""
    if per_prompt < 0:
        raise ValueError(f"degenerate pairs per prompt must be 0 or more, got {per_prompt}")
    for kind in (k for ks in (kinds.values() if isinstance(kinds, Mapping) else [kinds]) for k in ks):
        if kind not in KINDS:
            raise ValueError(f"unknown degenerate kind {kind!r}: one of {', '.join(KINDS)}")
    out = []
    for prompt in sorted(answers):
        allowed = kinds[prompt] if isinstance(kinds, Mapping) else kinds
        for kind in rng.sample(list(allowed), min(per_prompt, len(allowed))):
            own = rng.choice(list(answers[prompt]))
            bad = degenerate_reply(prompt, own, kind, rng)
            if bad.strip() and bad.strip() != own.strip():
                out.append((prompt, own, bad, kind))
    return out


def with_degenerate_pairs(pairs: Sequence[Any], per_prompt: int, seed: int, kinds: Sequence[str] = KINDS) -> tuple[list[Any], dict[str, int]]:
    """``pairs`` (:class:`assay.train.pairs.Pair`) plus ``per_prompt`` degenerate pairs per
    distinct text prompt, and the count per kind (with ``skipped``: pairs whose prompt or
    chosen side is chat messages, left without). What ``assay train head|rm --degenerate`` train on."""
    from assay.train.pairs import Pair

    answers: dict[str, list[str]] = {}
    skipped = 0
    for pair in pairs:
        if isinstance(pair.prompt, str) and pair.prompt.strip() and isinstance(pair.chosen, str):
            answers.setdefault(pair.prompt, []).append(pair.chosen)
        else:
            skipped += 1
    triples = degenerate_triples(answers, per_prompt, random.Random(f"{seed}:degenerate"), kinds)
    counts: dict[str, int] = {kind: 0 for kind in kinds}
    for *_, kind in triples:
        counts[kind] += 1
    counts["skipped"] = skipped
    return list(pairs) + [Pair(prompt, chosen, rejected) for prompt, chosen, rejected, _ in triples], counts
