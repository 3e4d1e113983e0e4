"""Score a JSONL file with a reward, streaming: rows are read, scored in batches and written
as they are done, so an interruption or a bad line loses nothing already scored.

Output rows are the input row plus ``score`` (the total, null when it could not be
computed), ``rationale``, ``failure`` and ``rewards``: ``{name: {score, rationale, failure,
details}}``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from assay.files.jsonl import InputError, Row, count_lines, read_rows, write_row
from assay.reward import Reward
from assay.files.summary import Summary
from assay.types import Judgment, Sample


def output_row(row: dict[str, Any], judgment: Judgment) -> dict[str, Any]:
    """The input row with the total judgment and each component's judgment added."""
    components = {name: j.to_dict() for name, j in judgment.details.items() if isinstance(j, Judgment)}
    if not components:  # a plain (non-composite) reward: it is its own only component
        components = {"reward": {k: v for k, v in judgment.to_dict().items() if k != "meta"}}
    for value in components.values():
        value.pop("meta", None)
    return {
        **row,
        "score": judgment.score,
        "rationale": judgment.rationale,
        "failure": judgment.failure.to_dict() if judgment.failure else None,
        "rewards": components,
    }


def _batches(rows: Iterable[Row], size: int, errors: list[InputError]) -> Iterable[list[Row]]:
    """Rows in batches; a bad line (raised by the reader) ends the input after the rows before it."""
    batch: list[Row] = []
    try:
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
    except InputError as error:
        errors.append(error)
    if batch:
        yield batch


def score_file(
    reward: Reward,
    input_path: str | Path,
    output_path: str | Path,
    batch_size: int = 256,
    on_bad_line: Literal["stop", "skip"] = "stop",
    progress: bool = True,
) -> tuple[Summary, list[InputError]]:
    """Score every row of ``input_path`` into ``output_path``; returns the summary and the
    input errors met (with ``stop``, at most one: the line where reading stopped)."""
    from tqdm import tqdm

    input_path = Path(input_path)
    summary = Summary()
    errors: list[InputError] = []
    if reward.needs_whole_groups:  # group-level steps: every group in one batch
        batch_size = sys.maxsize
    total = count_lines(input_path)
    rows = read_rows(input_path, skipped=None if on_bad_line == "stop" else errors)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w", encoding="utf-8") as out, tqdm(
        total=total, unit="row", desc="scoring", disable=not progress, file=sys.stderr
    ) as bar:
        for batch in _batches(rows, batch_size, errors):
            samples = [Sample.from_dict(r.data) for r in batch]
            for row, judgment in zip(batch, reward.score(samples), strict=True):
                write_row(out, output_row(row.data, judgment))
                summary.add_total(judgment)
            out.flush()
            bar.update(len(batch))
    return summary, errors
