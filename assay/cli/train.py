"""``assay train head|rm|prm|distill|genrm``: train a reward that assay's reward types then load by path.

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
  assay train distill rows.jsonl --teacher judge.yaml --student head --output runs/distill
  assay train genrm pairs.jsonl --model path/to/causal-lm --output runs/genrm --max-steps 100

pairs (head, rm): {"prompt": ..., "chosen": ..., "rejected": ..., "margin"?: number}
                  or assay compare's {"prompt", "response_a", "response_b", "label": "A" | "B"}
steps (prm):      {"prompt": ..., "steps": [...], "labels": [true, false, null, ...], "group"?: ...}
                  or PRMBench rows (original_process / modified_process / error_steps);
                  scripts/prmbench_to_steps.py converts those to the first form
several GPUs:     accelerate launch -m assay train rm pairs.jsonl --model ... --output ...
then benchmark:   assay train head pairs.jsonl -o runs/head --bench rm-bench llmbar --data-dir ../shared/data
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
    _degenerate(head)
    _bench_options(head)
    head.set_defaults(func=run_head)

    rm = which.add_parser("rm", help="a Bradley-Terry reward model on TRL's RewardTrainer")
    _common(rm)
    _transcripts(rm)
    _model_options(rm)
    rm.add_argument("--center-rewards", type=float, metavar="COEF", help="reward centering coefficient (e.g. 0.01)")
    rm.add_argument("--no-margin", action="store_true", help="ignore the rows' margin field")
    _degenerate(rm)
    rm.add_argument("--truncation-side", choices=("left", "right"), default="left",
                    help="the end an over-long input loses (as the classifier reward's option): right keeps the prompt, for encoders")
    _bench_options(rm)
    rm.set_defaults(func=run_rm)

    prm = which.add_parser("prm", help="a step-level PRM (token classification at step separators)")
    _common(prm, several=True)
    _model_options(prm)
    prm.add_argument("--step-separator", default="\n", help="text after each step (default newline), as type: prm reads it")
    prm.add_argument("--after-error", choices=("prmbench", "unlabelled", "wrong"), default="prmbench",
                     help="PRMBench rows: a step after the first error that error_steps does not list is right (prmbench, as its "
                          "evaluation labels it; default), unlabelled, or wrong (PRM800K's convention)")
    prm.add_argument("--wrong-weight", type=float, default=1.0, help="loss weight of the wrong class (default 1: plain cross-entropy)")
    _bench_options(prm)
    prm.set_defaults(func=run_prm)

    distill = which.add_parser("distill", help="label data with a teacher config, train a head or rm student on its labels")
    distill.add_argument("data", type=Path, help="pointwise rows (prompt, response, ...) or pair rows (prompt, chosen, rejected)")
    distill.add_argument("--teacher", required=True, help="the teacher: any assay config (rewards, or a comparator for pair rows)")
    distill.add_argument("--output", "-o", type=Path, required=True, help="folder for the labels, the student and the report")
    distill.add_argument("--student", choices=("head", "rm"), default="head")
    distill.add_argument("--model", help="the rm student's base model folder")
    distill.add_argument("--eval-fraction", type=float, default=0.2, help="share of the prompts held out for agreement (default 0.2)")
    distill.add_argument("--limit", type=int, help="read only the first N rows")
    distill.add_argument("--seed", type=int, default=0)
    distill.add_argument("--quiet", action="store_true", help="no progress bars")
    distill.add_argument("--min-gap", type=float, default=0.0, help="pointwise rows: a pair needs a score difference above this (default 0)")
    distill.add_argument("--concurrency", type=int, default=4, help="teacher chunks in flight at once (default 4)")
    distill.add_argument("--chunk-size", type=int, default=8, help="samples per teacher call (default 8)")
    distill.add_argument("--labels-only", action="store_true", help="label and write the pairs, train nothing (then: assay train rm on them)")
    distill.add_argument("--epochs", type=float, help="student epochs (head: full-batch epochs)")
    distill.add_argument("--lr", type=float, help="student learning rate")
    distill.add_argument("--hidden", type=_sizes, help="head student: hidden sizes")
    distill.add_argument("--features", choices=("prompt_response", "response"), help="head student: what is embedded")
    distill.add_argument("--batch-size", type=int, help="rm student: per device")
    distill.add_argument("--max-length", type=int, help="rm student: tokens per text")
    distill.add_argument("--lora", action="store_true", help="rm student: LoRA")
    distill.add_argument("--device", help="rm student: cpu, cuda, mps")
    _bench_options(distill)
    distill.set_defaults(func=run_distill)

    genrm = which.add_parser("genrm", help="a generative reward model: GRPO on a causal LM, rewarded when its verdict matches the label")
    _genrm_options(genrm)
    _bench_options(genrm)
    genrm.set_defaults(func=run_genrm)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _bench_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bench", nargs="+", metavar="NAME", default=[],
                        help="after training, run these `assay bench` benchmarks on the trained model (e.g. rm-bench llmbar prmbench); "
                             "their table goes into report.json and benchmarks.md")
    parser.add_argument("--data-dir", help="benchmark data folder for --bench (default: ASSAY_DATA_DIR or ../shared/data)")
    parser.add_argument("--bench-limit", type=int, help="--bench: score only the first N items of each benchmark")
    parser.add_argument("--bench-option", action="append", default=[], metavar="KEY=VALUE",
                        help="--bench: a benchmark option, e.g. files=test for prmbench's 17 test files (repeatable)")


def bench_trained(report: dict[str, Any], output: Path, benchmarks: list[str], data_dir: str | None = None, limit: int | None = None,
                  options: dict[str, str] | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Run ``assay bench`` on the model a trainer just wrote (its report's ``load_with``), so
    "did training help" is answered in the same run: one row per benchmark (overall, its CI,
    invalid rate, the report's folder) added to ``report.json`` as ``benchmarks`` and written
    as ``benchmarks.md``. A benchmark that cannot run is a row with its error, not a figure."""
    from assay.bench.runner import BenchError, run_benchmark
    from assay.spec import ConfigError
    from assay.train.report import REPORT_FILE

    load_with = report.get("load_with")
    if not load_with:
        raise ValueError("--bench: this run wrote no model to benchmark")
    config = load_with if ("rewards" in load_with or "comparator" in load_with) else {"rewards": {"trained": load_with}}
    rows: list[dict[str, Any]] = []
    for name in benchmarks:
        folder = output / "bench" / name
        try:
            result = run_benchmark(name, config=config, data_dir=data_dir, output=folder, limit=limit, progress=progress, options=dict(options or {}))
        except (BenchError, ConfigError, OSError, ValueError) as error:
            rows.append({"benchmark": name, "error": str(error)})
            continue
        ci = (result.get("ci") or {}).get("overall")
        headline = "prm_score" if result.get("prm_score") is not None else "overall"
        rows.append({"benchmark": name, "metric": headline, "value": result.get(headline), "overall": result.get("overall"), "ci": ci,
                     "n": result.get("n"), "invalid_rate": result.get("invalid_rate"), "report": str(folder / "report.json")})
    report_path = output / REPORT_FILE
    if report_path.is_file():
        saved = json.loads(report_path.read_text())
        saved["benchmarks"] = rows
        report_path.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    lines = ["| benchmark | metric | value | 95% CI | n | invalid rate |", "|---|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['benchmark']} | error: {row['error']} | | | | |")
            continue
        value = "null" if row["value"] is None else f"{row['value']:.4f}"
        ci = f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]" if row.get("ci") else ""
        lines.append(f"| {row['benchmark']} | {row['metric']} | {value} | {ci} | {row['n']} | {row['invalid_rate']} |")
    (output / "benchmarks.md").write_text("\n".join(lines) + "\n")
    return rows


