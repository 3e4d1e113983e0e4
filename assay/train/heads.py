"""Training an embedding head on preference pairs: :func:`fit_head`.

``fit_head`` embeds the prompt and both responses of each ``(prompt, chosen, rejected)``
pair with a frozen sentence encoder (the packaged MiniLM by default), and trains a small
head (:class:`~assay.rewards.models.head.EmbeddingHead`) with the Bradley-Terry loss
``-log sigmoid(r(chosen) - r(rejected))``, full batch, in seconds on a CPU. The seed fixes
the initial weights. The trained head is saved with ``head.save(path)`` and scored by the
``embedding_head`` reward. Not here: the head's file format (``assay.rewards.models.head``)
and scoring (``assay.rewards.models.classifier``).

    >>> from assay.train.heads import fit_head                                       # doctest: +SKIP
    >>> head = fit_head([("2+2?", "4", "5"), ("Capital of France?", "Paris", "Rome")])  # doctest: +SKIP
    >>> head.save("head.safetensors")                                                # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from assay.backends.local_models import sentence_encoder
from assay.rewards.models.head import EmbeddingHead, head_features


def fit_head(
    pairs: Sequence[tuple[str, str, str] | dict[str, str]],
    features: Literal["response", "prompt_response"] = "prompt_response",
    hidden: Sequence[int] = (64,),
    epochs: int = 200,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
    encoder: str | None = None,
) -> EmbeddingHead:
    """Train a head on preference pairs ``(prompt, chosen, rejected)`` (or dicts with those
    keys) with the Bradley-Terry loss ``-log sigmoid(r(chosen) - r(rejected))``, full batch."""
    import torch

    rows = [(p["prompt"], p["chosen"], p["rejected"]) if isinstance(p, dict) else tuple(p) for p in pairs]
    if not rows:
        raise ValueError("fit_head needs at least one (prompt, chosen, rejected) pair")
    model = sentence_encoder(encoder)
    prompts = [r[0] or "" for r in rows]
    chosen, _ = head_features(model, prompts, [r[1] for r in rows], features)
    rejected, _ = head_features(model, prompts, [r[2] for r in rows], features)
    torch.manual_seed(random.Random(f"{seed}:fit_head").randrange(2**31))
    head = EmbeddingHead.build(chosen.shape[1], hidden, "gelu", features, encoder)
    module = head.module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        optimizer.zero_grad()
        margin = module(chosen).squeeze(-1) - module(rejected).squeeze(-1)
        loss = -torch.nn.functional.logsigmoid(margin).mean()
        loss.backward()
        optimizer.step()
    module.eval()
    return head
