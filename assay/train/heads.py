"""Training an embedding head on preference pairs: :func:`fit_head`.

``fit_head`` embeds the prompt and both responses of each ``(prompt, chosen, rejected)``
pair with a frozen sentence encoder (the packaged MiniLM by default), and trains a small
head (:class:`~assay.rewards.models.head.EmbeddingHead`) with the Bradley-Terry loss
``-log sigmoid(r(chosen) - r(rejected))``, full batch, in seconds on a CPU. The seed fixes
the initial weights. The trained head is saved with ``head.save(path)`` and scored by the
``embedding_head`` reward. Not here: the head's file format (``assay.rewards.models.head``)
and scoring (``assay.rewards.models.classifier``).

:func:`train_head` is what ``assay train head`` runs: read the pairs file, split off an
eval set (seeded), fit, save ``head.safetensors`` and write the training report
(``report.json``, ``curves.png``) beside it.

    >>> from assay.train.heads import fit_head                                       # doctest: +SKIP
    >>> head = fit_head([("2+2?", "4", "5"), ("Capital of France?", "Paris", "Rome")])  # doctest: +SKIP
    >>> head.save("head.safetensors")                                                # doctest: +SKIP
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from assay.backends.local_models import sentence_encoder
from assay.rewards.models.head import EmbeddingHead, head_features
from assay.train.pairs import read_pairs, split_pairs
from assay.train.report import write_report

HEAD_FILE = "head.safetensors"


def fit_head(
    pairs: Sequence[tuple[str, str, str] | dict[str, str]],
    features: Literal["response", "prompt_response", "interaction"] = "prompt_response",
    hidden: Sequence[int] = (64,),
    epochs: int = 200,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
    encoder: str | None = None,
    eval_pairs: Sequence[tuple[str, str, str] | dict[str, str]] = (),
    history: list[dict[str, float]] | None = None,
    log_every: int = 10,
    progress: bool = False,
) -> EmbeddingHead:
    """Train a head on preference pairs ``(prompt, chosen, rejected)`` (or dicts with those
    keys) with the Bradley-Terry loss ``-log sigmoid(r(chosen) - r(rejected))``, full batch.

    With ``history``, every ``log_every`` epochs (and the last) a row ``{epoch, loss,
    accuracy}`` is appended, plus ``eval_loss`` and ``eval_accuracy`` on ``eval_pairs`` when
    given (accuracy: the share of pairs whose chosen response scores higher). ``progress``
    shows a progress bar over the epochs (tqdm)."""
    rows = _rows(pairs)
    if not rows:
        raise ValueError("fit_head needs at least one (prompt, chosen, rejected) pair")
    model = sentence_encoder(encoder)
    chosen, rejected = _pair_features(model, rows, features)
    held = _rows(eval_pairs)
    eval_chosen, eval_rejected = _pair_features(model, held, features) if held else (None, None)
    return fit_head_on_features(chosen, rejected, features=features, hidden=hidden, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed,
                                encoder=encoder, eval_chosen=eval_chosen, eval_rejected=eval_rejected, history=history, log_every=log_every, progress=progress)


def fit_head_on_features(
    chosen: Any,
    rejected: Any,
    *,
    features: str = "prompt_response",
    hidden: Sequence[int] = (64,),
    epochs: int = 200,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
    encoder: str | None = None,
    eval_chosen: Any = None,
    eval_rejected: Any = None,
    history: list[dict[str, float]] | None = None,
    log_every: int = 10,
    progress: bool = False,
    batch_size: int | None = None,
) -> EmbeddingHead:
    """:func:`fit_head` on feature rows already computed (``head_features`` of the chosen and
    of the rejected responses, one row per pair): what a caller with cached embeddings runs
    (``perf/train_default_rm.py``). ``features`` and ``encoder`` are recorded in the head.
    ``batch_size`` trains in shuffled minibatches (seeded) instead of full batch: on
    thousands of pairs a few epochs of minibatches reach what hundreds of full-batch epochs do;
    the logged train loss and accuracy are then the epoch's means."""
    import torch

    torch.manual_seed(random.Random(f"{seed}:fit_head").randrange(2**31))
    shuffler = torch.Generator().manual_seed(random.Random(f"{seed}:batches").randrange(2**31))
    n = int(chosen.shape[0])
    head = EmbeddingHead.build(chosen.shape[1], hidden, "gelu", features, encoder)
    module = head.module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    steps: Any = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="train head", unit="epoch")
    for epoch in steps:
        batches = [None] if not batch_size or batch_size >= n else torch.randperm(n, generator=shuffler).split(batch_size)
        losses, margins = [], []
        for rows in batches:
            c, r = (chosen, rejected) if rows is None else (chosen[rows], rejected[rows])
            optimizer.zero_grad()
            batch_margin = module(c).squeeze(-1) - module(r).squeeze(-1)
            batch_loss = -torch.nn.functional.logsigmoid(batch_margin).mean()
            batch_loss.backward()
            optimizer.step()
            losses.append(float(batch_loss.detach()) * len(batch_margin))
            margins.append(batch_margin.detach())
        margin = torch.cat(margins)
        loss = torch.tensor(sum(losses) / len(margin))
        if history is not None and ((epoch + 1) % max(1, log_every) == 0 or epoch + 1 == epochs):
            row = {"epoch": epoch + 1, "loss": float(loss.detach()), "accuracy": float((margin.detach() > 0).float().mean())}
            if eval_chosen is not None:
                with torch.no_grad():
                    module.eval()
                    held_margin = module(eval_chosen).squeeze(-1) - module(eval_rejected).squeeze(-1)
                    module.train()
                row["eval_loss"] = float(-torch.nn.functional.logsigmoid(held_margin).mean())
                row["eval_accuracy"] = float((held_margin > 0).float().mean())
            history.append(row)
    module.eval()
    return head


