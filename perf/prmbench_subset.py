"""A small PRMBench subset that spans the error types: the first ``--per-file`` rows of every
PRMBench file, written under the same file names, for a slow scorer (an LLM step judge).

``assay bench prmbench --limit N`` takes the first N items, which are all from the first file
(``circular``), with no correct solution among them. This keeps PRMBench's own files and
rules (``--prmbench-files test`` still picks the 17 test files by name, duplicates and the
correct originals of the ``redundency`` rows are read as PRMBench reads them), on fewer rows:

    python perf/prmbench_subset.py --per-file 2 --out /tmp/prmbench_subset
    assay bench prmbench --data-dir /tmp/prmbench_subset --prmbench-files test -c judge.yaml

Figures on it are subset figures, not PRMBench figures; say so beside them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from assay.paths import data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--per-file", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    folder = data_dir(args.data_dir)
    if folder is None:
        raise SystemExit("no data folder: pass --data-dir or set ASSAY_DATA_DIR")
    out = Path(args.out) / "prmbench"
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((folder / "prmbench").glob("*.jsonl")):
        with path.open() as handle:
            lines = [line for line in handle if line.strip()][: args.per_file]
        (out / path.name).write_text("".join(lines))
    print(f"wrote the first {args.per_file} rows of each PRMBench file to {out}")


if __name__ == "__main__":
    main()
