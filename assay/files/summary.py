"""The table printed after a scoring run: per reward, how many were scored, mean, std, and
failures by kind, so a failure is seen, not averaged away."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from assay.types import Judgment, outcome


@dataclass
class RewardStats:
    scores: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    abstained: int = 0

    def add(self, judgment: Judgment) -> None:
        kind = outcome(judgment)
        if kind == "scored":
            self.scores.append(judgment.score)  # type: ignore[arg-type]
        elif kind == "abstained":
            self.abstained += 1
        else:
            self.failures[kind] += 1

    def as_dict(self) -> dict[str, object]:
        n = len(self.scores)
        return {
            "scored": n,
            "mean": statistics.fmean(self.scores) if n else None,
            "std": statistics.pstdev(self.scores) if n > 1 else (0.0 if n else None),
            "abstained": self.abstained,
            "failures": dict(self.failures),
        }


class Summary:
    """Accumulates judgments per reward name; ``table()`` renders them."""

    def __init__(self) -> None:
        self.stats: dict[str, RewardStats] = defaultdict(RewardStats)

    def add(self, name: str, judgment: Judgment) -> None:
        self.stats[name].add(judgment)

    def add_total(self, judgment: Judgment) -> None:
        self.add("total", judgment)
        for name, component in judgment.details.items():
            if isinstance(component, Judgment):
                self.add(name, component)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {name: s.as_dict() for name, s in self.stats.items()}

    def table(self) -> str:
        header = ("reward", "scored", "mean", "std", "abstained", "failures")
        rows = [header]
        ordered = [n for n in self.stats if n != "total"] + (["total"] if "total" in self.stats else [])
        for name in ordered:
            d = self.stats[name].as_dict()
            failures = ", ".join(f"{k}: {v}" for k, v in sorted(d["failures"].items())) or "0"  # type: ignore[union-attr]
            rows.append((
                name,
                str(d["scored"]),
                "-" if d["mean"] is None else f"{d['mean']:.4f}",
                "-" if d["std"] is None else f"{d['std']:.4f}",
                str(d["abstained"]),
                failures,
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)
