"""The ``assay`` command: one subcommand per module in this package, listed in COMMANDS.

    assay list
    assay score rollouts.jsonl --config rewards.yaml --output scored.jsonl
    assay compare pairs.jsonl --config judge.yaml --output judged.jsonl
    assay bench rm-bench --config rewards.yaml --data-dir ../shared/data --output runs/rmb
    assay calibrate labelled.jsonl --method platt --output fit.json
    assay reward-gen --task "..." --examples labelled.jsonl --config judge.yaml --output reward.py
    assay serve --config rewards.yaml --port 8000
    assay train head pairs.jsonl --output runs/head
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module defining add_parser(subparsers); each module imports its heavy deps lazily.
COMMANDS = {
    "list": "assay.cli.list_types",
    "score": "assay.cli.score",
    "compare": "assay.cli.compare",
    "bench": "assay.cli.bench",
    "calibrate": "assay.cli.calibrate",
    "reward-gen": "assay.cli.reward_gen",
    "serve": "assay.cli.serve",
    "search": "assay.cli.search",
    "train": "assay.cli.train",
    "llama-server": "assay.cli.llama_server",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assay",
        description="Rewards for LLM post-training where every score comes with its reason.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue  # a command still being built
            raise
        module.add_parser(subparsers, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