def _after(report: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The trainer's report, benchmarked first when ``--bench`` names benchmarks."""
    if args.bench:
        options = dict(item.split("=", 1) for item in args.bench_option if "=" in item)
        report["benchmarks"] = bench_trained(report, args.output, args.bench, args.data_dir, args.bench_limit, options, progress=not args.quiet)
        for row in report["benchmarks"]:
            print(json.dumps(row))
    return report


def _transcripts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split-transcripts", action="store_true",
                        help="rows without a prompt whose texts are whole transcripts (HH-RLHF): the shared start up to the last "
                             "'\\n\\nAssistant:' becomes the prompt, the rest the response")


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _degenerate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--degenerate", type=int, default=0, metavar="N",
                        help="add N degenerate pairs per training prompt: its answer against an echo, repeated words, a stock "
                             "non-answer or a fragment (default 0; the default RM uses 2)")
    parser.add_argument("--degenerate-kinds", type=_kinds, default=None, metavar="K,K",
                        help="which kinds --degenerate draws from: echo,repeat,stock,fragment (default all)")


def _kinds(text: str) -> tuple[str, ...]:
    from assay.train.degenerate import KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"{text!r}: kinds are a comma-separated subset of {','.join(KINDS)}")
    return kinds


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
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft): OUT/adapter holds it alone, OUT the merged model")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument("--chat-template", choices=("auto", "always", "never"), default="auto", help="as the classifier reward's option")
    parser.add_argument("--save-steps", type=int, default=500, help="checkpoint every N steps (kept: 2)")
    parser.add_argument("--eval-steps", type=int, help="evaluate every N steps (default: once per epoch)")
    parser.add_argument("--logging-steps", type=int, default=10)
    parser.add_argument("--resume", action="store_true", help="resume from the last checkpoint in --output")
    parser.add_argument("--device", help="cpu, cuda, mps (default: what accelerate picks)")


