"""The training report every trainer writes in its output folder: ``report.json`` (the
options, the data counts, the final figures and the logged curve) and, when matplotlib is
installed, ``curves.png`` (loss and accuracy, train and eval, against the step or epoch).
Not here: computing the figures (each trainer) or benchmarking the result (``assay bench``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORT_FILE = "report.json"
PLOT_FILE = "curves.png"


def write_report(folder: str | Path, report: dict[str, Any], history: list[dict[str, float]], x: str = "epoch") -> dict[str, Path]:
    """Write ``report.json`` (``report`` plus ``history``) and, when matplotlib imports,
    ``curves.png``; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {"report": folder / REPORT_FILE}
    written["report"].write_text(json.dumps({**report, "history": history}, indent=2, default=str) + "\n")
    plot = plot_curves(folder / PLOT_FILE, history, x)
    if plot is not None:
        written["plot"] = plot
    return written


def plot_curves(path: Path, history: list[dict[str, float]], x: str) -> Path | None:
    """Loss and accuracy curves (train solid, eval dashed); None without matplotlib or data."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not history:
        return None
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        for key, style in ((metric, "-"), (f"eval_{metric}", "--")):
            points = [(row[x], row[key]) for row in history if key in row and x in row]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], style, marker=".", label=key)
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
