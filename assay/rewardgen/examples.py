"""The labelled examples of ``assay reward-gen``: a JSONL file, one sample per line (``prompt``,
``response``, ``reference`` and any other field, as ``assay score`` reads them) with its label
in ``label`` (or ``score``): a boolean (good or not), or a number (higher is better).

Booleans, and numbers that are all 0 or 1, are binary labels; other numbers are graded. The
label is taken out of the sample, so the function under test never sees it. A row that
cannot be used is an error naming the file, the line and the field.

    {"prompt": "Capital of France?", "response": "Paris.", "label": true}
    {"prompt": "Capital of France?", "response": "Lyon, I think.", "label": false}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assay.files.jsonl import InputError, read_rows
from assay.types import Sample

LABEL_FIELDS = ("label", "score")


@dataclass
class Example:
    line: int
    sample: Sample
    label: float


@dataclass
class Examples:
    items: list[Example]
    kind: Literal["binary", "graded"]
    source: str

    @property
    def labels(self) -> list[float]:
        return [e.label for e in self.items]

    @property
    def samples(self) -> list[Sample]:
        return [e.sample for e in self.items]


def read_examples(path: str | Path) -> Examples:
    """The examples of a labelled JSONL file; InputError (file, line, field) on a bad row, or
    when the file has fewer than two examples, or labels that are all the same."""
    items: list[Example] = []
    raw: list[Any] = []
    for row in read_rows(path, required=("response",)):
        field = next((f for f in LABEL_FIELDS if f in row.data), None)
        if field is None:
            raise InputError(path, row.line, "label", "missing (a boolean, or a number; 'score' is read too)")
        value = row.data[field]
        if isinstance(value, bool):
            label = float(value)
        elif isinstance(value, (int, float)) and math.isfinite(value):
            label = float(value)
        else:
            raise InputError(path, row.line, field, f"expected a boolean or a finite number, got {value!r:.60}")
        raw.append(value)
        fields = {k: v for k, v in row.data.items() if k not in LABEL_FIELDS}
        items.append(Example(row.line, Sample.from_dict(fields), label))
    if len(items) < 2:
        raise InputError(path, items[0].line if items else 1, None, f"{len(items)} labelled example(s); at least 2 are needed")
    if len({e.label for e in items}) < 2:
        raise InputError(path, items[0].line, "label", "every example has the same label: agreement cannot be measured")
    kind: Literal["binary", "graded"] = "binary" if all(isinstance(v, bool) or v in (0, 1) for v in raw) else "graded"
    return Examples(items, kind, str(path))
