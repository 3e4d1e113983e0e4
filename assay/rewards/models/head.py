"""The embedding head's file: a small head over sentence embeddings, in one .safetensors file.

A head is a linear layer or a small MLP (``hidden`` sizes, an activation) over the features
of :func:`head_features`: the response embedding (``features: response``); the prompt's, the
response's and their product (``prompt_response``); or those and their absolute difference
(``interaction``: ``[p, r, p*r, |p-r|]``). :func:`save_head` writes its weights with its
configuration as JSON in the file's metadata; the format is ``assay-embedding-head/1`` for
the first two kinds, ``assay-embedding-head/2`` for ``interaction``, and
``assay-embedding-head/3`` for a head with a ``cosine_weight``: the score is then the MLP's
output plus that weight times the prompt-response cosine, read from the features' ``p*r``
block (the embeddings are unit norm), so a relevance term the training pairs underweight can
be added with a weight chosen on held-out pairs. A reader that knows only an earlier format
refuses a later one rather than misreading it. :func:`load_head` reads all three, so a head
saved by any earlier assay keeps loading. :data:`DEFAULT_HEAD` is the head shipped inside
the package (``default_head/``, its card in docs/rewards/default-rm.md). The
``embedding_head`` reward (``assay.rewards.models.classifier``) reads heads from here;
training them (``fit_head``) lives in :mod:`assay.train.heads`.

    >>> head = EmbeddingHead.build(384, hidden=(64,))   # doctest: +SKIP
    >>> load_head(head.save("head.safetensors")).config["hidden"]   # doctest: +SKIP
    [64]
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.backends.local_models import ModelLoadError

HEAD_FORMAT = "assay-embedding-head/1"
HEAD_FORMAT_V2 = "assay-embedding-head/2"  # adds features: interaction
HEAD_FORMAT_V3 = "assay-embedding-head/3"  # adds cosine_weight
HEAD_FORMATS = (HEAD_FORMAT, HEAD_FORMAT_V2, HEAD_FORMAT_V3)
FEATURE_KINDS = ("response", "prompt_response", "interaction")
DEFAULT_HEAD = Path(__file__).parent / "default_head" / "default_rm.safetensors"


class EmbeddingHead:
    """A small head over sentence embeddings: config (dict) plus a torch module."""

    def __init__(self, config: dict[str, Any], module: Any) -> None:
        self.config = config
        self.module = module

    @staticmethod
    def build(input_dim: int, hidden: Sequence[int] = (), activation: str = "gelu", features: str = "response", encoder: str | None = None) -> EmbeddingHead:
        if features not in FEATURE_KINDS:
            raise ValueError(f"features must be one of {', '.join(FEATURE_KINDS)}, got {features!r}")
        version = HEAD_FORMAT_V2 if features == "interaction" else HEAD_FORMAT
        config = {"format": version, "input_dim": int(input_dim), "hidden": [int(h) for h in hidden],
                  "activation": activation, "features": features, "encoder": encoder}
        return EmbeddingHead(config, _make_module(config))

    def save(self, path: str | os.PathLike[str]) -> Path:
        return save_head(path, self)

    def with_cosine(self, weight: float) -> EmbeddingHead:
        """This head plus ``weight`` times the prompt-response cosine (format /3); the same module."""
        if self.config["features"] == "response":
            raise ValueError("a cosine term needs the prompt: features prompt_response or interaction, not response")
        return EmbeddingHead({**self.config, "format": HEAD_FORMAT_V3, "cosine_weight": float(weight)}, self.module)

    def parts(self, features: Any) -> tuple[Any, Any]:
        """The MLP's output and the prompt-response cosine term (zeros without a ``cosine_weight``)."""
        mlp = self.module(features).squeeze(-1)
        weight = float(self.config.get("cosine_weight") or 0.0)
        if not weight:
            return mlp, mlp * 0
        blocks = 4 if self.config["features"] == "interaction" else 3
        dim = int(self.config["input_dim"]) // blocks
        return mlp, weight * features[:, 2 * dim:3 * dim].sum(-1)  # [p, r, p*r, ...]: the p*r block sums to the cosine

    def __call__(self, features: Any) -> Any:
        mlp, cosine = self.parts(features)
        return mlp + cosine