def _rows(pairs: Sequence[tuple[str, str, str] | dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(p["prompt"], p["chosen"], p["rejected"]) if isinstance(p, dict) else tuple(p) for p in pairs]  # type: ignore[misc]


def _pair_features(model: Any, rows: list[tuple[str, str, str]], features: str) -> tuple[Any, Any]:
    prompts = [r[0] or "" for r in rows]
    chosen, _ = head_features(model, prompts, [r[1] for r in rows], features)
    rejected, _ = head_features(model, prompts, [r[2] for r in rows], features)
    return chosen, rejected


def train_head(
    data: str | Path,
    output: str | Path,
    *,
    eval_fraction: float = 0.1,
    eval_data: str | Path | None = None,
    limit: int | None = None,
    split_transcripts: bool = False,
    progress: bool = True,
    degenerate: int = 0,
    degenerate_kinds: Sequence[str] | None = None,
    **fit_options: Any,
) -> dict[str, Any]:
    """Train a head on a pairs file (see :mod:`assay.train.pairs`) and write
    ``output/head.safetensors`` and the report; returns the report. The eval set is
    ``eval_data`` when given, else a seeded ``eval_fraction`` of ``data``. ``degenerate``
    adds that many degenerate pairs per training prompt (:mod:`assay.train.degenerate`: its
    answer against an echo, repeated words, a stock non-answer, a fragment); the eval set
    stays as read; ``degenerate_kinds`` limits the kinds drawn."""
    seed = int(fit_options.get("seed", 0))
    pairs = read_pairs(data, limit, split_transcripts)
    if eval_data is not None:
        train, held = pairs, read_pairs(eval_data, None, split_transcripts)
    else:
        train, held = split_pairs(pairs, eval_fraction, seed)
    degenerate_counts = None
    if degenerate:
        from assay.train.degenerate import with_degenerate_pairs

        train, degenerate_counts = with_degenerate_pairs(train, degenerate, seed, *([degenerate_kinds] if degenerate_kinds else []))
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    head = fit_head([p.texts for p in train], eval_pairs=[p.texts for p in held], history=history, progress=progress, **fit_options)
    seconds = time.perf_counter() - started
    output = Path(output)
    path = head.save(output / HEAD_FILE)
    final = history[-1] if history else {}
    report = {
        "trainer": "head",
        "data": str(data),
        "eval_data": str(eval_data) if eval_data is not None else None,
        "pairs": {"train": len(train), "eval": len(held)},
        "options": {"eval_fraction": eval_fraction, "split_transcripts": split_transcripts, "degenerate": degenerate,
                    "degenerate_kinds": list(degenerate_kinds) if degenerate_kinds else None, **fit_options},
        "degenerate_pairs": degenerate_counts,
        "head": {"path": str(path), "bytes": path.stat().st_size, "config": head.config},
        "seconds": round(seconds, 2),
        "train_accuracy": final.get("accuracy"),
        "train_loss": final.get("loss"),
        "eval_accuracy": final.get("eval_accuracy"),
        "eval_loss": final.get("eval_loss"),
        "load_with": {"type": "embedding_head", "head": str(path)},
    }
    report["files"] = {k: str(v) for k, v in write_report(output, report, history, x="epoch").items()}
    report["history"] = history
    return report
