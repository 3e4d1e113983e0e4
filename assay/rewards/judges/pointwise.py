"""The pointwise LLM judge (``judge``): a critique of one response, then a score on a scale.

The judge writes its critique, then ``Score: N`` on a configurable scale (``scale_min`` ..
``scale_max``), normalised to [0, 1] unless ``normalize: false``. It can use the sample's
``reference`` (``use_reference``) and a natural-language ``principle`` (from the config, or
per sample from a ``principle`` field), and takes the backend settings of
:class:`~assay.backends.settings.BackendOptions`. With ``logprobs: true`` and a server that
returns them, the score is the expected value over the score tokens.

``score_by: logprobs`` skips the critique and the text parsing: the prompt
(``judge_pointwise_logprobs.txt``) ends right before the score (``Score (1-9): ``), the
judge asks for one token with its top-k alternatives, and the score is the expected value
over the scale's score tokens in that top-k. Meant for base models and small judges that
never write a readable verdict; a top-k without a score token is a ``parse`` failure.

A backend error or timeout is a ``backend`` / ``timeout`` failure; a reply that cannot be
read is a ``parse`` failure with the raw text kept (see :mod:`~assay.rewards.judges.base`).

With ``tools:`` the judge may call tools (python, calculator, search, sql) before its
critique and score, bounded (:mod:`~assay.rewards.judges.tooluse`); the transcript is in
``details["tools"]``.

    rewards:
      helpful:
        type: judge
        base_url: http://127.0.0.1:8080/v1
        model: gemma-3-270m
        scale_min: 1
        scale_max: 10
        principle: "Prefer responses that are correct and concise."

    >>> from assay.rewards.judges.pointwise import PointwiseJudge
    >>> judge = PointwiseJudge(base_url="http://127.0.0.1:8080/v1")     # doctest: +SKIP
    >>> judge.score([Sample(prompt="2+2?", response="4")])[0].rationale    # doctest: +SKIP

Python users can pass any backend object as ``client=`` (see ``assay.backends.base``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import model_validator

from assay.reward import Reward
from assay.rewards.judges import prompting
from assay.rewards.judges.base import JudgeCore, ScaleOptions, shown_mass, with_transcript
from assay.rewards.judges.verdicts import expected_score, next_token_score, parse_score
from assay.text import shorten
from assay.types import Judgment, Sample


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


class PointwiseJudge(JudgeCore, Reward):
    """A critique, then a score on a scale. See the module docstring."""

    type_name = "judge"
    Options = PointwiseOptions
    prompt_name = "judge_pointwise"
    by_logprobs_option = "score_by"

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return await self.ajudge(samples)

    async def ajudge(self, samples: Sequence[Sample], overrides: Sequence[dict[str, Any] | None] | None = None) -> list[Judgment]:
        return await self._each(samples, overrides, self._judge, Judgment)

    def build_messages(self, sample: Sample) -> list[dict[str, str]]:
        o = self.options
        values = self._texts(sample)
        values.update(response=prompting.fence("response", sample.response_text, o.harden), min=f"{o.scale_min:g}", max=f"{o.scale_max:g}")
        if o.score_by == "logprobs":
            return self._cue_messages(*prompting.render(self.prompt, **values), suffix=" ")
        return prompting.messages(*prompting.render(self.prompt, **values))

    def _scaled(self, value: float) -> float:
        o = self.options
        return (value - o.scale_min) / (o.scale_max - o.scale_min) if o.normalize else value

    async def _judge(self, sample: Sample, overrides: dict[str, Any] | None) -> Judgment:
        o = self.options
        if o.score_by == "logprobs":
            return await self._judge_by_logprobs(sample, overrides)
        judged = await self._verdict(self.build_messages(sample), overrides, lambda text: parse_score(text, o.scale_min, o.scale_max), Judgment, "a score")
        if isinstance(judged, Judgment):
            return judged
        completion, verdict, meta = judged
        transcript = meta.pop("tools", None)
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
        critique = shorten(verdict.critique) or "(no critique written)"
        if transcript is not None:
            how += f", after {transcript.calls} tool call{'s' if transcript.calls != 1 else ''}"
        return with_transcript(Judgment(
            score=self._scaled(value),
            rationale=f"judge {how}. Critique: {critique}",
            details={"raw_score": text_score, "scale": [o.scale_min, o.scale_max], "critique": verdict.critique},
            meta=meta,
        ), transcript)

    async def _judge_by_logprobs(self, sample: Sample, overrides: dict[str, Any] | None) -> Judgment:
        """``score_by: logprobs``: the expected score over the score tokens of the next token."""
        o = self.options
        judged = await self._token_reading(
            self.build_messages(sample), overrides, lambda logprobs: next_token_score(logprobs, o.scale_min, o.scale_max), Judgment, "a score", score_by="logprobs"
        )
        if isinstance(judged, Judgment):
            return judged
        completion, reading, meta = judged
        value = reading.value
        meta.update(score_distribution=reading.distribution, next_token=completion.text)
        return Judgment(
            score=self._scaled(value),
            rationale=(
                f"judge score {value:.3g} on the scale {o.scale_min:g}-{o.scale_max:g}, from token probabilities (no text parsed): "
                f"the expected value over the score tokens among the top-{reading.top_k} next tokens after the score cue, "
                f"{shown_mass(reading.mass)}; the score tokens hold {reading.covered:.3f} of the probability "
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
