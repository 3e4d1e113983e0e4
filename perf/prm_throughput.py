"""The ``prm`` reward against the ways a user would score a tag-token PRM by hand, same model, same inputs.

Model: the packaged Gemma-3-270M read as a Math-Shepherd-style PRM (``tag_logits``: the step
tag `` ки`` after each step, P(``+``) against P(``-``) at the tag). It is not a trained PRM:
the figure is the machinery's speed and exactness, not the model's judgement. Inputs: GSM8K
example solutions (``--solutions``, lines as steps).

- **assay**: ``type: prm``; batches sorted by length, the vocabulary projection applied to two
  rows at the tag positions only.
- **full logits, batched**: the usual code (Math-Shepherd's README), batched as any user
  batches: padded batches of ``--batch-size`` in file order, ``model(...).logits`` over the whole
  vocabulary at every position, then the two candidate tokens at the tags.
- **one pass per step prefix**: each prefix up to a step's tag run alone, the last position's
  full logits read.

All three must give equal step scores (max difference reported, required < 1e-4). The naive
ways are warmed up like assay. Results: ``perf/results/prm_throughput.{json,md}``.

    .venv/bin/python perf/prm_throughput.py      # about 10 minutes on an idle 2-core CPU, most of it the naive ways
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from assay.paths import data_dir
from assay.types import Sample

RESULTS = Path(__file__).resolve().parent / "results"


def load_solutions(folder: Path, n: int) -> list[Sample]:
    samples = []
    for line in (folder / "gsm8k" / "example_model_solutions.jsonl").open():
        row = json.loads(line)
        for value in row.values():
            if isinstance(value, dict) and "solution" in value and len(samples) < n:
                steps = [s for s in value["solution"].splitlines() if s.strip()]
                samples.append(Sample(prompt=row["question"], response="", steps=steps))
    return samples


def full_logits_batched(model, tokenizer, encoded, good, bad, batch_size):
    import torch

    pad = tokenizer.pad_token_id
    out = []
    with torch.inference_mode():
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            width = max(len(e.ids) for e in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for b, e in enumerate(batch):
                ids[b, : len(e.ids)] = torch.tensor(e.ids)
                mask[b, : len(e.ids)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits
            for b, e in enumerate(batch):
                pair = logits[b, e.positions][:, [good, bad]].float()
                out.append(torch.softmax(pair, dim=-1)[:, 0].tolist())
    return out


def per_prefix(model, encoded, good, bad):
    import torch

    out = []
    with torch.inference_mode():
        for e in encoded:
            scores = []
            for p in e.positions:
                logits = model(input_ids=torch.tensor([e.ids[: p + 1]])).logits[0, -1]
                scores.append(torch.softmax(logits[[good, bad]].float(), dim=-1)[0].item())
            out.append(scores)
    return out


def max_diff(a, b):
    return max(abs(x - y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--solutions", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = data_dir(args.data_dir)
    if folder is None:
        raise SystemExit("no data folder: pass --data-dir or set ASSAY_DATA_DIR")
    from assay.backends import local_models
    from assay.rewards.process.prm import StepRewardModel

    path = str(local_models.default_causal_lm_path())
    samples = load_solutions(folder, args.solutions)
    reward = StepRewardModel(model=path, convention="tag_logits", batch_size=args.batch_size)
    model, tokenizer = local_models.causal_lm(path)
    reward.score(samples[:2])  # warm-up (loads the model, sets the tag ids)
    _, good, bad = reward._tag_ids
    encoded = [reward.encode(s.prompt_text, list(s.steps), tokenizer) for s in samples]
    full_logits_batched(model, tokenizer, encoded[:2], good, bad, args.batch_size)
    per_prefix(model, encoded[:1], good, bad)

    timings = {}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    judged = reward.score(samples)
    timings["assay"] = time.perf_counter() - start
    ours = [j.details["step_scores"] for j in judged]
    start = time.perf_counter()
    batched = full_logits_batched(model, tokenizer, encoded, good, bad, args.batch_size)
    timings["full_logits_batched"] = time.perf_counter() - start
    start = time.perf_counter()
    prefixes = per_prefix(model, encoded, good, bad)
    timings["per_prefix"] = time.perf_counter() - start

    load_after = os.getloadavg()[0]
    steps = sum(len(s.steps) for s in samples)
    tokens = sum(len(e.ids) for e in encoded)
    fastest_naive = min(timings["full_logits_batched"], timings["per_prefix"])
    result = {
        "model": "Gemma-3-270M (packaged), tag_logits", "solutions": len(samples), "steps": steps, "tokens": tokens,
        "batch_size": args.batch_size, "threads": torch.get_num_threads(), "seconds": timings,
        "load_average_before_after": [load_before, load_after],
        "speedup_vs_fastest_naive": fastest_naive / timings["assay"],
        "speedup_vs_full_logits_batched": timings["full_logits_batched"] / timings["assay"],
        "speedup_vs_per_prefix": timings["per_prefix"] / timings["assay"],
        "max_diff_vs_full_logits_batched": max_diff(ours, batched), "max_diff_vs_per_prefix": max_diff(ours, prefixes),
    }
    assert result["max_diff_vs_full_logits_batched"] < 1e-4 and result["max_diff_vs_per_prefix"] < 1e-4, result
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prm_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# prm: step scores from a tag-token PRM, against the naive ways, same model and inputs",
        "",
        f"`.venv/bin/python perf/prm_throughput.py --threads {torch.get_num_threads()}`: {len(samples)} GSM8K solutions, {steps} steps, "
        f"{tokens:,} tokens, Gemma-3-270M read as a Math-Shepherd-style PRM, batch size {args.batch_size}; "
        f"machine load average {load_before:.1f} before, {load_after:.1f} after (other work shares the CPU when it is above the core count).",
        "",
        "| way | seconds | steps/s | assay's speed-up | max step-score difference |",
        "|---|---|---|---|---|",
        f"| assay `prm` (two vocabulary rows at the tags) | {timings['assay']:.2f} | {steps / timings['assay']:.1f} | | |",
        f"| full logits, padded batches of {args.batch_size} | {timings['full_logits_batched']:.2f} | {steps / timings['full_logits_batched']:.1f} | "
        f"{result['speedup_vs_full_logits_batched']:.2f}x | {result['max_diff_vs_full_logits_batched']:.1e} |",
        f"| one pass per step prefix | {timings['per_prefix']:.2f} | {steps / timings['per_prefix']:.1f} | {result['speedup_vs_per_prefix']:.2f}x | "
        f"{result['max_diff_vs_per_prefix']:.1e} |",
    ]
    (out / "prm_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
