"""The ``constraints`` reward: verifiable instructions given per sample (IFEval / IFBench
style), each checked, each verdict in the rationale and the details; the score is the
fraction met, or 1/0 for all met.

A sample gives its constraints in one of two shapes:

- a list in the ``field`` option (default ``constraints``), each item
  ``{"id": "length_constraints:number_words", "num_words": 300, "relation": "less than"}``
  (the kwargs inline, or under ``"kwargs"``; ``instruction_id`` is accepted for ``id``);
- IFEval's own columns, ``instruction_id_list`` and ``kwargs`` (two parallel lists), as in
  its ``input_data.jsonl`` and the Hugging Face copies. ``None`` values in kwargs are
  dropped first, as IFEval's evaluator does, since those files give every key of every
  instruction.

``mode: loose`` is IFEval's loose accuracy: an instruction counts as met when the response,
or the response with its first line, last line or both removed, each with or without ``*``
characters, follows it (8 variants). An unknown instruction id, a missing or bad kwarg, or
unequal id/kwargs lists is an ``input`` failure naming the constraint: never a score.

    >>> from assay.types import Sample
    >>> row = Sample(response="hello there", extra={"instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"], "kwargs": [{}, {}]})
    >>> Constraints().score([row])[0].score
    1.0

What this is not: a judge of quality; only what can be checked exactly is checked.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, ValidationError

from assay.reward import Options, Reward
from assay.rewards.rules.bounds import cap_text
from assay.rewards.rules.constraints.base import Args, Instruction, Verdict
from assay.rewards.rules.constraints.registry import lookup
from assay.types import Judgment, Sample


class ConstraintsOptions(Options):
    field: str = "constraints"  # a list of {"id": ..., **kwargs} per sample
    ids_field: str = "instruction_id_list"  # else IFEval's columns
    kwargs_field: str = "kwargs"
    aggregate: Literal["fraction", "all"] = "fraction"  # fraction met, or 1 only when all are met
    mode: Literal["strict", "loose"] = "strict"  # IFEval's strict or loose accuracy
    # the response is read up to this many characters (the cut is stated in the rationale):
    # sentence splitting costs about 1 s per 200,000 characters, and IFEval responses are far shorter
    max_chars: int | None = Field(100_000, gt=0)


def loose_variants(response: str) -> list[tuple[str, str]]:
    """IFEval's loose variants of a response, with a name for each."""
    lines = response.split("\n")
    cut = {
        "as written": response,
        "without its first line": "\n".join(lines[1:]).strip(),
        "without its last line": "\n".join(lines[:-1]).strip(),
        "without its first and last lines": "\n".join(lines[1:-1]).strip(),
    }
    variants = [(name, text) for name, text in cut.items()]
    variants += [(f"{name}, '*' removed" if name != "as written" else "with '*' removed", text.replace("*", "")) for name, text in cut.items()]
    order = [0, 4, 1, 2, 3, 5, 6, 7]  # IFEval's order: whole, whole without *, then the cuts
    return [variants[i] for i in order]


def _constraint_list(sample: Sample, o: ConstraintsOptions) -> list[tuple[str, dict[str, Any]]] | str:
    """[(instruction id, kwargs)], or a message saying what is wrong with the sample's fields."""
    given = sample.get(o.field)
    if given is not None:
        if isinstance(given, str):
            try:
                given = json.loads(given)
            except ValueError as error:
                return f"field {o.field!r} is a string but not JSON: {error}"
        if not isinstance(given, list):
            return f"field {o.field!r} should be a list of constraints, got {type(given).__name__}"
        out = []
        for index, item in enumerate(given):
            if not isinstance(item, dict):
                return f"{o.field}[{index}] should be an object with an 'id', got {type(item).__name__}"
            item = dict(item)
            instruction_id = item.pop("id", None) or item.pop("instruction_id", None)
            if not isinstance(instruction_id, str):
                return f"{o.field}[{index}] has no 'id' (an instruction id such as 'punctuation:no_comma')"
            kwargs = item.pop("kwargs", None)
            if kwargs is not None and not isinstance(kwargs, dict):
                return f"{o.field}[{index}].kwargs should be an object, got {type(kwargs).__name__}"
            out.append((instruction_id, {**item, **(kwargs or {})}))
        return out
    ids = sample.get(o.ids_field)
    if ids is None:
        return f"no constraints: the sample has neither a {o.field!r} field nor IFEval's {o.ids_field!r}"
    kwargs_list = sample.get(o.kwargs_field)
    if kwargs_list is None:
        kwargs_list = [{} for _ in ids] if isinstance(ids, list) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return f"field {o.ids_field!r} should be a list of instruction ids"
    if not isinstance(kwargs_list, list) or len(kwargs_list) != len(ids):
        return f"field {o.kwargs_field!r} should be a list as long as {o.ids_field!r} ({len(ids)})"
    out = []
    for index, (instruction_id, kwargs) in enumerate(zip(ids, kwargs_list)):
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            return f"{o.kwargs_field}[{index}] should be an object, got {type(kwargs).__name__}"
        out.append((instruction_id, kwargs))
    return out


