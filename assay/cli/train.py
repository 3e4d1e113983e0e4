"""``assay train head|rm|prm``: train a reward that assay's reward types then load by path.

Each subcommand reads a JSONL file, holds out an eval split (seeded), trains, and writes
the model plus a training report (``report.json``, ``curves.png`` when matplotlib is
installed) to ``--output``. The trainers live in :mod:`assay.train`; this module only parses
arguments and prints. A bad row stops the run before training, naming file, line and field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXAMPLE = """\
examples:
  assay train head pairs.jsonl --output runs/head        # minutes on a CPU; a file of a few hundred KB
  assay train rm pairs.jsonl --model path/to/base --output runs/rm --epochs 1 --lora
  assay train prm steps.jsonl --model path/to/base --output runs/prm

pairs (head, rm): {"prompt": ..., "chosen": ..., "rejected": ..., "margin"?: number}
                  or assay compare's {"prompt", "response_a", "response_b", "label": "A" | "B"}
steps (prm):      {"prompt": ..., "steps": [...], "labels": [true, false, ...]}
                  or PRMBench rows (original_process / modified_process / error_steps)
several GPUs:     accelerate launch -m assay train rm pairs.jsonl --model ... --output ...
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(name, help="train a reward model, an embedding head or a PRM", epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_subparsers(dest="trainer", metavar="TRAINER")

    head = which.add_parser("head", help="a small head over the packaged sentence encoder (CPU, minutes)")
    _common(head)
    _transcripts(head)
    head.add_argument("--features", choices=("prompt_response", "response", "interaction"), default="prompt_response")
    head.add_argument("--hidden", type=_sizes, default=(64,), help="hidden layer sizes, comma-separated ('' for linear; default 64)")
    head.add_argument("--epochs", type=int, default=200, help="full-batch epochs (default 200)")
    head.add_argument("--lr", type=float, default=1e-2)
    head.add_argument("--weight-decay", type=float, default=1e-4)
    head.add_argument("--encoder", help="sentence-encoder folder (default: the packaged MiniLM)")
    head.set_defaults(func=run_head)

    rm = which.add_parser("rm", help="a Bradley-Terry reward model on TRL's RewardTrainer")
    _common(rm)
    _transcripts(rm)
    _model_options(rm)
    rm.add_argument("--center-rewards", type=float, metavar="COEF", help="reward centering coefficient (e.g. 0.01)")
    rm.add_argument("--no-margin", action="store_true", help="ignore the rows' margin field")
    rm.set_defaults(func=run_rm)

    prm = which.add_parser("prm", help="a step-level PRM (token classification at step separators)")
    _common(prm, several=True)
    _model_options(prm)
    prm.add_argument("--step-separator", default="\n", help="text after each step (default newline), as type: prm reads it")
    prm.set_defaults(func=run_prm)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _transcripts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split-transcripts", action="store_true",
                        help="rows without a prompt whose texts are whole transcripts (HH-RLHF): the shared start up to the last "
                             "'\\n\\nAssistant:' becomes the prompt, the rest the response")


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _common(parser: argparse.ArgumentParser, several: bool = False) -> None:
    if several:
        parser.add_argument("data", type=Path, nargs="+", help="training JSONL file(s)")
    else:
        parser.add_argument("data", type=Path, help="training JSONL")
    parser.add_argument("--output", "-o", type=Path, required=True, help="folder for the model and the report")
    parser.add_argument("--eval-data", type=Path, help="eval JSONL (default: a held-out split of DATA)")
    parser.add_argument("--eval-fraction", type=float, default=0.1, help="share of DATA held out when no --eval-data (default 0.1)")
    parser.add_argument("--limit", type=int, help="read only the first N rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="base model folder (or hub id where the hub is reachable)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--batch-size", type=int, default=8, help="per device")
    parser.add_argument("--gradient-accumulation", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=1024, help="tokens per text; longer inputs lose their start (as scoring does)")
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft) and save it merged")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument("--chat-template", choices=("auto", "always", "never"), default="auto", help="as the classifier reward's option")
    parser.add_argument("--save-steps", type=int, default=500, help="checkpoint every N steps (kept: 2)")
    parser.add_argument("--eval-steps", type=int, help="evaluate every N steps (default: once per epoch)")
    parser.add_argument("--logging-steps", type=int, default=10)
    parser.add_argument("--resume", action="store_true", help="resume from the last checkpoint in --output")
    parser.add_argument("--device", help="cpu, cuda, mps (default: what accelerate picks)")


def _finish(report: dict[str, Any]) -> int:
    shown = {k: report.get(k) for k in ("pairs", "examples", "truncated", "eval_accuracy", "train_accuracy", "eval_loss", "seconds") if report.get(k) is not None}
    print(json.dumps(shown, indent=2))
    for name, path in report.get("files", {}).items():
        print(f"wrote {name}: {path}")
    print(f"load with: {json.dumps(report['load_with'])}")
    return 0


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2


def run_head(args: argparse.Namespace) -> int:
    from assay.files.jsonl import InputError
    from assay.train.heads import train_head

    try:
        report = train_head(args.data, args.output, eval_fraction=args.eval_fraction, eval_data=args.eval_data, limit=args.limit,
                            split_transcripts=args.split_transcripts, progress=not args.quiet, features=args.features, hidden=args.hidden, epochs=args.epochs, lr=args.lr,
                            weight_decay=args.weight_decay, seed=args.seed, encoder=args.encoder)
    except (InputError, OSError, ValueError) as error:
        return _fail(error)
    return _finish(report)


def _model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(eval_fraction=args.eval_fraction, eval_data=args.eval_data, limit=args.limit, seed=args.seed, progress=not args.quiet,
                epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, gradient_accumulation=args.gradient_accumulation,
                max_length=args.max_length, lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
                chat_template=args.chat_template, save_steps=args.save_steps, eval_steps=args.eval_steps,
                logging_steps=args.logging_steps, resume=args.resume, device=args.device)


def run_rm(args: argparse.Namespace) -> int:
    from assay.files.jsonl import InputError
    from assay.train.rm import train_rm

    try:
        report = train_rm(args.data, args.model, args.output, split_transcripts=args.split_transcripts, center_rewards=args.center_rewards, use_margin=not args.no_margin, **_model_kwargs(args))
    except (InputError, OSError, ValueError) as error:
        return _fail(error)
    return _finish(report)


def run_prm(args: argparse.Namespace) -> int:
    from assay.files.jsonl import InputError
    from assay.train.prm import train_prm

    try:
        report = train_prm(list(args.data), args.model, args.output, step_separator=args.step_separator, **_model_kwargs(args))
    except (InputError, OSError, ValueError) as error:
        return _fail(error)
    return _finish(report)
