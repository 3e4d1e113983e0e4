"""A generative reward model (the Think-RM / RM-R1 recipe): a causal LM learns to write a
critique and a verdict, by GRPO on TRL's ``GRPOTrainer`` rewarded with assay's own rewards
through assay's TRL adapter (:mod:`assay.integrations.trl`): :func:`train_genrm`, what
``assay train genrm`` runs.

Each pair row (``prompt, chosen, rejected``, or ``assay compare``'s ``response_a,
response_b, label``; see :mod:`assay.train.pairs`) becomes one GRPO prompt: the pairwise
judge's own prompt (``judge_pairwise.txt``, rendered by ``pairwise_judge.build_messages``,
ties not offered) with the two responses in a seeded random order per row, so the label is
A as often as B and position is no shortcut. The prompt text is what ``backend: local``
sends the saved folder (the tokenizer's chat template, else plain ``role: content`` lines),
so the trained model is loaded as ``comparator: {type: pairwise_judge, backend: local,
local_model: OUT}`` and sees the prompt it was trained on.

The reward is an assay config passed to ``reward_funcs`` (one TRL reward function per term,
each logged by TRL as ``rewards/<name>/mean``):

- ``verdict`` (``type: verdict_match``): 1 when the verdict the judges' parser reads matches
  the label, else 0: its per-step mean is the verdict accuracy on the step's completions;
- ``readable`` (``verdict_match, check: parses``, weight ``format_weight``, optional): 1 when
  a verdict can be read at all;
- ``length`` (``length_penalty``, weight ``length_weight``, optional): 0 up to
  ``length_budget`` words, then down to -1.

With ``sft_warmup``, rows that carry a ``rationale`` field first train one supervised pass
(TRL's ``SFTTrainer``, loss on the completion only): the completion is the rationale
followed by the verdict line for the shown order (so a rationale should speak of the
responses by content, not by position). Then GRPO continues from that model. LoRA goes
through peft and is merged before saving; ``output`` then holds the model and tokenizer, and
``report.json`` the per-step log (reward, verdict accuracy, readable share, loss, KL) and,
unless ``eval_fraction`` is 0, the held-out verdict accuracy of the saved folder through
``pairwise_judge`` with ``backend: local`` (greedy; an unreadable verdict counts as wrong
and is counted). Under ``accelerate launch`` the same code trains on several GPUs (TRL's
DDP / DeepSpeed / FSDP). Not here: the training loop (TRL's), the verdict parser (the
judges'), the adapter (``assay.integrations.trl``).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from assay.backends.local import render_chat
from assay.files.jsonl import InputError, read_rows
from assay.train.hf_run import shared_arguments, train_and_save
from assay.train.pairs import Pair, pair_of_row, split_pairs
from assay.train.report import write_report
from assay.types import Pair as ShownPair

LABEL_COLUMN = "label"


def reward_config(format_weight: float = 0.0, length_weight: float = 0.0, length_budget: int = 400) -> dict[str, Any]:
    """The assay config GRPO is rewarded with (see the module docstring)."""
    rewards: dict[str, Any] = {"verdict": {"type": "verdict_match", "weight": 1.0}}
    if format_weight:
        rewards["readable"] = {"type": "verdict_match", "check": "parses", "weight": format_weight}
    if length_weight:
        rewards["length"] = {"type": "length_penalty", "max_tokens": length_budget, "weight": length_weight}
    return {"rewards": rewards, "combine": {"method": "weighted_sum", "on_failure": "fail"}}


def read_rationale_pairs(path: str | Path, limit: int | None = None) -> list[tuple[Pair, str | None]]:
    """Every pair of a JSONL file with its ``rationale`` (None when the row has none)."""
    out: list[tuple[Pair, str | None]] = []
    for row in read_rows(path, required=(), text_fields=("prompt", "chosen", "rejected", "response_a", "response_b")):
        rationale = row.data.get("rationale")
        if rationale is not None and (not isinstance(rationale, str) or not rationale.strip()):
            raise InputError(path, row.line, "rationale", "must be non-empty text when given")
        out.append((pair_of_row(row.data, path, row.line), rationale))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise InputError(path, 0, None, "no pairs in the file")
    return out


def shown(pair: Pair, seed: int) -> tuple[ShownPair, str]:
    """The pair in its seeded order for this row, and the label (``A`` or ``B``) of the chosen one."""
    swap = random.Random(f"{seed}:{pair.line}:genrm-order").random() < 0.5
    a, b = (pair.rejected, pair.chosen) if swap else (pair.chosen, pair.rejected)
    return ShownPair(pair.prompt, a, b), "B" if swap else "A"


def judge_messages(pair: ShownPair) -> list[dict[str, str]]:
    """The pairwise judge's messages for a pair (its packaged prompt, no tie offered)."""
    from assay.rewards.judges.pairwise import PairwiseJudge

    return PairwiseJudge(allow_tie=False, client=_NoBackend()).build_messages(pair)


