"""Training throughput and peak memory of ``assay train rm`` (and ``head``) on this machine.

Each row is one training run in a fresh subprocess (so its peak resident memory, read from
``getrusage`` at the end, is that run's alone), on the same real pairs: Anthropic HH-RLHF
harmless-base test pairs, split into the shared prompt and the two final turns
(``--split-transcripts``), the first ``--pairs`` of them, 10 % held out.

- **rm, tiny Llama**: a 2-layer, 32-wide Llama sequence classifier with random weights and
  the packaged MiniLM tokenizer, built by this script: the trainer's own overhead (TRL,
  tokenising, the loop) with almost no model;
- **rm, MiniLM-L6**: the packaged sentence encoder (22.7M parameters) read as a
  ``BertForSequenceClassification`` with a fresh one-logit head, full fine-tuning: a
  realistic small base;
- **rm, MiniLM-L6 + LoRA**: the same with a rank-16 adapter (peft), merged at the end;
- **head**: ``assay train head`` (frozen MiniLM embeddings, an MLP, full batch): its time is
  nearly all embedding the texts once.

``pairs/s`` is training pairs times epochs over the wall time of ``trainer.train()`` (for rm,
TRL's own ``train_samples_per_second`` is shown beside it; the held-out scoring and the save
are outside both). Results: ``perf/results/train_throughput.{json,md}``.

    .venv/bin/python perf/train_throughput.py --threads 2          # ~10 minutes on a 2-core CPU
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assay.paths import data_dir

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = {
    "rm-tiny-llama": "rm, tiny Llama (2 layers, width 32, random)",
    "rm-minilm": "rm, MiniLM-L6 (22.7M), full fine-tuning",
    "rm-minilm-lora": "rm, MiniLM-L6, LoRA r=16",
    "head": "head (frozen MiniLM, MLP 64, full batch)",
}


def write_pairs(folder: Path, n: int, out: Path) -> Path:
    with gzip.open(folder / "hh-rlhf" / "harmless-base-test.jsonl.gz", "rt") as handle, out.open("w") as target:
        for i, line in enumerate(handle):
            if i >= n:
                break
            target.write(line if line.endswith("\n") else line + "\n")
    return out


def tiny_llama(folder: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from assay.backends import local_models

    tokenizer = AutoTokenizer.from_pretrained(str(local_models.default_encoder_path()), local_files_only=True)
    tokenizer.bos_token = tokenizer.cls_token
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=512, num_labels=1, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.cls_token_id)
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def run_one(kind: str, pairs: Path, work: Path, epochs: float, batch_size: int, max_length: int) -> dict:
    """One training run in this process; its figures, peak memory included."""
    from assay.backends import local_models

    started = time.perf_counter()
    cpu_started = time.process_time()  # every thread of this process: the figure the machine's other load does not change much
    if kind == "head":
        from assay.train.heads import train_head

        report = train_head(pairs, work / "out", eval_fraction=0.1, split_transcripts=True, progress=False, epochs=int(epochs), hidden=(64,))
        train_seconds = report["seconds"]
        trl_rate = None
        figures = {"eval_accuracy": report["eval_accuracy"], "epochs": int(epochs), "model_bytes": report["head"]["bytes"]}
        per_pass = report["pairs"]["train"]  # full batch: every epoch sees every pair, but embedding (once) dominates
        rate = per_pass / train_seconds
    else:
        from assay.train.rm import train_rm

        model = str(tiny_llama(work / "tiny")) if kind == "rm-tiny-llama" else str(local_models.default_encoder_path())
        report = train_rm(pairs, model, work / "out", eval_fraction=0.1, split_transcripts=True, progress=False, epochs=epochs,
                          batch_size=batch_size, max_length=max_length, lr=1e-4 if kind.endswith("lora") else 2e-5,
                          lora=kind.endswith("lora"), save_steps=10_000, logging_steps=5, device="cpu")
        train_seconds = report["seconds"]
        trl_rate = report["pairs_per_second"]
        rate = report["pairs"]["train"] * epochs / train_seconds
        figures = {"eval_accuracy": report["eval_accuracy"], "epochs": epochs, "truncated": report["truncated"], "train_loss": report["train_loss"]}
    cpu_seconds = time.process_time() - cpu_started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"run": kind, "what": RUNS[kind], "train_pairs": report["pairs"]["train"], "eval_pairs": report["pairs"]["eval"],
            "train_seconds": train_seconds, "pairs_per_second": rate, "trl_pairs_per_second": trl_rate,
            "wall_seconds_total": time.perf_counter() - started,
            "cpu_seconds_total": cpu_seconds, "peak_rss_mb": peak_kb / 1024, **figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=320, help="HH-RLHF pairs read (10%% held out)")
    parser.add_argument("--epochs", type=float, default=1.0, help="rm epochs")
    parser.add_argument("--head-epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ",".join(RUNS))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.one:
        epochs = args.head_epochs if args.one == "head" else args.epochs
        print("RESULT " + json.dumps(run_one(args.one, args.data, args.work, epochs, args.batch_size, args.max_length)))
        return 0
    folder = data_dir()
    if folder is None or not (folder / "hh-rlhf").is_dir():
        print("error: ../shared/data/hh-rlhf not found (set ASSAY_DATA_DIR)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pairs = write_pairs(folder, args.pairs, Path(tmp) / "pairs.jsonl")
        for kind in args.runs.split(","):
            work = Path(tmp) / kind
            work.mkdir()
            command = [sys.executable, __file__, "--one", kind, "--work", str(work), "--data", str(pairs), "--epochs", str(args.epochs),
                       "--head-epochs", str(args.head_epochs), "--batch-size", str(args.batch_size), "--max-length", str(args.max_length)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
                return 1
            rows.append(json.loads(line[len("RESULT "):]))
            print(json.dumps(rows[-1]))
    import torch

    meta = {"pairs_read": args.pairs, "data": "hh-rlhf/harmless-base-test.jsonl.gz, --split-transcripts", "batch_size": args.batch_size,
            "max_length": args.max_length, "threads": args.threads or torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch": torch.__version__, "command": "perf/train_throughput.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_throughput.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# assay train: training throughput and peak memory on this CPU", "",
        f"`.venv/bin/python {meta['command']}`: {args.pairs} HH-RLHF harmless pairs (prompt split off, 10 % held out), "
        f"rm: batch {args.batch_size}, max length {args.max_length}, {args.epochs:g} epoch; {meta['threads']} torch threads, {meta['cores']} cores "
        "(shared with other work: figures are a floor).", "",
        "| run | train pairs | train seconds (wall) | pairs/s (wall) | TRL's samples/s | CPU seconds, whole run | peak memory (MB) | held-out accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        trl = f"{r['trl_pairs_per_second']:.2f}" if r["trl_pairs_per_second"] else ""
        acc = f"{r['eval_accuracy']:.3f}" if r.get("eval_accuracy") is not None else ""
        lines.append(f"| {r['what']} | {r['train_pairs']} | {r['train_seconds']:.1f} | {r['pairs_per_second']:.2f} | {trl} | {r['cpu_seconds_total']:.0f} | {r['peak_rss_mb']:.0f} | {acc} |")
    lines += ["", "pairs/s for the head is training pairs over the whole fit (embedding every text once, then the full-batch epochs); "
              "for rm it is pairs x epochs over `trainer.train()`. CPU seconds are the run's process time (all threads: loading, "
              "tokenising, training, held-out scoring, saving), which the machine's other load changes far less than wall time. "
              "Peak memory is the run's process (model, data, optimizer, Python)."]
    (RESULTS / "train_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