def _genrm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="pairs JSONL (prompt, chosen, rejected[, rationale]) or response_a, response_b, label")
    parser.add_argument("--output", "-o", type=Path, required=True, help="folder for the model and the report")
    parser.add_argument("--model", help="causal LM folder (default: the packaged Gemma-3-270M)")
    parser.add_argument("--eval-fraction", type=float, default=0.1, help="pairs held out, judged by the saved model at the end (0: none)")
    parser.add_argument("--limit", type=int, help="read only the first N rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--max-steps", type=int, default=100, help="GRPO steps (default 100)")
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument("--batch-size", type=int, default=4, help="completions per device per step")
    parser.add_argument("--gradient-accumulation", type=int, default=1)
    parser.add_argument("--num-generations", type=int, default=4, help="completions per prompt (GRPO's group)")
    parser.add_argument("--max-prompt-length", type=int, default=1024)
    parser.add_argument("--max-completion-length", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--beta", type=float, default=0.0, help="KL coefficient (default 0, as TRL's)")
    parser.add_argument("--format-weight", type=float, default=0.0, help="weight of the 'a verdict can be read' term (e.g. 0.1)")
    parser.add_argument("--length-weight", type=float, default=0.0, help="weight of the length penalty term")
    parser.add_argument("--length-budget", type=int, default=400, help="words before the length penalty starts")
    parser.add_argument("--sft-warmup", action="store_true", help="first one SFT pass on the rows' 'rationale' field (TRL's SFTTrainer)")
    parser.add_argument("--sft-epochs", type=float, default=1.0)
    parser.add_argument("--sft-lr", type=float, default=1e-5)
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft): OUT holds the merged model (and OUT/adapter the adapter alone, without --sft-warmup)")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument("--save-steps", type=int, default=500)
    parser.add_argument("--logging-steps", type=int, default=1)
    parser.add_argument("--resume", action="store_true")
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
                            split_transcripts=args.split_transcripts, progress=not args.quiet,
                            degenerate=args.degenerate, degenerate_kinds=args.degenerate_kinds,
                            features=args.features, hidden=args.hidden, epochs=args.epochs, lr=args.lr,
                            weight_decay=args.weight_decay, seed=args.seed, encoder=args.encoder)
        report = _after(report, args)
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
        report = train_rm(args.data, args.model, args.output, split_transcripts=args.split_transcripts, center_rewards=args.center_rewards, use_margin=not args.no_margin,
                          truncation_side=args.truncation_side, degenerate=args.degenerate, degenerate_kinds=args.degenerate_kinds,
                          **_model_kwargs(args))
        report = _after(report, args)
    except (InputError, OSError, ValueError) as error:
        return _fail(error)
    return _finish(report)


