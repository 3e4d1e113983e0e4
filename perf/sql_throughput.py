"""Throughput of the ``sql`` reward against the usual way to score SQL execution, with identical verdicts.

The set: the Chinook case set of ``tests/data/chinook_sql_cases.jsonl`` (14 questions, 47
candidate queries: equivalent rewrites, wrong joins and filters, ordering, syntax errors,
writes, ATTACH, PRAGMAs, load_extension, blow-ups), each candidate replicated ``--samples``
times (8 by default, as GRPO groups do), all on the real Chinook database.

- assay: ``SqlExecution`` (guarded read-only workers, gold results cached per worker), one
  ``score`` call over the whole set;
- the usual way, as Spider's and BIRD's scripts do it: in this process, sequentially, one
  ``sqlite3.connect`` per query (gold, then prediction), ``fetchall``, then the same result
  comparison as assay (``assay.rewards.sql.compare.compare``) so that only the execution
  differs. It gets the same time bound (a progress handler) so the blow-ups end; it opens the
  file with ``mode=ro`` so the write attempts cannot change it (it has no authorizer).

Timed twice: the whole set, and the set without the three blow-up categories (whose time is
the time bound, in both methods). Verdicts must be identical sample by sample; the script
lists any difference and exits non-zero. Results: ``perf/results/sql_throughput.{json,md}``.

    .venv/bin/python perf/sql_throughput.py [--data-dir ../shared/data] [--samples 8] [--timeout 1.0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assay.rewards.sql.compare import compare  # noqa: E402
from assay.rewards.sql.execution import database_uri  # noqa: E402
from assay.rewards.sql.inputs import extract_query  # noqa: E402
from assay.rewards.sql.reward import SqlExecution  # noqa: E402
from assay.types import Sample  # noqa: E402

BLOW_UPS = {"cartesian_time", "cartesian_rows", "recursive_time"}


def usual_way(database: str, gold_sql: str, response: str, timeout: float) -> tuple[float, str]:
    """One sample scored as Spider's / BIRD's scripts do it (plus a time bound): a connection per
    query, fetchall, compare."""

    def execute(sql: str) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(database_uri(database), uri=True)
        deadline = time.monotonic() + timeout
        connection.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    gold = execute(gold_sql)
    query = extract_query(response).query
    if query is None:
        return 0.0, "no query"
    try:
        pred = execute(query)
    except Exception as error:  # noqa: BLE001 - the usual way: any error is a 0
        return 0.0, f"{type(error).__name__}: {error}"
    verdict = compare(gold, pred, gold_sql)
    return (1.0 if verdict.equal else 0.0), verdict.reason


def timed(fn) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--samples", type=int, default=8, help="samples per candidate query")
    parser.add_argument("--timeout", type=float, default=1.0, help="time bound of a predicted query, both methods")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5, help="runs of the fast sets (the median is reported)")
    parser.add_argument("--out", default=str(REPO / "perf" / "results" / "sql_throughput"))
    args = parser.parse_args()
    database = str(Path(args.data_dir) / "sql" / "chinook.sqlite")
    cases = [json.loads(line) for line in (REPO / "tests" / "data" / "chinook_sql_cases.jsonl").read_text().splitlines() if line.strip()]
    rows = [{**case, "replica": k} for case in cases for k in range(args.samples)]
    digest = hashlib.sha256(Path(database).read_bytes()).hexdigest()

    reward = SqlExecution(database=database, timeout_seconds=args.timeout, workers=args.workers)
    _, start_up = timed(reward.warm_up)
    reward.close()
    sets = {"whole set": rows, "without the blow-ups": [r for r in rows if r["category"] not in BLOW_UPS]}
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f} at the start: shared with other jobs), Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}",
        "command": f"python perf/sql_throughput.py --samples {args.samples} --timeout {args.timeout:g} --repeat {args.repeat}",
        "workers": reward.worker_count,
        "start_up_seconds": round(start_up, 3),
        "questions": len({c["question_id"] for c in cases}),
        "candidates": len(cases),
        "samples_per_candidate": args.samples,
        "sets": {},
    }
    identical = True
    for label, subset in sets.items():
        repeats = 1 if label == "whole set" else args.repeat  # the whole set is mostly time bounds
        samples = [Sample(response=f"```sql\n{r['candidate']}\n```", reference=r["gold"]) for r in subset]
        assay_times, usual_times = [], []
        for _ in range(repeats):
            reward = SqlExecution(database=database, timeout_seconds=args.timeout, workers=args.workers)
            reward.warm_up()  # fresh workers each time: no gold result cached from an earlier run
            judgments, seconds = timed(lambda: reward.score(samples))
            reward.close()
            assay_times.append(seconds)
            usual, seconds = timed(lambda: [usual_way(database, r["gold"], s.response_text, args.timeout) for r, s in zip(subset, samples)])
            usual_times.append(seconds)
        assay_seconds, usual_seconds = statistics.median(assay_times), statistics.median(usual_times)
        differences = [
            {"id": r["id"], "replica": r["replica"], "assay": j.score, "assay_rationale": j.rationale, "usual": u[0], "usual_reason": u[1]}
            for r, j, u in zip(subset, judgments, usual) if j.score != u[0]
        ]
        expected_wrong = sum(1 for r, j in zip(subset, judgments) if j.score != r["expect_score"])
        identical &= not differences
        report["sets"][label] = {
            "samples": len(subset),
            "assay_seconds": round(assay_seconds, 3),
            "usual_seconds": round(usual_seconds, 3),
            "assay_per_second": round(len(subset) / assay_seconds, 1),
            "usual_per_second": round(len(subset) / usual_seconds, 1),
            "speed_up": round(usual_seconds / assay_seconds, 2),
            "verdict_differences": differences,
            "assay_vs_expected_differences": expected_wrong,
            "failures": sum(1 for j in judgments if j.failure is not None),
            "repeats": repeats,
        }
    # where the speed-up comes from: the same run with one worker (no parallelism, only the
    # kept connections and the cached gold results)
    subset = sets["without the blow-ups"]
    one_times = []
    for _ in range(args.repeat):
        one = SqlExecution(database=database, timeout_seconds=args.timeout, workers=1)
        one.warm_up()
        one_judgments, seconds = timed(lambda: one.score([Sample(response=f"```sql\n{r['candidate']}\n```", reference=r["gold"]) for r in subset]))
        one.close()
        one_times.append(seconds)
    one_seconds = statistics.median(one_times)
    report["one_worker_without_the_blow_ups"] = {
        "seconds": round(one_seconds, 3),
        "per_second": round(len(subset) / one_seconds, 1),
        "speed_up": round(report["sets"]["without the blow-ups"]["usual_seconds"] / one_seconds, 2),
        "identical_verdicts": [j.score for j in one_judgments] == [r["expect_score"] for r in subset],
    }
    report["database_unchanged"] = hashlib.sha256(Path(database).read_bytes()).hexdigest() == digest
    report["identical_verdicts"] = identical

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# sql reward throughput",
        "",
        f"Machine: {report['machine']}. Command: `{report['command']}`.",
        f"The Chinook case set: {report['questions']} questions, {report['candidates']} candidate queries, "
        f"{args.samples} samples each; predicted queries bounded at {args.timeout:g} s in both methods.",
        f"assay: {report['workers']} worker processes, started fresh for each set (no gold result cached across sets); "
        f"their start-up ({report['start_up_seconds']} s, once per process) is not in the timings.",
        "The usual way: in-process, sequential, one `sqlite3.connect` per query, `fetchall`, the same comparison.",
        f"The whole set is timed once; the other rows are the median of {args.repeat} runs.",
        "",
        "| set | samples | assay samples/s | usual samples/s | assay s | usual s | speed-up | identical verdicts |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, s in report["sets"].items():
        lines.append(
            f"| {label} | {s['samples']} | {s['assay_per_second']:,} | {s['usual_per_second']:,} | {s['assay_seconds']} | "
            f"{s['usual_seconds']} | {s['speed_up']}x | {'yes' if not s['verdict_differences'] else 'NO (%d)' % len(s['verdict_differences'])} |"
        )
    o = report["one_worker_without_the_blow_ups"]
    lines.append(
        f"| without the blow-ups, assay with 1 worker | {len(subset)} | {o['per_second']:,} | {report['sets']['without the blow-ups']['usual_per_second']:,} | "
        f"{o['seconds']} | {report['sets']['without the blow-ups']['usual_seconds']} | {o['speed_up']}x | {'yes' if o['identical_verdicts'] else 'NO'} |"
    )
    lines += [
        "",
        "With one worker there is no parallelism: what remains is the connection kept per database and the gold "
        "result run once per worker for the 8 samples of a candidate (the usual way connects twice and runs the gold query for every sample).",
        "",
        f"The database file is unchanged after both runs: {'yes' if report['database_unchanged'] else 'NO'}. "
        f"assay's verdicts that differ from the set's expected scores: {report['sets']['whole set']['assay_vs_expected_differences']}.",
        "The blow-ups (cartesian products, an endless recursive CTE) take the time bound in both methods; "
        "the second row shows the speed-up where the time goes to real work.",
    ]
    for label, s in report["sets"].items():
        for d in s["verdict_differences"]:
            lines.append(f"- {label} `{d['id']}` #{d['replica']}: assay {d['assay']} ({d['assay_rationale']}); usual {d['usual']} ({d['usual_reason']})")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if identical and report["database_unchanged"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
