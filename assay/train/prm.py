"""Training a step-level PRM as token classification at step separators: :func:`train_prm`,
what ``assay train prm`` runs.

The installed TRL has no PRM trainer (TRL 0.x had ``PRMTrainer``; it is gone from
``trl.trainer`` and ``trl.experimental`` in this version), so this is transformers'
``Trainer`` on ``AutoModelForTokenClassification`` with two classes (0 wrong, 1 right): the
label sits at the last token of each step's separator and every other position is -100.
The inputs are tokenised by the ``prm`` reward's own :meth:`StepRewardModel.encode` (prompt +
``prompt_suffix``, then each step + separator), so the positions trained are exactly the
positions ``type: prm`` with ``convention: token_classification`` reads. A solution longer
than ``max_length`` is left out (the reward fails such inputs rather than cut them) and
counted in the report.

Rows: ``{prompt, steps: [...], labels: [true/false or 1/0, ...]}``, or PRMBench's rows
(``original_question``/``modified_question``, ``original_process`` -- all steps right --
and ``modified_process`` with ``error_steps``, 1-based, the wrong ones), each of which gives
two solutions. The eval split is by row, so both solutions of a question stay on one side.
The report's ``eval_step_accuracy`` is measured through ``type: prm`` on the saved folder.
Not here: benchmarking on PRMBench's test files (``assay bench prmbench``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.files.jsonl import InputError, read_rows
from assay.rewards.process.prm import StepRewardModel
from assay.train.hf_run import shared_arguments, train_and_save
from assay.train.pairs import split_pairs
from assay.train.report import write_report
from assay.types import Sample


@dataclass(frozen=True)
class StepExample:
    """One solution: its prompt, its steps, and whether each step is right."""

    prompt: str
    steps: tuple[str, ...]
    labels: tuple[int, ...]
    line: int


def examples_of_row(data: dict[str, Any], path: str | Path, line: int) -> list[StepExample]:
    """The solutions in one row (see the module docstring); InputError names the field."""
    if "original_process" in data or "modified_process" in data:
        question = data.get("original_question") or data.get("question") or ""
        out = []
        if data.get("original_process") is not None:
            steps = _steps(data["original_process"], path, line, "original_process")
            out.append(StepExample(question, steps, (1,) * len(steps), line))
        if data.get("modified_process") is not None:
            steps = _steps(data["modified_process"], path, line, "modified_process")
            errors = data.get("error_steps")
            if not isinstance(errors, list) or not all(isinstance(e, int) and not isinstance(e, bool) and 1 <= e <= len(steps) for e in errors):
                raise InputError(path, line, "error_steps", f"expected a list of 1-based step numbers up to {len(steps)}, got {errors!r}")
            wrong = set(errors)
            out.append(StepExample(data.get("modified_question") or question, steps, tuple(0 if k + 1 in wrong else 1 for k in range(len(steps))), line))
        return out
    if "steps" not in data:
        raise InputError(path, line, "steps", "missing (a row needs steps and labels, or PRMBench's original_process / modified_process)")
    steps = _steps(data["steps"], path, line, "steps")
    labels = data.get("labels")
    if not isinstance(labels, list) or len(labels) != len(steps):
        raise InputError(path, line, "labels", f"expected a list of {len(steps)} labels (one per step), got {labels!r}")
    for value in labels:
        if value not in (0, 1) and not isinstance(value, bool):
            raise InputError(path, line, "labels", f"each label must be true/false or 1/0, got {value!r}")
    prompt = data.get("prompt") or ""
    if not isinstance(prompt, str):
        raise InputError(path, line, "prompt", "expected a string")
    return [StepExample(prompt, steps, tuple(int(v) for v in labels), line)]


def _steps(value: Any, path: str | Path, line: int, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise InputError(path, line, field, "expected a non-empty list of non-empty strings")
    return tuple(value)


def read_step_rows(paths: list[str | Path] | str | Path, limit: int | None = None) -> list[list[StepExample]]:
    """The solutions of each row of one or several JSONL files (the first bad line raises)."""
    rows: list[list[StepExample]] = []
    for path in paths if isinstance(paths, list) else [paths]:
        for row in read_rows(path, required=(), text_fields=()):
            rows.append(examples_of_row(row.data, path, row.line))
            if limit is not None and len(rows) >= limit:
                return rows
    if not rows:
        raise InputError(str(paths), 0, None, "no rows in the file")
    return rows


def encode_examples(examples: list[StepExample], reward: StepRewardModel, tokenizer: Any, max_length: int) -> tuple[dict[str, list[Any]], int]:
    """``input_ids`` / ``labels`` columns (labels -100 except at the read positions) and the
    number of solutions left out for being longer than ``max_length``."""
    columns: dict[str, list[Any]] = {"input_ids": [], "labels": []}
    too_long = 0
    for example in examples:
        encoded = reward.encode(example.prompt, list(example.steps), tokenizer)
        if len(encoded.ids) > max_length:
            too_long += 1
            continue
        labels = [-100] * len(encoded.ids)
        for position, label in zip(encoded.positions, example.labels, strict=True):
            labels[position] = label
        columns["input_ids"].append(encoded.ids)
        columns["labels"].append(labels)
    return columns, too_long


def step_accuracy(folder: str | Path, examples: list[StepExample], separator: str, max_length: int, device: str | None = None) -> dict[str, Any]:
    """Step accuracy (P(right) >= 0.5 against the label) of the saved model through ``type: prm``."""
    reward = StepRewardModel(model=str(folder), convention="token_classification", separator=separator, max_length=max_length,
                              device=device or "auto")
    judgments = reward.score([Sample(prompt=e.prompt, response="\n".join(e.steps), steps=list(e.steps)) for e in examples])
    right = total = failed = 0
    for example, judgment in zip(examples, judgments, strict=True):
        if not judgment.ok:
            failed += 1
            continue
        for score, label in zip(judgment.details["step_scores"], example.labels, strict=True):
            total += 1
            right += int((score >= 0.5) == bool(label))
    return {"step_accuracy": right / total if total else None, "steps": total, "solutions": len(examples), "failed": failed}


def train_prm(
    data: str | Path | list[str | Path],
    model: str,
    output: str | Path,
    *,
    step_separator: str = "\n",
    eval_fraction: float = 0.1,
    eval_data: str | Path | None = None,
    limit: int | None = None,
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
    save_steps: int = 500,
    eval_steps: int | None = None,
    logging_steps: int = 10,
    resume: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    """Train a token-classification PRM from ``model`` on step-labelled rows; write it to
    ``output`` with the report; return the report. ``chat_template`` is accepted for the
    CLI's shared options and unused: ``type: prm`` reads plain text."""
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification, Trainer, TrainingArguments

    rows = read_step_rows(data if isinstance(data, list) else [data], limit)
    if eval_data is not None:
        train_rows, held_rows = rows, read_step_rows([eval_data])
    else:
        train_rows, held_rows = split_pairs(rows, eval_fraction, seed)  # type: ignore[arg-type]
    train = [e for row in train_rows for e in row]
    held = [e for row in held_rows for e in row]
    output = Path(output)
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(seed)
    net = AutoModelForTokenClassification.from_pretrained(model, num_labels=2, id2label={0: "wrong", 1: "right"}, label2id={"wrong": 0, "right": 1},
                                                           ignore_mismatched_sizes=True)  # a base with another head gets a fresh one
    net.config.pad_token_id = tokenizer.pad_token_id
    encoder = StepRewardModel(model=model, convention="token_classification", separator=step_separator, max_length=max_length)
    train_columns, train_long = encode_examples(train, encoder, tokenizer, max_length)
    eval_columns, eval_long = encode_examples(held, encoder, tokenizer, max_length) if held else ({}, 0)
    if not train_columns["input_ids"]:
        raise ValueError(f"every training solution is longer than max_length={max_length} tokens")
    if lora:
        from peft import LoraConfig, TaskType, get_peft_model

        net = get_peft_model(net, LoraConfig(task_type=TaskType.TOKEN_CLS, r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules="all-linear"))

    def logits_to_classes(logits: Any, labels: Any) -> Any:
        return logits.argmax(-1)

    def metrics(prediction: Any) -> dict[str, float]:
        predicted, labels = np.asarray(prediction.predictions), np.asarray(prediction.label_ids)
        mask = labels != -100
        return {"step_accuracy": float((predicted[mask] == labels[mask]).mean()) if mask.any() else float("nan")}

    has_eval = bool(eval_columns.get("input_ids"))
    args = TrainingArguments(
        **shared_arguments(output, epochs=epochs, lr=lr, batch_size=batch_size, gradient_accumulation=gradient_accumulation, seed=seed,
                           save_steps=save_steps, eval_steps=eval_steps, has_eval=bool(has_eval), logging_steps=logging_steps, progress=progress, device=device),
    )
    trainer = Trainer(
        model=net,
        args=args,
        train_dataset=Dataset.from_dict(train_columns),
        eval_dataset=Dataset.from_dict(eval_columns) if has_eval else None,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=metrics if has_eval else None,
        preprocess_logits_for_metrics=logits_to_classes if has_eval else None,
    )
    result, seconds = train_and_save(trainer, output, tokenizer, resume=resume, lora=bool(lora))
    history = [{k: v for k, v in row.items() if isinstance(v, (int, float))} for row in trainer.state.log_history]
    for row in history:  # the plot's names: loss / accuracy, eval_ prefixed
        if "eval_step_accuracy" in row:
            row["eval_accuracy"] = row["eval_step_accuracy"]
    scored = step_accuracy(output, held, step_separator, max_length, device=device) if held and trainer.is_world_process_zero() else None
    report = {
        "trainer": "prm",
        "data": [str(p) for p in data] if isinstance(data, list) else str(data),
        "eval_data": str(eval_data) if eval_data is not None else None,
        "base_model": model,
        "examples": {"train": len(train_columns["input_ids"]), "eval": len(eval_columns.get("input_ids", []))},
        "too_long": {"train": train_long, "eval": eval_long, "max_length": max_length},
        "options": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed, "step_separator": step_separator,
                    "lora": {"r": lora_r, "alpha": lora_alpha} if lora else None, "eval_fraction": eval_fraction},
        "seconds": round(seconds, 2),
        "train_loss": result.training_loss,
        "eval_accuracy": scored["step_accuracy"] if scored else None,
        "eval_scored": scored,
        "load_with": {"type": "prm", "model": str(output), "convention": "token_classification", "separator": step_separator, "max_length": max_length},
    }
    if trainer.is_world_process_zero():
        report["files"] = {k: str(v) for k, v in write_report(output, report, history, x="step").items()}
    report["history"] = history
    return report
