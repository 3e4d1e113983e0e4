"""``assay reward-gen --task "..." --examples labelled.jsonl --config judge.yaml --output reward.py``:
a model writes a reward function from a task description and labelled examples; assay checks
it, runs it in the sandbox, measures its agreement with the labels, feeds back the failures
for up to ``--rounds`` rounds, and saves the best with its provenance (``assay.rewardgen``).

The model is the one the config's judge uses: the backend settings (``base_url``, ``model``,
``temperature``, ``max_tokens``, ...) of its first reward (or comparator) entry that has
them, or of the entry ``--reward`` names, read exactly as the judges read them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

EXAMPLE = """\
examples:
  assay reward-gen --task "reward answers that end with a question to the user" \\
      --examples labelled.jsonl --config judge.yaml --rounds 3 --output reward.py
  # improve a function of your own (scored as round 0, kept if nothing beats it)
  assay reward-gen --task "..." --examples labelled.jsonl --config judge.yaml --start mine.py -o reward.py

then, in a config:
  rewards:
    generated: {type: function, path: "reward.py:reward", sandbox: true}
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(name, help="have a model write a reward function from a description and labelled examples, "
                                   "checked and run in the sandbox", epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", "-t", required=True, help="what the reward should reward, in words")
    parser.add_argument("--examples", "-e", type=Path, required=True, help="labelled JSONL: a sample per line with 'label' (bool or number) or 'score'")
    parser.add_argument("--config", "-c", type=Path, required=True, help="a config whose judge's backend settings name the model")
    parser.add_argument("--reward", help="the config entry whose backend settings to use (default: the first that has them)")
    parser.add_argument("--rounds", "-k", type=int, default=3, help="rounds of writing and feedback, at most (default 3)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="the reward file to write (Python, with a provenance header)")
    parser.add_argument("--start", type=Path, action="append", default=[], help="a reward file (def reward) to score as round 0 and improve on; repeatable")
    parser.add_argument("--threshold", type=float, default=0.5, help="binary labels: a score >= this counts as 'good' (default 0.5)")
    parser.add_argument("--timeout-seconds", type=float, default=2.0, help="time limit per example in the sandbox (default 2)")
    parser.add_argument("--memory-mb", type=int, default=512, help="memory limit per example in the sandbox (default 512)")
    parser.add_argument("--show", type=int, default=8, help="examples shown in the prompt (default 8)")
    parser.add_argument("--report", type=Path, help="write every round (code, checks, per-example judgments) as JSON here")
    parser.set_defaults(func=run)


def backend_settings(config: Path, reward: str | None = None) -> Any:
    """The ``BackendOptions`` of the config's judge: the entry ``reward`` names, else the first
    reward (then the comparator) whose options set a backend key; a ValueError otherwise."""
    from assay.backends.settings import BackendOptions
    from assay.spec import read_config

    spec = read_config(config).spec
    entries = [(f"rewards.{name}", entry.options) for name, entry in spec.rewards.items()]
    if spec.comparator is not None:
        entries.append(("comparator", spec.comparator.options))
    keys = set(BackendOptions.model_fields)
    if reward is not None:
        entries = [(where, options) for where, options in entries if where in (f"rewards.{reward}", reward)]
        if not entries:
            raise ValueError(f"{config}: no entry {reward!r} (rewards.NAME or comparator)")
    for where, options in entries:
        if reward is not None or keys & {"base_url", "model", "backend", "local_model"} & set(options):
            return BackendOptions.model_validate({k: v for k, v in options.items() if k in keys}), where
    raise ValueError(f"{config}: no reward or comparator entry sets backend settings (base_url, model, backend); name one with --reward")


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from assay.backends.settings import build_backend
    from assay.files.jsonl import InputError
    from assay.rewardgen.examples import read_examples
    from assay.rewardgen.loop import generate
    from assay.rewardgen.provenance import save
    from assay.spec import ConfigError

    try:
        if args.rounds < 0:
            raise ValueError("--rounds must be 0 or more")
        if args.rounds == 0 and not args.start:
            raise ValueError("--rounds 0 needs --start (there is nothing to score)")
        examples = read_examples(args.examples)
        options, where = backend_settings(args.config, args.reward)
        starts = [(str(path), path.read_text(encoding="utf-8")) for path in args.start]
    except (InputError, ConfigError, ValidationError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from assay.rewardgen.loop import PROMPT
    from assay.rewards.judges.prompting import prompt_version

    backend = build_backend(options, namespace=f"reward_gen:{prompt_version(PROMPT)}")
    print(f"reward-gen: {len(examples.items)} {examples.kind} examples from {args.examples}; model {options.model} at "
          f"{options.base_url if options.backend == 'openai' else 'local'} ({args.config}: {where}); up to {args.rounds} rounds", file=sys.stderr)

    def progress(candidate: Any) -> None:
        print(f"  round {candidate.round} ({candidate.origin}): {candidate.status}: {candidate.summary()}", file=sys.stderr)

    result = generate(args.task, examples, backend, options, rounds=args.rounds, starts=starts, threshold=args.threshold,
                      timeout_seconds=args.timeout_seconds, memory_mb=args.memory_mb, show=args.show, on_candidate=progress)
    digest = hashlib.sha256(args.examples.read_bytes()).hexdigest()
    print(result.table())
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(result.to_dict(digest), indent=2, ensure_ascii=False))
        print(f"wrote the report to {args.report}")
    best = result.best
    if best is None or best.source is None:
        print("error: no candidate could be run on the examples; nothing saved", file=sys.stderr)
        return 1
    save(args.output, best.source, result.provenance(digest))
    print(f"wrote {args.output} (round {best.round}, {best.summary()}); use it as "
          f'{{type: function, path: "{args.output.name}:reward", sandbox: true}}')
    return 0
