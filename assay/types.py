"""The core contract: what a reward reads (Sample) and what it returns (Judgment, Preference).

Every reward in assay returns a score *and* its reason. When a score cannot be computed, the
score is ``None`` and ``failure`` says why, with the raw text kept: a failure is never a
made-up 0 or 1. This module imports nothing from assay, so everything else can import it.

    >>> from assay.types import Sample, Judgment
    >>> s = Sample(prompt="2+2?", response="4", reference="4")
    >>> Judgment(score=1.0, rationale="answer 4 equals reference 4").ok
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FailureKind = Literal["parse", "backend", "timeout", "input", "internal"]
FAILURE_KINDS: tuple[str, ...] = ("parse", "backend", "timeout", "input", "internal")

Message = dict[str, Any]
Text = str | list[Message]

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
                return _content_text(message.get("content"))
        return _content_text(value[-1].get("content")) if value and isinstance(value[-1], dict) else ""
    raise TypeError(f"expected a string or a list of chat messages, got {type(value).__name__}")


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def prompt_text(value: Text | None) -> str:
    """The prompt as one string: chat messages joined as ``role: content`` lines."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n".join(f"{m.get('role', 'user')}: {_content_text(m.get('content'))}" for m in value)



def reference_texts(reference: Any) -> list[str] | None:
    """The reference as a list of non-empty strings, or None when unusable."""
    if isinstance(reference, str):
        items = [reference]
    elif isinstance(reference, (list, tuple)) and all(isinstance(r, str) for r in reference):
        items = list(reference)
    else:
        return None
    items = [r for r in items if r.strip()]
    return items or None


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
    def from_dict(cls, data: dict[str, Any]) -> Judgment:
        return cls(
            score=data.get("score"),
            rationale=data.get("rationale", ""),
            details=data.get("details") or {},
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
