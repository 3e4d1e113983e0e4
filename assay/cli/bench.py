"""``assay bench BENCHMARK --config CONFIG --data-dir DIR --output DIR``: evaluate a reward,
a comparator or a process reward on a benchmark with its exact protocol; ``assay bench --list``
names the benchmarks and the files each expects."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLE = """\
examples:
  assay bench --list
  assay bench rm-bench --config rewards.yaml --data-dir ../shared/data --output runs/rmbench
  assay bench judgebench --config judge.yaml --output runs/jb --limit 50
  assay bench math-bon --output runs/mathbon          # no config: the file's stored pred_score
  assay bench probes --config rewards.yaml --limit 200 --output runs/probes
  assay bench pairs --data my_pairs.jsonl --config rewards.yaml --ties threshold
  assay bench pairs --data pandalm_test.json --config judge.yaml --ties majority \
      --field prompt=instruction --field response_a=response1 --field response_b=response2 \
      --annotators annotator1,annotator2,annotator3 --label-map 1=a,2=b,0=tie
  assay bench bon --data my_bon.jsonl --config rewards.yaml

Failures count as wrong unless --exclude-failures; the report says which, beside the invalid
rate. Re-running into the same --output with the same config resumes from samples.jsonl
(--retry-failures computes the transient backend/timeout failures again).
"""

PROBES = "probes"


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(
        name, help="evaluate a reward or judge on a benchmark (RM-Bench, JudgeBench, LLMBar, ...)", epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("benchmark", nargs="?", help="benchmark name (see --list), or 'probes' for the bias probes")
    parser.add_argument("--list", action="store_true", help="name the benchmarks and the files each expects")
    parser.add_argument("--config", "-c", help="reward config (YAML or TOML); a 'comparator:' entry makes it a pairwise judge")
    parser.add_argument("--data-dir", type=Path, help="benchmark data folder (default: $ASSAY_DATA_DIR or ../shared/data)")
    parser.add_argument("--output", "-o", type=Path, help="folder for report.json, report.html and the per-sample log")
    parser.add_argument("--limit", type=int, help="only the first N items (probes: N sampled items, default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed for bootstrap CIs and sampling (default 0)")
    parser.add_argument("--exclude-failures", action="store_true", help="leave failed items out of the accuracies (default: count them as wrong)")
    parser.add_argument("--resume", action="store_true", help="require resuming from the log in --output (fails if the config changed); resuming is automatic when the config hash matches")
    parser.add_argument("--batch-size", type=int, default=64, help="units scored together (default 64)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CI (default 1000; 0 for none)")
    parser.add_argument("--retry-failures", action="store_true", help="on resume, compute again the units whose saved result is a transient backend or timeout failure")
    parser.add_argument("--no-html", action="store_true", help="write report.json only (an older report.html in --output is removed)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars (model loading included)")
    parser.add_argument("--single-game", action="store_true", help="judgebench, pairs: one game per pair, the original order only (JudgeBench's --single_game)")
    parser.add_argument("--data", type=Path, help="pairs, bon: your own data file (.jsonl, .jsonl.gz, .json, .parquet)")
    parser.add_argument("--field", action="append", default=[], metavar="ROLE=NAME", help="pairs, bon: read ROLE from your field NAME (roles: id, prompt, response_a, "
        "response_b, label, split, subset; bon: responses, correct); repeatable")
    parser.add_argument("--label-map", metavar="RAW=LABEL,...", help="pairs: map your label values to a, b, tie (e.g. 1=a,2=b,0=tie)")
    parser.add_argument("--annotators", metavar="FIELD,...", help="pairs: several label fields; the label is their majority (PandaLM)")
    parser.add_argument("--ties", choices=("three_class", "threshold", "majority"), default="three_class", help="pairs: the tie convention (default three_class, Auto-J; "
        "threshold: searched on a dev split; majority: PandaLM's metrics)")
    parser.add_argument("--tie-threshold", type=float, default=0.0, help="pairs: a scalar reward says tie within this score difference (three_class, majority; default 0)")
    parser.add_argument("--dev-fraction", type=float, default=0.2, help="pairs --ties threshold: the share of rows without a split field that go to dev (by a hash of the id; default 0.2)")
    parser.add_argument("--judgebench-mix-splits", action="store_true", help="judgebench: pool files of different response-model splits (refused by default)")
    parser.add_argument("--prmbench-files", choices=("all", "test"), default="all", help="prmbench: every .jsonl of the folder (default, as PRMBench's own evaluation) or "
        "the 17 test files only (for a PRM trained on the train_p1_first400 files)")
    parser.set_defaults(func=run)


def list_benchmarks() -> str:
    from assay.bench.protocols import PROTOCOLS

    lines = ["benchmark     modes                  files expected under --data-dir"]
    for name, protocol in PROTOCOLS.items():
        lines.append(f"{name:<13} {', '.join(protocol.modes):<22} {protocol.needs_data}")
    lines.append(f"{PROBES:<13} {'pointwise, pairwise':<22} rm-bench/*.json (length, style, injection) and llmbar/*.json (position)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(list_benchmarks())
        return 0
    if not args.benchmark:
        print("error: name a benchmark (see `assay bench --list`)", file=sys.stderr)
        return 2
    from assay.bench.loaders import DataError
    from assay.bench.protocols import PROTOCOLS
    from assay.bench.runner import BenchError
    from assay.bench.worklog import ConfigChanged
    from assay.spec import ConfigError

    if args.benchmark != PROBES and args.benchmark not in PROTOCOLS:
        print(f"error: unknown benchmark {args.benchmark!r}\n\n{list_benchmarks()}", file=sys.stderr)
        return 2
    try:
        if args.benchmark == PROBES:
            return _probes(args)
        from assay.bench.report import terminal_table
        from assay.bench.runner import run_benchmark

        if args.quiet:
            quiet_progress()
        config = args.config
        if args.benchmark in ("pairs", "bon") and config:
            from assay.spec import read_config

            config = read_config(config)  # read once: its data section maps the fields, then it is run
        report = run_benchmark(
            args.benchmark, config, args.data_dir, args.output, args.limit, args.seed, args.exclude_failures,
            True if args.resume else None, args.batch_size, not args.quiet, args.bootstrap,
            options=benchmark_options(args, config), html=not args.no_html, retry_failures=args.retry_failures,
        )
    except (BenchError, ConfigError, ConfigChanged, DataError, FileNotFoundError, ImportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(terminal_table(report))
    if report.get("_written"):
        print("\nwrote " + ", ".join(report["_written"]))
    return 0


def _pairs_of(text: str | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (p for p in (text or "").split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{what}: expected KEY=VALUE, got {part!r}")
        out[key.strip()] = value.strip()
    return out


def own_data_options(args: argparse.Namespace, config: object | None) -> dict[str, object]:
    """pairs / bon: the file, the field and label mappings (the config's ``data:`` section,
    then the command line's), and the tie convention."""
    data = getattr(getattr(config, "spec", None), "data", None)
    fields = dict(data.fields) if data else {}
    for item in args.field:
        fields.update(_pairs_of(item, "--field"))
    options: dict[str, object] = {"data": args.data, "fields": fields}
    if args.benchmark == "pairs":
        label_map = {**(data.label_map if data else {}), **_pairs_of(args.label_map, "--label-map")}
        annotators = [a.strip() for a in args.annotators.split(",") if a.strip()] if args.annotators else list(data.annotators) if data else []
        options.update(label_map=label_map or None, annotators=annotators or None, ties=args.ties, tie_threshold=args.tie_threshold,
                       dev_fraction=args.dev_fraction, single_game=args.single_game)
    return options


def benchmark_options(args: argparse.Namespace, config: object | None = None) -> dict[str, object]:
    """The benchmark's own options from the command line (only those it takes)."""
    own = ("pairs", "bon")
    if args.benchmark not in own and (args.data or args.field or args.label_map or args.annotators):
        raise ValueError("--data, --field, --label-map and --annotators apply to pairs and bon only")
    if args.benchmark in own:
        if args.benchmark == "bon" and (args.single_game or args.label_map or args.annotators):
            raise ValueError("--single-game, --label-map and --annotators apply to pairs only")
        return own_data_options(args, config)
    if args.benchmark == "judgebench":
        return {"single_game": args.single_game, "mix_splits": args.judgebench_mix_splits}
    if args.benchmark == "prmbench":
        return {"files": args.prmbench_files}
    if args.single_game or args.judgebench_mix_splits:
        raise ValueError("--single-game and --judgebench-mix-splits apply to judgebench only")
    if args.prmbench_files != "all":
        raise ValueError("--prmbench-files applies to prmbench only")
    return {}


def quiet_progress() -> None:
    """``-q``: no progress bar at all, the model-loading bars of transformers, huggingface_hub
    and sentence-transformers included (set before they are imported, and switched off in
    those already imported)."""
    import os

    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def _probes(args: argparse.Namespace) -> int:
    from assay.bench.probes.bias import probes_table, run_probes

    if not args.config:
        print("error: probes need --config (the reward or judge to probe)", file=sys.stderr)
        return 2
    result = run_probes(args.config, args.data_dir, args.limit or 200, args.seed)
    print(probes_table(result))
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "probes.json").write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.output / 'probes.json'}")
    return 0
