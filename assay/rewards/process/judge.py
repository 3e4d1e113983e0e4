"""Step judges (`step_judge`): an LLM that finds the earliest wrong step, or judges each step in turn.

Two protocols (``protocol``), both through the judges' backends (any OpenAI-compatible
server, or ``backend: local``):

- ``first_error`` (the ProcessBench critique protocol): one call per solution. The steps are
  shown as paragraphs tagged ``<paragraph_0>`` ... (indexed from 0); the judge reviews them
  and answers the index of the earliest wrong one, or -1, in ``\\boxed{}``
  (``step_first_error.txt``). Steps before that index score 1, the wrong one 0, the ones after
  it are not judged (``None``: the protocol says nothing about them).
- ``per_step``: one call per step, showing the problem, the steps before it, and the step;
  the verdict is ``Verdict: correct`` / ``Verdict: incorrect`` (``step_verdict.txt``, scores 1
  / 0), or with ``verdict_by: logprobs`` the probability P(Yes) / (P(Yes) + P(No)) of the next
  token after ``Answer:`` (``step_verdict_logprobs.txt``; no critique, for small models and
  servers that return top-k logprobs; with a base model use ``mode: completions``, so the
  prompt ends at the cue instead of opening a chat turn).

Either way the judgment carries ``details.step_scores`` and ``details.first_error`` (from
:func:`~assay.rewards.process.steps.judge_step_scores`), the form ``process`` and ``prm``
give, so ``assay bench processbench`` / ``prmbench`` and ``assay search`` read it. A reply
with no readable verdict (no ``\\boxed{}``, an index out of range, no ``Verdict:`` line, no
Yes/No among the top-k) is a ``parse`` failure with the raw text kept; a backend error or
timeout is a ``backend`` / ``timeout`` failure. In ``per_step``, one step that cannot be
judged fails the solution (its step verdicts are kept in ``details.steps``). Never a made-up
score.

    rewards:
      steps:
        type: step_judge
        protocol: first_error        # or per_step
        base_url: http://127.0.0.1:8080/v1
        model: gemma-3-270m

What it is not: a judge of the final answer (that is ``judge`` or ``math``), nor a trained
PRM (``prm``).
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any, Literal

from assay.backends.base import Backend, BackendError, Completion
from assay.backends.settings import BackendOptions, build_backend, sampling_params
from assay.reward import Reward
from assay.rewards.judges import prompting
from assay.rewards.judges.verdicts import echoed_at, ends_mid_instruction, strip_thinking
from assay.rewards.process.steps import judge_step_scores, split_steps
from assay.types import Failure, Judgment, Sample, prompt_text, reference_shown

PARSER_VERSION = "3"  # bump when a parser below changes: it keys the request cache
RAW_CHARS = 2000

_BOXED = re.compile(r"\\?boxed\s*\{\s*\{?\s*(-?\d+)\s*\}?\s*\}")
_VERDICT = re.compile(r"verdict\s*[:=]?\s*\**\s*\[*\s*(correct|incorrect|right|wrong|yes|no)\b", re.I)
_STEP_TAG = re.compile(r"<(/?)\s*(paragraph_\d+|step|previous_steps)(\s*)>", re.I)


class StepJudgeOptions(BackendOptions):
    protocol: Literal["first_error", "per_step"] = "first_error"
    # per_step only -- text: a short check, then "Verdict: correct|incorrect". logprobs: no
    # check; P(Yes) / (P(Yes) + P(No)) of the next token (needs a server giving top-k logprobs)
    verdict_by: Literal["text", "logprobs"] = "text"
    use_reference: bool = False  # ProcessBench shows no reference answer; true shows the sample's reference
    harden: bool = True  # fence the solution's text as data and tell the judge to ignore instructions in it
    prompt_file: str | None = None  # a custom prompt file with the packaged prompt's placeholders
    aggregate: Literal["min", "mean", "last", "product"] = "min"
    threshold: float = 0.5  # a step scoring below this is an error (per_step logprobs scores lie in [0, 1])


def defuse_steps(text: str) -> str:
    """Make look-alike step tags inside a step inert (``</paragraph_2>`` -> ``</ paragraph_2>``)."""
    return _STEP_TAG.sub(lambda m: f"<{m.group(1)} {m.group(2)}{m.group(3)}>", prompting.defuse(text))


def _visible(raw: str) -> str | None:
    """The reply outside reasoning blocks (the judges' own reading), None when it ends inside
    an unclosed one: a draft verdict in cut-off reasoning is not a verdict."""
    text = strip_thinking(raw or "")
    return None if text is None else text.replace("**", "").replace("`", "")


_CUT_IN_THINKING = "the reply ends inside its reasoning (an unclosed <think> block): no verdict was given"


def _last_real(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The last match that is not part of an echoed prompt's own instructions."""
    hits = [m for m in pattern.finditer(text) if not echoed_at(text, m.start(), m.end())]
    return hits[-1] if hits else None


_ECHOED = "the reply ends inside the prompt's own instructions: the prompt was echoed back and cut off (max_tokens?)"


def _readable(raw: str) -> str | Failure:
    """The reply's visible text (thinking removed), or the ``parse`` failure both step
    verdicts share: empty output, a reply cut off inside its thinking, an echoed prompt."""
    if not raw or not raw.strip():
        return Failure("parse", "the judge returned empty output", raw or "")
    text = _visible(raw)
    if text is None:
        return Failure("parse", _CUT_IN_THINKING, raw[-RAW_CHARS:])
    if ends_mid_instruction(text):
        return Failure("parse", _ECHOED, raw[-RAW_CHARS:])
    return text


def parse_first_error(raw: str, n_steps: int) -> int | Failure:
    """The index in the reply's last ``\\boxed{N}``: -1 (no error) or 0..n_steps-1. A reply
    that ends inside the prompt's instructions, or whose index sits in them, is a ``parse``
    failure: an echoed prompt is never a verdict."""
    text = _readable(raw)
    if isinstance(text, Failure):
        return text
    hit = _last_real(_BOXED, text)
    if hit is None:
        return Failure("parse", "no \\boxed{index} in the reply: no earliest-error index was given", raw[-RAW_CHARS:])
    index = int(hit.group(1))
    if not -1 <= index < n_steps:
        return Failure("parse", f"\\boxed{{{index}}} is no paragraph index: the solution has paragraphs 0..{n_steps - 1} (or -1 for none)", raw[-RAW_CHARS:])
    return index


def parse_step_verdict(raw: str) -> bool | Failure:
    """True for ``Verdict: correct`` (the last such line), False for ``Verdict: incorrect``;
    the choices the prompt itself lists, echoed back, are a ``parse`` failure."""
    text = _readable(raw)
    if isinstance(text, Failure):
        return text
    hit = _last_real(_VERDICT, text)
    if hit is None:
        return Failure("parse", "no 'Verdict: correct' or 'Verdict: incorrect' line in the reply", raw[-RAW_CHARS:])
    return hit.group(1).lower() in ("correct", "right", "yes")


def yes_probability(completion: Completion) -> tuple[float, dict[str, float]] | Failure:
    """P(Yes) / (P(Yes) + P(No)) among the top-k of the first generated token."""
    if not completion.logprobs:
        return Failure("backend", "the backend returned no token logprobs (a server that gives them is needed: vLLM, SGLang, OpenAI, or `assay llama-server --logprobs`)")
    first = completion.logprobs[0]
    top = dict(first.top) or {first.token: first.logprob}
    mass = {"yes": 0.0, "no": 0.0}
    for token, logprob in top.items():
        word = token.strip().strip("*\"'.:").strip().lower()
        if word in mass:
            mass[word] += math.exp(logprob)
    if mass["yes"] + mass["no"] <= 0:
        shown = ", ".join(f"{t!r}: {math.exp(lp):.3f}" for t, lp in sorted(top.items(), key=lambda kv: -kv[1]))
        return Failure("parse", f"neither Yes nor No among the {len(top)} most likely next tokens", f"next token {first.token!r}; top-{len(top)}: {shown}")
    return mass["yes"] / (mass["yes"] + mass["no"]), {k: round(v, 6) for k, v in mass.items()}


class StepJudge(Reward):
    """An LLM judge of a solution's steps. See the module docstring."""

    type_name = "step_judge"
    Options = StepJudgeOptions

    def __init__(self, name: str | None = None, client: Backend | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        o = self.options
        if o.protocol == "first_error" and o.verdict_by == "logprobs":
            raise ValueError("verdict_by: logprobs is for protocol: per_step (first_error reads an index from the judge's text)")
        default = "step_first_error" if o.protocol == "first_error" else ("step_verdict_logprobs" if o.verdict_by == "logprobs" else "step_verdict")
        self.prompt = o.prompt_file or default
        namespace = f"{self.prompt}:{prompting.prompt_version(self.prompt)}:stepparser{PARSER_VERSION}"
        self.backend: Backend = client if client is not None else build_backend(o, namespace=namespace)

    # --- calls -------------------------------------------------------------------------------
    async def _call(self, messages: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Completion | Failure:
        params = {**sampling_params(self.options), **(extra or {})}
        try:
            return await self.backend.complete(messages, **params)
        except BackendError as error:
            return Failure(error.kind, str(error), error.body)  # type: ignore[arg-type]
        except asyncio.TimeoutError:
            return Failure("timeout", f"the judge backend did not answer within {self.options.timeout:g}s")

    def _common(self, sample: Sample) -> dict[str, str]:
        o = self.options
        values = {"guard": prompting.GUARD if o.harden else "", "question": prompting.fence("question", prompt_text(sample.prompt) or "(no question given)", o.harden)}
        reference = reference_shown(sample.reference) if o.use_reference else ""
        values["reference"] = prompting.fence("reference_answer", reference, o.harden) if reference else ""
        values["reference_clause"] = ", comparing against the reference answer (which is known to be correct)" if reference else ""
        return values

    def _text(self, text: str) -> str:
        return defuse_steps(text) if self.options.harden else text

    def first_error_messages(self, sample: Sample, steps: list[str]) -> list[dict[str, str]]:
        values = self._common(sample)
        values["paragraphs"] = "\n\n".join(f"<paragraph_{k}>\n{self._text(step)}\n</paragraph_{k}>" for k, step in enumerate(steps))
        return prompting.messages(*prompting.render(self.prompt, **values))

    def step_messages(self, sample: Sample, steps: list[str], k: int) -> list[dict[str, str]]:
        values = self._common(sample)
        if k:
            shown = "\n".join(f"Step {i + 1}: {self._text(s)}" for i, s in enumerate(steps[:k]))
            values["previous"] = f"The steps before it:\n<previous_steps>\n{shown}\n</previous_steps>\n"
        else:
            values["previous"] = "This is the first step of the solution.\n"
        values["step"] = f"<step>\nStep {k + 1}: {self._text(steps[k])}\n</step>"
        system, user = prompting.render(self.prompt, **values)
        if self.options.verdict_by == "logprobs" and self.options.mode == "completions":
            return [{"role": "user", "content": f"{system}\n\n{user}" if system else user}]
        return prompting.messages(system, user)

    # --- scoring -----------------------------------------------------------------------------
    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        return list(await asyncio.gather(*(self._judge(s) for s in samples)))

    async def _judge(self, sample: Sample) -> Judgment:
        steps = list(sample.steps) if sample.steps else split_steps(sample.response_text)
        if not steps:
            return Judgment.fail("input", "no steps: the response is empty")
        if self.options.protocol == "first_error":
            return await self._first_error(sample, steps)
        return await self._per_step(sample, steps)

    async def _first_error(self, sample: Sample, steps: list[str]) -> Judgment:
        answer = await self._call(self.first_error_messages(sample, steps))
        if isinstance(answer, Failure):
            return Judgment(None, answer.message, failure=answer, meta={"model": getattr(self.backend, "model", "")})
        meta = answer.meta()
        index = parse_first_error(answer.text, len(steps))
        if isinstance(index, Failure):
            return Judgment(None, index.message, failure=index, meta=meta)
        values: list[float | None] = [1.0] * len(steps) if index < 0 else [1.0] * index + [0.0] + [None] * (len(steps) - index - 1)
        details: dict[str, Any] = {"protocol": "first_error", "judge_index": index, "critique": short(answer.text)}
        judgment = judge_step_scores(len(steps), values, self.options.aggregate, self.options.threshold, details)
        judgment.details["first_error"] = index  # the judge's answer, whatever the threshold
        said = "no wrong paragraph (-1)" if index < 0 else f"paragraph {index} (step {index + 1}) is the earliest wrong one; the {len(steps) - index - 1} after it are not judged"
        judgment.rationale = f"the step judge answered {said}. " + judgment.rationale
        judgment.meta = meta
        return judgment

    async def _per_step(self, sample: Sample, steps: list[str]) -> Judgment:
        by_logprobs = self.options.verdict_by == "logprobs"
        extra = {"max_tokens": 1, "logprobs": True, "top_logprobs": self.options.top_logprobs or 10} if by_logprobs else None
        answers = await asyncio.gather(*(self._call(self.step_messages(sample, steps, k), extra) for k in range(len(steps))))
        verdicts: list[Judgment] = [self._step_verdict(answer, by_logprobs) for answer in answers]
        usage: dict[str, int] = {}
        for answer in answers:
            if isinstance(answer, Completion):
                for key, value in answer.usage.items():
                    usage[key] = usage.get(key, 0) + int(value)
        meta = {"model": getattr(self.backend, "model", ""), "calls": len(steps), "usage": usage}
        details: dict[str, Any] = {"protocol": "per_step", "steps": [v.to_dict() for v in verdicts]}
        failed = [k for k, v in enumerate(verdicts) if v.failure is not None]
        if failed:
            first = verdicts[failed[0]]
            assert first.failure is not None
            judgment = Judgment.fail(first.failure.kind, f"step {failed[0] + 1} of {len(steps)} could not be judged ({len(failed)} in all): {first.rationale}", first.failure.raw)
            judgment.details = {**details, "step_scores": [v.score for v in verdicts]}
            judgment.meta = meta
            return judgment
        judgment = judge_step_scores(len(steps), [v.score for v in verdicts], self.options.aggregate, self.options.threshold, details)
        judgment.meta = meta
        return judgment

    def _step_verdict(self, answer: Completion | Failure, by_logprobs: bool) -> Judgment:
        if isinstance(answer, Failure):
            return Judgment(None, answer.message, failure=answer)
        if by_logprobs:
            reading = yes_probability(answer)
            if isinstance(reading, Failure):
                return Judgment(None, reading.message, failure=reading)
            p, mass = reading
            return Judgment(p, f"P(Yes) / (P(Yes) + P(No)) = {p:.3f}", details={"mass": mass})
        verdict = parse_step_verdict(answer.text)
        if isinstance(verdict, Failure):
            return Judgment(None, verdict.message, failure=verdict)
        return Judgment(1.0 if verdict else 0.0, f"judged {'correct' if verdict else 'incorrect'}: {short(answer.text, 300)}")


def short(text: str, limit: int = 800) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
