"""Prompt-response pointwise mutual information under a causal LM (``pmi``): does the
response answer *this* prompt?

The score is, per token of the response (its first ``max_response_tokens``),
``log p(token | prompt, earlier tokens) - log p(token | earlier tokens)``: how much the
prompt raises the model's belief in the response. A fluent answer to a *different* question
is likely on its own and gains little from the prompt; an answer to this prompt gains much.
That is the signal instruction-following benchmarks test (LLMBar's adversarial sets pair a
good answer to a neighbouring instruction against a plainer answer to the asked one), and
the one a plain likelihood misses: log p(response | prompt) alone also rewards generic,
predictable text.

Both passes score exactly the same response token ids (tokenised once, apart from the
context): the conditional context is the prompt in the model's chat template (or
``prompt_template``, default ``"{prompt}\n"`` when the tokenizer has no chat template), the
unconditional one the same template with an empty prompt, so the template's own tokens
cancel. The responses' shared
unconditional context runs once per batch (the ``likelihood`` reward's shared-prefix path).

What not: a quality judge. PMI says the response is *about* the prompt, not that it is
right, safe or well written; compose it with other rewards for that. It needs a prompt:
an empty one fails with kind ``input`` (PMI is then zero by definition). Cost: two forward
passes per response.

    rewards:
      on_topic: {type: pmi, max_response_tokens: 128}

    >>> from assay.rewards.models.pmi import PromptResponsePMI
    >>> from assay.types import Sample
    >>> PromptResponsePMI().score([Sample(prompt="Capital of France?", response="Paris is the capital of France.")])[0].score  # doctest: +SKIP
    1.9...
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from assay.backends.local_models import ModelLoadError, causal_lm
from assay.reward import Reward
from assay.rewards.judges import prompting
from assay.rewards.models.likelihood import CausalLMOptions, ScoringInput, ScoringResult, context_ids, join_ids, model_failure, score_inputs
from assay.rewards.models.response_parts import fail_the_rest, response_parts
from assay.text import shorten
from assay.types import Judgment, Sample


class PromptResponsePMI(Reward):
    """Mean (or summed) per-token log p(response | prompt) - log p(response), under a causal LM."""

    type_name: ClassVar[str] = "pmi"

    class Options(CausalLMOptions):
        reduction: Literal["mean", "sum"] = "mean"  # "prob" has no meaning for a difference of log-probabilities
        max_response_tokens: int = Field(128, ge=1)  # the response tokens scored (its first ones)
        max_length: int = Field(1024, ge=8)  # tokens of prompt context + scored response
        prompt_template: str | None = None  # e.g. "Question: {prompt}\nAnswer:"; None: the tokenizer's chat template, else "{prompt}\n"

        @field_validator("prompt_template")
        @classmethod
        def _has_prompt(cls, template: str | None) -> str | None:
            if template is not None and template.count("{prompt}") != 1:
                raise ValueError(f"prompt_template must contain {{prompt}} exactly once, got {template!r}")
            return template

    def lm(self) -> tuple[Any, Any]:
        return causal_lm(self.options.model, self.options.device)

    def context(self, tokenizer: Any, prompt: str | list[dict[str, Any]]) -> str:
        """The text before the response: the prompt (text or chat messages) in the template.
        With an empty prompt it ends as it does with one, so both passes score the same tokens."""
        if self.options.prompt_template is None and getattr(tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        text = prompt if isinstance(prompt, str) else "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in prompt)
        return prompting.fill(self.options.prompt_template or "{prompt}\n", {"prompt": text}, prompting.TEXT_PLACEHOLDER)

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        judgments, responses = response_parts(samples, empty="the response is empty: there is nothing to score")
        asked = []
        for i in responses:
            if samples[i].prompt_text.strip():
                asked.append(i)
            else:
                judgments[i] = Judgment.fail("input", "the prompt is empty: the mutual information of a response with no prompt is 0 by definition")
        if not asked:
            return [j for j in judgments if j is not None]
        try:
            model, tokenizer = self.lm()
        except ModelLoadError as error:
            return fail_the_rest(judgments, Judgment.fail("backend", str(error)))
        try:
            unconditional = context_ids(tokenizer, self.context(tokenizer, ""))
        except ValueError as error:
            return fail_the_rest(judgments, Judgment.fail("input", f"cannot build the prompt-free context: {error}"))
        pairs: dict[int, tuple[ScoringInput, ScoringInput, int]] = {}
        for i in asked:
            sample = samples[i]
            try:
                ids = list(tokenizer(sample.response_text, add_special_tokens=False)["input_ids"])
                scored = ids[: self.options.max_response_tokens]
                given = join_ids(tokenizer, context_ids(tokenizer, self.context(tokenizer, sample.prompt)), scored, self.options.max_length)
                alone = join_ids(tokenizer, unconditional, scored, self.options.max_length)
            except Exception as error:  # noqa: BLE001 - bad input fails this sample only
                judgments[i] = Judgment.fail("input", f"cannot score this response: {error}")
                continue
            pairs[i] = (given, alone, len(ids))
        order = list(pairs)
        flat = [item for i in order for item in pairs[i][:2]]
        results = score_inputs(model, tokenizer, flat, self.options.batch_size, self.options.max_batch_tokens, self.options.share_prefix)
        for k, i in enumerate(order):
            given, alone, response_tokens = pairs[i]
            judgments[i] = self._judge(given, results[2 * k], results[2 * k + 1], response_tokens, samples[i].response_text)
        return [j for j in judgments if j is not None]

    def _judge(self, given: ScoringInput, with_prompt: ScoringResult | BaseException, without: ScoringResult | BaseException,
               response_tokens: int, response: str) -> Judgment:
        for result in (with_prompt, without):
            if isinstance(result, BaseException):
                return model_failure(result, len(given.ids))
        n = len(with_prompt.logprobs)
        conditional, alone = sum(with_prompt.logprobs), sum(without.logprobs)
        pmi = conditional - alone
        value = pmi / n if self.options.reduction == "mean" else pmi
        cut = response_tokens > n
        what = "per token" if self.options.reduction == "mean" else "in total"
        rationale = (
            f"the prompt changes the log-probability of the response {shorten(response, 60, quote=True)} by {value:+.4g} {what} "
            f"(mean log p {conditional / n:.3f} with the prompt, {alone / n:.3f} without, over {n} tokens"
            + (f", the first {n} of {response_tokens}" if cut else "") + ")"
        )
        if given.dropped:
            rationale += f"; the prompt's first {given.dropped} of {given.context_tokens} tokens were cut to fit max_length={self.options.max_length}"
        return Judgment(
            score=value, rationale=rationale,
            details={"conditional_mean_logprob": conditional / n, "unconditional_mean_logprob": alone / n, "tokens": n},
            meta={"truncated": cut or bool(given.dropped), "dropped_context_tokens": given.dropped},
        )
