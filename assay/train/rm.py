"""Training a Bradley-Terry reward model on TRL's ``RewardTrainer``: :func:`train_rm`, what
``assay train rm`` runs.

The pairs (see :mod:`assay.train.pairs`) are tokenised here, by the ``classifier`` reward's
own ``text_of`` and ``encode`` (the model's chat template where it has one, else
``prompt\\n\\nresponse``; inputs over ``max_length`` lose their start, the first special
token kept, or with ``truncation_side="right"`` their end), so the model is trained on
exactly the token ids it is later scored on; the pairs that needed a cut are counted in the
report. TRL then trains with the loss
``-log sigmoid(r(chosen) - r(rejected) - margin)`` (the margin only when the data has one),
plus ``center_rewards * mean((r(chosen) + r(rejected))^2)`` when asked. LoRA goes through
peft (``task_type=SEQ_CLS``, so the score head is trained in full) and is merged before
saving. Checkpoints go to ``output/checkpoints`` (the last two kept; ``resume`` continues
from the newest), the model and tokenizer to ``output`` itself: a folder the ``classifier``
reward loads unchanged. The report's ``eval_accuracy`` is measured through that reward on
the held-out pairs. Under ``accelerate launch`` the same code trains on several GPUs.
Not here: the training loop (TRL's), the scoring (``assay.rewards.models.classifier``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.rewards.models.classifier import SequenceClassifierReward
from assay.train.hf_run import shared_arguments, train_and_save
from assay.train.pairs import Pair, pair_outcomes, read_pairs, split_pairs
from assay.train.report import write_report


def tokenise_pairs(pairs: list[Pair], tokenizer: Any, reward: SequenceClassifierReward, use_margin: bool) -> tuple[dict[str, list[Any]], int]:
    """TRL's pre-tokenised columns (``chosen_ids``, ``rejected_ids``, ``margin`` when the data
    has it) and the number of pairs with a truncated side."""
    columns: dict[str, list[Any]] = {"chosen_ids": [], "rejected_ids": []}
    margins = use_margin and all(p.margin is not None for p in pairs)
    if margins:
        columns["margin"] = []
    truncated = 0
    for pair in pairs:
        cut_any = False
        for sample, key in zip(pair.samples(), ("chosen_ids", "rejected_ids")):
            ids, cut = reward.encode(reward.text_of(sample, tokenizer), tokenizer)
            columns[key].append(ids)
            cut_any = cut_any or cut > 0
        truncated += cut_any
        if margins:
            columns["margin"].append(float(pair.margin))  # type: ignore[arg-type]
    return columns, truncated


def held_out_accuracy(folder: str | Path, pairs: list[Pair], max_length: int, chat_template: str, batch_size: int = 16, device: str | None = None,
                      truncation_side: str = "left") -> dict[str, Any]:
    """Accuracy of the saved model on ``pairs`` scored through ``type: classifier``
    (a failed score counts as wrong)."""
    reward = SequenceClassifierReward(model=str(folder), max_length=max_length, chat_template=chat_template, batch_size=batch_size,
                                      device=device or "auto", truncation_side=truncation_side)
    samples = [s for p in pairs for s in p.samples()]
    judgments = reward.score(samples)
    right, failed = pair_outcomes(judgments)
    return {"accuracy": right / len(pairs) if pairs else None, "pairs": len(pairs), "failed": failed}


def train_rm(
    data: str | Path,
    model: str,
    output: str | Path,
    *,
    eval_fraction: float = 0.1,
    eval_data: str | Path | None = None,
    limit: int | None = None,
    split_transcripts: bool = False,
    seed: int = 0,
    progress: bool = True,
    epochs: float = 1.0,
    lr: float = 1e-5,
    batch_size: int = 8,
    gradient_accumulation: int = 1,
    max_length: int = 1024,
    lora: bool = False,
    lora_r: int = 16,
    lora_alpha: int = 32,
    chat_template: str = "auto",
    truncation_side: str = "left",
    center_rewards: float | None = None,
    use_margin: bool = True,
    save_steps: int = 500,
    eval_steps: int | None = None,
    logging_steps: int = 10,
    resume: bool = False,
    device: str | None = None,
    degenerate: int = 0,
    degenerate_kinds: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train a reward model from ``model`` on a pairs file; write it to ``output`` with the
    report; return the report. ``degenerate`` adds that many degenerate pairs per training
    prompt (:mod:`assay.train.degenerate`), as ``assay train head`` does."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    pairs = read_pairs(data, limit, split_transcripts)
    train, held = (pairs, read_pairs(eval_data, None, split_transcripts)) if eval_data is not None else split_pairs(pairs, eval_fraction, seed)
    degenerate_counts = None
    if degenerate:
        if use_margin and any(p.margin is not None for p in train):
            raise ValueError(f"{data}: --degenerate pairs have no margin; with margins in the data, pass --no-margin too")
        from assay.train.degenerate import with_degenerate_pairs

        train, degenerate_counts = with_degenerate_pairs(train, degenerate, seed, *([degenerate_kinds] if degenerate_kinds else []))
    output = Path(output)
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(seed)  # the score head's initial weights
    net = AutoModelForSequenceClassification.from_pretrained(model, num_labels=1, ignore_mismatched_sizes=True)  # a fresh head where the base has another
    net.config.pad_token_id = tokenizer.pad_token_id
    encoder = SequenceClassifierReward(model=model, max_length=max_length, chat_template=chat_template, truncation_side=truncation_side)
    train_columns, train_cut = tokenise_pairs(train, tokenizer, encoder, use_margin)
    eval_columns, eval_cut = tokenise_pairs(held, tokenizer, encoder, use_margin) if held else ({}, 0)
    peft_config = None
    if lora:
        from peft import LoraConfig, TaskType

        peft_config = LoraConfig(task_type=TaskType.SEQ_CLS, r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules="all-linear")
    args = RewardConfig(
        **shared_arguments(output, epochs=epochs, lr=lr, batch_size=batch_size, gradient_accumulation=gradient_accumulation, seed=seed,
                           save_steps=save_steps, eval_steps=eval_steps, has_eval=bool(held), logging_steps=logging_steps, progress=progress, device=device),
        max_length=max_length,  # already cut as scoring cuts: TRL's length filter drops nothing
        center_rewards_coefficient=center_rewards,
    )
    trainer = RewardTrainer(
        model=net,
        args=args,
        train_dataset=Dataset.from_dict(train_columns),
        eval_dataset=Dataset.from_dict(eval_columns) if held else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    result, seconds = train_and_save(trainer, output, tokenizer, resume=resume, lora=bool(lora))
    history = [_history_row(row) for row in trainer.state.log_history]
    scored = held_out_accuracy(output, held, max_length, chat_template, device=device, truncation_side=truncation_side) if held and trainer.is_world_process_zero() else None
    report = {
        "trainer": "rm",
        "data": str(data),
        "eval_data": str(eval_data) if eval_data is not None else None,
        "base_model": model,
        "pairs": {"train": len(train), "eval": len(held)},
        "degenerate_pairs": degenerate_counts,
        "truncated": {"train": train_cut, "eval": eval_cut, "max_length": max_length, "side": truncation_side},
        "margin": "margin" in train_columns,
        "options": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "gradient_accumulation": gradient_accumulation, "seed": seed,
                    "lora": {"r": lora_r, "alpha": lora_alpha} if lora else None, "center_rewards": center_rewards,
                    "chat_template": chat_template, "eval_fraction": eval_fraction, "split_transcripts": split_transcripts},
        "seconds": round(seconds, 2),
        "pairs_per_second": result.metrics.get("train_samples_per_second"),  # TRL's count: one sample is one pair
        "train_loss": result.training_loss,
        "eval_accuracy": scored["accuracy"] if scored else None,
        "eval_scored": scored,
        "eval_accuracy_trainer": next((row["eval_accuracy"] for row in reversed(history) if "eval_accuracy" in row), None),
        "load_with": {"type": "classifier", "model": str(output), "max_length": max_length, "chat_template": chat_template, "truncation_side": truncation_side},
    }
    if trainer.is_world_process_zero():
        report["files"] = {k: str(v) for k, v in write_report(output, report, history, x="step").items()}
    report["history"] = history
    return report


def _history_row(row: dict[str, Any]) -> dict[str, Any]:
    """A log row of the trainer's state, with ``step`` and ``epoch`` kept."""
    return {k: v for k, v in row.items() if isinstance(v, (int, float))}
