"""``assay compare INPUT --config CONFIG --output OUTPUT``: judge pairs of responses.

Reads the pairwise JSONL contract (``prompt``, ``response_a``, ``response_b``, optional
``label`` A / B / tie, optional ``reference`` and any other field), writes every input row
plus ``winner`` (``A``, ``B``, ``tie``, or null when the comparison failed),
``probability`` (P(A better) when known), ``score_a`` / ``score_b`` (when a reward's two
scores decided the pair), ``rationale`` and ``failure``, and prints the
winner counts, the invalid rate and -- when rows have labels -- the accuracy against them
(failed comparisons count as wrong and stay in the denominator; the accuracy over valid
verdicts is printed beside it).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

EXAMPLE = """\
example:
  assay llama-server --port 8080 &
  assay compare pairs.jsonl --config judge.yaml --output judged.jsonl --swap

input rows:  {"prompt": ..., "response_a": ..., "response_b": ..., "label": "A" | "B" | "tie"}
output rows: the input row plus "winner" (A, B, tie or null), "probability", "rationale", "failure"
             (and "score_a", "score_b" when a reward's scores decided the pair)

config (YAML): a comparator ...
  comparator: {type: pairwise_judge, base_url: "http://127.0.0.1:8080/v1", model: gemma-3-270m}
  rewards: {unused: {type: exact_match}}
... or rewards only: each pair is decided by the higher total score
  rewards:
    helpful: {type: judge, base_url: "http://127.0.0.1:8080/v1"}
"""

_LABELS = {"a": "a", "b": "b", "tie": "tie", "c": "tie", "draw": "tie", "a=b": "tie"}
_SHOWN = {"a": "A", "b": "B", "tie": "tie", None: None}


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="judge pairs of responses (pairwise JSONL) with a comparator or rewards",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="JSONL file: one {prompt, response_a, response_b, label?} per line")
    parser.add_argument("--config", "-c", required=True, help="config (YAML or TOML) with a 'comparator:' section or rewards")
    parser.add_argument("--output", "-o", type=Path, required=True, help="JSONL file to write")
    parser.add_argument("--swap", action="store_true", help="judge every pair in both orders (disagreement becomes a tie)")
    parser.add_argument("--swap-rule", choices=("tie", "judgebench"), default="tie", help="with --swap: how two orders combine (default tie)")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs judged together (default 64)")
    parser.add_argument("--on-bad-line", choices=("stop", "skip"), default="stop", help="what to do with a malformed line (default: stop, keeping every row already judged)")
    parser.add_argument("--summary-json", type=Path, help="also write the summary as JSON here")
    parser.set_defaults(func=run)


class Tally:
    """Winner counts, failures, and accuracy against labels."""

    def __init__(self) -> None:
        self.n = 0
        self.winners: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.labelled = 0
        self.labelled_valid = 0
        self.correct = 0

    def add(self, winner: str | None, failure_kind: str | None, label: str | None) -> None:
        self.n += 1
        if failure_kind:
            self.failures[failure_kind] += 1
        else:
            self.winners[_SHOWN[winner] or "none"] += 1
        if label is not None:
            self.labelled += 1
            if not failure_kind:
                self.labelled_valid += 1
                self.correct += winner == label

    def as_dict(self) -> dict[str, Any]:
        invalid = sum(self.failures.values())
        out: dict[str, Any] = {
            "pairs": self.n,
            "winners": dict(self.winners),
            "invalid": invalid,
            "invalid_rate": invalid / self.n if self.n else None,
            "failures": dict(self.failures),
        }
        if self.labelled:
            out.update(
                labelled=self.labelled,
                accuracy=self.correct / self.labelled,
                accuracy_valid=self.correct / self.labelled_valid if self.labelled_valid else None,
            )
        return out

    def table(self) -> str:
        d = self.as_dict()
        lines = [f"pairs:         {d['pairs']}", f"winners:       {', '.join(f'{k} {v}' for k, v in sorted(d['winners'].items())) or '-'}"]
        lines.append(f"invalid:       {d['invalid']} ({(d['invalid_rate'] or 0):.1%})" + (f"  [{', '.join(f'{k} {v}' for k, v in sorted(d['failures'].items()))}]" if d["failures"] else ""))
        if "accuracy" in d:
            valid = f"{d['accuracy_valid']:.1%}" if d["accuracy_valid"] is not None else "n/a"
            lines.append(f"accuracy:      {d['accuracy']:.1%} of {d['labelled']} labelled pairs (failures count as wrong); {valid} of the valid verdicts")
        return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from assay.cli.common import SetupError, load_for_input, report
    from assay.compose.load import load_comparator  # reads the config once
    from assay.files.jsonl import InputError, read_rows, write_row
    from assay.types import Pair

    try:
        comparator = load_for_input(args.input, load_comparator, args.config)
    except SetupError:
        return 2
    if args.swap:
        from assay.rewards.judges.wrappers import Swap

        comparator = Swap(comparator, rule=args.swap_rule)

    errors: list[InputError] = []
    tally = Tally()
    rows = read_rows(args.input, required=("response_a", "response_b"), text_fields=("prompt", "response_a", "response_b"), skipped=None if args.on_bad_line == "stop" else errors)
    args.output.parent.mkdir(parents=True, exist_ok=True)

    def flush(batch: list[tuple[dict[str, Any], str | None]], out: Any) -> None:
        pairs = [Pair.from_dict(r) for r, _ in batch]
        for (row, label), preference in zip(batch, comparator.compare(pairs), strict=True):
            failure = preference.failure
            scores = {k: preference.meta[k] for k in ("score_a", "score_b") if k in preference.meta}  # a reward's two scores, as fields
            write_row(out, {**row, "winner": _SHOWN[preference.winner], "probability": preference.probability, **scores,
                            "rationale": preference.rationale, "failure": failure.to_dict() if failure else None})
            tally.add(preference.winner, failure.kind if failure else None, label)
        out.flush()

    with open(args.output, "w", encoding="utf-8") as out:
        batch: list[tuple[dict[str, Any], str | None]] = []
        try:
            for row in rows:
                label = _label(row.data.get("label"), args.input, row.line)
                if isinstance(label, InputError):
                    if args.on_bad_line == "stop":
                        raise label
                    errors.append(label)
                    continue
                batch.append((row.data, label))
                if len(batch) >= args.batch_size:
                    flush(batch, out)
                    batch = []
        except InputError as error:
            errors.append(error)
        if batch:
            flush(batch, out)
    return report(args, tally, errors, "pair before it was judged and written", list_skipped=False)


def _label(value: Any, path: Path, line: int) -> Any:
    from assay.files.jsonl import InputError

    if value is None:
        return None
    label = _LABELS.get(str(value).strip().lower())
    if label is None:
        return InputError(path, line, "label", f"expected A, B or tie, got {value!r}")
    return label
