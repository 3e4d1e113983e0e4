"""Run a reward, a comparator or a process reward from a config on a benchmark, honestly.

- A pointwise reward scores every response; pairs are decided by the scores and a tie is
  counted the benchmark's way. A comparator (a config with ``comparator:``) judges each pair
  in both orders. A process reward's judgment gives ``step_scores`` or ``first_error`` in its
  details. ``math-bon`` without a config evaluates the scores stored in the file.
- Every scored unit is appended to ``OUTPUT/samples.jsonl`` as it is produced; a rerun with the
  same config hash reuses them (the report says how many), so a killed run loses nothing.
- A typed failure is never a score: the item counts as wrong (default) or is left out
  (``exclude_failures``), and the report says which, beside the invalid rate.
- Bootstrap 95% CIs (resampling items within each subset) come from a fixed seed.

    >>> report = run_benchmark("llmbar", "rewards.yaml", data_dir="../shared/data")   # doctest: +SKIP
    >>> report["overall"], report["invalid_rate"]                                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from assay.bench.calibration import bench_calibration
from assay.bench.loaders import load
from assay.bench.protocols import PROTOCOLS, Outcome, Protocol, Result, Unit, credit, score_of, unparsed_games
from assay.bench.worklog import WorkLog, config_hash
from assay.compose.composite import CompositeReward
from assay.reward import Comparator, Reward
from assay.spec import LoadedConfig, read_config

TRANSIENT = ("backend", "timeout")  # failures --retry-failures computes again


class BenchError(ValueError):
    """A benchmark run that cannot start: unknown benchmark, a mode the benchmark does not support."""


def choose_mode(protocol: Protocol, config: LoadedConfig | None) -> str:
    """The mode a config runs in: ``stored`` scores without a config, ``pairwise`` with a
    ``comparator:`` section, else the protocol's pointwise or process mode."""
    if config is None:
        if "stored" in protocol.modes:
            return "stored"
        raise BenchError(f"{protocol.name} needs --config: a reward (or comparator) to evaluate")
    return _mode(protocol, pairwise=config.spec.comparator is not None)


def scorer_mode(protocol: Protocol, scorer: Reward | Comparator) -> str:
    """The mode an object scorer runs in (a Comparator: pairwise)."""
    return _mode(protocol, pairwise=scorer.pairwise)


def _mode(protocol: Protocol, pairwise: bool) -> str:
    if pairwise:
        if "pairwise" not in protocol.modes:
            raise BenchError(f"{protocol.name} scores responses one by one; a pairwise comparator cannot run it (use a pointwise reward)")
        return "pairwise"
    return "process" if "process" in protocol.modes else "pointwise"


def build_scorer(config: LoadedConfig | None, mode: str) -> Any:
    """The reward (or, in pairwise mode, the comparator) a loaded config describes; None for stored scores."""
    if mode == "stored" or config is None:
        return None
    from assay.compose.load import build_comparator, build_composite

    return build_comparator(config) if mode == "pairwise" else build_composite(config)


