"""Sentence-encoder rewards: similarity to a reference (``semantic``) and group diversity
(``diversity``).

``semantic`` scores the cosine similarity between the response (or a part of it: the text
after ``</think>``, or inside the last ``<answer>...</answer>``) and the reference, with a
sentence encoder: the packaged all-MiniLM-L6-v2 by default, any sentence-transformers
folder by path. A dense reward for explanations and free-form answers (encoder-only
semantic rewards for GRPO).

``diversity`` scores each response by its mean dissimilarity (1 - cosine) to the other
responses of its group (SD-E²-style exploration bonus). The group is ``sample.group``, or
the prompt text when no group is given.

Both encode each distinct text once per call, in batches of similar token length, under
``torch.inference_mode()``; the encoder is loaded once per process and shared.

Empty input is a typed failure, never a number: an empty (or whitespace-only) response or
selected part fails with kind ``input``; a missing ``</think>`` or ``<answer>`` tag for
``part: after_think|answer_tag`` fails with kind ``parse``.

    rewards:
      similarity: {type: semantic, part: answer_tag, rescale: unit, floor: 0.2}

    >>> from assay.rewards.models.semantic import SemanticSimilarity
    >>> from assay.types import Sample
    >>> j = SemanticSimilarity().score([Sample(response="The cat sat.", reference="A cat was sitting.")])[0]
    >>> 0.5 < j.score < 1.0
    True
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from assay.backends.encoder import EncodedTexts, encode_distinct, encode_failure
from assay.backends.local_models import ModelLoadError, sentence_encoder
from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.rewards.models.response_parts import fail_the_rest, response_parts
from assay.text import groups_of, shorten
from assay.types import Judgment, Sample

Part = Literal["whole", "after_think", "answer_tag"]

class SemanticSimilarity(Reward):
    """Cosine similarity of the response (or a part of it) to the reference, with a sentence encoder."""

    type_name: ClassVar[str] = "semantic"

    class Options(BaseOptions):
        model: str | None = None  # sentence-transformers folder; None: the packaged all-MiniLM-L6-v2
        part: Part = "whole"
        against: str = "reference"  # the field compared with: reference, prompt (relevance), or any other field
        rescale: Literal["raw", "unit"] = "raw"  # raw cosine in [-1, 1], or max(0, (cos - floor) / (1 - floor))
        floor: float = Field(0.0, ge=-1.0, lt=1.0)  # for rescale: unit, in [-1, 1): cosines at or below it score 0
        batch_size: int = 64
        max_length: int | None = None  # tokens per text; None: the encoder's own limit (256 for MiniLM)
        device: str = "cpu"

    def encoder(self) -> Any:
        return sentence_encoder(self.options.model, self.options.device)

    def _scale(self, cosine: float) -> float:
        if self.options.rescale == "raw":
            return cosine
        return max(0.0, (cosine - self.options.floor) / (1.0 - self.options.floor))

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        judgments, texts = response_parts(samples, self.options.part)
        pairs: dict[int, tuple[str, str]] = {}
        for i, text in texts.items():
            sample = samples[i]
            reference = sample.prompt_text if self.options.against == "prompt" else sample.get(self.options.against)
            if isinstance(reference, (list, dict)):
                judgments[i] = Judgment.fail("input", f"{self.options.against} must be text, got {type(reference).__name__}")
                continue
            reference = "" if reference is None else str(reference)
            if not text.strip():
                what = "response" if self.options.part == "whole" else f"{self.options.part} part of the response"
                judgments[i] = Judgment.fail("input", f"the {what} is empty: nothing to compare with the {self.options.against}")
                continue
            if not reference.strip():
                judgments[i] = Judgment.fail("input", f"the {self.options.against} is missing or empty: nothing to compare with")
                continue
            pairs[i] = (text, reference)
        if pairs:
            try:
                encoder = self.encoder()
            except ModelLoadError as error:
                return fail_the_rest(judgments, Judgment.fail("backend", str(error)))
            encoded = encode_distinct(
                encoder, [t for pair in pairs.values() for t in pair], self.options.batch_size, self.options.max_length
            )
            for i, (text, reference) in pairs.items():
                judgments[i] = self._judge(text, reference, encoded)
        return [j for j in judgments if j is not None]

    def _judge(self, text: str, reference: str, encoded: EncodedTexts) -> Judgment:
        for value, what in ((text, "response"), (reference, self.options.against)):
            if value in encoded.failed:
                return encode_failure(encoded.failed[value], what)
        cosine = float((encoded.vectors[text] @ encoded.vectors[reference]).item())
        score = self._scale(cosine)
        part = "response" if self.options.part == "whole" else f"response's {self.options.part} part"
        notes = []
        for value, what in ((text, "response"), (reference, self.options.against)):
            if encoded.truncated(value):
                notes.append(f"{what} truncated to its first {encoded.max_tokens} of {encoded.token_counts[value]} tokens")
        scaled = "" if self.options.rescale == "raw" else f"; rescaled to [0, 1] with floor {self.options.floor:g}: {score:.3f}"
        rationale = f"cosine similarity {cosine:.3f} between the {part} {shorten(text, 60, quote=True)} and the {self.options.against} {shorten(reference, 60, quote=True)}{scaled}"
        if notes:
            rationale += " (" + "; ".join(notes) + ")"
        return Judgment(score=score, rationale=rationale, details={"cosine": cosine}, meta={"truncated": bool(notes)})


class GroupDiversity(Reward):
    """Mean dissimilarity (1 - cosine) of a response to the other responses of its group."""

    type_name: ClassVar[str] = "diversity"
    needs_whole_groups = True

    class Options(BaseOptions):
        model: str | None = None
        part: Part = "whole"
        batch_size: int = 64
        max_length: int | None = None
        device: str = "cpu"

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        judgments, texts = response_parts(samples, self.options.part, empty="the response is empty: it has no content to be diverse with")
        kept = list(texts)
        groups = {key: [kept[j] for j in local] for key, local in groups_of([samples[i] for i in kept], by_prompt=True).items()}
        for members in groups.values():
            if len(members) < 2:
                judgments[members[0]] = Judgment.fail(
                    "input", "no other non-empty response in this sample's group (same `group`, else same prompt) to compare with"
                )
        scored = [i for members in groups.values() if len(members) >= 2 for i in members]
        if scored:
            try:
                encoder = sentence_encoder(self.options.model, self.options.device)
            except ModelLoadError as error:
                return fail_the_rest(judgments, Judgment.fail("backend", str(error)))
            encoded = encode_distinct(encoder, [texts[i] for i in scored], self.options.batch_size, self.options.max_length)
            for members in groups.values():
                if len(members) >= 2:
                    self._judge_group(members, texts, encoded, judgments)
        return [j for j in judgments if j is not None]

    def _judge_group(self, members: list[int], texts: dict[int, str], encoded: EncodedTexts, out: list[Judgment | None]) -> None:
        import torch

        ok = [i for i in members if texts[i] not in encoded.failed]
        for i in members:
            if texts[i] in encoded.failed:
                out[i] = encode_failure(encoded.failed[texts[i]], "response")
        if len(ok) < 2:
            for i in ok:
                out[i] = Judgment.fail("backend", "the other responses of the group could not be encoded")
            return
        matrix = torch.stack([encoded.vectors[texts[i]] for i in ok])
        cosines = matrix @ matrix.T
        n = len(ok)
        for row, i in enumerate(ok):
            others = torch.cat([cosines[row, :row], cosines[row, row + 1:]])
            dissimilarity = float((1.0 - others).mean().item())
            closest = float(others.max().item())
            truncated = encoded.truncated(texts[i])
            rationale = (
                f"mean dissimilarity (1 - cosine) {dissimilarity:.3f} to the {n - 1} other responses of its group; "
                f"most similar other response at cosine {closest:.3f}"
                + (f" (response truncated to its first {encoded.max_tokens} of {encoded.token_counts[texts[i]]} tokens)" if truncated else "")
            )
            out[i] = Judgment(
                score=dissimilarity, rationale=rationale,
                details={"mean_cosine": 1.0 - dissimilarity, "max_cosine": closest, "group_size": n},
                meta={"truncated": truncated},
            )