class _NoBackend:
    """The judge here only renders prompts: it never calls a backend."""

    async def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("genrm renders the judge's prompt only; no backend is called")


def grpo_rows(pairs: list[Pair], tokenizer: Any, seed: int) -> list[dict[str, Any]]:
    """GRPO's dataset rows: ``prompt`` (the rendered judge prompt) and ``label``."""
    rows = []
    for pair in pairs:
        view, label = shown(pair, seed)
        rows.append({"prompt": render_chat(tokenizer, judge_messages(view), fallback="plain"), LABEL_COLUMN: label, "line": pair.line})
    return rows


def sft_rows(pairs: list[tuple[Pair, str | None]], tokenizer: Any, seed: int) -> list[dict[str, str]]:
    """SFT's prompt-completion rows for the pairs with a rationale."""
    rows = []
    for pair, rationale in pairs:
        if rationale is None:
            continue
        view, label = shown(pair, seed)
        completion = f"{rationale.strip()}\n\n[[{label}]]" + (tokenizer.eos_token or "")
        rows.append({"prompt": render_chat(tokenizer, judge_messages(view), fallback="plain"), "completion": completion})
    return rows


def held_out_verdicts(folder: str | Path, pairs: list[Pair], seed: int, max_tokens: int, device: str | None) -> dict[str, Any]:
    """The saved folder as ``pairwise_judge`` (``backend: local``, greedy) on ``pairs`` in their
    seeded order: accuracy (an unreadable verdict or a failure counts as wrong) and counts."""
    from assay.rewards.judges.pairwise import PairwiseJudge
    from assay.types import outcome

    judge = PairwiseJudge(backend="local", local_model=str(folder), allow_tie=False, max_tokens=max_tokens, temperature=0.0,
                          device=device or "cpu", concurrency=1, timeout=600)
    views = [shown(p, seed) for p in pairs]
    started = time.perf_counter()
    preferences = judge.compare([v for v, _ in views])
    seconds = time.perf_counter() - started
    right = 0
    outcomes: dict[str, int] = {}
    for (_, label), preference in zip(views, preferences):
        kind = outcome(preference)
        outcomes[kind] = outcomes.get(kind, 0) + 1
        right += preference.ok and preference.winner == label.lower()
    return {"accuracy": right / len(pairs), "pairs": len(pairs), "outcomes": outcomes, "seconds_per_pair": seconds / len(pairs)}