def execute(units: list[Unit], scorer: Any, log: WorkLog, done: dict[str, Result], batch_size: int, progress: bool, desc: str) -> int:
    """Score the units not yet done, in batches, logging each result as it comes; returns how many were computed."""
    from tqdm import tqdm

    todo = [u for u in units if u.key not in done]
    computed = 0
    with tqdm(total=len(units), initial=len(units) - len(todo), unit="unit", desc=desc, disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            if batch[0].kind == "compare":
                results = [p.to_dict() for p in scorer.compare([u.pair for u in batch])]
            else:
                results = [j.to_dict() for j in scorer.score([u.sample for u in batch])]
            for unit, result in zip(batch, results, strict=True):
                done[unit.key] = result
                log.write(unit.key, result)
            log.flush()
            computed += len(batch)
            bar.update(len(batch))
    return computed


def bootstrap_overall(protocol: Protocol, outcomes: list[Outcome], exclude_failures: bool, seed: int, resamples: int) -> tuple[float, float] | None:
    """Percentile 95% CI of ``overall``: resample items with replacement within each subset."""
    if resamples <= 0 or not outcomes:
        return None
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, o in enumerate(outcomes):
        groups[o.subset].append(i)
    values = []
    for _ in range(resamples):
        picked = [outcomes[j] for idx in groups.values() for j in rng.choice(idx, size=len(idx), replace=True)]
        overall = protocol.aggregate(picked, exclude_failures).get("overall")
        if overall is not None:
            values.append(overall)
    if not values:
        return None
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def subset_table(outcomes: list[Outcome], exclude_failures: bool) -> dict[str, dict[str, Any]]:
    """Per subset: items, invalid items, and the plain mean credit under the failure policy."""
    table: dict[str, dict[str, Any]] = {}
    by_subset: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_subset[o.subset].append(o)
    for subset, group in sorted(by_subset.items()):
        credits = [c for c in (credit(o, exclude_failures) for o in group) if c is not None]
        invalid = sum(1 for o in group if not o.valid)
        table[subset] = {"n": len(group), "invalid": invalid, "invalid_rate": invalid / len(group), "accuracy": float(np.mean(credits)) if credits else None}
    return table


def run_benchmark(
    benchmark: str,
    config: str | Path | dict[str, Any] | LoadedConfig | None = None,
    data_dir: str | Path | None = None,
    output: str | Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    exclude_failures: bool = False,
    resume: bool | None = None,
    batch_size: int = 64,
    progress: bool = True,
    resamples: int = 1000,
    scorer: Any = None,
    options: dict[str, Any] | None = None,
    html: bool = True,
    retry_failures: bool = False,
) -> dict[str, Any]:
    """Run one benchmark and return its report; with ``output`` it also writes what the CLI
    writes (report.json, and report.html unless ``html=False``, see report.py).
    ``config`` is a path, a dict or an already read config (read here once otherwise);
    ``scorer`` passes a Reward or Comparator object instead of a config (the Python API);
    ``options`` the benchmark's own options (judgebench ``single_game``, ``mix_splits``;
    prmbench ``files``: ``all`` or ``test``); ``retry_failures`` recomputes saved results
    that failed with a transient ``backend`` or ``timeout`` failure."""
    if benchmark not in PROTOCOLS:
        raise BenchError(f"unknown benchmark {benchmark!r}; known: {', '.join(PROTOCOLS)}")
    protocol_options = {k: v for k, v in (options or {}).items() if k in PROTOCOLS[benchmark].options}
    protocol = PROTOCOLS[benchmark].with_options(**protocol_options)
    started = time.perf_counter()
    loaded = load(benchmark, data_dir, limit, **{k: v for k, v in (options or {}).items() if k not in protocol_options})
    if scorer is not None:
        mode = scorer_mode(protocol, scorer)
        digest = config_hash(None, benchmark, {"seed": seed, "mode": mode, "scorer": scorer.identity()})  # its options, function source and what it wraps
    else:
        read = None if config is None else config if isinstance(config, LoadedConfig) else read_config(config)  # read once: built and hashed from this
        mode = choose_mode(protocol, read)
        scorer = build_scorer(read, mode)
        digest = config_hash(read, benchmark, {"seed": seed, "mode": mode})
    if isinstance(config, LoadedConfig):  # reported as what it was read from
        config = config.path if config.path is not None else json.loads(config.text)
    log = WorkLog(Path(output) if output else None, digest)
    header = {"benchmark": benchmark, "config": str(config) if not isinstance(config, dict) else "<dict>", "mode": mode, "seed": seed}
    done = log.open(resume, header)
    retried = log.forget(done, TRANSIENT) if retry_failures else []
    try:
        units: list[Unit] = []
        seen: set[str] = set()
        for item in loaded.items:
            for unit in protocol.units(item, mode):
                if unit.key not in seen:
                    seen.add(unit.key)
                    units.append(unit)
        reused = sum(1 for u in units if u.key in done)
        computed = execute(units, scorer, log, done, batch_size, progress, benchmark) if units else 0
    finally:
        log.close()
    outcomes = [protocol.outcome(item, done, mode) for item in loaded.items]
    metrics = protocol.aggregate(outcomes, exclude_failures)
    notes = list(loaded.notes) + list(metrics.pop("notes", []))
    invalid = [o for o in outcomes if not o.valid]
    failures = Counter(k for o in invalid for k in o.failures)
    consistency = [o.consistent for o in outcomes if o.consistent is not None]
    ties = [o for o in outcomes if o.parts.get("tie")]
    scores: dict[str, list[float]] = {"chosen": [], "rejected": []}
    for item in loaded.items:
        for key, role in protocol.score_roles(item):
            if key in done and (s := score_of(done[key])) is not None:
                scores[role].append(s)
    if scorer is None:
        reward_name = "stored pred_score"
    elif isinstance(scorer, CompositeReward):  # a config's composed reward: name its components
        reward_name = ", ".join(scorer.components)
    else:
        reward_name = scorer.name
    report: dict[str, Any] = {
        "benchmark": benchmark,
        **metrics,
        "n": len(outcomes),
        "n_scored": len(outcomes) - len(invalid),
        "invalid": len(invalid),
        "invalid_rate": len(invalid) / len(outcomes) if outcomes else 0.0,
        "failures": dict(failures),
        "failure_policy": "excluded" if exclude_failures else "counted_as_wrong",
        "ci": {"overall": bootstrap_overall(protocol, outcomes, exclude_failures, seed, resamples), "level": 0.95, "resamples": resamples, "seed": seed},
        "position_consistency": float(np.mean(consistency)) if consistency else None,
        "tie_rate": len(ties) / len(outcomes) if outcomes and mode == "pointwise" and protocol.records_ties else None,
        "subsets": subset_table(outcomes, exclude_failures),
        "mode": mode,
        "reward": reward_name,
        "config": str(config) if config is not None and not isinstance(config, dict) else config,
        "config_hash": digest,
        "seed": seed,
        "limit": limit,
        "data": {"files": [str(p) for p in loaded.files], "notes": notes},
        "options": protocol.options,
        "unparsed_games": unparsed_games(outcomes),
        "calibration": bench_calibration(protocol, loaded.items, done, mode),
        "units": {"total": len(units), "computed": computed, "reused": reused, "retried": len(retried), "dropped_log_lines": log.dropped_lines, "torn_last_line": log.torn_last_line},
        "seconds": round(log.seconds() if output else time.perf_counter() - started, 2),
        "seconds_this_run": round(time.perf_counter() - started, 2),
        "_scores": scores,
    }
    if output:
        from assay.bench.report import write_report

        report["_written"] = [str(p) for p in write_report(report, output, html_too=html)]
    return report
