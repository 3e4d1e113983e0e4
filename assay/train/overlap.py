"""Prompt overlap between training data and benchmarks: find it, count it, drop it.

A reward model trained on a benchmark's prompts scores that benchmark too well; AlpacaEval's
805 instructions, for one, reappear in RM-Bench's chat set. :class:`OverlapIndex` holds the
benchmarks' prompts and answers, for a training prompt, which benchmark prompts it matches:

- **exact**: equal after :func:`normalise` (case folded, whitespace collapsed, punctuation at
  the ends stripped);
- **near**: word 3-gram (shingle) Jaccard similarity at least ``jaccard`` (0.5), or the
  shorter prompt's shingles at least ``containment`` (0.8) inside the longer one when the
  shorter has ``min_shingles`` (8) or more (a benchmark prompt that is a training
  instruction plus an input, or the reverse).

:func:`drop_overlapping` filters training items by their prompt and returns the counts per
benchmark before and after, which is what a model card states. Not here: reading the
benchmarks (the caller hands in prompt strings, e.g. from ``assay.bench.loaders``) or the
training data.

    >>> index = OverlapIndex({"demo": ["What is the capital of France?"]})
    >>> index.matches("what is the  capital of france")
    {'demo': 'exact'}
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Case folded, whitespace collapsed, surrounding whitespace and end punctuation removed."""
    return _SPACE.sub(" ", text.casefold()).strip().strip(".?!:;,\"' ")


def shingles(text: str, n: int = 3) -> frozenset[str]:
    """The word n-grams of ``text`` (case folded); a text of fewer words gives one shingle of all."""
    words = _WORD.findall(text.casefold())
    if len(words) < n:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def prompt_string(prompt: Any) -> str:
    """A prompt as plain text: a string as it is, chat messages' contents joined by newlines."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    parts = []
    for message in prompt:
        content = message.get("content") if isinstance(message, dict) else message
        parts.append(content if isinstance(content, str) else str(content))
    return "\n".join(parts)


class OverlapIndex:
    """The prompts of several benchmarks (``{name: [prompt, ...]}``), indexed for exact and
    near-duplicate look-up."""

    def __init__(self, benchmarks: Mapping[str, Sequence[str]], jaccard: float = 0.5, containment: float = 0.8, min_shingles: int = 8) -> None:
        self.jaccard = jaccard
        self.containment = containment
        self.min_shingles = min_shingles
        self.names = list(benchmarks)
        self._exact: dict[str, set[str]] = defaultdict(set)
        self._shingles: list[tuple[str, frozenset[str]]] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        for name, prompts in benchmarks.items():
            for prompt in prompts:
                self._exact[normalise(prompt)].add(name)
                grams = shingles(prompt)
                if not grams:
                    continue
                index = len(self._shingles)
                self._shingles.append((name, grams))
                for gram in grams:
                    self._postings[gram].append(index)

    def matches(self, prompt: str) -> dict[str, str]:
        """``{benchmark: "exact" | "near"}`` for each benchmark with a prompt matching this one."""
        found = {name: "exact" for name in self._exact.get(normalise(prompt), ())}
        grams = shingles(prompt)
        if not grams:
            return found
        shared: dict[int, int] = defaultdict(int)
        for gram in grams:
            for index in self._postings.get(gram, ()):
                shared[index] += 1
        for index, common in shared.items():
            name, other = self._shingles[index]
            if name in found:
                continue
            union = len(grams) + len(other) - common
            smaller = min(len(grams), len(other))
            if common / union >= self.jaccard or (smaller >= self.min_shingles and common / smaller >= self.containment):
                found[name] = "near"
        return found


def overlap_counts(prompts: Iterable[str], index: OverlapIndex) -> dict[str, dict[str, int]]:
    """Per benchmark, how many of the distinct ``prompts`` match it exactly and near (not exactly)."""
    counts = {name: {"exact": 0, "near": 0} for name in index.names}
    for prompt in dict.fromkeys(prompts):
        for name, kind in index.matches(prompt).items():
            counts[name][kind] += 1
    return counts


def drop_overlapping(items: Sequence[T], prompt_of: Callable[[T], str], index: OverlapIndex) -> tuple[list[T], dict[str, Any]]:
    """The items whose prompt matches no benchmark prompt, and the record: distinct training
    prompts before and after, and per benchmark the overlapping prompts found before and
    left after (zero, unless the index changed)."""
    verdict: dict[str, dict[str, str]] = {}
    kept: list[T] = []
    for item in items:
        prompt = prompt_of(item)
        if prompt not in verdict:
            verdict[prompt] = index.matches(prompt)
        if not verdict[prompt]:
            kept.append(item)
    before = overlap_counts(verdict, index)
    after_prompts = list(dict.fromkeys(prompt_of(item) for item in kept))
    after = overlap_counts(after_prompts, index)
    record = {
        "prompts_before": len(verdict),
        "prompts_after": len(after_prompts),
        "items_before": len(items),
        "items_after": len(kept),
        "overlap_before": before,
        "overlap_after": after,
    }
    return kept, record
