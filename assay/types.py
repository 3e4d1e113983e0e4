"""The core contract: what a reward reads (Sample) and what it returns (Judgment, Preference).

Every reward in assay returns a score *and* its reason. When a score cannot be computed, the
score is ``None`` and ``failure`` says why, with the raw text kept: a failure is never a
made-up 0 or 1. This module imports only ``assay.text`` (which imports nothing from assay),
so everything else can import it; the text helpers are re-exported here for old imports.

    >>> from assay.types import Sample, Judgment
    >>> s = Sample(prompt="2+2?", response="4", reference="4")
    >>> Judgment(score=1.0, rationale="answer 4 equals reference 4").ok
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from assay.text import Message, Text, prompt_text, reference_shown, reference_texts, text_of

__all__ = [
    "FAILURE_KINDS", "Failure", "FailureKind", "Judgment", "Message", "Pair", "Preference", "Sample", "Text",
    "PAIR_FIELDS", "SAMPLE_FIELDS", "Winner", "outcome", "prompt_text", "reference_shown", "reference_texts", "text_of",
]

FailureKind = Literal["parse", "backend", "timeout", "input", "internal"]
FAILURE_KINDS: tuple[str, ...] = ("parse", "backend", "timeout", "input", "internal")

# Fields of a Sample that are not free-form extras (everything else in a JSONL row is an extra).
SAMPLE_FIELDS = ("prompt", "response", "reference", "id", "group", "steps")


@dataclass(frozen=True)
class Failure:
    """Why a score could not be computed.

    ``kind`` is one of ``parse`` (the output could not be read), ``backend`` (a server or
    model failed), ``timeout``, ``input`` (the sample itself is unusable) and ``internal``
    (a bug or unexpected exception). ``raw`` keeps the text that failed to parse, if any.
    """

    kind: FailureKind
    message: str
    raw: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {self.kind!r}; expected one of {FAILURE_KINDS}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.raw is not None:
            out["raw"] = self.raw
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Failure | None:
        if data is None:
            return None
        return cls(kind=data["kind"], message=data.get("message", ""), raw=data.get("raw"))


@dataclass
class Sample:
    """One response to score, with what a reward may need to score it.

    ``prompt`` and ``response`` are text or chat messages. ``reference`` is the gold answer
    or reference text. ``group`` ties together the samples of one prompt in an RL group.
    ``steps`` are reasoning steps for process rewards. ``extra`` holds every other field
    (rubric, principle, tests, label, ...), available to rewards by name via ``get``.
    """

    prompt: Text | None = None
    response: Text = ""
    reference: Any = None
    id: Any = None
    group: Any = None
    steps: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def response_text(self) -> str:
        return text_of(self.response)

    @property
    def prompt_text(self) -> str:
        return prompt_text(self.prompt)

    def get(self, name: str, default: Any = None) -> Any:
        """A field by name: one of the named fields, else an extra."""
        if name in SAMPLE_FIELDS:
            value = getattr(self, name)
            return default if value is None else value
        return self.extra.get(name, default)

    def fields(self) -> dict[str, Any]:
        """Every field as one flat dict (named fields and extras), as in a JSONL row."""
        out = {name: getattr(self, name) for name in SAMPLE_FIELDS if getattr(self, name) is not None}
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Sample:
        named = {k: row[k] for k in SAMPLE_FIELDS if k in row}
        extra = {k: v for k, v in row.items() if k not in SAMPLE_FIELDS}
        return cls(**named, extra=extra)


@dataclass
class Judgment:
    """A reward's verdict on one sample: a score and the reason for it.

    ``score`` is None when the reward abstained or failed; then ``failure`` says why.
    ``details`` holds sub-scores (per criterion, per step, per component); ``meta`` holds
    how the verdict was reached (swap order, votes, logprobs, usage, latency).
    """

    score: float | None
    rationale: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    failure: Failure | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None and self.score is not None

    @classmethod
    def fail(cls, kind: FailureKind, message: str, raw: str | None = None, **meta: Any) -> Judgment:
        """A failed judgment: no score, a typed failure, and the message as rationale."""
        return cls(score=None, rationale=message, failure=Failure(kind, message, raw), meta=dict(meta))

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "rationale": self.rationale,
            "failure": self.failure.to_dict() if self.failure else None,
            "details": _plain(self.details),
            **({"meta": _plain(self.meta)} if self.meta else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], details_key: str = "details") -> Judgment:
        """A judgment back from :meth:`to_dict` (or an output row, whose components sit
        under ``details_key="rewards"``); components written as judgments (dicts with a
        ``score`` and a ``rationale``) come back as Judgments, other details as they are."""
        details = data.get(details_key) or {}
        return cls(
            score=data.get("score"),
            rationale=data.get("rationale", ""),
            details={name: cls.from_dict(value) if _looks_like_judgment(value) else value for name, value in details.items()},
            failure=Failure.from_dict(data.get("failure")),
            meta=data.get("meta") or {},
        )


Winner = Literal["a", "b", "tie"]


@dataclass
class Preference:
    """A pairwise verdict: which of two responses is better, and why.

    ``winner`` is ``a``, ``b``, ``tie``, or None when the comparison failed (then
    ``failure`` says why). ``probability`` is P(a better than b) when known.
    """

    winner: Winner | None
    rationale: str = ""
    probability: float | None = None
    failure: Failure | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None and self.winner is not None

    @classmethod
    def fail(cls, kind: FailureKind, message: str, raw: str | None = None, **meta: Any) -> Preference:
        return cls(winner=None, rationale=message, failure=Failure(kind, message, raw), meta=dict(meta))

    def to_dict(self) -> dict[str, Any]:
        return {
            "winner": self.winner,
            "probability": self.probability,
            "rationale": self.rationale,
            "failure": self.failure.to_dict() if self.failure else None,
            **({"meta": _plain(self.meta)} if self.meta else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preference:
        """A preference back from :meth:`to_dict`."""
        return cls(
            winner=data.get("winner"),
            rationale=data.get("rationale", ""),
            probability=data.get("probability"),
            failure=Failure.from_dict(data.get("failure")),
            meta=data.get("meta") or {},
        )


def outcome(result: Judgment | Preference) -> str:
    """How a result ended: ``"scored"`` (a score, or a winner), ``"abstained"`` (none, and no
    failure: the reward does not apply), or the failure's kind (``parse``, ``backend``, ...)."""
    if result.failure is not None:
        return result.failure.kind
    decided = result.winner if isinstance(result, Preference) else result.score
    return "abstained" if decided is None else "scored"


