"""The pairwise LLM judge (``pairwise_judge``, a comparator), and the rule that combines the
two orders of a swapped comparison.

The judge writes a critique of two responses, then ``[[A]]``, ``[[B]]`` or ``[[C]]`` (a tie,
unless ``allow_tie: false``). It takes the same reference, principle and backend options as
the pointwise judge. With ``logprobs: true`` and a server that returns them, the verdict
carries P(A) / (P(A) + P(B)). ``verdict_by: logprobs`` skips the critique: the prompt
(``judge_pairwise_logprobs.txt``) ends in ``Verdict: [[`` and the verdict is read from the
next token's top-k.
With ``tools:`` the judge may call tools before its verdict
(:mod:`~assay.rewards.judges.tooluse`); the transcript is in ``meta["tools"]``.

:func:`combine_orders` turns the A|B and B|A verdicts into one (used by ``Swap`` and the
tournament's ``swap`` option). A backend error or timeout is a ``backend`` / ``timeout``
failure; a reply that cannot be read is a ``parse`` failure with the raw text kept.

    comparator: {type: pairwise_judge, base_url: "http://127.0.0.1:8080/v1", model: gemma-3-270m}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from assay.reward import Comparator
from assay.rewards.judges import prompting
from assay.rewards.judges.base import JudgeCore, JudgeOptions, shown_mass, with_transcript
from assay.rewards.judges.verdicts import next_token_choice, pairwise_probability, parse_pairwise
from assay.text import shorten, text_of
from assay.types import Failure, Pair, Preference


class PairwiseOptions(JudgeOptions):
    allow_tie: bool = True
    # text: a critique, then [[A]] / [[B]] / [[C]], parsed. logprobs: no critique; the prompt
    # ends in "Verdict: [[" and the verdict is read from P(A), P(B) (and P(C)) of the next token.
    verdict_by: Literal["text", "logprobs"] = "text"


_SHOWN = {"a": "A", "b": "B", "tie": "tie"}


class PairwiseJudge(JudgeCore, Comparator):
    """A critique of two responses, then A, B or tie. See the module docstring."""

    type_name = "pairwise_judge"
    Options = PairwiseOptions
    prompt_name = "judge_pairwise"
    by_logprobs_option = "verdict_by"

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        return await self.ajudge(pairs)

    async def ajudge(self, pairs: Sequence[Pair], overrides: Sequence[dict[str, Any] | None] | None = None) -> list[Preference]:
        return await self._each(pairs, overrides, self._judge, Preference)

    def build_messages(self, pair: Pair) -> list[dict[str, str]]:
        o = self.options
        values = self._texts(pair)
        values.update(
            response_a=prompting.fence("response_a", text_of(pair.response_a), o.harden),
            response_b=prompting.fence("response_b", text_of(pair.response_b), o.harden),
            tie_clause=", [[C]] when they are equally good" if o.allow_tie else "",
        )
        if o.verdict_by == "logprobs":
            return self._cue_messages(*prompting.render(self.prompt, **values))
        return prompting.messages(*prompting.render(self.prompt, **values))

    async def _judge(self, pair: Pair, overrides: dict[str, Any] | None) -> Preference:
        o = self.options
        if o.verdict_by == "logprobs":
            return await self._judge_by_logprobs(pair, overrides)
        judged = await self._verdict(self.build_messages(pair), overrides, lambda text: parse_pairwise(text, allow_tie=o.allow_tie), Preference, "a verdict")
        if isinstance(judged, Preference):
            return judged
        completion, verdict, meta = judged
        transcript = meta.pop("tools", None)
        probability = None
        if o.logprobs:
            found = pairwise_probability(completion.logprobs, verdict.value)
            if found is not None:
                probability = found[0]
                meta["verdict_distribution"] = found[1]
            else:
                meta["logprob_note"] = "no per-token distribution at the verdict letter"
        p_text = f" (P(A)={probability:.3f})" if probability is not None else ""
        if transcript is not None:
            p_text += f", after {transcript.calls} tool call{'s' if transcript.calls != 1 else ''}"
        return with_transcript(Preference(
            winner=verdict.value,
            rationale=f"judge verdict {_SHOWN[verdict.value]}{p_text}. Critique: {shorten(verdict.critique) or '(no critique written)'}",
            probability=probability,
            meta=meta,
        ), transcript)

    async def _judge_by_logprobs(self, pair: Pair, overrides: dict[str, Any] | None) -> Preference:
        """``verdict_by: logprobs``: the most likely verdict letter, and P(A) / (P(A) + P(B))."""
        o = self.options
        judged = await self._token_reading(
            self.build_messages(pair), overrides, lambda logprobs: next_token_choice(logprobs, allow_tie=o.allow_tie), Preference, "a verdict", verdict_by="logprobs"
        )
        if isinstance(judged, Preference):
            return judged
        completion, reading, meta = judged
        best = max(reading.mass.values())
        leaders = [letter for letter, p in reading.mass.items() if p == best]
        if len(leaders) > 1 and not o.allow_tie:
            return Preference.fail("parse", f"the token probabilities do not decide between A and B ({shown_mass(reading.mass)}) and ties are not allowed", raw=completion.text, **meta)
        winner = {"A": "a", "B": "b", "C": "tie"}[leaders[0]] if len(leaders) == 1 else "tie"
        meta["verdict_distribution"] = reading.mass
        return Preference(
            winner=winner,
            rationale=(
                f"judge verdict {_SHOWN[winner]} (P(A)={reading.value:.3f}), from token probabilities (no text parsed): "
                f"among the top-{reading.top_k} next tokens after 'Verdict: [[', {shown_mass(reading.mass)}; "
                f"the verdict letters hold {reading.covered:.3f} of the probability (the most likely next token was {completion.text!r})."
            ),
            probability=reading.value,
            meta=meta,
        )


_FLIP = {"a": "b", "b": "a", "tie": "tie", None: None}


def combine_orders(forward: Preference, backward: Preference, rule: str = "tie") -> Preference:
    """One verdict from the A|B judgment and the B|A judgment (mapped back to A|B).

    ``rule="tie"``: a disagreement is a tie and a failed order fails the pair.
    ``rule="judgebench"``: +1 for A, -1 for B, 0 for a tie or an unparsed order; the sign
    decides. An order that failed for any other reason (backend, timeout) fails the pair.
    Used by ``assay.rewards.judges.wrappers.Swap`` and the tournament's ``swap`` option.
    """
    second = _FLIP[backward.winner] if backward.ok else None
    first = forward.winner if forward.ok else None
    meta: dict[str, Any] = {
        "order_ab": first,
        "order_ba": second,
        "order_ab_failure": forward.failure.to_dict() if forward.failure else None,
        "order_ba_failure": backward.failure.to_dict() if backward.failure else None,
        "rule": rule,
        "calls": 2,
    }
    for order, judged in (("order_ab_tools", forward), ("order_ba_tools", backward)):
        if "tools" in judged.meta:  # a judge with tools: each order's transcript is kept
            meta[order] = judged.meta["tools"]
    if forward.probability is not None and backward.ok and backward.probability is not None:
        probability = (forward.probability + (1 - backward.probability)) / 2
    else:
        probability = None
    reasons = f"A|B order: {forward.rationale} || B|A order (mapped back): {backward.rationale}"
    if rule == "tie":
        if first is None or second is None:
            failed = forward if first is None else backward
            kind = failed.failure.kind if failed.failure else "internal"
            raw = failed.failure.raw if failed.failure else None
            return Preference.fail(kind, f"swap: the {'A|B' if first is None else 'B|A'} order failed: {failed.rationale}", raw=raw, **meta)
        meta["agreement"] = first == second
        winner = first if first == second else "tie"
        note = "both orders agree" if first == second else f"orders disagree ({first} vs {second}): tie"
        return Preference(winner=winner, rationale=f"{note}. {reasons}", probability=probability, meta=meta)
    # JudgeBench: +1 for A, -1 for B, 0 for a tie or an unparsed order; the sign decides. Only a
    # reply that was read and not understood is a 0 vote, as in JudgeBench's own code: an order
    # that got no reply (backend, timeout, ...) fails the pair rather than voting.
    for order, result in (("A|B", forward), ("B|A", backward)):
        if not result.ok and result.failure is not None and result.failure.kind != "parse":
            return Preference.fail(result.failure.kind, f"swap: the {order} order got no verdict to count: {result.rationale}", raw=result.failure.raw, **meta)
    if first is None and second is None:
        failure = forward.failure or backward.failure or Failure("internal", "no result")
        return Preference.fail(failure.kind, f"swap: both orders failed: {forward.rationale}", raw=failure.raw, **meta)
    votes = sum({"a": 1, "b": -1}.get(w or "", 0) for w in (first, second))
    winner = "a" if votes > 0 else "b" if votes < 0 else "tie"
    meta["agreement"] = first == second
    return Preference(winner=winner, rationale=f"JudgeBench rule: A|B says {first}, B|A says {second} -> {winner}. {reasons}", probability=probability, meta=meta)
