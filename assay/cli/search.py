"""``assay search INPUT --config CONFIG --method bon|vote|beam --output OUTPUT``: PRM-guided search.

bon / vote: each input row holds a question and N stored solutions; the config's reward (a
step reward such as ``prm`` or ``step_arithmetic`` under ``process``, or any outcome reward)
scores them, and best-of-N or the weighted vote chooses. beam: each row holds a question;
a generator behind an OpenAI-compatible server (``--base-url``, completions mode) writes the
solution one step at a time and the reward scores the beams. Every candidate's steps, step
scores and score are written to the output row under ``search``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLE = """\
examples:
  assay search samples.jsonl -c prm.yaml --method bon -o chosen.jsonl
  assay search samples.jsonl -c prm.yaml --method vote --weighting softmax -o chosen.jsonl
  assay search gsm8k.jsonl -c arith.yaml --method beam --base-url http://127.0.0.1:8080/v1 \\
      --width 2 --expand 2 --max-depth 6 --max-calls 32 -o beams.jsonl

input rows:  bon/vote {"prompt": ..., "responses": [...], "reference"?: ..., "correct"?: [bool, ...]}
             beam     {"prompt": ..., "reference"?: ...}
output rows: the input row plus "search": {method, chosen, answer, candidates: [{steps, step_scores, score, answer, ...}], ...}
             (with a "correct" list, the summary gives the accuracy of the choices)
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(name, help="best-of-N, PRM-weighted vote or step-level beam search guided by a reward",
                                   epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="JSONL file of questions (beam) or questions with solutions (bon, vote)")
    parser.add_argument("--config", "-c", required=True, help="reward config (YAML or TOML): the step reward that scores candidates")
    parser.add_argument("--output", "-o", type=Path, required=True, help="JSONL file to write")
    parser.add_argument("--method", choices=("bon", "vote", "beam"), default="bon")
    parser.add_argument("--aggregate", choices=("min", "mean", "last", "product"), default="min", help="step scores to a candidate's score (default min)")
    parser.add_argument("--responses-field", default="responses", help="bon/vote: the field holding the solutions (default responses)")
    parser.add_argument("--correct-field", default="correct", help="bon/vote: an optional list of booleans, for the accuracy in the summary")
    parser.add_argument("--weighting", choices=("score", "softmax", "uniform"), default="score", help="vote: how a candidate's score weighs (default score)")
    beam = parser.add_argument_group("beam search")
    beam.add_argument("--base-url", default="http://127.0.0.1:8080/v1", help="the generator's OpenAI-compatible server")
    beam.add_argument("--model", default="default")
    beam.add_argument("--width", type=int, default=2)
    beam.add_argument("--expand", type=int, default=2)
    beam.add_argument("--max-depth", type=int, default=8)
    beam.add_argument("--max-calls", type=int, default=64, help="generator calls per question at most")
    beam.add_argument("--max-step-tokens", type=int, default=128)
    beam.add_argument("--temperature", type=float, default=0.8)
    beam.add_argument("--seed", type=int, default=0)
    beam.add_argument("--timeout", type=float, default=120.0, help="seconds per generator call")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from assay.backends.base import BackendError
    from assay.cli.common import SetupError, load_for_input
    from assay.compose.load import load_reward
    from assay.files.jsonl import InputError, read_rows, write_row
    from assay.reward import run_sync
    from assay.search.candidates import ascore_candidates
    from assay.search.select import best_of_n, weighted_vote
    from assay.types import prompt_text

    try:
        reward = load_for_input(args.input, load_reward, args.config)
    except SetupError:
        return 2
    searcher = None
    if args.method == "beam":
        from assay.backends.openai import OpenAIBackend
        from assay.search.beam import BeamSearch, BeamSettings

        try:
            settings = BeamSettings(width=args.width, expand=args.expand, max_depth=args.max_depth, max_calls=args.max_calls,
                                    max_step_tokens=args.max_step_tokens, temperature=args.temperature, seed=args.seed, aggregate=args.aggregate)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        generator = OpenAIBackend(base_url=args.base_url, model=args.model, mode="completions", timeout=args.timeout, retries=1)
        searcher = BeamSearch(reward, generator, settings)
    required = ("prompt",) if args.method == "beam" else ("prompt", args.responses_field)
    rows, right, chosen = 0, 0, 0
    try:
        with open(args.output, "w", encoding="utf-8") as out:
            for row in read_rows(args.input, required=required, text_fields=("prompt",)):
                data = row.data
                question = prompt_text(data["prompt"])
                if searcher is not None:
                    result = searcher.run(question, data.get("id", row.line), data.get("reference"))
                    found = result.to_dict()
                    found.update(method="beam", answer=result.best.answer if result.best else None)
                else:
                    texts = data[args.responses_field]
                    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                        raise InputError(args.input, row.line, args.responses_field, "expected a list of solution strings")
                    candidates = run_sync(ascore_candidates(reward, question, texts, args.aggregate, reference=data.get("reference"), item_id=data.get("id", row.line)))
                    choice = best_of_n(candidates) if args.method == "bon" else weighted_vote(candidates, args.weighting)
                    found = {"method": choice.method, "chosen": choice.index, "reason": choice.reason, "weights": choice.weights,
                             "answer": candidates[choice.index].answer if choice.index is not None else None,
                             "candidates": [c.to_dict() for c in candidates]}
                    flags = data.get(args.correct_field)
                    if isinstance(flags, list) and len(flags) == len(texts) and choice.index is not None:
                        right += bool(flags[choice.index])
                    chosen += choice.index is not None
                write_row(out, {**data, "search": found})
                rows += 1
    except (InputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BackendError as error:
        print(f"error: the generator at {args.base_url} failed after {rows} row(s) were written: {error}", file=sys.stderr)
        return 1
    summary = {"rows": rows, "method": args.method}
    if args.method != "beam":
        summary.update(chosen=chosen, correct=right, accuracy=round(right / rows, 4) if rows else None)
    print(json.dumps(summary))
    print(f"wrote {rows} rows to {args.output}")
    return 0
