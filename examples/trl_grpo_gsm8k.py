"""GRPO on GSM8K with TRL, rewarded by assay: math correctness, answer format, and a semantic
term, each logged by TRL with its rationale.

The policy defaults to the packaged Gemma-3-270M (converted once from its GGUF file to a
Hugging Face folder by ``assay.backends.local_models``); any causal LM folder works with
``--model``. On a laptop CPU, two steps with tiny settings take a few minutes::

    python examples/trl_grpo_gsm8k.py --max-steps 2 --num-generations 2 --max-completion-length 24

On a GPU, raise ``--batch-size``, ``--num-generations`` and ``--max-completion-length``.
Rationales for every completion are in TRL's completions table (columns
``rationale/<reward>``) and, with ``--rationales-out``, in a JSONL file, one row per
completion and step.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "trl_grpo_gsm8k.yaml"
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "gsm8k" / "train.jsonl"

PROMPT = (
    "Solve the problem. Think step by step, then write the final number inside <answer></answer>.\n\n"
    "Problem: {question}\nSolution:"
)


def load_gsm8k(path: str | Path, limit: int | None = None) -> Any:
    """GSM8K rows as a datasets.Dataset with ``prompt`` (text) and ``answer`` (the worked solution)."""
    from datasets import Dataset

    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            rows.append({"prompt": PROMPT.format(question=row["question"].strip()), "answer": row["answer"]})
            if limit and len(rows) >= limit:
                break
    return Dataset.from_list(rows)


class RationaleRecorder:
    """A TRL/transformers callback that keeps, at each log, the completions TRL logged with
    their per-reward scores and assay rationales (and appends them to a JSONL file if given)."""

    def __init__(self, out_path: str | Path | None = None) -> None:
        self.trainer: Any = None
        self.out_path = Path(out_path) if out_path else None
        self.records: list[dict[str, Any]] = []
        self._seen: tuple[Any, ...] | None = None  # the log content last captured

    def _as_callback(self) -> Any:
        from transformers import TrainerCallback

        recorder = self

        class _Callback(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
                recorder.capture(state.global_step)

        return _Callback()

    def capture(self, step: int) -> None:
        logs = getattr(self.trainer, "_logs", None)
        if not logs:
            return
        completions = list(logs["completion"])
        rewards = {name: list(values) for name, values in logs["rewards"].items()}
        extra = {column: list(values) for column, values in logs["extra"].items()}
        content = (tuple(map(str, completions)), tuple(str(v) for values in rewards.values() for v in values))
        if content == self._seen:  # the same generation logged again (the final summary, steps_per_generation > 1)
            return
        self._seen = content
        new = []
        for i, completion in enumerate(completions):
            record = {"step": step, "completion": completion}
            record.update({f"reward/{name}": values[i] for name, values in rewards.items() if i < len(values)})
            record.update({column: values[i] for column, values in extra.items() if i < len(values)})
            new.append(record)
        self.records.extend(new)
        if self.out_path:
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.out_path, "a", encoding="utf-8") as out:
                for record in new:
                    out.write(json.dumps(record, default=str) + "\n")


def build_trainer(
    model: str | None = None,
    config: str | Path = DEFAULT_CONFIG,
    data: str | Path = DEFAULT_DATA,
    output_dir: str | Path = "runs/trl_grpo_gsm8k",
    max_steps: int = 2,
    batch_size: int = 2,
    num_generations: int = 2,
    max_completion_length: int = 24,
    learning_rate: float = 1e-6,
    num_prompts: int = 64,
    rationales_out: str | Path | None = None,
    seed: int = 0,
) -> tuple[Any, RationaleRecorder]:
    """A ready GRPOTrainer on GSM8K with assay's rewards, and the recorder of its rationales."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from assay.integrations.trl import reward_funcs

    if model is None:
        from assay.backends.local_models import default_causal_lm_path, force_offline

        force_offline()
        model = str(default_causal_lm_path())
    tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    policy = AutoModelForCausalLM.from_pretrained(model, local_files_only=True, dtype=torch.float32)
    funcs, weights = reward_funcs(str(config), reference_column="answer")
    args = GRPOConfig(
        output_dir=str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        num_generations=num_generations,
        max_completion_length=max_completion_length,
        learning_rate=learning_rate,
        reward_weights=weights,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=False,
        use_cpu=not torch.cuda.is_available(),
        seed=seed,
        temperature=1.0,
        log_completions=False,
        dataloader_num_workers=0,
    )
    recorder = RationaleRecorder(rationales_out)
    trainer = GRPOTrainer(
        model=policy,
        processing_class=tokenizer,
        reward_funcs=funcs,
        args=args,
        train_dataset=load_gsm8k(data, limit=num_prompts),
        callbacks=[recorder._as_callback()],
    )
    recorder.trainer = trainer
    return trainer, recorder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="causal LM folder (default: the packaged Gemma-3-270M)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="assay reward config")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="GSM8K train.jsonl ({question, answer} rows)")
    parser.add_argument("--output-dir", default="runs/trl_grpo_gsm8k")
    parser.add_argument("--max-steps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2, help="completions per device per step")
    parser.add_argument("--num-generations", type=int, default=2)
    parser.add_argument("--max-completion-length", type=int, default=24)
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--num-prompts", type=int, default=64)
    parser.add_argument("--rationales-out", help="append every completion's scores and rationales here (JSONL)")
    args = parser.parse_args(argv)
    if not Path(args.data).is_file():
        print(f"error: {args.data}: GSM8K file not found (pass --data)", file=sys.stderr)
        return 2
    trainer, recorder = build_trainer(
        args.model, args.config, args.data, args.output_dir, args.max_steps, args.batch_size, args.num_generations,
        args.max_completion_length, args.learning_rate, args.num_prompts, args.rationales_out,
    )
    trainer.train()
    for entry in trainer.state.log_history:
        shown = {k: v for k, v in entry.items() if re.match(r"(reward|rewards/|loss|step)", k)}
        print(json.dumps(shown))
    for record in recorder.records[-2:]:
        print(json.dumps({k: v for k, v in record.items() if k.startswith(("reward/", "rationale/"))}, default=str)[:600])
    return 0


if __name__ == "__main__":
    sys.exit(main())