def run_prm(args: argparse.Namespace) -> int:
    from assay.files.jsonl import InputError
    from assay.train.prm import train_prm

    try:
        report = train_prm(list(args.data), args.model, args.output, step_separator=args.step_separator, after_error=args.after_error,
                           wrong_weight=args.wrong_weight, **_model_kwargs(args))
        report = _after(report, args)
    except (InputError, OSError, ValueError) as error:
        return _fail(error)
    return _finish(report)


def run_distill(args: argparse.Namespace) -> int:
    from assay.files.jsonl import InputError
    from assay.spec import ConfigError
    from assay.train.distill import distill

    head_only, rm_only = ("hidden", "features"), ("batch_size", "max_length", "device")
    if args.student == "head":
        wrong = [n for n in rm_only if getattr(args, n) is not None] + (["lora"] if args.lora else []) + (["model"] if args.model else [])
    else:
        wrong = [n for n in head_only if getattr(args, n) is not None]
    if wrong:
        return _fail(ValueError(f"--{wrong[0].replace('_', '-')} is not an option of a {args.student} student"))
    options: dict[str, Any] = {}
    for name in ("epochs", "lr", "hidden", "features", "batch_size", "max_length", "device", "model"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.lora:
        options["lora"] = True
    if args.student == "head" and "epochs" in options:
        options["epochs"] = int(options["epochs"])
    try:
        report = distill(args.data, args.teacher, args.output, student=args.student, student_options=options, eval_fraction=args.eval_fraction,
                         limit=args.limit, seed=args.seed, min_gap=args.min_gap, concurrency=args.concurrency, chunk_size=args.chunk_size,
                         labels_only=args.labels_only, progress=not args.quiet)
        if not args.labels_only:
            report = _after(report, args)
    except (InputError, ConfigError, OSError, ValueError) as error:
        return _fail(error)
    shown = {k: report.get(k) for k in ("rows", "teacher_outcomes", "teacher_failures", "pairs", "agreement", "teacher_seconds_per_label",
                                       "student_seconds_per_label", "speedup", "stopped") if report.get(k) is not None}
    print(json.dumps(shown, indent=2))
    for name, path in report.get("files", {}).items():
        print(f"wrote {name}: {path}")
    if report.get("load_with"):
        print(f"load with: {json.dumps(report['load_with'])}")
    return 0


def run_genrm(args: argparse.Namespace) -> int:
    from assay.files.jsonl import InputError
    from assay.train.genrm import train_genrm

    try:
        report = train_genrm(args.data, args.model, args.output, eval_fraction=args.eval_fraction, limit=args.limit, seed=args.seed,
                             progress=not args.quiet, max_steps=args.max_steps, lr=args.lr, batch_size=args.batch_size,
                             gradient_accumulation=args.gradient_accumulation, num_generations=args.num_generations,
                             max_prompt_length=args.max_prompt_length, max_completion_length=args.max_completion_length,
                             temperature=args.temperature, beta=args.beta, format_weight=args.format_weight, length_weight=args.length_weight,
                             length_budget=args.length_budget, sft_warmup=args.sft_warmup, sft_epochs=args.sft_epochs, sft_lr=args.sft_lr,
                             lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha, save_steps=args.save_steps,
                             logging_steps=args.logging_steps, resume=args.resume, device=args.device)
        report = _after(report, args)
    except (InputError, OSError, ValueError) as error:
        return _fail(error)
    for row in report["history"]:
        if "verdict_accuracy" in row:
            print(json.dumps({k: row[k] for k in ("step", "reward", "verdict_accuracy", "readable", "loss") if k in row}))
    shown = {k: report.get(k) for k in ("pairs", "steps", "verdict_accuracy_first_step", "verdict_accuracy_last_step", "eval_accuracy", "seconds")
             if report.get(k) is not None}
    print(json.dumps(shown, indent=2))
    for name, path in report.get("files", {}).items():
        print(f"wrote {name}: {path}")
    print(f"load with: {json.dumps(report['load_with'])}")
    return 0
