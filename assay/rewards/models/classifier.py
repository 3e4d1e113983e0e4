"""Scalar reward models: a Hugging Face sequence classifier (``classifier``) and a frozen
sentence encoder with a small trained head (``embedding_head``).

``classifier`` runs any ``AutoModelForSequenceClassification`` folder with one output logit
(Bradley-Terry reward models such as Skywork-Reward-V2): the conversation [user prompt,
assistant response] goes through the tokenizer's chat template as text, a BOS the template
already wrote is stripped so the tokenizer does not add a second one, and the score is the
logit. Inputs longer than ``max_length`` are cut from the left (BOS kept; the response's end is
what a reward model reads last) and the rationale says so. Batches of similar length.

``embedding_head`` embeds the response (and, with ``features: prompt_response`` or
``interaction``, the prompt) with a frozen sentence encoder (the packaged MiniLM by default)
and applies a small head, a linear layer or small MLP, stored in one ``.safetensors`` file of a
few hundred KB with its configuration in the file's metadata (the format:
:mod:`assay.rewards.models.head`); :func:`assay.train.heads.fit_head` trains one on preference
pairs (Bradley-Terry loss) in seconds. Without ``head`` it scores with the default reward model
shipped in the package (``DEFAULT_HEAD``; its card: docs/rewards/default-rm.md).

Empty input is a typed failure: an empty response fails with kind ``input``.

    rewards:
      rm: {type: classifier, model: /models/Skywork-Reward-V2-Qwen3-0.6B, max_length: 4096}
      tiny_rm: {type: embedding_head, head: heads/helpful.safetensors}
      default_rm: {type: embedding_head}     # the shipped default head

    >>> from assay.train.heads import fit_head                                     # doctest: +SKIP
    >>> from assay.rewards.models.classifier import EmbeddingHeadReward            # doctest: +SKIP
    >>> head = fit_head([("2+2?", "4", "5"), ("Capital of France?", "Paris", "Rome")])   # doctest: +SKIP
    >>> head.save("head.safetensors"); EmbeddingHeadReward(head="head.safetensors")     # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from assay.backends.local_models import (
    ModelLoadError,
    bisect_call,
    is_oom,
    length_batches,
    sentence_encoder,
    sequence_classifier,
    shared,
)
from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.rewards.judges import prompting
from assay.rewards.models.head import DEFAULT_HEAD, EmbeddingHead, head_features, load_head
from assay.rewards.models.response_parts import response_parts
from assay.types import Judgment, Sample


def _relative_to(path: str | None, base_dir: str | os.PathLike[str] | None) -> Any:
    """A relative path in a config file is read relative to that file's folder."""
    if path and base_dir is not None and not Path(path).expanduser().is_absolute():
        return str(Path(base_dir) / path)
    return path


# --- classifier ----------------------------------------------------------------------------


def chat_messages(sample: Sample) -> list[dict[str, Any]]:
    """The conversation a reward model reads: the prompt's messages (or one user turn), then
    the response's messages (or one assistant turn)."""
    messages: list[dict[str, Any]] = []
    if isinstance(sample.prompt, list):
        messages += [dict(m) for m in sample.prompt]
    elif sample.prompt_text.strip():
        messages.append({"role": "user", "content": sample.prompt_text})
    if isinstance(sample.response, list):
        messages += [dict(m) for m in sample.response if isinstance(m, dict)]
    else:
        messages.append({"role": "assistant", "content": sample.response_text})
    return messages