PAIR_FIELDS = ("prompt", "response_a", "response_b", "reference", "id")


@dataclass
class Pair:
    """Two responses to one prompt, for a comparator."""

    prompt: Text | None
    response_a: Text
    response_b: Text
    reference: Any = None
    id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def sample_a(self) -> Sample:
        return Sample(prompt=self.prompt, response=self.response_a, reference=self.reference, id=self.id, extra=self.extra)

    def sample_b(self) -> Sample:
        return Sample(prompt=self.prompt, response=self.response_b, reference=self.reference, id=self.id, extra=self.extra)

    def swapped(self) -> Pair:
        return Pair(self.prompt, self.response_b, self.response_a, self.reference, self.id, self.extra)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Pair:
        """A pair from a row: the named fields (``response_a``, ``response_b`` required), every
        other field an extra."""
        return cls(
            row.get("prompt"), row["response_a"], row["response_b"], row.get("reference"), row.get("id"),
            extra={k: v for k, v in row.items() if k not in PAIR_FIELDS},
        )


def _looks_like_judgment(value: Any) -> bool:
    return isinstance(value, dict) and "score" in value and "rationale" in value


def _plain(value: Any) -> Any:
    """Turn nested dataclasses (Judgments inside details) into JSON-ready dicts."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return _plain(asdict(value))
    return value
