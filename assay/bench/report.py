"""What a benchmark run leaves behind: ``report.json`` (metrics as fractions in [0, 1] with the
invalid rate, n, CI, failure policy and config hash beside them), a self-contained
``report.html`` (matplotlib plots embedded as base64 PNGs: score distributions of chosen vs
rejected, a reliability diagram when the scores are probabilities, per-subset bars), and a
table for the terminal.

    >>> write_report(report, Path("runs/rmb"))      # doctest: +SKIP
    >>> print(terminal_table(report))               # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from assay.files.jsonl import finite_json

META_KEYS = {
    "benchmark", "n", "n_scored", "invalid", "invalid_rate", "failures", "failure_policy", "ci", "position_consistency",
    "tie_rate", "subsets", "mode", "reward", "config", "config_hash", "seed", "limit", "data", "units", "seconds", "probes",
    "seconds_this_run", "options", "unparsed_games", "labels", "breakdown", "calibration",
}


def metric_items(report: dict[str, Any]) -> list[tuple[str, float | None]]:
    """The metric keys of a report (``overall`` first), in report order."""
    items = [(k, v) for k, v in report.items() if k not in META_KEYS and not k.startswith("_") and (v is None or isinstance(v, (int, float)))]
    return sorted(items, key=lambda kv: kv[0] != "overall")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _label(report: dict[str, Any], key: str) -> str:
    label = (report.get("labels") or {}).get(key)
    return f"{key} ({label})" if label else key


def _unparsed_cell(report: dict[str, Any], subset: str) -> str:
    row = ((report.get("unparsed_games") or {}).get("by_subset") or {}).get(subset)
    if not row:
        return "-"
    return f"{row['count']}/{row['games']} ({row['rate']:.1%})" if row["rate"] is not None else "0/0"


def files_line(report: dict[str, Any]) -> str | None:
    """``read N file(s): a, b`` (names only), or None when the report names no file."""
    files = (report.get("data") or {}).get("files") or []
    if not files:
        return None
    return f"read {len(files)} file(s): " + ", ".join(Path(f).name for f in files)


def terminal_table(report: dict[str, Any]) -> str:
    """Metrics, then the subset table with the invalid rate (and, for judged pairs, the
    unparsed games) beside every accuracy, then the files read and the notes."""
    ci = (report.get("ci") or {}).get("overall")
    lines = [
        f"{report['benchmark']}  reward: {report.get('reward')}  mode: {report.get('mode')}  n={report['n']}  "
        f"invalid={report['invalid']} ({report['invalid_rate']:.1%}, {report['failure_policy'].replace('_', ' ')})",
    ]
    unparsed = report.get("unparsed_games")
    if unparsed:
        rate = f"{unparsed['rate']:.1%}" if unparsed["rate"] is not None else "-"
        lines[0] += f"  unparsed games={unparsed['count']} of {unparsed['games']} ({rate})"
    if ci:
        lines.append(f"overall {_fmt(report.get('overall'))}  95% CI [{ci[0]:.4f}, {ci[1]:.4f}] (bootstrap, seed {report['ci']['seed']})")
    rows = [("metric", "value")] + [(_label(report, k), _fmt(v)) for k, v in metric_items(report)]
    for extra in ("position_consistency", "tie_rate"):
        if report.get(extra) is not None:
            rows.append((extra, _fmt(report[extra])))
    lines.append(_table(rows))
    subsets = report.get("subsets") or {}
    if subsets:
        head: tuple[str, ...] = ("subset", "n", "accuracy", "invalid", "invalid_rate")
        srows = [(name, str(s["n"]), _fmt(s["accuracy"]), str(s["invalid"]), f"{s['invalid_rate']:.1%}") for name, s in subsets.items()]
        if unparsed:
            head += ("unparsed_games",)
            srows = [row + (_unparsed_cell(report, row[0]),) for row in srows]
        lines.append(_table([head, *srows]))
    for part, levels in (report.get("breakdown") or {}).items():
        categories = levels.get("category") or {}
        if categories:
            crow = [(f"{part} category", "n", "accuracy")] + [(name, str(v["n"]), _fmt(v["accuracy"])) for name, v in categories.items()]
            lines.append(_table(crow))
        scenarios = levels.get("scenario") or {}
        if scenarios:
            lines.append(f"{part}: {len(scenarios)} scenario accuracies under breakdown.{part}.scenario in report.json")
    if (calibration := calibration_lines(report)):
        lines.append(calibration)
    units = report.get("units") or {}
    if units.get("reused"):
        lines.append(f"reused {units['reused']} of {units['total']} scored units from the log; computed {units['computed']}")
    if units.get("retried"):
        lines.append(f"retried {units['retried']} unit(s) whose saved result was a transient backend/timeout failure")
    if (line := files_line(report)) is not None:
        lines.append(line)
    for note in (report.get("data") or {}).get("notes", []):
        lines.append(f"note: {note}")
    return "\n\n".join(lines)


def calibration_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per calibrated source of ``report["calibration"]``: n, ECE (both binnings), Brier, log loss."""
    section = report.get("calibration") or {}
    rows = []
    for name, s in (section.get("sources") or {}).items():
        rows.append((name, str(s["n"]), _fmt(s["ece_equal_width"]), _fmt(s["ece_equal_mass"]), _fmt(s["brier"]), _fmt(s["log_loss"])))
    return rows


