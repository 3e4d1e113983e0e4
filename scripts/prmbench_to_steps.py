"""Convert PRMBench's training files to the step-labelled JSONL ``assay train prm`` reads.

Why a file of its own: the converted rows can be read, counted and subsampled before a
training run (``assay train prm`` also reads PRMBench's rows directly, through the same
converter, :mod:`assay.train.prmbench_steps`, which documents the labelling). Not here:
training or benchmarking.

    python scripts/prmbench_to_steps.py ../shared/data/prmbench/prm800k_train_p1_first400_*.jsonl \\
        --output /work/cache/prmtrain/steps.jsonl --rows-per-file 100

``--rows-per-file N`` keeps the first N rows of each file: the files list the same questions
in the same order, so this is the first N questions in every error type. The counts go to
stderr; a bad row stops the conversion with its file, line and field (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assay.files.jsonl import InputError, read_rows
from assay.train.prmbench_steps import AFTER_ERROR_CHOICES, convert, is_prmbench_row, new_stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+", help="PRMBench .jsonl files")
    parser.add_argument("--output", "-o", type=Path, required=True)
    parser.add_argument("--after-error", choices=AFTER_ERROR_CHOICES, default="prmbench")
    parser.add_argument("--rows-per-file", type=int, help="the first N rows of each file")
    args = parser.parse_args(argv)

    def rows():
        for path in args.files:
            for count, row in enumerate(read_rows(path, required=(), text_fields=())):
                if args.rows_per_file is not None and count >= args.rows_per_file:
                    break
                if not is_prmbench_row(row.data):
                    raise InputError(path, row.line, "modified_process", "missing: not a PRMBench row")
                yield str(path), row.line, row.data

    stats = new_stats()
    try:
        solutions = list(convert(rows(), args.after_error, stats))
    except (InputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w") as handle:
        for solution in solutions:
            handle.write(json.dumps(solution.to_row(), ensure_ascii=False) + "\n")
    labels = [v for s in solutions for v in s.labels]
    stats.update(solutions=len(solutions), right_steps=labels.count(True), wrong_steps=labels.count(False), unlabelled_steps=labels.count(None))
    print(json.dumps(stats), file=sys.stderr)
    print(f"wrote {len(solutions)} solutions to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
