"""How much batching can gain for a sentence encoder on this machine: the ceiling on the
reward server's micro-batching speed-up for the ``semantic`` reward.

Times the packaged all-MiniLM-L6-v2 forward pass (the same call the ``semantic`` reward
makes) at batch sizes 1..32 and text lengths of 8, 32 and 128 tokens, and reports the time
per text and the speed-up of each batch size over batch size 1 at the same length. A
forward pass streams all the encoder's weights (~90 MB in float32) however few tokens it
carries, so short texts at batch size 1 pay mostly for that; long texts pay for their
tokens, which batching cannot remove on a CPU.

    python perf/encoder_batching.py       # writes perf/results/encoder_batching.{json,md,png}
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).resolve().parent / "results"
BATCH_SIZES = (1, 2, 4, 8, 16, 32)
LENGTHS = (8, 32, 128)


def time_forward(encoder: object, batch: int, length: int, budget_s: float = 1.5) -> float:
    """Seconds per forward pass of ``batch`` texts of ``length`` tokens (median of repeats)."""
    import torch

    features = {
        "input_ids": torch.full((batch, length), 2000),
        "attention_mask": torch.ones(batch, length, dtype=torch.long),
        "token_type_ids": torch.zeros(batch, length, dtype=torch.long),
    }
    with torch.inference_mode():
        encoder(features)  # warm-up
        times: list[float] = []
        started = time.perf_counter()
        while len(times) < 3 or (time.perf_counter() - started < budget_s and len(times) < 50):
            t = time.perf_counter()
            encoder(features)
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def plot(rows: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for length in LENGTHS:
        mine = [r for r in rows if r["tokens"] == length]
        ax.plot([r["batch"] for r in mine], [r["ms_per_text"] for r in mine], marker="o", label=f"{length} tokens")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    ax.set_yticks([1, 2, 5, 10, 20, 50], ["1", "2", "5", "10", "20", "50"])
    ax.set_xlabel("batch size")
    ax.set_ylabel("ms per text")
    ax.set_title("all-MiniLM-L6-v2 forward pass on this CPU")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main() -> int:
    import torch

    from assay.backends.local_models import sentence_encoder

    encoder = sentence_encoder(None, "cpu")
    rows = []
    for length in LENGTHS:
        single = None
        for batch in BATCH_SIZES:
            seconds = time_forward(encoder, batch, length)
            per_text = 1000 * seconds / batch
            single = single or per_text
            row = {"tokens": length, "batch": batch, "ms_per_batch": round(1000 * seconds, 2), "ms_per_text": round(per_text, 3),
                   "speedup_over_batch_1": round(single / per_text, 2)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "rows": rows,
        "load_average_at_end": os.getloadavg(),
    }
    (RESULTS / "encoder_batching.json").write_text(json.dumps(report, indent=2) + "\n")
    has_plot = plot(rows, RESULTS / "encoder_batching.png")
    lines = [
        "# Encoder batching ceiling (`perf/encoder_batching.py`)",
        "",
        f"Machine: {report['machine']}; load average at the end {tuple(round(x, 1) for x in report['load_average_at_end'])}.",
        "all-MiniLM-L6-v2 forward pass (median of repeats); speed-up = time per text at batch 1 / at this batch size, same length.",
        "",
        "| tokens per text | " + " | ".join(f"batch {b}" for b in BATCH_SIZES) + " |",
        "|---|" + "---|" * len(BATCH_SIZES),
    ]
    for length in LENGTHS:
        mine = [r for r in rows if r["tokens"] == length]
        lines.append(f"| {length} | " + " | ".join(f"{r['ms_per_text']:.2f} ms ({r['speedup_over_batch_1']}x)" for r in mine) + " |")
    if has_plot:
        lines += ["", "![ms per text by batch size](encoder_batching.png)"]
    (RESULTS / "encoder_batching.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
