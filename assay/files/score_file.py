"""Score a JSONL file with a reward, streaming: rows are read, scored in batches and written
as they are done, so an interruption or a bad line loses nothing already scored.

Output rows are the input row plus ``score`` (the total, null when it could not be
computed), ``rationale``, ``failure`` and ``rewards``: ``{name: {score, rationale, failure,
details}}``.

The output is never truncated before new output replaces it: rows go to
``OUTPUT.partial-<pid>`` beside it (flushed after every batch), which replaces ``OUTPUT``
when the run ends (a bad line that stops the run included); a run killed midway leaves the
earlier ``OUTPUT`` as it was and its rows in the partial file. With ``resume``, rows already
written, in ``OUTPUT`` or in the partial files of interrupted runs, are reused instead of
scored again: an input row is matched to an output row by its content (every input field,
``id`` included), so a changed row is scored afresh, and a row whose rewards are not the
config's (another config wrote it) too; a config whose options changed under the same
names is not detected: resume with the config that wrote the rows. For a reward that scores within groups
(``group_zscore``, trust weights, listwise judges) a row is reused only if every row of its
group is, so a group is never normalised against part of itself.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from assay.files.jsonl import InputError, Row, count_lines, read_rows, write_row
from assay.files.summary import Summary
from assay.reward import Reward
from assay.text import group_key
from assay.types import Failure, Judgment, Sample

ADDED_FIELDS = ("score", "rationale", "failure", "rewards")


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


def row_key(data: dict[str, Any]) -> str:
    """What identifies an input row across runs: its fields (``id`` among them), canonically."""
    return json.dumps({k: v for k, v in data.items() if k not in ADDED_FIELDS}, sort_keys=True, ensure_ascii=False, default=str)


def partial_files(output_path: Path) -> list[Path]:
    """Partial outputs of earlier runs (interrupted, or still running) of this output, oldest first."""
    folder = output_path.parent if str(output_path.parent) else Path(".")
    found = [p for p in folder.glob(output_path.name + ".partial-*") if p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def written_rows(output_path: Path) -> dict[str, dict[str, Any]]:
    """Rows already written for ``output_path`` (the output, then newer partial files), by
    :func:`row_key`; a line cut short by a kill, or not an output row, is ignored."""
    rows: dict[str, dict[str, Any]] = {}
    for path in [output_path, *partial_files(output_path)]:
        if not path.is_file():
            continue
        with open(path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    continue  # the last line of a killed run, cut short
                try:
                    row = json.loads(raw)
                except (ValueError, RecursionError):
                    continue
                if isinstance(row, dict) and all(f in row for f in ADDED_FIELDS):
                    rows[row_key(row)] = row
    return rows


def judgment_of_row(row: dict[str, Any], plain: bool) -> Judgment:
    """The judgment an output row records (for the summary of a resumed run)."""
    components = row.get("rewards") or {}
    details = {} if plain else {name: Judgment.from_dict(value) for name, value in components.items() if isinstance(value, dict)}
    failure = Failure.from_dict(row["failure"]) if isinstance(row.get("failure"), dict) else None
    return Judgment(score=row.get("score"), rationale=row.get("rationale") or "", details=details, failure=failure)


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
    resume: bool = False,
    stats: dict[str, int] | None = None,
) -> tuple[Summary, list[InputError]]:
    """Score every row of ``input_path`` into ``output_path``; returns the summary and the
    input errors met (with ``stop``, at most one: the line where reading stopped). With
    ``resume``, rows already written are reused (see the module docstring); ``stats``, if
    given, receives ``{"reused": n, "scored": m}``."""
    from tqdm import tqdm

    input_path, output_path = Path(input_path), Path(output_path)
    summary = Summary()
    errors: list[InputError] = []
    whole_groups = reward.needs_whole_groups
    if whole_groups:  # group-level steps: every group in one batch
        batch_size = sys.maxsize
    plain = not isinstance(getattr(reward, "components", None), dict)
    done = written_rows(output_path) if resume else {}
    names = sorted(reward.components) if not plain else ["reward"]  # type: ignore[attr-defined]
    done = {k: row for k, row in done.items() if isinstance(row.get("rewards"), dict) and sorted(row["rewards"]) == names}  # rows of another config: scored again
    counts = stats if stats is not None else {}
    counts.update(reused=0, scored=0)
    total = count_lines(input_path)
    rows = read_rows(input_path, skipped=None if on_bad_line == "stop" else errors)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    earlier_partials = partial_files(output_path)
    partial = output_path.with_name(f"{output_path.name}.partial-{os.getpid()}")
    with open(partial, "w", encoding="utf-8") as out, tqdm(
        total=total, unit="row", desc="scoring", disable=not progress, file=sys.stderr
    ) as bar:
        for batch in _batches(rows, batch_size, errors):
            reused = [done.get(row_key(r.data)) for r in batch]
            if whole_groups and any(reused):  # reuse a row only with every row of its group
                missing = {group_key(r.data.get("group")) for r, old in zip(batch, reused) if old is None and r.data.get("group") is not None}
                reused = [None if old is None or (r.data.get("group") is not None and group_key(r.data.get("group")) in missing) else old for r, old in zip(batch, reused)]
            todo = [r for r, old in zip(batch, reused) if old is None]
            fresh = iter(reward.score([Sample.from_dict(r.data) for r in todo]) if todo else [])
            for row, old in zip(batch, reused):
                if old is not None:
                    write_row(out, old)
                    summary.add_total(judgment_of_row(old, plain))
                    counts["reused"] += 1
                else:
                    judgment = next(fresh)
                    write_row(out, output_row(row.data, judgment))
                    summary.add_total(judgment)
                    counts["scored"] += 1
            out.flush()
            bar.update(len(batch))
    os.replace(partial, output_path)  # the new output replaces the old one only now, whole
    for stale in earlier_partials:  # rows of interrupted runs: reused above or not wanted
        if stale != partial:
            stale.unlink(missing_ok=True)
    return summary, errors
