"""The ``math`` reward: is the response's final answer mathematically equal to the reference?

Each response is read in three steps:

1. **Extraction** (in this process, linear-time scanners of
   ``assay.rewards.rules.extraction``): the last group of ``\\boxed{...}`` (unless a later
   "final answer is X" overrides it), else GSM8K's ``#### N``, else a final ``A: N`` /
   ``Answer: N`` line, else a final "the answer is X" sentence. When none is present,
   math-verify's own extraction reads the whole response. With ``answer_part: after_think``
   only the text after the last ``</think>`` is read (TRL's ``reasoning_accuracy_reward``).
2. **Fast path** (``fast_path.py``, no sympy): plain numbers compared exactly, equal strings
   after a light LaTeX normalisation, and word references compared as text (math-verify would
   read ``listen`` as a product of letters, equal to ``silent``).
3. **math-verify** (``worker.py``: ``parse(gold)``, ``parse(answer)``, ``verify(gold, answer)``)
   in a killable pool of worker processes (``assay.sandbox.pool``) that this reward owns; each
   item has its own deadline of ``timeout_seconds``.

Scores are 1.0 (equivalent) or 0.0 (not equivalent, or no answer found in the response).
A reference that is empty or that math-verify cannot parse is an ``input`` failure.

    >>> from assay.rewards.math.reward import MathReward
    >>> from assay.types import Sample
    >>> reward = MathReward()
    >>> [j.score for j in reward.score([Sample(response="9 * 2 = 18\\nA: 18", reference="18"),
    ...                                 Sample(response="so \\\\boxed{0.5}", reference="\\\\frac{1}{2}")])]
    [1.0, 1.0]
    >>> reward.close()
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.rewards.math.fast_path import decimal_comma_reference, fast_compare, plain_number, word_answer
from assay.rewards.math.worker import MATH_WORKER
from assay.rewards.rules.extraction import Extracted, clip, extract_final_answer
from assay.sandbox.pool import Outcome, WorkerPool
from assay.sandbox.pool_owner import PoolOwner
from assay.text import after_reasoning
from assay.types import Judgment, Sample

__all__ = ["MathOptions", "MathReward", "extract_math_answer", "extract_reference", "fast_compare", "plain_number"]


@dataclass(frozen=True)
class Extraction:
    """An answer found in a text (``answer`` is None when none was found) and how: boxed |
    hashes | a_line | answer_is | final_answer | math_verify (nothing found by the rules) |
    whole (a reference used as written). ``parts``: the boxes of a group of several."""

    answer: str | None
    method: str
    parts: tuple[str, ...] = ()


def _from_extracted(found: Extracted) -> Extraction:
    if found.answer is None:
        return Extraction(None, "math_verify")
    return Extraction(found.answer, found.method, found.parts)


def extract_math_answer(text: str) -> Extraction:
    """The final answer of a solution by the rules in the module docstring (no sympy)."""
    return _from_extracted(extract_final_answer(text))


def extract_reference(reference: str) -> Extraction:
    """The gold answer inside a reference: its ``\\boxed{}`` group, ``#### N``, ``A: N`` or
    "final answer is X" if it has one (a full reference solution), else the whole reference."""
    found = extract_math_answer(reference)
    if found.answer is not None and found.method in ("boxed", "hashes", "a_line", "final_answer"):
        return found
    return Extraction(reference.strip(), "whole")


def _words(found: Extraction) -> str:
    if found.method == "math_verify":
        return "math-verify's own extraction from the whole response"
    return Extracted(found.answer, found.method, found.parts).describe()


def _math_input(found: Extraction) -> str | None:
    """What math-verify is given for an extracted answer: boxes stay boxes (several of them are
    read together, as math-verify reads them), other answers as found."""
    if found.answer is None:
        return None
    if found.method == "boxed":
        parts = found.parts or (found.answer,)
        return ", ".join(f"\\boxed{{{part}}}" for part in parts)
    return found.answer


class MathOptions(BaseOptions):
    """Options of the ``math`` reward."""

    timeout_seconds: int = Field(5, ge=1, description="hard limit per item for math-verify (whole seconds)")
    max_chars: int = Field(20000, ge=100, description="longer responses are cut to their last max_chars characters")
    workers: int | None = Field(None, ge=1, description="math-verify worker processes (default: CPU count)")
    reference_field: str = Field("reference", description="the sample field that holds the gold answer")
    precision: int = Field(6, ge=0, le=15, description="math-verify's float_rounding: decimals kept when comparing numbers")
    strict: bool = Field(True, description="math-verify's strict: False lets f(x) equal f(y) (variables not compared by name)")
    targets: list[Literal["latex", "expr"]] = Field(["latex", "expr"], min_length=1, description="what math-verify extracts: LaTeX, plain expressions, or both")
    set_relation: bool = Field(False, description="math-verify's allow_set_relation_comp: an interval may equal the inequality that defines it")
    answer_part: Literal["whole", "after_think"] = Field("whole", description="after_think: read only the text after the last reasoning delimiter")
    reasoning_delimiters: list[str] = Field(["</think>"], min_length=1, description="where the reasoning ends (answer_part: after_think)")
    word_reference: Literal["text", "input"] = Field("text", description="a reference that is only words: compared as text, or an input failure")
    fast_path: bool = Field(True, description="settle plain numbers and equal strings without math-verify")


@dataclass
class _Gold:
    text: str  # what the fast path and math-verify compare against
    method: str
    parts: tuple[str, ...] = ()
    words: str | None = None  # set for a word reference


@dataclass
class _Prepared:
    gold: _Gold | None = None
    extraction: Extraction | None = None
    text: str = ""
    truncated_from: int | None = None
    judgment: Judgment | None = None


class MathReward(PoolOwner, Reward):
    """1.0 when the response's final answer equals the reference (math-verify semantics)."""

    type_name = "math"
    Options = MathOptions
    options: MathOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.worker_count = self.options.workers or os.cpu_count() or 1  # workers=None: one per CPU
        self._gold_cache: dict[str, _Gold] = {}
        self.stats = {"fast": 0, "math_verify": 0}

    # pool lifecycle
    def _worker_config(self) -> dict[str, Any]:
        o = self.options
        return {"precision": o.precision, "strict": o.strict, "targets": list(o.targets), "set_relation": o.set_relation}

    def _new_pool(self) -> WorkerPool:
        return WorkerPool(MATH_WORKER, size=self.worker_count, timeout_seconds=self.options.timeout_seconds, config=self._worker_config(), label="math-verify")

    # the reference
    def _read_gold(self, text: str) -> _Gold:
        found = extract_reference(text)
        if found.method == "boxed" and found.parts:
            return _Gold(", ".join(f"\\boxed{{{part}}}" for part in found.parts), "boxed", found.parts)
        gold = found.answer or text
        if found.method == "whole":
            gold = decimal_comma_reference(gold) or gold  # "1,22" is 1.22, as math-verify reads a bare number
        return _Gold(gold, found.method, words=word_answer(gold))

    def _reference(self, sample: Sample) -> tuple[_Gold | None, Judgment | None]:
        field_name = self.options.reference_field
        raw = sample.get(field_name)
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            what = "missing" if raw is None else f"a {type(raw).__name__}"
            return None, Judgment.fail("input", f"the reference ({field_name!r}) is {what}; expected the gold answer as text or a number")
        text = str(raw).strip()
        if not text:
            return None, Judgment.fail("input", f"the reference ({field_name!r}) is empty")
        if len(text) > self.options.max_chars:
            text = text[-self.options.max_chars :]
        gold = self._gold_cache.get(text)
        if gold is None:
            gold = self._read_gold(text)
            if len(self._gold_cache) > 65536:
                self._gold_cache.clear()
            self._gold_cache[text] = gold
        if gold.words is not None and self.options.word_reference == "input":
            return None, Judgment.fail("input", f"the reference {clip(gold.text)} is words, not mathematics (word_reference: input)", raw=gold.text)
        return gold, None

    # the response
    def _answer_part(self, text: str) -> str | None:
        if self.options.answer_part == "whole":
            return text
        return after_reasoning(text, self.options.reasoning_delimiters)

    def _prepare(self, sample: Sample) -> _Prepared:
        prepared = _Prepared()
        gold, failure = self._reference(sample)
        if failure is not None:
            prepared.judgment = failure
            return prepared
        assert gold is not None
        prepared.gold = gold
        text = self._answer_part(sample.response_text)
        if text is None:
            ends = " or ".join(repr(d) for d in self.options.reasoning_delimiters)
            prepared.judgment = self._verdict(prepared, 0.0, f"the reasoning never ends (no {ends}), so there is no final answer (answer_part: after_think)", {"path": "none"})
            return prepared
        if len(text) > self.options.max_chars:
            prepared.truncated_from = len(text)
            text = text[-self.options.max_chars :]
        prepared.text = text
        extraction = extract_math_answer(text)
        prepared.extraction = extraction
        if extraction.answer is None and not text.strip():
            prepared.judgment = self._verdict(prepared, 0.0, "the response is empty: no answer found", {"path": "none"})
            return prepared
        if gold.words is not None:
            prepared.judgment = self._compare_words(prepared, gold, extraction, text)
            return prepared
        if self.options.fast_path and extraction.answer is not None and not extraction.parts and not gold.parts:
            verdict = fast_compare(gold.text, extraction.answer, self.options.precision)
            if verdict is not None:
                self.stats["fast"] += 1
                relation = "equals" if verdict.equal else "does not equal"
                prepared.judgment = self._verdict(
                    prepared,
                    1.0 if verdict.equal else 0.0,
                    f"extracted {extraction.answer} from {_words(extraction)}; {relation} reference {gold.text} ({verdict.how})",
                    {"path": "fast"},
                )
        return prepared

    def _compare_words(self, prepared: _Prepared, gold: _Gold, extraction: Extraction, text: str) -> Judgment:
        """A word reference: equal only as text (case and spacing aside), never as a product of
        letters."""
        answer = extraction.answer if extraction.answer is not None else text
        where = _words(extraction) if extraction.answer is not None else "the whole response"
        mine = word_answer(answer)
        equal = mine is not None and mine == gold.words
        relation = "equals" if equal else "does not equal"
        return self._verdict(
            prepared,
            1.0 if equal else 0.0,
            f"read {clip(answer, 60)} from {where}; {relation} the word reference {clip(gold.text, 60)} (compared as text: a word is not mathematics)",
            {"path": "text"},
        )

    def _verdict(self, prepared: _Prepared, score: float, rationale: str, details: dict[str, Any]) -> Judgment:
        extraction = prepared.extraction
        if prepared.truncated_from is not None:
            rationale += f" [the response had {prepared.truncated_from} characters; only its last {self.options.max_chars} were read]"
        details = {
            "extracted": extraction.answer if extraction else None,
            "method": extraction.method if extraction else None,
            "reference": prepared.gold.text if prepared.gold else None,
            "truncated": prepared.truncated_from is not None,
            **details,
        }
        return Judgment(score=score, rationale=rationale, details=details)

    def _from_worker(self, prepared: _Prepared, outcome: Outcome) -> Judgment:
        extraction = prepared.extraction
        gold = prepared.gold
        assert extraction is not None and gold is not None
        found = f"extracted {extraction.answer} from {_words(extraction)}; " if extraction.answer is not None else ""
        raw = (extraction.answer or prepared.text)[-2000:]
        if outcome.kind == "timeout":
            return Judgment.fail(
                "timeout",
                f"{found}math-verify did not finish within {self.options.timeout_seconds} s; its worker was stopped and the item left unscored",
                raw=raw,
            )
        if outcome.kind == "crash":
            return Judgment.fail("internal", f"{found}{outcome.message}", raw=raw)
        if outcome.kind != "ok":
            return Judgment.fail("internal", f"{found}math-verify raised {outcome.message}", raw=raw)
        result = outcome.value
        kind = result[0]
        if kind == "ok":
            _, equal, gold_parsed, parsed, used = result
            where = found
            if used == "math_verify" and extraction.answer is not None:
                where = f"math-verify could not parse {extraction.answer!r} from {_words(extraction)}, so it read the whole response; "
            elif used == "math_verify":
                where = "no \\boxed{}, '#### N', 'A: N' line or 'the answer is' sentence; math-verify read the whole response; "
            verdict = "equivalent" if equal else "not equivalent"
            return self._verdict(
                prepared,
                1.0 if equal else 0.0,
                f"{where}math-verify: parsed {parsed} vs gold {gold_parsed} -> {verdict}",
                {"path": "math_verify", "parsed": parsed, "gold_parsed": gold_parsed, "method": used if used == "math_verify" else extraction.method},
            )
        if kind == "no_answer":
            looked = found or "no \\boxed{}, '#### N', 'A: N' line or 'the answer is' sentence, and "
            return self._verdict(
                prepared,
                0.0,
                f"no answer found in the response: {looked}math-verify extracted nothing from it",
                {"path": "math_verify", "gold_parsed": result[1]},
            )
        return Judgment.fail("input", f"math-verify could not parse the reference {gold.text!r} as mathematics", raw=gold.text)

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        prepared = [self._prepare(sample) for sample in samples]
        todo = []
        for index, item in enumerate(prepared):
            if item.judgment is None:
                extraction = item.extraction
                assert extraction is not None and item.gold is not None
                todo.append((index, (item.gold.text, _math_input(extraction), extraction.method, item.text)))
        if todo:
            self.stats["math_verify"] += len(todo)
            outcomes = self._get_pool().run(todo)
            for index, _ in todo:
                outcome = outcomes.get(index, Outcome("error", message="no result came back from the worker pool"))
                prepared[index].judgment = self._from_worker(prepared[index], outcome)
        return [item.judgment for item in prepared]  # type: ignore[misc]
