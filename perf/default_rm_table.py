"""The default reward model's benchmark table beside the baselines, from the bench reports.

Why: the model card (docs/rewards/default-rm.md) and perf/results/default_rm/summary.md
give one table; this builds it from the ``report.json`` files ``assay bench`` wrote, so no
figure is typed by hand. What not: running the benchmarks (the card lists those commands).

    python perf/default_rm_table.py      # writes perf/results/default_rm/summary.md
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"
MODELS = {"default RM": RESULTS / "default_rm", "first head": RESULTS / "default_rm_first", "length": RESULTS / "length_baseline",
          "semantic": RESULTS / "semantic_relevance", "pmi": RESULTS / "pmi", "first head + 0.5 pmi": RESULTS / "default_rm_plus_pmi"}
ROWS = {
    "rm-bench": ["overall", "easy", "normal", "hard", "chat", "code", "safety"],
    "llmbar": ["overall", "natural", "adversarial", "adversarial-neighbor", "adversarial-gptinst", "adversarial-gptout", "adversarial-manual"],
    "judgebench": ["overall", "knowledge", "reasoning", "math", "coding"],
    "rmb": ["overall"],
}


def cell(report: dict | None, metric: str) -> str:
    if report is None or metric not in report:
        return "not run"
    text = f"{report[metric]:.3f}"
    ci = (report.get("ci") or {}).get(metric) if metric == "overall" else None
    return f"**{text}** [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else text


def table() -> str:
    lines = ["| benchmark | metric | " + " | ".join(MODELS) + " |", "|---|---|" + "---|" * len(MODELS)]
    for bench, metrics in ROWS.items():
        reports = {}
        for name, folder in MODELS.items():
            path = folder / bench / "report.json"
            reports[name] = json.loads(path.read_text()) if path.is_file() else None
        if all(r is None for r in reports.values()):
            continue
        for metric in metrics:
            lines.append(f"| {bench} | {metric} | " + " | ".join(cell(reports[n], metric) for n in MODELS) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    text = ("# The default reward model beside the baselines\n\nOverall: point estimate [95 % bootstrap CI, 1,000 resamples, seed 0]. "
            "Built by `python perf/default_rm_table.py` from the bench reports.\n\n" + table())
    out = RESULTS / "default_rm" / "summary.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
