"""Step-level reward models (``prm``): one forward pass scores every step of a solution.

Released PRMs follow one of three conventions, chosen with ``convention``:

- ``token_classification``: the steps are joined with a separator (``separator``, e.g.
  ``"\\n"`` as TRL's PRM trainer writes them, or Qwen2.5-Math-PRM's ``<extra_0>``), and a
  two-class head is read at the last token of each step's separator:
  P(good) = softmax(head)[``label_index``]. Loads any ``AutoModelForTokenClassification``.
- ``tag_logits``: a causal LM reads a step tag after each step (Math-Shepherd's ``ки``), and
  the step's score is P(``good_token``) against P(``bad_token``) at the tag's position (``+`` /
  ``-``). Only the two vocabulary rows of those tokens are multiplied with the hidden states
  at the tag positions: never the whole vocabulary, never every position (this is what makes
  it several times faster than reading full logits, see ``perf/prm_throughput.py``).
- ``prefix_classifier``: a sequence classifier applied to each prefix (prompt + steps 1..k);
  one logit is read through a sigmoid, two or more through a softmax at ``label_index``.

Steps come from the sample's ``steps`` when given, else are split from the response as the
``process`` reward splits them. The solution's score is the ``aggregate`` (min, last, product,
mean) of the step scores, and the first step below ``threshold`` is the predicted first error
(``details.first_error``), which is what ``assay bench processbench`` and ``prmbench`` read.

Inputs are tokenised piecewise (the prompt, then each step with its separator or tag), so the
scored positions are exact whatever the tokenizer merges; batches are sorted by length and
right-padded. A solution longer than ``max_length`` tokens (or than the model's
``max_position_embeddings``, whichever is smaller) is by default (``too_long: fail``) an
``input`` failure: nothing is silently cut off, a PRM that never saw the last steps cannot
score them. With ``too_long: unscored`` the steps whose read position fits are scored and the
rest are left unscored (``None`` in ``details.step_scores``, counted in
``details.unscored_steps``): the score aggregates the scored steps only and the rationale says
so, the first error is located among them, and the benchmarks read such a partial result as
they read a step judge's unjudged steps (no prediction when no scored step is below the
threshold). A solution whose first step does not fit is an ``input`` failure either way.

    rewards:
      prm:
        type: prm
        model: /models/my-prm               # any local Hugging Face folder
        convention: token_classification
        separator: "\\n"
        aggregate: min

``backend: vllm`` scores a token-classification PRM served by vLLM's pooling API instead of
loading it (``base_url``, ``vllm_pooling: step|all``, ``vllm_returns``, ``vllm_task``; see
:mod:`assay.rewards.process.prm_vllm`): only the tokenizer is read from ``model``.

    rewards:
      prm:
        type: prm
        model: /models/Qwen2.5-Math-PRM-7B    # the tokenizer; the weights run in vLLM
        backend: vllm
        base_url: http://gpu-host:8000
        separator: "<extra_0>"
        vllm_pooling: step

Not here: PRMs whose head needs ``trust_remote_code`` (load and save them as a standard token
classifier first).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from assay.reward import Options, Reward
from assay.rewards.process.steps import judge_step_scores, split_steps
from assay.types import Judgment, Sample

Convention = Literal["token_classification", "tag_logits", "prefix_classifier"]


class PRMOptions(Options):
    model: str  # a local Hugging Face folder
    convention: Convention = "token_classification"
    separator: str = "\n"  # after each step (token_classification); between steps (prefix_classifier)
    tag: str = " ки"  # tag_logits: the step tag, one token
    after_tag: str = "\n"  # tag_logits: text after each tag
    good_token: str = "+"
    bad_token: str = "-"
    label_index: int = Field(1, ge=0)  # the "good" class of a two-class head
    prompt_suffix: str = "\n"  # between the prompt and the first step
    aggregate: Literal["min", "mean", "last", "product"] = "min"
    threshold: float = 0.5
    batch_size: int = Field(8, gt=0)
    max_length: int = Field(4096, gt=0)
    too_long: Literal["fail", "unscored"] = "fail"  # a solution over max_length: an input failure, or its last steps unscored
    device: str | None = "cpu"
    # backend: vllm (a token-classification PRM behind vLLM's POST /pooling; see prm_vllm.py)
    backend: Literal["local", "vllm"] = "local"
    base_url: str | None = None  # the vLLM server, e.g. http://127.0.0.1:8000 (/pooling is appended)
    served_model: str | None = None  # the "model" field of the request; None: left out (the server's only model)
    vllm_pooling: Literal["step", "all"] = "step"  # step: one row per separator token (STEP pooler); all: one per token
    vllm_returns: Literal["probabilities", "logits"] = "probabilities"
    vllm_task: str | None = None  # the request's "task", e.g. token_classify (vLLM 0.11+); None: left out
    timeout: float = Field(60.0, gt=0)  # seconds per attempt
    retries: int = Field(2, ge=0, le=10)
    concurrency: int = Field(4, ge=1, le=256)

    @model_validator(mode="after")
    def _vllm_needs(self) -> PRMOptions:
        if self.backend == "vllm":
            if not self.base_url:
                raise ValueError("backend: vllm needs base_url (the vLLM server, e.g. http://127.0.0.1:8000)")
            if self.convention != "token_classification":
                raise ValueError(f"backend: vllm serves token-classification PRMs (a two-class row per step token); convention {self.convention!r} runs locally only")
        return self


@dataclass
class _Encoded:
    ids: list[int]
    positions: list[int]  # where each step's score is read


def _single_token(tokenizer: Any, text: str, what: str) -> int:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"{what} {text!r} is {len(ids)} tokens for this tokenizer; it must be exactly one")
    return ids[0]


class StepRewardModel(Reward):
    """Step scores from a PRM in one of three conventions, aggregated; first error located."""

    type_name = "prm"
    Options = PRMOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self._loaded: tuple[Any, Any] | None = None
        self._tag_ids: tuple[int, int, int] | None = None
        self._client: Any = None  # backend: vllm, the pooling client

    # --- loading -------------------------------------------------------------------------

    def _model(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from assay.backends import local_models

            loader = {
                "token_classification": local_models.token_classifier,
                "tag_logits": local_models.causal_lm,
                "prefix_classifier": local_models.sequence_classifier,
            }[self.options.convention]
            self._loaded = loader(self.options.model, device=self.options.device)
            if self.options.convention == "tag_logits":
                tokenizer = self._loaded[1]
                self._tag_ids = (
                    _single_token(tokenizer, self.options.tag, "tag"),
                    _single_token(tokenizer, self.options.good_token, "good_token"),
                    _single_token(tokenizer, self.options.bad_token, "bad_token"),
                )
        return self._loaded

    # --- encoding ------------------------------------------------------------------------

    def encode(self, prompt: str, steps: list[str], tokenizer: Any) -> _Encoded:
        """The token ids of prompt + steps and the position each step's score is read at."""
        ids = list(tokenizer(prompt + self.options.prompt_suffix, add_special_tokens=True)["input_ids"])
        if ids and tokenizer.sep_token_id is not None and ids[-1] == tokenizer.sep_token_id and tokenizer.cls_token_id is not None:
            ids = ids[:-1]  # a BERT-style tokenizer closes with [SEP]: the steps follow, not a second segment
        positions: list[int] = []
        for step in steps:
            if self.options.convention == "tag_logits":
                tag_id = self._tag_ids[0]  # type: ignore[index]
                ids += tokenizer(step, add_special_tokens=False)["input_ids"]
                positions.append(len(ids))
                ids.append(tag_id)
                ids += tokenizer(self.options.after_tag, add_special_tokens=False)["input_ids"]
            else:
                ids += tokenizer(step + self.options.separator, add_special_tokens=False)["input_ids"]
                positions.append(len(ids) - 1)
        return _Encoded(ids, positions)

    # --- scoring -------------------------------------------------------------------------

    def _prepare(self, samples: list[Sample], tokenizer: Any, limit: int) -> tuple[list[list[str]], list[Judgment | None], list[tuple[int, Any]], dict[int, tuple[int, int]]]:
        """Each sample's steps, the input failures, the work: (sample index, encoded input, or
        the list of prefix texts for ``prefix_classifier``), and the samples cut at ``limit``
        tokens under ``too_long: unscored`` (sample -> (steps cut off, tokens kept))."""
        step_lists = [list(s.steps) if s.steps else split_steps(s.response_text) for s in samples]
        out: list[Judgment | None] = [None] * len(samples)
        unscored: dict[int, tuple[int, int]] = {}  # sample -> (steps cut off, tokens kept), too_long: unscored
        work: list[tuple[int, Any]] = []  # (sample index, encoded input or list of prefix texts)
        for i, (sample, steps) in enumerate(zip(samples, step_lists, strict=True)):
            if not steps:
                out[i] = Judgment.fail("input", "no steps: the response is empty")
                continue
            if self.options.convention == "prefix_classifier":
                prefixes = [sample.prompt_text + self.options.prompt_suffix + self.options.separator.join(steps[: k + 1]) for k in range(len(steps))]
                work.append((i, prefixes))
                continue
            encoded = self.encode(sample.prompt_text, steps, tokenizer)
            if len(encoded.ids) > limit:
                kept = sum(1 for position in encoded.positions if position < limit)
                if self.options.too_long == "fail" or kept == 0:
                    what = "" if self.options.too_long == "fail" else ", and not even the first step fits"
                    out[i] = Judgment.fail("input", f"prompt and {len(steps)} steps are {len(encoded.ids):,} tokens, more than max_length {limit:,}{what}")
                    continue
                encoded = _Encoded(encoded.ids[: encoded.positions[kept - 1] + 1], encoded.positions[:kept])
                unscored[i] = (len(steps) - kept, len(encoded.ids))
            work.append((i, encoded))
        return step_lists, out, work, unscored

    async def ascore_batch(self, samples: list[Sample]) -> list[Judgment]:
        if self.options.backend == "vllm":
            return await self._vllm_score(samples)
        return await asyncio.to_thread(self._guarded_batch, samples)  # the local model, off the event loop

    async def _vllm_score(self, samples: list[Sample]) -> list[Judgment]:
        from assay.backends.local_models import ModelLoadError
        from assay.backends.local_models import tokenizer as load_tokenizer
        from assay.rewards.process.prm_vllm import PoolingPRMClient, PoolingSettings

        try:
            tokenizer = await asyncio.to_thread(load_tokenizer, self.options.model)
        except ModelLoadError as error:
            return [Judgment.fail("backend", f"the PRM's tokenizer could not be read: {error}") for _ in samples]
        if self._client is None:
            o = self.options
            self._client = PoolingPRMClient(PoolingSettings(
                base_url=o.base_url or "", served_model=o.served_model, pooling=o.vllm_pooling, returns=o.vllm_returns, task=o.vllm_task,
                label_index=o.label_index, timeout=o.timeout, retries=o.retries, concurrency=o.concurrency, batch_size=o.batch_size))
        limit = self.options.max_length
        step_lists, out, work, unscored = self._prepare(samples, tokenizer, limit)
        results = await self._client.score([(e.ids, e.positions) for _, e in work])
        for (i, _), result in zip(work, results, strict=True):
            out[i] = result if isinstance(result, Judgment) else self._judge(step_lists[i], result, unscored.get(i), limit)
        return out  # type: ignore[return-value]

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        from assay.backends.local_models import ModelLoadError, bisect_call, length_batches

        try:
            model, tokenizer = self._model()
        except (ModelLoadError, ValueError) as error:  # a setup error: every sample says so, none is scored
            return [Judgment.fail("backend", f"the PRM could not be set up: {error}") for _ in samples]
        limit = self._token_limit(model)
        step_lists, out, work, unscored = self._prepare(samples, tokenizer, limit)
        if self.options.convention == "prefix_classifier":
            flat = [(i, k, text) for i, prefixes in work for k, text in enumerate(prefixes)]
            scores = self._prefix_scores(model, tokenizer, [t for _, _, t in flat], bisect_call, length_batches)
            per_sample: dict[int, list[Any]] = {}
            for (i, _, _), score in zip(flat, scores, strict=True):
                per_sample.setdefault(i, []).append(score)
            results = [(i, per_sample[i]) for i, _ in work]
        else:
            encoded_list = [e for _, e in work]
            batches = length_batches([len(e.ids) for e in encoded_list], self.options.batch_size)
            step_scores: list[Any] = [None] * len(encoded_list)
            for batch in batches:
                for index, result in zip(batch, bisect_call([encoded_list[j] for j in batch], lambda items: self._run(model, tokenizer, items))):
                    step_scores[index] = result
            results = [(i, step_scores[k]) for k, (i, _) in enumerate(work)]
        for i, scores in results:
            out[i] = self._judge(step_lists[i], scores, unscored.get(i), limit)
        return out  # type: ignore[return-value]

    def _token_limit(self, model: Any) -> int:
        """``max_length``, or the model's position limit where that is smaller (a BERT: 512)."""
        positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        return min(self.options.max_length, positions) if isinstance(positions, int) and positions > 0 else self.options.max_length

    def _judge(self, steps: list[str], scores: Any, cut: tuple[int, int] | None = None, limit: int = 0) -> Judgment:
        if isinstance(scores, BaseException):
            return Judgment.fail("internal", f"the PRM could not score this solution: {type(scores).__name__}: {scores}")
        errors = [s for s in scores if isinstance(s, BaseException)]
        if errors:
            return Judgment.fail("internal", f"the PRM could not score a prefix: {type(errors[0]).__name__}: {errors[0]}")
        values: list[float | None] = [float(s) for s in scores]
        details: dict[str, Any] = {}
        if cut is not None:
            values += [None] * cut[0]
            details["unscored_steps"] = cut[0]
        judgment = judge_step_scores(len(steps), values, self.options.aggregate, self.options.threshold, details)
        if cut is not None:
            judgment.rationale = (f"partial: steps {len(steps) - cut[0] + 1}-{len(steps)} lie past max_length {limit:,} tokens and are unscored "
                                  f"(the aggregate reads the first {len(steps) - cut[0]}). " + judgment.rationale)
        return judgment

    def _run(self, model: Any, tokenizer: Any, items: list[_Encoded]) -> list[list[float]]:
        """One padded forward pass; the scores at every item's step positions."""
        import torch

        device = next(model.parameters()).device
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        width = max(len(item.ids) for item in items)
        input_ids = torch.full((len(items), width), pad, dtype=torch.long)
        attention = torch.zeros((len(items), width), dtype=torch.long)
        rows, cols = [], []
        for b, item in enumerate(items):
            input_ids[b, : len(item.ids)] = torch.tensor(item.ids)
            attention[b, : len(item.ids)] = 1
            rows += [b] * len(item.positions)
            cols += item.positions
        rows_t, cols_t = torch.tensor(rows, device=device), torch.tensor(cols, device=device)
        with torch.inference_mode():
            if self.options.convention == "tag_logits":
                probabilities = self._tag_probabilities(model, input_ids.to(device), attention.to(device), rows_t, cols_t)
            else:
                logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits[rows_t, cols_t].float()
                probabilities = self._class_probability(logits)
        flat = probabilities.cpu().tolist()
        out, start = [], 0
        for item in items:
            out.append(flat[start : start + len(item.positions)])
            start += len(item.positions)
        return out

    def _tag_probabilities(self, model: Any, input_ids: Any, attention: Any, rows: Any, cols: Any) -> Any:
        """P(good) against P(bad) at the tag positions, from two vocabulary rows only."""
        import torch

        from assay.backends.local_models import logit_transform

        _, good, bad = self._tag_ids  # type: ignore[misc]
        body = getattr(model, model.base_model_prefix)
        head = model.get_output_embeddings()
        hidden = body(input_ids=input_ids, attention_mask=attention, use_cache=False)[0][rows, cols]
        rows_of_vocab = torch.tensor([good, bad], device=hidden.device)
        logits = hidden @ head.weight[rows_of_vocab].T
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[rows_of_vocab]
        logits = logit_transform(model)(logits).float()
        return torch.softmax(logits, dim=-1)[:, 0]

    def _class_probability(self, logits: Any) -> Any:
        import torch

        if logits.shape[-1] == 1:
            return torch.sigmoid(logits[:, 0])
        if self.options.label_index >= logits.shape[-1]:
            raise ValueError(f"label_index {self.options.label_index} but the model has {logits.shape[-1]} labels")
        return torch.softmax(logits, dim=-1)[:, self.options.label_index]

    def _prefix_scores(self, model: Any, tokenizer: Any, texts: list[str], bisect_call: Any, length_batches: Any) -> list[Any]:
        import torch

        device = next(model.parameters()).device
        encoded = [tokenizer(t, add_special_tokens=True, truncation=True, max_length=self.options.max_length)["input_ids"] for t in texts]
        scores: list[Any] = [None] * len(texts)

        def run(indices: list[int]) -> list[float]:
            width = max(len(encoded[i]) for i in indices)
            pad = tokenizer.pad_token_id or 0
            ids = torch.full((len(indices), width), pad, dtype=torch.long)
            mask = torch.zeros((len(indices), width), dtype=torch.long)
            for b, i in enumerate(indices):
                ids[b, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[b, : len(encoded[i])] = 1
            with torch.inference_mode():
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            return self._class_probability(logits).cpu().tolist()

        for batch in length_batches([len(e) for e in encoded], self.options.batch_size):
            for index, result in zip(batch, bisect_call(batch, run)):
                scores[index] = result
        return scores