def calibration_lines(report: dict[str, Any]) -> str:
    """The calibration table for the terminal (empty when the run has no probabilities)."""
    rows = calibration_rows(report)
    if not rows:
        return ""
    bins = (report.get("calibration") or {}).get("bins")
    head = ("calibration", "n", f"ECE width/{bins}", f"ECE mass/{bins}", "Brier", "log loss")
    return _table([head, *rows])


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


# --- plots ----------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def plots(report: dict[str, Any]) -> dict[str, str]:
    """Base64 PNGs: score distributions, a reliability diagram (scores within [0, 1]), subset bars."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:  # pragma: no cover - matplotlib is an optional extra
        return {}
    out: dict[str, str] = {}
    scores = report.get("_scores") or {}
    chosen, rejected = scores.get("chosen") or [], scores.get("rejected") or []
    if chosen and rejected:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        every = np.concatenate([chosen, rejected])
        bins = np.linspace(float(every.min()), float(every.max()) + 1e-9, 40)
        ax.hist(chosen, bins=bins, alpha=0.6, label=f"chosen / correct (n={len(chosen)})")
        ax.hist(rejected, bins=bins, alpha=0.6, label=f"rejected / incorrect (n={len(rejected)})")
        ax.set_xlabel("score")
        ax.set_ylabel("responses")
        ax.legend()
        ax.set_title("Score distributions")
        out["Score distributions: chosen vs rejected"] = _png(fig)
        calibrated = ((report.get("calibration") or {}).get("sources") or {}).get("score")
        if calibrated:
            out["Reliability diagram"] = _reliability_png(calibrated, "score")
        elif every.min() >= 0 and every.max() <= 1:
            labels = np.concatenate([np.ones(len(chosen)), np.zeros(len(rejected))])
            edges = np.linspace(0, 1, 11)
            which = np.clip(np.digitize(every, edges) - 1, 0, 9)
            xs, ys, ns = [], [], []
            for b in range(10):
                mask = which == b
                if mask.any():
                    xs.append(float(every[mask].mean()))
                    ys.append(float(labels[mask].mean()))
                    ns.append(int(mask.sum()))
            fig, ax = plt.subplots(figsize=(4, 4))
            ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
            ax.plot(xs, ys, "o-", label="observed")
            for x, y, n in zip(xs, ys, ns):
                ax.annotate(str(n), (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
            ax.set_xlabel("score (as a probability)")
            ax.set_ylabel("fraction chosen / correct")
            ax.legend()
            ax.set_title("Reliability diagram")
            out["Reliability diagram"] = _png(fig)
    probability = ((report.get("calibration") or {}).get("sources") or {}).get("probability")
    if probability:
        out["Reliability diagram: the judge's P(A)"] = _reliability_png(probability, "P(A)")
    subsets = report.get("subsets") or {}
    named = [(k, v["accuracy"], v["invalid_rate"]) for k, v in subsets.items() if v["accuracy"] is not None]
    if named:
        fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(named) + 2), 3.4))
        names = [n for n, _, _ in named]
        ax.bar(names, [a for _, a, _ in named], label="accuracy")
        ax.bar(names, [r for _, _, r in named], color="tab:red", alpha=0.7, label="invalid rate")
        ax.set_ylim(0, 1)
        ax.set_ylabel("fraction")
        ax.set_title("Per subset")
        ax.tick_params(axis="x", rotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        ax.legend()
        out["Per-subset accuracy and invalid rate"] = _png(fig)
    return out


def _reliability_png(summary: dict[str, Any], what: str) -> str:
    """A reliability diagram from a calibration summary's equal-width bins (count beside each point)."""
    import matplotlib.pyplot as plt

    rows = summary["reliability"]["equal_width"]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot([r["mean_probability"] for r in rows], [r["accuracy"] for r in rows], "o-", label="observed")
    for r in rows:
        ax.annotate(str(r["n"]), (r["mean_probability"], r["accuracy"]), fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel(f"{what} (as a probability)")
    ax.set_ylabel("fraction chosen / correct")
    ax.legend()
    ax.set_title(f"Reliability, {summary['bins']} equal-width bins: ECE {summary['ece_equal_width']:.3f}")
    return _png(fig)


def html_page(report: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(_label(report, k))}</td><td>{_fmt(v)}</td></tr>" for k, v in metric_items(report))
    subsets = report.get("subsets") or {}
    unparsed = report.get("unparsed_games")
    extra_head = "<th>unparsed games</th>" if unparsed else ""
    srows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{s['n']}</td><td>{_fmt(s['accuracy'])}</td><td>{s['invalid']}</td><td>{s['invalid_rate']:.1%}</td>"
        + (f"<td>{html.escape(_unparsed_cell(report, n))}</td>" if unparsed else "") + "</tr>"
        for n, s in subsets.items()
    )
    breakdown = ""
    for part, levels in (report.get("breakdown") or {}).items():
        for level, table in levels.items():
            if table:
                body = "".join(f"<tr><td>{html.escape(name)}</td><td>{v['n']}</td><td>{_fmt(v['accuracy'])}</td></tr>" for name, v in table.items())
                breakdown += f"<h3>{html.escape(part)} by {html.escape(level)}</h3><table><tr><th>{html.escape(level)}</th><th>n</th><th>accuracy</th></tr>{body}</table>"
    if breakdown:
        breakdown = "<h2>Breakdown</h2>" + breakdown
    crows = calibration_rows(report)
    calibration = ""
    if crows:
        bins = (report.get("calibration") or {}).get("bins")
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in crows)
        calibration = (f"<h2>Calibration</h2><p>outcome: {html.escape(str(report['calibration'].get('outcome')))}; {bins} bins</p>"
                       f"<table><tr><th>source</th><th>n</th><th>ECE (equal width)</th><th>ECE (equal mass)</th><th>Brier</th><th>log loss</th></tr>{body}</table>")
    figures = "".join(f"<h3>{html.escape(t)}</h3><img alt='{html.escape(t)}' src='data:image/png;base64,{b}'>" for t, b in plots(report).items())
    ci = (report.get("ci") or {}).get("overall")
    facts = {
        "reward": report.get("reward"), "mode": report.get("mode"), "n": report["n"], "invalid": f"{report['invalid']} ({report['invalid_rate']:.1%})",
        "failures by kind": report.get("failures"), "failure policy": report["failure_policy"],
        "unparsed games": (f"{unparsed['count']} of {unparsed['games']} ({unparsed['rate']:.1%})" if unparsed["rate"] is not None else "0 of 0") if unparsed else None,
        "files read": files_line(report),
        "overall 95% CI": f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "-", "position consistency": report.get("position_consistency"),
        "tie rate": report.get("tie_rate"), "config hash": report.get("config_hash"), "seed": report.get("seed"), "units": report.get("units"),
        "options": report.get("options") or None, "seconds": report.get("seconds"),
    }
    facts = {k: v for k, v in facts.items() if v is not None or k in ("position consistency", "tie rate")}
    frows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in (report.get("data") or {}).get("notes", []))
    probes = report.get("probes")
    probe_html = f"<h2>Probes</h2><pre>{html.escape(json.dumps(probes, indent=2))}</pre>" if probes else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>assay bench: {html.escape(report['benchmark'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}</style>
</head><body><h1>assay bench: {html.escape(report['benchmark'])}</h1>
<table>{frows}</table><h2>Metrics (fractions)</h2><table><tr><th>metric</th><th>value</th></tr>{rows}</table>
<h2>Per subset</h2><table><tr><th>subset</th><th>n</th><th>accuracy</th><th>invalid</th><th>invalid rate</th>{extra_head}</tr>{srows}</table>
{calibration}{breakdown}{probe_html}{('<h2>Notes</h2><ul>' + notes + '</ul>') if notes else ''}<h2>Plots</h2>{figures}</body></html>"""


def public(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its private keys (raw score lists kept for the plots), NaN as null."""
    return {k: finite_json(v) for k, v in report.items() if not k.startswith("_")}


def write_report(report: dict[str, Any], folder: str | Path, html_too: bool = True) -> list[Path]:
    """Write ``report.json`` and, unless ``html_too`` is False, ``report.html``; without the
    page an older ``report.html`` in the folder is removed, so it never sits beside a newer
    ``report.json`` it does not describe."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json"]
    written[0].write_text(json.dumps(public(report), indent=2, default=str))
    page = folder / "report.html"
    if html_too:
        page.write_text(html_page(report))
        written.append(page)
    elif page.exists():
        page.unlink()
    return written