class SequenceClassifierReward(Reward):
    """A Hugging Face sequence-classification reward model: the score is its logit."""

    type_name: ClassVar[str] = "classifier"

    class Options(BaseOptions):
        model: str  # AutoModelForSequenceClassification folder
        chat_template: Literal["auto", "always", "never"] = "auto"  # auto: when the tokenizer has one
        plain_template: str = "{prompt}\n\n{response}"  # used without a chat template
        label_index: int = 0  # which logit is the reward when the model has several
        max_length: int = 4096
        truncation_side: Literal["left", "right"] = "left"  # the end an over-long input loses: left keeps the response's end, right the prompt
        batch_size: int = 8
        max_batch_tokens: int | None = 16384
        device: str = "cpu"

        @field_validator("model")
        @classmethod
        def _model_given(cls, model: str) -> str:
            if not model:
                raise ValueError("classifier needs `model`: the folder of a sequence-classification reward model")
            return model

    def __init__(self, name: str | None = None, *, base_dir: str | os.PathLike[str] | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.model_path = str(_relative_to(self.options.model, base_dir))  # a config's relative path: from its folder

    def text_of(self, sample: Sample, tokenizer: Any) -> str:
        use_template = self.options.chat_template == "always" or (self.options.chat_template == "auto" and getattr(tokenizer, "chat_template", None))
        if use_template:
            text = tokenizer.apply_chat_template(chat_messages(sample), tokenize=False)
            bos = getattr(tokenizer, "bos_token", None)
            if bos and text.startswith(bos):  # the tokenizer adds its own BOS: do not double it
                text = text[len(bos):]
            return text
        if not sample.prompt_text.strip():
            return sample.response_text
        return prompting.fill(self.options.plain_template, {"prompt": sample.prompt_text, "response": sample.response_text}, prompting.TEXT_PLACEHOLDER)

    def encode(self, text: str, tokenizer: Any) -> tuple[list[int], int]:
        """Token ids capped at max_length and the cut count. ``truncation_side`` left cuts the
        start (the first special token kept), right cuts the end (the last special token kept):
        right is for an encoder that must see the prompt, as a cross-encoder must."""
        ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
        if len(ids) <= self.options.max_length:
            return ids, 0
        if self.options.truncation_side == "right":
            specials = {tokenizer.eos_token_id, tokenizer.sep_token_id} - {None}
            keep_last = ids[-1] in specials
            kept = ids[: self.options.max_length - int(keep_last)] + ([ids[-1]] if keep_last else [])
        else:
            specials = {tokenizer.bos_token_id, tokenizer.cls_token_id} - {None}
            keep_first = ids[0] in specials
            kept = ([ids[0]] if keep_first else []) + ids[len(ids) - (self.options.max_length - int(keep_first)):]
        return kept, len(ids) - len(kept)

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        judgments: list[Judgment | None] = [None] * len(samples)
        try:
            model, tokenizer = sequence_classifier(self.model_path, self.options.device)
        except ModelLoadError as error:
            return [Judgment.fail("backend", str(error)) for _ in samples]
        labels = int(getattr(model.config, "num_labels", 1))
        if not -labels <= self.options.label_index < labels:  # a setup error: checked once, not per sample
            return [Judgment.fail("backend", f"label_index {self.options.label_index}, but {self.model_path} has {labels} logits") for _ in samples]
        encoded: dict[int, tuple[list[int], int, int]] = {}
        for i, sample in enumerate(samples):
            try:
                if not sample.response_text.strip():
                    judgments[i] = Judgment.fail("input", "the response is empty: there is nothing for the reward model to score")
                    continue
                ids, cut = self.encode(self.text_of(sample, tokenizer), tokenizer)
                encoded[i] = (ids, cut, len(ids) + cut)
            except Exception as error:  # noqa: BLE001 - one bad sample fails alone
                judgments[i] = Judgment.fail("input", f"cannot build the reward model's input: {type(error).__name__}: {error}")
        order = list(encoded)
        results = _classify(model, tokenizer, [encoded[i][0] for i in order], self.options.batch_size, self.options.max_batch_tokens)
        for i, result in zip(order, results):
            ids, cut, total = encoded[i]
            if isinstance(result, BaseException):
                kind_msg = "out of memory" if is_oom(result) else f"{type(result).__name__}"
                judgments[i] = Judgment.fail("backend", f"the reward model failed ({kind_msg}) on {len(ids)} tokens: {result}")
                continue
            score = float(result[self.options.label_index])
            rationale = f"reward model {Path(self.model_path).name} gave logit {score:.4g} for the response ({len(ids)} tokens"
            end = "first" if self.options.truncation_side == "left" else "last"
            rationale += ")" if not cut else f"; input truncated: its {end} {cut} of {total} tokens were cut to fit max_length={self.options.max_length})"
            judgments[i] = Judgment(score=score, rationale=rationale, details={"logits": list(result)} if len(result) > 1 else {},
                                    meta={"truncated": bool(cut), "tokens": len(ids)})
        return [j for j in judgments if j is not None]


def _classify(model: Any, tokenizer: Any, inputs: list[list[int]], batch_size: int, max_batch_tokens: int | None) -> list[Any]:
    """Logits per input, batches of similar length, right-padded; failures bisected."""
    import torch

    device = next(model.parameters()).device
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0

    def run(batch: list[list[int]]) -> list[list[float]]:
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for b, ids in enumerate(batch):
            input_ids[b, : len(ids)] = torch.tensor(ids)
            attention[b, : len(ids)] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
        return logits.cpu().tolist()

    results: list[Any] = [None] * len(inputs)
    with torch.inference_mode():
        for batch in length_batches([len(ids) for ids in inputs], batch_size, max_batch_tokens):
            for index, result in zip(batch, bisect_call([inputs[i] for i in batch], run)):
                results[index] = result
    return results


# --- embedding head ------------------------------------------------------------------------


class EmbeddingHeadReward(Reward):
    """A frozen sentence encoder plus a small trained head (one .safetensors file)."""

    type_name: ClassVar[str] = "embedding_head"

    class Options(BaseOptions):
        head: str | None = None  # the .safetensors file written by save_head / fit_head(...).save(...); None: the shipped default RM
        model: str | None = None  # encoder folder; None: the one the head names, else the packaged MiniLM
        batch_size: int = 64
        max_length: int | None = None  # None: the length the head file records (its training length), else the encoder's
        device: str = "cpu"

        @field_validator("head")
        @classmethod
        def _head_given(cls, head: str | None) -> str | None:
            if head is not None and not head.strip():
                raise ValueError("embedding_head's `head` is empty: give the .safetensors file of a trained head, or leave it out for the shipped default")
            return head

    def __init__(self, name: str | None = None, *, base_dir: str | os.PathLike[str] | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        # a config's relative paths are read from its folder
        self.head_path = str(DEFAULT_HEAD if self.options.head is None else _relative_to(self.options.head, base_dir))
        self.model_path: str | None = _relative_to(self.options.model, base_dir)

    def load(self) -> EmbeddingHead:
        path = Path(self.head_path)
        return shared("embedding_head", path, "cpu", lambda: load_head(path))

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        import torch

        try:
            head = self.load()
            encoder_path = self.model_path or head.config.get("encoder")
            encoder = sentence_encoder(encoder_path, self.options.device)
        except ModelLoadError as error:
            return [Judgment.fail("backend", str(error)) for _ in samples]
        kind = head.config["features"]
        max_length = self.options.max_length or head.config.get("max_length")
        judgments, responses = response_parts(samples, empty="the response is empty: there is nothing to embed and score")
        pending = {i: (samples[i].prompt_text, response) for i, response in responses.items()}
        if pending:
            order = list(pending)

            def run(indices: list[int]) -> list[tuple[float, float]]:
                feats, _ = head_features(encoder, [pending[i][0] for i in indices], [pending[i][1] for i in indices], kind, self.options.batch_size, max_length)
                with torch.inference_mode():
                    mlp, cosine = head.parts(feats.to(next(head.module.parameters()).dtype))
                return list(zip(mlp.tolist(), cosine.tolist()))

            limit = max_length or encoder.max_seq_length
            counts = {t: len(ids) for t, ids in zip(
                [pending[i][1] for i in order], encoder.tokenizer([pending[i][1] for i in order], truncation=False, verbose=False)["input_ids"])}
            name = Path(self.head_path).name
            enc_name = Path(encoder_path).name if encoder_path else "all-MiniLM-L6-v2"
            for i, result in zip(order, bisect_call(order, run)):
                if isinstance(result, BaseException):
                    judgments[i] = Judgment.fail("backend", f"embedding head failed: {type(result).__name__}: {result}")
                    continue
                truncated = counts[pending[i][1]] > limit
                mlp, cosine = result
                score = mlp + cosine
                rationale = f"head {name} over {enc_name} embeddings of the {'response' if kind == 'response' else 'prompt and response'} scored {score:.4g}"
                if head.config.get("cosine_weight"):
                    rationale += f" ({mlp:.4g} from the MLP, {cosine:.4g} from {head.config['cosine_weight']:.4g} x the prompt-response cosine)"
                if truncated:
                    rationale += f" (response truncated to its first {limit} of {counts[pending[i][1]]} tokens)"
                judgments[i] = Judgment(score=float(score), rationale=rationale, meta={"truncated": truncated})
        return [j for j in judgments if j is not None]
