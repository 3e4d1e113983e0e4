"""LLM judges that write their reasoning before the verdict: pointwise, pairwise, listwise.

- ``judge`` (:class:`PointwiseJudge`): a critique of one response, then ``Score: N`` on a
  configurable scale (``scale_min``..``scale_max``), normalised to [0, 1] unless
  ``normalize: false``.
- ``pairwise_judge`` (:class:`PairwiseJudge`, a comparator): a critique of two responses,
  then ``[[A]]``, ``[[B]]`` or ``[[C]]`` (tie).
- ``listwise_judge`` (:class:`ListwiseJudge`): one call per prompt group that scores and
  ranks all N responses of the group (RewardAnything-style), shown in an order shuffled
  by an RNG derived from ``shuffle_seed`` and the group.

Each can use the sample's ``reference`` (``use_reference``) and a natural-language
``principle`` (from the config, or per sample from a ``principle`` field), and takes the
backend settings of :class:`~assay.backends.settings.BackendOptions`. With
``logprobs: true`` and a server that returns them, the pointwise score is the expected value
over the score tokens and the pairwise verdict carries P(A) / (P(A) + P(B)).

``score_by: logprobs`` (pointwise) and ``verdict_by: logprobs`` (pairwise) skip the critique
and the text parsing altogether: the prompt (``judge_pointwise_logprobs.txt``,
``judge_pairwise_logprobs.txt``) ends right before the verdict (``Score (1-9): ``,
``Verdict: [[``), the judge asks for one token with its top-k alternatives, and the score is
the expected value over the scale's score tokens (the verdict P(A) / (P(A) + P(B))) in that
top-k. Meant for base models and small judges that never write a readable verdict (with
``mode: completions`` the prompt is sent as is); a top-k without a score token is a ``parse``
failure.

A backend error or timeout is a ``backend`` / ``timeout`` failure; a reply that cannot be
read is a ``parse`` failure with the raw text kept. Never a made-up score.

    rewards:
      helpful:
        type: judge
        base_url: http://127.0.0.1:8080/v1
        model: gemma-3-270m
        scale_min: 1
        scale_max: 10
        principle: "Prefer responses that are correct and concise."

    >>> from assay.rewards.judges.judge import PointwiseJudge
    >>> judge = PointwiseJudge(base_url="http://127.0.0.1:8080/v1")     # doctest: +SKIP
    >>> judge.score([Sample(prompt="2+2?", response="4")])[0].rationale    # doctest: +SKIP

Python users can pass any backend object as ``client=`` (see ``assay.backends.base``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import model_validator

from assay.backends.base import Backend, BackendError, Completion
from assay.backends.settings import BackendOptions, build_backend, sampling_params
from assay.reward import Comparator, Reward
from assay.rewards.judges import prompting
from assay.rewards.judges.verdicts import (
    PARSER_VERSION,
    Verdict,
    TokenReading,
    expected_score,
    next_token_choice,
    next_token_score,
    pairwise_probability,
    parse_listwise,
    parse_pairwise,
    parse_score,
)
from assay.types import Failure, Judgment, Pair, Preference, Sample, prompt_text, reference_shown, text_of

RATIONALE_CHARS = 800


class JudgeOptions(BackendOptions):
    """Backend settings plus what every judge may add to its prompt."""

    use_reference: bool = True  # show the sample's reference answer to the judge, when there is one
    principle: str | None = None  # a natural-language principle to judge by; a sample's 'principle' field overrides it
    principle_field: str = "principle"
    harden: bool = True  # fence candidate text as data and tell the judge to ignore instructions in it
    prompt_file: str | None = None  # a custom prompt file (same placeholders as the packaged one)


class ScaleOptions(JudgeOptions):
    scale_min: float = 1
    scale_max: float = 10
    normalize: bool = True  # map the score to [0, 1]

    @model_validator(mode="after")
    def _check_scale(self) -> ScaleOptions:
        if self.scale_max <= self.scale_min:
            raise ValueError(f"scale_max ({self.scale_max:g}) must be above scale_min ({self.scale_min:g})")
        return self


class PointwiseOptions(ScaleOptions):
    # text: a critique, then "Score: N", parsed. logprobs: no critique; the prompt ends right
    # before the score and the score is the expected value over the score tokens among the
    # top-k of the next token (one generated token; needs a backend that gives logprobs).
    score_by: Literal["text", "logprobs"] = "text"

    @model_validator(mode="after")
    def _check_token_scale(self) -> PointwiseOptions:
        if self.score_by == "logprobs":
            lo, hi = self.scale_min, self.scale_max
            if lo != int(lo) or hi != int(hi) or lo < 0 or hi > 9:
                raise ValueError(
                    f"score_by: logprobs reads the score from one token, so every score must be a single digit: "
                    f"use a scale within 0-9 (e.g. scale_min: 1, scale_max: 9), not {lo:g}-{hi:g} "
                    "(many tokenizers split '10' into '1' and '0')"
                )
        return self


class ListwiseOptions(ScaleOptions):
    shuffle: bool = True  # present a group's responses in an order drawn from (shuffle_seed, group)
    shuffle_seed: int = 0


class PairwiseOptions(JudgeOptions):
    allow_tie: bool = True
    # text: a critique, then [[A]] / [[B]] / [[C]], parsed. logprobs: no critique; the prompt
    # ends in "Verdict: [[" and the verdict is read from P(A), P(B) (and P(C)) of the next token.
    verdict_by: Literal["text", "logprobs"] = "text"


def short(text: str, limit: int = RATIONALE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def item_id(item: Sample | Pair, index: int | None = None) -> str:
    """A stable id for seeding: the item's ``id``, else a hash of its texts."""
    if getattr(item, "id", None) is not None:
        return str(item.id)
    import hashlib

    if isinstance(item, Pair):
        blob = prompt_text(item.prompt) + "\0" + text_of(item.response_a) + "\0" + text_of(item.response_b)
    else:
        blob = prompt_text(item.prompt) + "\0" + text_of(item.response)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class JudgeCore:
    """What the judges share: the constructor, the backend, the prompt, one guarded call.

    A judge is built as ``Judge(name=None, client=None, **options)``: the options are checked
    against the judge's ``Options`` model by the Reward / Comparator base (which comes after
    this mixin) and kept as ``self.options``; ``client`` is any backend object, else one is
    built from the options' backend settings.

    ``overrides`` (per item) lets wrappers such as ``Vote`` change sampling parameters
    (temperature, seed) per call without rebuilding the judge.
    """

    prompt_name: ClassVar[str] = ""
    options: Any  # a JudgeOptions (or another BackendOptions with use_reference and harden)

    def __init__(self, name: str | None = None, client: Backend | None = None, **options: Any) -> None:
        super().__init__(name, **options)  # type: ignore[call-arg]  # Reward or Comparator: validates the options
        self.prompt = self.options.prompt_file or self._prompt_name(self.options)
        namespace = f"{self.prompt}:{prompting.prompt_version(self.prompt)}:parser{PARSER_VERSION}"
        self.backend: Backend = client if client is not None else build_backend(self.options, namespace=namespace)

    async def _call(self, messages: list[dict[str, Any]], overrides: dict[str, Any] | None = None) -> Completion | Failure:
        params = {**sampling_params(self.options), **(overrides or {})}
        try:
            return await self.backend.complete(messages, **params)
        except BackendError as error:
            return Failure(error.kind, str(error), error.body)  # type: ignore[arg-type]
        except asyncio.TimeoutError:
            return Failure("timeout", f"the judge backend did not answer within {self.options.timeout:g}s")

    def _prompt_name(self, options: JudgeOptions) -> str:
        return self.prompt_name

    def _cue_messages(self, system: str, user: str, suffix: str = "") -> list[dict[str, str]]:
        """Messages for a prompt that ends right before the verdict (logprob modes).

        With ``mode: completions`` the system and user texts are sent as one prompt that ends
        exactly at the cue (several messages would be joined with role labels and a trailing
        ``assistant:``); ``suffix`` is appended to the cue (a space before a score: Gemma,
        Llama 3, Qwen and OpenAI's tokenizers write the space before a number as its own
        token, so the next token is then the digit itself).
        """
        user = user.rstrip() + suffix
        if getattr(self.options, "mode", "chat") == "completions":
            return [{"role": "user", "content": f"{system}\n\n{user}" if system else user}]
        return prompting.messages(system, user)

    def _next_token_params(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """One generated token with its top-k alternatives (``top_logprobs``, default 10)."""
        return {**(overrides or {}), "max_tokens": 1, "logprobs": True, "top_logprobs": self.options.top_logprobs or 10}

    def _texts(self, item: Sample | Pair) -> dict[str, str]:
        """question, reference, principle blocks shared by every prompt."""
        o = self.options
        harden = o.harden
        values = {"guard": prompting.GUARD if harden else "", "question": prompting.fence("question", prompt_text(item.prompt) or "(no question given)", harden)}
        reference = reference_shown(item.reference) if o.use_reference else ""
        if reference:
            values["reference"] = prompting.fence("reference_answer", reference, harden)
            values["reference_clause"] = ", comparing against the reference answer (which is known to be correct)"
        else:
            values["reference"] = ""
            values["reference_clause"] = ""
        principle_field = getattr(o, "principle_field", None)
        principle = ((item.extra or {}).get(principle_field) if principle_field else None) or getattr(o, "principle", None)
        if principle:
            values["principle"] = f"Judge according to this principle, which takes precedence over general notions of quality:\n{prompting.fence('principle', str(principle), harden)}\n\n"
            values["principle_clause"] = " according to the principle"
        else:
            values["principle"] = ""
            values["principle_clause"] = ""
        return values

    def _meta(self, completion: Completion | None, **extra: Any) -> dict[str, Any]:
        meta = completion.meta() if completion is not None else {"model": getattr(self.backend, "model", "")}
        meta.update({k: v for k, v in extra.items() if v is not None})
        return meta


class PointwiseJudge(JudgeCore, Reward):
    """A critique, then a score on a scale. See the module docstring."""

    type_name = "judge"
    Options = PointwiseOptions
    prompt_name = "judge_pointwise"

    def _prompt_name(self, options: JudgeOptions) -> str:
        return "judge_pointwise_logprobs" if getattr(options, "score_by", "text") == "logprobs" else self.prompt_name

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return await self.ajudge(samples)

    async def ajudge(self, samples: Sequence[Sample], overrides: Sequence[dict[str, Any] | None] | None = None) -> list[Judgment]:
        overrides = overrides or [None] * len(samples)
        return list(await asyncio.gather(*(self._judge(s, o) for s, o in zip(samples, overrides, strict=True))))

    def build_messages(self, sample: Sample) -> list[dict[str, str]]:
        o = self.options
        values = self._texts(sample)
        values.update(response=prompting.fence("response", sample.response_text, o.harden), min=f"{o.scale_min:g}", max=f"{o.scale_max:g}")
        if o.score_by == "logprobs":
            return self._cue_messages(*prompting.render(self.prompt, **values), suffix=" ")
        return prompting.messages(*prompting.render(self.prompt, **values))

    async def _judge(self, sample: Sample, overrides: dict[str, Any] | None) -> Judgment:
        o = self.options
        if o.score_by == "logprobs":
            return await self._judge_by_logprobs(sample, overrides)
        completion = await self._call(self.build_messages(sample), overrides)
        if isinstance(completion, Failure):
            return Judgment(score=None, rationale=f"judge call failed: {completion.message}", failure=completion, meta=self._meta(None))
        verdict = parse_score(completion.text, o.scale_min, o.scale_max)
        meta = self._meta(completion)
        if isinstance(verdict, Failure):
            return Judgment.fail("parse", f"could not read a score from the judge: {verdict.message}", raw=completion.text, **meta)
        text_score = float(verdict.value)
        value = text_score
        how = f"score {text_score:g} on the scale {o.scale_min:g}-{o.scale_max:g}"
        if o.logprobs:
            expected = expected_score(completion.logprobs, o.scale_min, o.scale_max, text_score)
            if expected is not None:
                value = expected[0]
                meta.update(text_score=text_score, score_distribution=expected[1])
                how += f"; expected value over the score tokens {value:.3g}"
            else:
                meta["logprob_note"] = "no per-token distribution for the score token; used the written score"
        score = (value - o.scale_min) / (o.scale_max - o.scale_min) if o.normalize else value
        critique = short(verdict.critique) or "(no critique written)"
        return Judgment(
            score=score,
            rationale=f"judge {how}. Critique: {critique}",
            details={"raw_score": text_score, "scale": [o.scale_min, o.scale_max], "critique": verdict.critique},
            meta=meta,
        )

    async def _judge_by_logprobs(self, sample: Sample, overrides: dict[str, Any] | None) -> Judgment:
        """``score_by: logprobs``: the expected score over the score tokens of the next token."""
        o = self.options
        completion = await self._call(self.build_messages(sample), self._next_token_params(overrides))
        if isinstance(completion, Failure):
            return Judgment(score=None, rationale=f"judge call failed: {completion.message}", failure=completion, meta=self._meta(None, score_by="logprobs"))
        meta = self._meta(completion, score_by="logprobs")
        reading = next_token_score(completion.logprobs, o.scale_min, o.scale_max)
        if isinstance(reading, Failure):
            what = "read a score from the token probabilities" if reading.kind == "parse" else "score by logprobs"
            return Judgment.fail(reading.kind, f"could not {what}: {reading.message}", raw=reading.raw or completion.text, **meta)
        assert isinstance(reading, TokenReading)
        value = reading.value
        score = (value - o.scale_min) / (o.scale_max - o.scale_min) if o.normalize else value
        meta.update(score_distribution=reading.distribution, next_token=completion.text)
        return Judgment(
            score=score,
            rationale=(
                f"judge score {value:.3g} on the scale {o.scale_min:g}-{o.scale_max:g}, from token probabilities (no text parsed): "
                f"the expected value over the score tokens among the top-{reading.top_k} next tokens after the score cue, "
                f"{_shown_mass(reading.mass)}; the score tokens hold {reading.covered:.3f} of the probability "
                f"(the most likely next token was {completion.text!r})."
            ),
            details={
                "raw_score": value,
                "scale": [o.scale_min, o.scale_max],
                "score_by": "logprobs",
                "score_token_mass": reading.mass,
                "score_distribution": reading.distribution,
                "covered_mass": round(reading.covered, 6),
                "top_k": reading.top_k,
            },
            meta=meta,
        )


def _shown_mass(mass: dict[str, float]) -> str:
    return ", ".join(f"P({token})={p:.3f}" for token, p in mass.items())


class PairwiseJudge(JudgeCore, Comparator):
    """A critique of two responses, then A, B or tie. See the module docstring."""

    type_name = "pairwise_judge"
    Options = PairwiseOptions
    prompt_name = "judge_pairwise"

    def _prompt_name(self, options: JudgeOptions) -> str:
        return "judge_pairwise_logprobs" if getattr(options, "verdict_by", "text") == "logprobs" else self.prompt_name

    async def acompare_batch(self, pairs: list[Pair]) -> list[Preference]:
        return await self.ajudge(pairs)

    async def ajudge(self, pairs: Sequence[Pair], overrides: Sequence[dict[str, Any] | None] | None = None) -> list[Preference]:
        overrides = overrides or [None] * len(pairs)
        return list(await asyncio.gather(*(self._judge(p, o) for p, o in zip(pairs, overrides, strict=True))))

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
        completion = await self._call(self.build_messages(pair), overrides)
        if isinstance(completion, Failure):
            return Preference(winner=None, rationale=f"judge call failed: {completion.message}", failure=completion, meta=self._meta(None))
        verdict = parse_pairwise(completion.text, allow_tie=o.allow_tie)
        meta = self._meta(completion)
        if isinstance(verdict, Failure):
            return Preference.fail("parse", f"could not read a verdict from the judge: {verdict.message}", raw=completion.text, **meta)
        probability = None
        if o.logprobs:
            found = pairwise_probability(completion.logprobs, verdict.value)
            if found is not None:
                probability = found[0]
                meta["verdict_distribution"] = found[1]
            else:
                meta["logprob_note"] = "no per-token distribution at the verdict letter"
        shown = {"a": "A", "b": "B", "tie": "tie"}[verdict.value]
        p_text = f" (P(A)={probability:.3f})" if probability is not None else ""
        return Preference(
            winner=verdict.value,
            rationale=f"judge verdict {shown}{p_text}. Critique: {short(verdict.critique) or '(no critique written)'}",
            probability=probability,
            meta=meta,
        )

    async def _judge_by_logprobs(self, pair: Pair, overrides: dict[str, Any] | None) -> Preference:
        """``verdict_by: logprobs``: the most likely verdict letter, and P(A) / (P(A) + P(B))."""
        o = self.options
        completion = await self._call(self.build_messages(pair), self._next_token_params(overrides))
        if isinstance(completion, Failure):
            return Preference(winner=None, rationale=f"judge call failed: {completion.message}", failure=completion, meta=self._meta(None, verdict_by="logprobs"))
        meta = self._meta(completion, verdict_by="logprobs")
        reading = next_token_choice(completion.logprobs, allow_tie=o.allow_tie)
        if isinstance(reading, Failure):
            what = "read a verdict from the token probabilities" if reading.kind == "parse" else "judge by logprobs"
            return Preference.fail(reading.kind, f"could not {what}: {reading.message}", raw=reading.raw or completion.text, **meta)
        assert isinstance(reading, TokenReading)
        best = max(reading.mass.values())
        leaders = [letter for letter, p in reading.mass.items() if p == best]
        if len(leaders) > 1 and not o.allow_tie:
            return Preference.fail("parse", f"the token probabilities do not decide between A and B ({_shown_mass(reading.mass)}) and ties are not allowed", raw=completion.text, **meta)
        winner = {"A": "a", "B": "b", "C": "tie"}[leaders[0]] if len(leaders) == 1 else "tie"
        meta["verdict_distribution"] = reading.mass
        shown = {"a": "A", "b": "B", "tie": "tie"}[winner]
        return Preference(
            winner=winner,
            rationale=(
                f"judge verdict {shown} (P(A)={reading.value:.3f}), from token probabilities (no text parsed): "
                f"among the top-{reading.top_k} next tokens after 'Verdict: [[', {_shown_mass(reading.mass)}; "
                f"the verdict letters hold {reading.covered:.3f} of the probability (the most likely next token was {completion.text!r})."
            ),
            probability=reading.value,
            meta=meta,
        )


_FLIP = {"a": "b", "b": "a", "tie": "tie", None: None}


def combine_orders(forward: Preference, backward: Preference, rule: str = "tie") -> Preference:
    """One verdict from the A|B judgment and the B|A judgment (mapped back to A|B).

    ``rule="tie"``: a disagreement is a tie and a failed order fails the pair.
    ``rule="judgebench"``: +1 for A, -1 for B, 0 for a tie or a failed order; the sign decides.
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
    # JudgeBench: +1 for A, -1 for B, 0 for tie or a failed order; the sign decides.
    if first is None and second is None:
        failure = forward.failure or backward.failure or Failure("internal", "no result")
        return Preference.fail(failure.kind, f"swap: both orders failed: {forward.rationale}", raw=failure.raw, **meta)
    votes = sum({"a": 1, "b": -1}.get(w or "", 0) for w in (first, second))
    winner = "a" if votes > 0 else "b" if votes < 0 else "tie"
    meta["agreement"] = first == second
    return Preference(winner=winner, rationale=f"JudgeBench rule: A|B says {first}, B|A says {second} -> {winner}. {reasons}", probability=probability, meta=meta)


class ListwiseJudge(JudgeCore, Reward):
    """Scores and a ranking of a group's responses in one call. See the module docstring.

    Samples with the same ``group`` are judged together (pass whole groups in one batch);
    a sample without a group is judged alone. A failed call fails every sample of its group.
    """

    type_name = "listwise_judge"
    needs_whole_groups = True
    Options = ListwiseOptions
    prompt_name = "judge_listwise"

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return await self.ajudge(samples)

    async def ajudge(self, samples: Sequence[Sample], overrides: Sequence[dict[str, Any] | None] | None = None) -> list[Judgment]:
        groups: dict[Any, list[int]] = {}
        for index, sample in enumerate(samples):
            key = ("group", sample.group) if sample.group is not None else ("alone", index)
            groups.setdefault(key, []).append(index)
        results: list[Judgment | None] = [None] * len(samples)
        keys = list(groups)
        outcomes = await asyncio.gather(
            *(self._judge_group([samples[i] for i in groups[k]], str(k[1]), (overrides or [None] * len(samples))[groups[k][0]]) for k in keys)
        )
        for key, judgments in zip(keys, outcomes, strict=True):
            for index, judgment in zip(groups[key], judgments, strict=True):
                results[index] = judgment
        return [j for j in results if j is not None]

    def build_messages(self, group: Sequence[Sample], order: Sequence[int]) -> list[dict[str, str]]:
        o = self.options
        values = self._texts(group[0])
        blocks = [prompting.fence("response", group[i].response_text, o.harden, attributes=f' id="{shown}"') for shown, i in enumerate(order, start=1)]
        values.update(responses="\n\n".join(blocks), n=str(len(group)), min=f"{o.scale_min:g}", max=f"{o.scale_max:g}")
        return prompting.messages(*prompting.render(self.prompt, **values))

    async def _judge_group(self, group: list[Sample], group_id: str, overrides: dict[str, Any] | None) -> list[Judgment]:
        o = self.options
        order = list(range(len(group)))
        if o.shuffle:
            random.Random(f"{o.shuffle_seed}:{group_id}").shuffle(order)
        completion = await self._call(self.build_messages(group, order), overrides)
        if isinstance(completion, Failure):
            return [Judgment(score=None, rationale=f"judge call failed: {completion.message}", failure=completion, meta=self._meta(None)) for _ in group]
        verdict = parse_listwise(completion.text, len(group), o.scale_min, o.scale_max)
        meta = self._meta(completion, group_size=len(group), shown_order=[i + 1 for i in order])
        if isinstance(verdict, Failure):
            return [Judgment.fail("parse", f"could not read the group's scores from the judge: {verdict.message}", raw=completion.text, **meta) for _ in group]
        assert isinstance(verdict, Verdict)
        scores, ranking = verdict.value["scores"], verdict.value["ranking"]
        out: list[Judgment | None] = [None] * len(group)
        for shown, original in enumerate(order, start=1):
            raw = scores[shown - 1]
            rank = ranking.index(shown) + 1
            score = (raw - o.scale_min) / (o.scale_max - o.scale_min) if o.normalize else raw
            out[original] = Judgment(
                score=score,
                rationale=(
                    f"listwise judge: score {raw:g} on {o.scale_min:g}-{o.scale_max:g}"
                    + (" (spread evenly by rank: the judge gave a ranking, no scores)" if verdict.value["from_ranking"] else "")
                    + f", ranked {rank} of {len(group)} (shown as response {shown}). Critique: {short(verdict.critique) or '(no critique written)'}"
                ),
                details={"raw_score": raw, "rank": rank, "shown_as": shown, "critique": verdict.critique, "from_ranking": verdict.value["from_ranking"]},
                meta=meta,
            )
        return [j for j in out if j is not None]
