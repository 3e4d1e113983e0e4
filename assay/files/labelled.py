"""Reading a labelled file for ``assay calibrate``: scores (stored in the file, or computed by
a config's reward or comparator) with a 0/1 label each, kept per row so a held-out split
never separates the responses of one row.

A row holds ``label`` (true/false or 0/1; ``label_field`` names another field) and either
``score`` (``score_field``; a number) or, with a config, what the config scores: a sample
(``prompt``, ``response``, ``reference``, ...) for rewards, a pair (``prompt``,
``response_a``, ``response_b``; the label then says whether A is the better one) for a
comparator. A score field and a label field may both be lists of one length (math_cot_100's
``pred_score`` and ``score``): each element is one scored response; a one-element list
stands for its number (a reward model's single logit, ``[3.55]``).

A score that could not be computed (a typed failure, an abstention) is left out and counted
by kind, never turned into a number.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.files.jsonl import InputError, read_rows
from assay.types import Pair, Sample


@dataclass
class LabelledRow:
    line: int
    scores: list[float]
    labels: list[int]


@dataclass
class Labelled:
    rows: list[LabelledRow]
    failures: Counter = field(default_factory=Counter)

    @property
    def n(self) -> int:
        return sum(len(r.scores) for r in self.rows)


def _label(value: Any, path: Path, line: int, name: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    raise InputError(path, line, name, f"expected a label true/false or 0/1, got {value!r:.60}")


def _score(value: Any, path: Path, line: int, name: str) -> float:
    if isinstance(value, list) and len(value) == 1:  # a reward model's one-logit output, [3.55]
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(path, line, name, f"expected a finite number, got {value!r:.60}")
    return float(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def read_stored(path: Path, score_field: str, label_field: str) -> Labelled:
    """Scores and labels stored in the file."""
    rows = []
    for row in read_rows(path, required=(score_field, label_field), text_fields=()):
        scores, labels = _as_list(row.data[score_field]), _as_list(row.data[label_field])
        if len(scores) != len(labels):
            raise InputError(path, row.line, score_field, f"{len(scores)} scores but {len(labels)} labels in {label_field!r}")
        rows.append(LabelledRow(row.line, [_score(s, path, row.line, score_field) for s in scores], [_label(v, path, row.line, label_field) for v in labels]))
    return Labelled(rows)


def read_scored(path: Path, label_field: str, scorer: Any, component: str | None = None, batch_size: int = 64) -> Labelled:
    """Scores computed by ``scorer`` (a Reward, or a Comparator giving P(A)); ``component``
    picks one reward of a composed reward's ``details`` instead of its total."""
    pairwise = bool(getattr(scorer, "pairwise", False))
    required = (label_field, "response_a", "response_b") if pairwise else (label_field, "response")
    raw = list(read_rows(path, required=required, text_fields=("prompt", "response_a", "response_b") if pairwise else ("prompt", "response")))
    out = Labelled([])
    for start in range(0, len(raw), batch_size):
        batch = raw[start: start + batch_size]
        labels = [_label(r.data[label_field], path, r.line, label_field) for r in batch]
        if pairwise:
            pairs = [Pair(r.data.get("prompt"), r.data["response_a"], r.data["response_b"], r.data.get("reference"), r.data.get("id")) for r in batch]
            for row, label, preference in zip(batch, labels, scorer.compare(pairs), strict=True):
                if preference.failure is not None or preference.probability is None:
                    out.failures[preference.failure.kind if preference.failure else "no_probability"] += 1
                    continue
                out.rows.append(LabelledRow(row.line, [float(preference.probability)], [label]))
            continue
        samples = [Sample.from_dict({k: v for k, v in r.data.items() if k != label_field}) for r in batch]
        for row, label, judgment in zip(batch, labels, scorer.score(samples), strict=True):
            if component is not None:
                inner = judgment.details.get(component)
                if inner is None:
                    raise InputError(path, row.line, None, f"the config's reward has no component {component!r} (known: {', '.join(judgment.details) or 'none'})")
                judgment = inner
            if judgment.failure is not None or judgment.score is None:
                out.failures[judgment.failure.kind if judgment.failure else "abstained"] += 1
                continue
            out.rows.append(LabelledRow(row.line, [float(judgment.score)], [label]))
    return out
