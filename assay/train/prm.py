"""Training a step-level PRM as token classification at step separators: :func:`train_prm`,
what ``assay train prm`` runs.

The installed TRL has no PRM trainer (TRL 0.x had ``PRMTrainer``; it is gone from
``trl.trainer`` and ``trl.experimental`` in this version), so this is transformers'
``Trainer`` on ``AutoModelForTokenClassification`` with two classes (0 wrong, 1 right): the
label sits at the last token of each step's separator and every other position is -100.
The inputs are tokenised by the ``prm`` reward's own :meth:`StepRewardModel.encode` (prompt +
``prompt_suffix``, then each step + separator), so the positions trained are exactly the
positions ``type: prm`` with ``convention: token_classification`` reads. A solution longer
than ``max_length`` keeps the steps whose read position fits and loses the rest, as the
reward with ``too_long: unscored`` leaves them unscored; the report's ``truncated`` counts
them (``too_long``: the solutions left out because not even their first step fits).
``wrong_weight`` weighs the wrong class in the cross-entropy (a custom ``compute_loss_func``).

Rows: ``{prompt, steps: [...], labels: [true/false, 1/0 or null, ...], group?}`` (null: a
step trained on by no label; rows of one ``group`` stay on one side of the split), or
PRMBench's rows, read through :mod:`assay.train.prmbench_steps` (PRMBench's own step labels,
``after_error`` for the other readings, one original solution per question). The eval split
is by group (a PRMBench question's solutions across the files stay on one side). The
report's ``eval_step_accuracy`` is measured through ``type: prm`` on the saved folder.
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
from assay.train.prmbench_steps import AfterError, LabelledSolution, is_prmbench_row, new_stats, solutions_of_row
from assay.train.report import write_report
from assay.types import Sample


@dataclass(frozen=True)
class StepExample:
    """One solution: its prompt, its steps, and whether each step is right (1), wrong (0)
    or unlabelled (None: context, trained on by no label)."""

    prompt: str
    steps: tuple[str, ...]
    labels: tuple[int | None, ...]
    line: int
    group: str = ""


def _example(solution: LabelledSolution) -> StepExample:
    return StepExample(solution.prompt, solution.steps, tuple(None if v is None else int(v) for v in solution.labels), solution.line, solution.group)


def examples_of_row(data: dict[str, Any], path: str | Path, line: int, after_error: AfterError = "prmbench") -> list[StepExample]:
    """The solutions in one row (see the module docstring); InputError names the field."""
    if is_prmbench_row(data):
        return [_example(s) for s in solutions_of_row(data, path, line, after_error)]
    if "steps" not in data:
        raise InputError(path, line, "steps", "missing (a row needs steps and labels, or PRMBench's original_process / modified_process)")
    steps = _steps(data["steps"], path, line, "steps")
    labels = data.get("labels")
    if not isinstance(labels, list) or len(labels) != len(steps):
        raise InputError(path, line, "labels", f"expected a list of {len(steps)} labels (one per step), got {labels!r}")
    for value in labels:
        if value is not None and value not in (0, 1) and not isinstance(value, bool):
            raise InputError(path, line, "labels", f"each label must be true/false, 1/0 or null (unlabelled), got {value!r}")
    if all(value is None for value in labels):
        raise InputError(path, line, "labels", "every label is null: the row teaches nothing")
    prompt = data.get("prompt") or ""
    if not isinstance(prompt, str):
        raise InputError(path, line, "prompt", "expected a string")
    group = data.get("group")
    if group is not None and not isinstance(group, (str, int)):
        raise InputError(path, line, "group", f"expected a string, got {type(group).__name__}")
    return [StepExample(prompt, steps, tuple(None if v is None else int(v) for v in labels), line, f"{Path(path).name}:{line}" if group is None else str(group))]


def _steps(value: Any, path: str | Path, line: int, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value) or not any(s.strip() for s in value):
        raise InputError(path, line, field, "expected a non-empty list of strings, not all empty")
    return tuple(value)


def read_step_rows(paths: list[str | Path] | str | Path, limit: int | None = None, after_error: AfterError = "prmbench",
                   stats: dict[str, int] | None = None) -> list[list[StepExample]]:
    """The solutions of one or several JSONL files, grouped (the first bad line raises):
    a group is a PRMBench ``idx`` (a question's solutions across the files, with one
    original solution per ``idx``, see :mod:`assay.train.prmbench_steps`), a step row's
    ``group``, or else the row. ``limit`` counts rows read; ``stats`` (PRMBench rows) is
    counted into as :func:`assay.train.prmbench_steps.new_stats` describes."""
    groups: dict[str, list[StepExample]] = {}
    originals: set[str] = set()
    count = 0
    for path in paths if isinstance(paths, list) else [paths]:
        for row in read_rows(path, required=(), text_fields=()):
            if is_prmbench_row(row.data):
                idx = row.data.get("idx")
                keep = idx is None or str(idx) not in originals
                solutions = solutions_of_row(row.data, path, row.line, after_error, keep_original=keep, stats=stats)
                if idx is not None and keep:
                    originals.add(str(idx))
                examples = [_example(s) for s in solutions]
            else:
                examples = examples_of_row(row.data, path, row.line, after_error)
            for example in examples:
                groups.setdefault(example.group, []).append(example)
            count += 1
            if limit is not None and count >= limit:
                return list(groups.values())
    if not groups:
        raise InputError(str(paths), 0, None, "no rows in the file")
    return list(groups.values())


def encode_examples(examples: list[StepExample], reward: StepRewardModel, tokenizer: Any, max_length: int) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """``input_ids`` / ``labels`` columns (labels -100 except at the labelled read
    positions) and the truncation counts. A solution longer than ``max_length`` keeps the
    steps whose read position fits (its ids end there; the later steps are neither input
    nor label, as ``type: prm`` with ``too_long: unscored`` leaves them unscored); one where
    not even the first step fits is left out."""
    columns: dict[str, list[Any]] = {"input_ids": [], "labels": []}
    counts = {"solutions": 0, "steps": 0, "left_out": 0}
    for example in examples:
        encoded = reward.encode(example.prompt, list(example.steps), tokenizer)
        ids, positions, step_labels = encoded.ids, encoded.positions, list(example.labels)
        if len(ids) > max_length:
            kept = sum(1 for position in positions if position < max_length)
            if kept == 0 or all(v is None for v in step_labels[:kept]):
                counts["left_out"] += 1
                continue
            counts["solutions"] += 1
            counts["steps"] += len(positions) - kept
            positions, step_labels = positions[:kept], step_labels[:kept]
            ids = ids[: positions[-1] + 1]
        labels = [-100] * len(ids)
        for position, label in zip(positions, step_labels, strict=True):
            if label is not None:
                labels[position] = label
        columns["input_ids"].append(ids)
        columns["labels"].append(labels)
    return columns, counts


def step_accuracy(folder: str | Path, examples: list[StepExample], separator: str, max_length: int, device: str | None = None) -> dict[str, Any]:
    """Step accuracy (P(right) >= 0.5 against the label) of the saved model through ``type: prm``
    (``too_long: unscored``: the steps past ``max_length`` are unscored and counted, not guessed)."""
    reward = StepRewardModel(model=str(folder), convention="token_classification", separator=separator, max_length=max_length,
                              too_long="unscored", device=device or "auto")
    judgments = reward.score([Sample(prompt=e.prompt, response="\n".join(e.steps), steps=list(e.steps)) for e in examples])
    right = total = failed = unscored = 0
    for example, judgment in zip(examples, judgments, strict=True):
        if not judgment.ok:
            failed += 1
            continue
        for score, label in zip(judgment.details["step_scores"], example.labels, strict=True):
            if label is None:
                continue
            if score is None:
                unscored += 1
                continue
            total += 1
            right += int((score >= 0.5) == bool(label))
    return {"step_accuracy": right / total if total else None, "steps": total, "unscored_steps": unscored, "solutions": len(examples), "failed": failed}


def train_prm(
    data: str | Path | list[str | Path],
    model: str,
    output: str | Path,
    *,
    step_separator: str = "\n",
    after_error: AfterError = "prmbench",
    wrong_weight: float = 1.0,
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

    conversion = new_stats()
    rows = read_step_rows(data if isinstance(data, list) else [data], limit, after_error, conversion)
    if eval_data is not None:
        train_rows, held_rows = rows, read_step_rows([eval_data], after_error=after_error)
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
    train_columns, train_cut = encode_examples(train, encoder, tokenizer, max_length)
    eval_columns, eval_cut = encode_examples(held, encoder, tokenizer, max_length) if held else ({}, {"solutions": 0, "steps": 0, "left_out": 0})
    if not train_columns["input_ids"]:
        raise ValueError(f"no training solution has a labelled step within max_length={max_length} tokens")
    if lora:
        from peft import LoraConfig, TaskType, get_peft_model

        net = get_peft_model(net, LoraConfig(task_type=TaskType.TOKEN_CLS, r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules="all-linear"))

    if wrong_weight <= 0:
        raise ValueError(f"wrong_weight must be above 0, got {wrong_weight}")
    class_weights = torch.tensor([wrong_weight, 1.0])

    def weighted_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        """Cross-entropy with the wrong class weighted (wrong steps are rare: 13% in PRMBench's
        training files); the mean over labelled positions, each weighted."""
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]).float(), labels.view(-1).to(logits.device),
                                                 weight=class_weights.to(logits.device), ignore_index=-100)

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
        compute_loss_func=weighted_loss if wrong_weight != 1.0 else None,
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
        "too_long": {"train": train_cut["left_out"], "eval": eval_cut["left_out"], "max_length": max_length},
        "prmbench_rows": conversion if conversion["rows"] else None,
        "truncated": {"train": {k: train_cut[k] for k in ("solutions", "steps")}, "eval": {k: eval_cut[k] for k in ("solutions", "steps")},
                      "max_length": max_length},
        "options": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed, "step_separator": step_separator,
                    "lora": {"r": lora_r, "alpha": lora_alpha} if lora else None, "eval_fraction": eval_fraction, "after_error": after_error,
                    "wrong_weight": wrong_weight},
        "seconds": round(seconds, 2),
        "train_loss": result.training_loss,
        "eval_accuracy": scored["step_accuracy"] if scored else None,
        "eval_scored": scored,
        "load_with": {"type": "prm", "model": str(output), "convention": "token_classification", "separator": step_separator, "max_length": max_length,
                      "too_long": "unscored"},
    }
    if trainer.is_world_process_zero():
        report["files"] = {k: str(v) for k, v in write_report(output, report, history, x="step").items()}
    report["history"] = history
    return report
