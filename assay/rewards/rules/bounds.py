"""Bounds shared by the rule rewards: a cap on how much of a text a reward reads, and user
regular expressions that run under a time limit.

Why: a rule reward runs in the caller's thread (in ``assay serve``, on the server's worker
threads), and Python's ``re`` holds the interpreter lock while it backtracks. One degenerate
rollout (a million spaces, an unclosed tag) or one exponential user pattern must cost a
bounded time per sample and end in a score or a typed failure, never a frozen server.

- ``cap_text`` keeps the first (or last) ``max_chars`` characters of a text and says so: the
  reward appends ``Capped.note()`` to its rationale, so a truncation is never silent.
- ``BoundedPattern`` compiles a user pattern with the ``regex`` module (the same syntax as
  ``re`` for the patterns users write) and gives every search a deadline; a pattern that runs
  past it raises ``PatternTimeout``, which the reward turns into a ``timeout`` failure. The
  ``regex`` module also releases the interpreter lock while it matches, so other requests are
  served meanwhile. Its limit counts the matching thread's CPU time: on a loaded machine the
  wall clock runs longer (about 3x on the shared 2-core machine at load 11).

What not: the built-in patterns of the rewards are written to be linear and do not go
through here; nothing here kills a thread (a user *function* reward is not bounded by this).

    >>> p = BoundedPattern(r"(a|aa)+$", timeout=0.2, what="test pattern")
    >>> try:
    ...     p.search("a" * 5000 + "b")
    ... except PatternTimeout as error:
    ...     print(str(error)[:44])
    test pattern ran past its 0.2 s limit on a 5
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import regex

DEFAULT_PATTERN_TIMEOUT = 1.0  # seconds one user pattern may run on one sample
LAYOUT_MAX_CHARS = 1_000_000  # regex, tag_format, json_*, tool_call: they read the head
ANSWER_MAX_CHARS = 100_000  # exact_match, f1, choice: they read the tail (the answer is at the end)

_FLAG_NAMES = {"dotall": regex.DOTALL, "ignorecase": regex.IGNORECASE, "multiline": regex.MULTILINE, "ascii": regex.ASCII, "verbose": regex.VERBOSE}


@dataclass(frozen=True)
class Capped:
    """A text cut to at most ``max_chars`` characters: ``text`` is what the reward reads,
    ``total`` the original length, ``keep`` which end was kept."""

    text: str
    total: int
    keep: Literal["head", "tail"]

    @property
    def cut(self) -> bool:
        return len(self.text) < self.total

    def note(self, what: str = "response") -> str:
        """`` [the response has N characters; only its first M were read (max_chars)]``, or ''."""
        if not self.cut:
            return ""
        which = "first" if self.keep == "head" else "last"
        return f" [the {what} has {self.total:,} characters; only its {which} {len(self.text):,} were read (max_chars)]"


def cap_text(text: str, max_chars: int | None, keep: Literal["head", "tail"] = "head") -> Capped:
    """``text`` cut to its first (``head``) or last (``tail``) ``max_chars`` characters;
    ``max_chars=None`` reads it all."""
    if max_chars is None or len(text) <= max_chars:
        return Capped(text, len(text), keep)
    return Capped(text[:max_chars] if keep == "head" else text[-max_chars:], len(text), keep)


def shorten(text: str | None, limit: int = 400) -> str | None:
    """A text for ``details``: itself when short, else its head, an ellipsis and its length,
    so a long response is not stored a second (and third) time in every result row."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[: limit - 40]}… [{len(text):,} characters]"


class PatternTimeout(Exception):
    """A user pattern ran past its time limit on one text."""


def regex_flags(names: list[str]) -> int:
    value = 0
    for name in names:
        if name not in _FLAG_NAMES:
            raise ValueError(f"unknown regex flag {name!r}; expected some of {sorted(_FLAG_NAMES)}")
        value |= _FLAG_NAMES[name]
    return value


class BoundedPattern:
    """A user regular expression whose every use on a text has a time limit (``timeout``
    seconds in all, ``finditer`` included). ``what`` names it in errors."""

    def __init__(self, pattern: str, flags: int = 0, timeout: float = DEFAULT_PATTERN_TIMEOUT, what: str = "pattern") -> None:
        try:
            self.compiled = regex.compile(pattern, flags)
        except regex.error as error:
            raise ValueError(f"{what} {pattern!r} is not a valid regular expression: {error}") from error
        self.pattern = pattern
        self.timeout = timeout
        self.what = what

    @property
    def groups(self) -> int:
        return self.compiled.groups

    def _timed_out(self, text: str) -> PatternTimeout:
        return PatternTimeout(f"{self.what} ran past its {self.timeout:g} s limit on a {len(text):,}-character text (pattern {self.pattern[:60]!r})")

    def _call(self, method: str, text: str) -> Any:
        try:
            return getattr(self.compiled, method)(text, timeout=self.timeout, concurrent=True)
        except TimeoutError:
            raise self._timed_out(text) from None

    def search(self, text: str) -> Any:
        return self._call("search", text)

    def match(self, text: str) -> Any:
        return self._call("match", text)

    def fullmatch(self, text: str) -> Any:
        return self._call("fullmatch", text)

    def finditer(self, text: str) -> Iterator[Any]:
        deadline = time.monotonic() + self.timeout
        try:
            for found in self.compiled.finditer(text, timeout=self.timeout, concurrent=True):
                yield found
                if time.monotonic() > deadline:
                    raise TimeoutError
        except TimeoutError:
            raise self._timed_out(text) from None