def train_genrm(
    data: str | Path,
    model: str | None,
    output: str | Path,
    *,
    eval_fraction: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = True,
    max_steps: int = 100,
    lr: float = 1e-6,
    batch_size: int = 4,
    gradient_accumulation: int = 1,
    num_generations: int = 4,
    max_prompt_length: int | None = 1024,
    max_completion_length: int = 256,
    temperature: float = 1.0,
    beta: float = 0.0,
    format_weight: float = 0.0,
    length_weight: float = 0.0,
    length_budget: int = 400,
    sft_warmup: bool = False,
    sft_epochs: float = 1.0,
    sft_lr: float = 1e-5,
    lora: bool = False,
    lora_r: int = 16,
    lora_alpha: int = 32,
    save_steps: int = 500,
    logging_steps: int = 1,
    resume: bool = False,
    device: str | None = None,
    eval_max_tokens: int | None = None,
) -> dict[str, Any]:
    """GRPO-train a generative RM from ``model`` (default: the packaged Gemma-3-270M) on a
    pairs file; write it to ``output`` with the report; return the report."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from assay.integrations.trl import reward_funcs

    if model is None:
        from assay.backends.local_models import default_causal_lm_path, force_offline

        force_offline()
        model = str(default_causal_lm_path())
    rows = read_rationale_pairs(data, limit)
    rationale_of = {pair.line: rationale for pair, rationale in rows}
    train, held = split_pairs([pair for pair, _ in rows], eval_fraction, seed)
    output = Path(output)
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(seed)
    net = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    peft_config = None
    if lora:
        from peft import LoraConfig, TaskType

        peft_config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules="all-linear")
    common = dict(batch_size=batch_size, gradient_accumulation=gradient_accumulation, seed=seed, save_steps=save_steps, eval_steps=None,
                  has_eval=False, logging_steps=logging_steps, progress=progress, device=device)
    sft_report = None
    if sft_warmup:
        net, sft_report = _sft_warmup(net, tokenizer, [(p, rationale_of[p.line]) for p in train], output, seed, sft_epochs, sft_lr, common,
                                      max_prompt_length, max_completion_length, peft_config)
    config = reward_config(format_weight, length_weight, length_budget)
    funcs, weights = reward_funcs(config, reference_column=LABEL_COLUMN)
    args = GRPOConfig(
        **shared_arguments(output, epochs=1.0, lr=lr, **common),
        max_steps=max_steps,
        num_generations=num_generations,
        max_completion_length=max_completion_length,
        temperature=temperature,
        beta=beta,
        reward_weights=weights,
        log_completions=False,
        dataloader_num_workers=0,
    )
    if max_prompt_length is not None and hasattr(args, "max_prompt_length"):
        args.max_prompt_length = max_prompt_length
    trainer = GRPOTrainer(
        model=net,
        processing_class=tokenizer,
        reward_funcs=funcs,
        args=args,
        train_dataset=Dataset.from_list(grpo_rows(train, tokenizer, seed)),
        peft_config=peft_config if not sft_warmup else None,  # after a LoRA warm-up the adapter is merged: GRPO trains it in full
    )
    result, seconds = train_and_save(trainer, output, tokenizer, resume=resume, lora=bool(lora) and not sft_warmup)
    history = [_step_row(row) for row in trainer.state.log_history]
    steps = [row for row in history if "verdict_accuracy" in row]
    scored = None
    if held and trainer.is_world_process_zero():
        scored = held_out_verdicts(output, held, seed, eval_max_tokens or max_completion_length, device)
    report = {
        "trainer": "genrm",
        "data": str(data),
        "base_model": model,
        "pairs": {"train": len(train), "eval": len(held), "with_rationale": sum(r is not None for _, r in rows)},
        "reward_config": config,
        "options": {"max_steps": max_steps, "lr": lr, "batch_size": batch_size, "gradient_accumulation": gradient_accumulation,
                    "num_generations": num_generations, "max_completion_length": max_completion_length, "temperature": temperature,
                    "beta": beta, "seed": seed, "lora": {"r": lora_r, "alpha": lora_alpha} if lora else None, "sft_warmup": sft_warmup,
                    "eval_fraction": eval_fraction},
        "sft": sft_report,
        "seconds": round(seconds, 2),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "verdict_accuracy_first_step": steps[0]["verdict_accuracy"] if steps else None,
        "verdict_accuracy_last_step": steps[-1]["verdict_accuracy"] if steps else None,
        "eval_accuracy": scored["accuracy"] if scored else None,
        "eval_scored": scored,
        "load_with": {"comparator": {"type": "pairwise_judge", "backend": "local", "local_model": str(output), "allow_tie": False,
                                     "max_tokens": max_completion_length}},
    }
    if trainer.is_world_process_zero():
        report["files"] = {k: str(v) for k, v in write_report(output, report, history, x="step").items()}
    report["history"] = history
    return report


def _step_row(row: dict[str, Any]) -> dict[str, Any]:
    """A log row with the verdict terms under plain names (``verdict_accuracy``: the step's
    mean verdict reward, i.e. the share of completions whose verdict matched the label)."""
    out = {k: v for k, v in row.items() if isinstance(v, (int, float))}
    for source, name in (("rewards/verdict/mean", "verdict_accuracy"), ("rewards/readable/mean", "readable")):
        if source in out:
            out[name] = out[source]
    if "reward" in out:
        out["accuracy"] = out.get("verdict_accuracy", out["reward"])  # the report's accuracy curve
    return out


def _sft_warmup(net: Any, tokenizer: Any, pairs: list[tuple[Pair, str | None]], output: Path, seed: int, epochs: float, lr: float,
                common: dict[str, Any], max_prompt_length: int | None, max_completion_length: int, peft_config: Any) -> tuple[Any, dict[str, Any]]:
    """One supervised pass on the rationales (TRL's SFTTrainer, completion-only loss); the
    model returned (a LoRA adapter merged) and a short report."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = sft_rows(pairs, tokenizer, seed)
    if not rows:
        raise ValueError("--sft-warmup needs rows with a 'rationale' field in the training split; none has one")
    args = SFTConfig(
        **shared_arguments(output / "sft", epochs=epochs, lr=lr, **common),
        max_length=(max_prompt_length or 1024) + max_completion_length,
        completion_only_loss=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=net, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, peft_config=peft_config)
    started = time.perf_counter()
    result = trainer.train()
    model = trainer.model.merge_and_unload() if peft_config is not None else trainer.model
    return model, {"rows": len(rows), "train_loss": result.training_loss, "seconds": round(time.perf_counter() - started, 2),
                   "history": [{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in trainer.state.log_history]}


__all__ = ["train_genrm", "reward_config", "grpo_rows", "sft_rows", "shown", "held_out_verdicts"]
