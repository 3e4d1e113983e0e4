"""What every trainer built on a Hugging Face ``Trainer`` (TRL's ``RewardTrainer``,
transformers' ``Trainer``) sets the same way: the shared training arguments, and running,
resuming and saving so that the output folder is the model the reward types load.

Not here: the data, the model class, the loss: those are each trainer's own (``rm.py``,
``prm.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def shared_arguments(output: Path, *, epochs: float, lr: float, batch_size: int, gradient_accumulation: int, seed: int,
                     save_steps: int, eval_steps: int | None, has_eval: bool, logging_steps: int, progress: bool, device: str) -> dict[str, Any]:
    """Keyword arguments for ``TrainingArguments`` (or a subclass such as TRL's ``RewardConfig``):
    checkpoints under ``output/checkpoints`` (the last two kept), one seed for the model and the
    data order, evaluation every ``eval_steps`` (else every epoch) when there is a held-out set."""
    arguments = {
        "output_dir": str(output / "checkpoints"),
        "num_train_epochs": epochs,
        "learning_rate": lr,
        "per_device_train_batch_size": batch_size,
        "per_device_eval_batch_size": batch_size,
        "gradient_accumulation_steps": gradient_accumulation,
        "seed": seed,
        "data_seed": seed,
        "save_strategy": "steps",
        "save_steps": save_steps,
        "save_total_limit": 2,
        "eval_strategy": ("steps" if eval_steps else "epoch") if has_eval else "no",
        "eval_steps": eval_steps,
        "logging_steps": logging_steps,
        "report_to": "none",
        "disable_tqdm": not progress,
        "use_cpu": device == "cpu",
    }
    if not bf16_available(device):
        arguments["bf16"] = False  # TRL's configs default to bf16, which a CPU (or a pre-Ampere GPU) refuses under accelerate launch
    return arguments


def bf16_available(device: str | None) -> bool:
    """Whether to train in bf16 mixed precision: on a GPU that supports it, unless told ``cpu``."""
    import torch

    return device != "cpu" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def train_and_save(trainer: Any, output: Path, tokenizer: Any, *, resume: bool, lora: bool) -> tuple[Any, float]:
    """Train (from the newest checkpoint when ``resume`` and one exists), save a LoRA adapter
    alone to ``output/adapter`` (its base named in ``adapter_config.json``; the reward types
    load either folder) and merge it into the model, and save model and tokenizer to
    ``output`` on the main process; returns the train result and the seconds it took."""
    started = time.perf_counter()
    checkpoint = resume and any((output / "checkpoints").glob("checkpoint-*"))
    result = trainer.train(resume_from_checkpoint=True if checkpoint else None)
    seconds = time.perf_counter() - started
    if lora and trainer.is_world_process_zero():  # the adapter alone (a few MB), before merging changes the model
        trainer.model.save_pretrained(str(output / "adapter"))
    final_model = trainer.model.merge_and_unload() if lora else trainer.model
    if trainer.is_world_process_zero():
        final_model.save_pretrained(str(output))
        tokenizer.save_pretrained(str(output))
    trainer.accelerator.wait_for_everyone()
    return result, seconds