def _arguments(instruction: Instruction, kwargs: dict[str, Any]) -> Args | str:
    cleaned = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return instruction.args(**cleaned)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'kwargs'}: {e['msg']}" for e in error.errors())
        return f"bad kwargs for {instruction.id}: {problems}"


def _short(kwargs: Args) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.model_dump().items())
    return f"({shown[:120]})" if shown else ""


class Constraints(Reward):
    """Checks each constraint of a sample; the score is the fraction met (``aggregate:
    fraction``) or 1.0 when all are met, else 0.0 (``aggregate: all``)."""

    type_name = "constraints"
    Options = ConstraintsOptions
    options: ConstraintsOptions

    def score_one(self, sample: Sample) -> Judgment:
        o = self.options
        listed = _constraint_list(sample, o)
        if isinstance(listed, str):
            return Judgment.fail("input", listed)
        if not listed:
            return Judgment.fail("input", "the sample's constraint list is empty: nothing to check")
        checks: list[tuple[Instruction, Args]] = []
        for index, (instruction_id, kwargs) in enumerate(listed):
            try:
                instruction = lookup(instruction_id)
            except KeyError as error:
                return Judgment.fail("input", f"constraint {index}: {error.args[0]}")
            args = _arguments(instruction, kwargs)
            if isinstance(args, str):
                return Judgment.fail("input", f"constraint {index}: {args}")
            checks.append((instruction, args))
        capped = cap_text(sample.response_text, o.max_chars, "head")
        response = capped.text
        variants = loose_variants(response) if o.mode == "loose" else [("as written", response)]
        verdicts = [self._verdict(instruction, args, variants) for instruction, args in checks]
        met = sum(1 for v, _ in verdicts if v.met)
        total = len(verdicts)
        score = met / total if o.aggregate == "fraction" else float(met == total)
        lines = []
        details_list = []
        for (instruction, args), (verdict, variant) in zip(checks, verdicts):
            where = f" [{variant}]" if o.mode == "loose" and verdict.met and variant != "as written" else ""
            lines.append(f"{'met' if verdict.met else 'NOT met'}: {instruction.id}{_short(args)}: {verdict.found}{where}")
            details_list.append({"id": instruction.id, "kwargs": args.model_dump(), "met": verdict.met, "found": verdict.found, **({"variant": variant} if o.mode == "loose" else {})})
        head = f"{met} of {total} constraints met ({o.mode}; score {'fraction met' if o.aggregate == 'fraction' else '1 only when all are met'})"
        if capped.cut:
            head += " " + capped.note()
        details = {"met": met, "total": total, "mode": o.mode, "constraints": details_list}
        return Judgment(score, head + "\n" + "\n".join(lines), details)

    @staticmethod
    def _verdict(instruction: Instruction, args: Args, variants: list[tuple[str, str]]) -> tuple[Verdict, str]:
        """The first variant that follows the instruction, else the verdict on the response as written."""
        first: Verdict | None = None
        for name, text in variants:
            if not text.strip():
                verdict = Verdict(False, "the response is empty")
            else:
                verdict = instruction.check(text, args)
            if first is None:
                first = verdict
            if verdict.met:
                return verdict, name
        assert first is not None
        return first, variants[0][0]
