"""``assay score --engine ray``: the same config, scored on Ray Data, same output file.

The file is read (and checked line by line) on the driver exactly as the local engine reads
it; rows go to Ray Data, which scores them with ``map_batches`` on a pool of actors. The
config is read and validated once, on the driver; each actor builds the reward from that
parsed config (never re-reading the file) in its constructor, so a model-based reward
(``semantic``, ``likelihood``, a classifier) loads its model once per actor, not once per
batch. Results
come back in input order and are written with the local engine's ``output_row``, so the
output is identical to ``assay score`` without ``--engine ray``.

Where it runs: with ``RAY_ADDRESS`` set (``ray://head:10001`` or ``auto`` on a cluster
node), on that cluster; otherwise on a local Ray started with this machine's CPUs. The parsed
config travels with the job; on a cluster, any file it names (``type: function`` paths, a
classifier's weights) must be readable at the same path on every node (a shared file
system, or Ray's ``runtime_env`` with a ``working_dir``).

    >>> from assay.integrations.ray_engine import score_file_ray
    >>> summary, errors = score_file_ray("rewards.yaml", "rollouts.jsonl", "scored.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from assay.compose.composite import needs_whole_groups
from assay.files.jsonl import InputError, Row, read_rows, write_row
from assay.files.score_file import output_row
from assay.files.summary import Summary
from assay.spec import LoadedConfig, read_config
from assay.types import Judgment, Sample

Config = str | os.PathLike[str] | dict[str, Any] | LoadedConfig


class ScoreActor:
    """A Ray Data actor holding one reward; scores batches of ``{"line", "row"}`` records."""

    def __init__(self, config: LoadedConfig) -> None:
        from assay.compose.load import build_composite

        self.reward = build_composite(config)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        rows = [json.loads(text) for text in batch["row"]]
        judgments = self.reward.score([Sample.from_dict(row) for row in rows])
        out = [json.dumps(output_row(row, judgment), ensure_ascii=False, default=str) for row, judgment in zip(rows, judgments, strict=True)]
        return {"line": list(batch["line"]), "out": out}


def judgment_of(out: dict[str, Any]) -> Judgment:
    """The total Judgment (with component Judgments in details) back from an output row, for the summary."""
    return Judgment.from_dict(out, details_key="rewards")


def _read(input_path: Path, on_bad_line: str) -> tuple[list[Row], list[InputError]]:
    errors: list[InputError] = []
    rows: list[Row] = []
    try:
        for row in read_rows(input_path, skipped=None if on_bad_line == "stop" else errors):
            rows.append(row)
    except InputError as error:  # "stop": every row before it is still scored
        errors.append(error)
    return rows, errors


def init_ray(num_cpus: int | None = None) -> None:
    """Connect to ``$RAY_ADDRESS`` when set, else start a local Ray (once per process)."""
    import ray

    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)


def score_file_ray(
    config: Config,
    input_path: str | Path,
    output_path: str | Path,
    batch_size: int = 256,
    on_bad_line: Literal["stop", "skip"] = "stop",
    num_actors: int | None = None,
) -> tuple[Summary, list[InputError]]:
    """Score ``input_path`` into ``output_path`` on Ray; returns ``(summary, input errors)``
    like ``assay.score_file.score_file``."""
    import ray

    loaded = config if isinstance(config, LoadedConfig) else read_config(config)  # once, on the driver: fails fast with the config's own message
    if loaded.path is not None:
        loaded = replace(loaded, path=loaded.path.resolve())  # relative files resolve the same on every node
    input_path = Path(input_path)
    rows, errors = _read(input_path, on_bad_line)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    if not rows:
        output_path.write_text("")
        return summary, errors

    init_ray()
    whole = needs_whole_groups(loaded.spec)  # group-level steps need every row in one batch
    if whole:
        batch_size, num_actors = len(rows), 1
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = num_actors or max(1, min(cpus, -(-len(rows) // max(batch_size, 1))))
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    items = [{"line": row.line, "row": json.dumps(row.data, ensure_ascii=False)} for row in rows]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, -(-len(items) // max(batch_size, 1))))
    scored = dataset.map_batches(
        ScoreActor,
        fn_constructor_kwargs={"config": loaded},
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
        batch_format="default",
    )
    with open(output_path, "w", encoding="utf-8") as out:
        for batch in scored.iter_batches(batch_size=None, batch_format="default"):
            for text in batch["out"]:
                row = json.loads(text)
                write_row(out, row)
                summary.add_total(judgment_of(row))
            out.flush()
    print(f"scored {len(rows)} rows on Ray with {actors} actor(s)", file=sys.stderr)
    return summary, errors