def _make_module(config: dict[str, Any]) -> Any:
    import torch

    activations = {"gelu": torch.nn.GELU, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
    if config["activation"] not in activations:
        raise ValueError(f"activation must be one of {sorted(activations)}, got {config['activation']!r}")
    layers: list[Any] = []
    width = int(config["input_dim"])
    for size in config["hidden"]:
        layers += [torch.nn.Linear(width, size), activations[config["activation"]]()]
        width = size
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers).eval()


def save_head(path: str | os.PathLike[str], head: EmbeddingHead) -> Path:
    """Write the head as one .safetensors file, its config as JSON in the file's metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in head.module.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata={"assay_head": json.dumps(head.config)})
    os.replace(tmp, path)
    return path


def load_head(path: str | os.PathLike[str]) -> EmbeddingHead:
    """Read a head written by :func:`save_head`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"embedding head file {path} does not exist")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if "assay_head" not in metadata:
        raise ModelLoadError(f"{path} has no assay_head metadata: not a head written by assay.rewards.models.head.save_head")
    config = json.loads(metadata["assay_head"])
    if config.get("format") not in HEAD_FORMATS:
        raise ModelLoadError(f"{path} is format {config.get('format')!r}; this assay reads {' and '.join(map(repr, HEAD_FORMATS))}")
    if config.get("features") not in FEATURE_KINDS:
        raise ModelLoadError(f"{path}: features {config.get('features')!r} is none of {', '.join(FEATURE_KINDS)}")
    weight = config.get("cosine_weight")
    if (weight is not None or config["format"] == HEAD_FORMAT_V3) and (
            config["format"] != HEAD_FORMAT_V3 or isinstance(weight, bool) or not isinstance(weight, (int, float))
            or not math.isfinite(weight) or config["features"] == "response"):
        raise ModelLoadError(f"{path}: cosine_weight {weight!r} needs format {HEAD_FORMAT_V3!r}, a finite number and features "
                             f"prompt_response or interaction (this file: {config['format']!r}, {config['features']!r})")
    module = _make_module(config)
    module.load_state_dict(load_file(str(path)))
    return EmbeddingHead(config, module.eval())


def head_features(encoder: Any, prompts: list[str], responses: list[str], kind: str, batch_size: int = 64, max_length: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Feature rows for the head (see :func:`combine_features`) and the encoding record
    (truncation, failures)."""
    import torch

    from assay.backends.encoder import encode_distinct

    texts = responses + (prompts if kind != "response" else [])
    encoded = encode_distinct(encoder, texts, batch_size, max_length)
    bad = [t for t in texts if t in encoded.failed]
    if bad:
        raise encoded.failed[bad[0]]
    r = torch.stack([encoded.vectors[t] for t in responses])
    p = None if kind == "response" else torch.stack([encoded.vectors[t] for t in prompts])
    return combine_features(p, r, kind), {"encoded": encoded}


def combine_features(prompt_vectors: Any, response_vectors: Any, kind: str) -> Any:
    """The head's input from unit-norm embeddings, one row per (prompt, response):
    ``response``: r; ``prompt_response``: [p, r, p*r]; ``interaction``: [p, r, p*r, |p-r|]."""
    import torch

    r = response_vectors
    if kind == "response":
        return r
    p = prompt_vectors
    if kind == "prompt_response":
        return torch.cat([p, r, p * r], dim=1)
    if kind == "interaction":
        return torch.cat([p, r, p * r, (p - r).abs()], dim=1)
    raise ValueError(f"features must be one of {', '.join(FEATURE_KINDS)}, got {kind!r}")
