"""Sentence embeddings of a batch of texts, each distinct text encoded once: the helper the
encoder rewards (``semantic``, ``diversity``) and the embedding head (``embedding_head``,
``assay.train.heads.fit_head``) share.

:func:`encode_distinct` encodes the distinct texts of a batch in batches of similar token
length under ``torch.inference_mode()``, returns unit-norm float32 vectors keyed by text and
records which texts were truncated at the encoder's limit; a batch that fails (out of
memory, a text the model cannot take) is split in halves until only the failing texts fail,
and :func:`encode_failure` turns such a text into a typed ``backend`` failure. Not here:
loading the encoder (``assay.backends.local_models.sentence_encoder``) and what a reward
makes of the vectors.

    >>> from assay.backends.local_models import sentence_encoder
    >>> encoded = encode_distinct(sentence_encoder(), ["a cat", "a dog", "a cat"])   # doctest: +SKIP
    >>> sorted(encoded.vectors)                                                      # doctest: +SKIP
    ['a cat', 'a dog']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.backends.local_models import bisect_call, is_oom, length_batches
from assay.types import Judgment


class EncodedTexts:
    """Unit-norm embeddings of distinct texts, encoded once each, plus which were truncated."""

    def __init__(self, vectors: dict[str, Any], token_counts: dict[str, int], max_tokens: int, failed: dict[str, BaseException]):
        self.vectors = vectors
        self.token_counts = token_counts
        self.max_tokens = max_tokens
        self.failed = failed

    def truncated(self, text: str) -> bool:
        return self.token_counts.get(text, 0) > self.max_tokens


def encode_distinct(
    encoder: Any,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int | None = None,
    max_batch_tokens: int | None = 16384,
) -> EncodedTexts:
    """Encode each distinct text once, in batches of similar token length (longest first).

    Returns unit-norm float32 embeddings keyed by text. A batch that fails (out of memory, a
    text the model cannot take) is split in halves until only the failing texts fail.
    """
    import torch
    from sentence_transformers.util import batch_to_device

    distinct = list(dict.fromkeys(texts))
    limit = int(max_length or encoder.max_seq_length or 512)
    counts = [len(ids) for ids in encoder.tokenizer(distinct, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]]
    token_counts = dict(zip(distinct, counts))
    capped = [min(c, limit) for c in counts]
    batches = length_batches(capped, batch_size, max_batch_tokens)
    extra = {} if max_length is None else {"max_length": int(max_length)}

    def run(batch_texts: list[str]) -> list[Any]:
        features = encoder.preprocess(batch_texts, **extra)
        features = batch_to_device(features, encoder.device)
        out = encoder(features)["sentence_embedding"].float()
        out = torch.nn.functional.normalize(out, p=2, dim=1)
        return list(out.cpu())

    vectors: dict[str, Any] = {}
    failed: dict[str, BaseException] = {}
    with torch.inference_mode():
        for batch in batches:
            batch_texts = [distinct[i] for i in batch]
            for text, result in zip(batch_texts, bisect_call(batch_texts, run)):
                if isinstance(result, BaseException):
                    failed[text] = result
                else:
                    vectors[text] = result
    return EncodedTexts(vectors, token_counts, limit, failed)


def encode_failure(error: BaseException, what: str) -> Judgment:
    """The failure of a text the encoder could not take: ``backend``, out of memory said so."""
    if is_oom(error):
        return Judgment.fail("backend", f"out of memory while encoding the {what}: {error}")
    return Judgment.fail("backend", f"the encoder failed on the {what}: {type(error).__name__}: {error}")
