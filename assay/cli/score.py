"""``assay score INPUT --config CONFIG --output OUTPUT``: score a JSONL file of responses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLE = """\
example:
  assay score rollouts.jsonl --config examples/gsm8k_grpo.yaml --output scored.jsonl

input rows:  {"prompt": ..., "response": ..., "reference": ..., "group": ..., any other field}
output rows: the input row plus "score" (null when it could not be computed), "rationale",
             "failure", and "rewards": {name: {score, rationale, failure, details}}

config (YAML):
  rewards:
    correct: {type: math, weight: 1.0}
    format:  {type: tag_format, tags: [think, answer], weight: 0.2}
    long:    {type: overlong, max_length: 4096, buffer: 512, weight: 1.0}
  combine: {method: weighted_sum, on_failure: fail}
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="score a JSONL file of responses with the rewards of a config",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="JSONL file: one {prompt, response, reference?, ...} per line")
    parser.add_argument("--config", "-c", required=True, help="reward config (YAML or TOML)")
    parser.add_argument("--output", "-o", type=Path, required=True, help="JSONL file to write")
    parser.add_argument("--batch-size", type=int, default=256, help="rows scored together (default 256)")
    parser.add_argument("--on-bad-line", choices=("stop", "skip"), default="stop", help="what to do with a malformed line (default: stop, keeping every row already scored)")
    parser.add_argument("--resume", action="store_true", help="reuse the rows OUTPUT (or an interrupted run's OUTPUT.partial-*) already holds, matched by their input fields; score only the rest")
    parser.add_argument("--summary-json", type=Path, help="also write the summary table as JSON here")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="where to run (ray: Ray Data, see docs/serving.md)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from assay.cli.common import SetupError, load_for_input, report
    from assay.compose.load import build_composite
    from assay.files.jsonl import has_rows
    from assay.files.score_file import score_file
    from assay.spec import read_config

    if args.input.is_file() and not has_rows(args.input):  # before the config loads a model
        print(f"error: {args.input}: no rows to score (the file is empty or only blank lines); {args.output} left as it was", file=sys.stderr)
        return 2
    if args.resume and args.engine == "ray":
        print("error: --resume works with --engine local only", file=sys.stderr)
        return 2
    try:  # the config is read once; with Ray the actors build the reward from what was read here
        loaded = load_for_input(args.input, read_config, args.config)
        reward = None if args.engine == "ray" else load_for_input(args.input, build_composite, loaded)
    except SetupError:
        return 2
    if args.engine == "ray":
        from assay.integrations.ray_engine import score_file_ray

        summary, errors = score_file_ray(loaded, args.input, args.output, batch_size=args.batch_size, on_bad_line=args.on_bad_line)
    else:
        stats: dict[str, int] = {}
        summary, errors = score_file(reward, args.input, args.output, args.batch_size, args.on_bad_line, progress=not args.quiet, resume=args.resume, stats=stats)
        if args.resume:
            print(f"resumed: {stats['reused']} row(s) reused from earlier output, {stats['scored']} scored", file=sys.stderr)
    return report(args, summary, errors, "row before it was scored and written", list_skipped=True)
