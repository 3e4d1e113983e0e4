"""PRMBench rows to step-labelled solutions: the data converter behind ``assay train prm``
on PRMBench's ``prm800k_train_p1_first400_*`` files (and ``scripts/prmbench_to_steps.py``).

A PRMBench row holds two solutions of one question: ``original_process`` (every step right)
and ``modified_process``, a rewrite with the wrong steps listed in ``error_steps`` (1-based;
``modified_steps`` are the steps that were rewritten, not all of them wrong). PRMBench's own
evaluation (ssmisya/PRMBench ``mr_eval/tasks/prmtest_classified/task.py``,
``eval_on_hallucination_step``) labels a modified solution's step *invalid* exactly when its
number is in ``error_steps`` and *valid* otherwise, including steps after the first error.
That is the default here (``after_error="prmbench"``), so a PRM learns what the benchmark
scores. Two other readings of the steps after the first error that ``error_steps`` does not
list: ``"unlabelled"`` (the step is context, trained on by no label: steps before the first
error right, the error steps wrong, nothing else claimed) and ``"wrong"`` (PRM800K's and
Math-Shepherd's convention: once wrong, every later step is wrong).

Each of the 8 training files repeats the original solution of the same question (``idx``),
with small differences in formatting; PRMBench's evaluation keeps one correct solution per
``idx`` (from its ``redundency`` file), and so does this converter (the first it reads), so
that 8 near-copies do not outweigh the modified solutions. Every solution carries its
``group`` (the ``idx``), so a held-out split keeps all solutions of a question on one side.

Some rows list error steps past the end of ``modified_process`` (100 of PRMBench's 6,216,
e.g. ``[4, 10, 11, 37]`` for 12 steps). PRMBench's evaluation reads only the steps there are,
so the numbers past the end are dropped here too (counted in ``stats["error_steps_past_end"]``);
a modified solution whose every error step lies past its end (16 rows) is left out of
training (``stats["modified_left_out"]``): its errors are not among its steps, so its labels
would be a guess.

Bad rows (a missing process, a step that is not a string, only empty steps, an error step that is
not a positive integer) raise :class:`~assay.files.jsonl.InputError` naming the file, line
and field.
Not here: training (:mod:`assay.train.prm`), benchmarking (``assay bench prmbench``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assay.files.jsonl import InputError

AfterError = Literal["prmbench", "unlabelled", "wrong"]
AFTER_ERROR_CHOICES: tuple[str, ...] = ("prmbench", "unlabelled", "wrong")


@dataclass(frozen=True)
class LabelledSolution:
    """One solution: its prompt, its steps, each step's label (True right, False wrong,
    None unlabelled), the group it belongs to and where it came from."""

    prompt: str
    steps: tuple[str, ...]
    labels: tuple[bool | None, ...]
    group: str
    path: str
    line: int
    field: str  # original_process / modified_process / steps
    classification: str | None = None

    def to_row(self) -> dict[str, Any]:
        """The step-labelled JSONL row ``assay train prm`` reads."""
        row: dict[str, Any] = {"prompt": self.prompt, "steps": list(self.steps), "labels": list(self.labels), "group": self.group}
        row["source"] = {"file": Path(self.path).name, "line": self.line, "field": self.field, "classification": self.classification}
        return row


def is_prmbench_row(data: dict[str, Any]) -> bool:
    return "original_process" in data or "modified_process" in data


def step_labels(n_steps: int, error_steps: list[int], after_error: AfterError = "prmbench") -> tuple[bool | None, ...]:
    """The label of each of ``n_steps`` steps given the 1-based ``error_steps``: wrong when
    listed; before the first error right; after it as ``after_error`` says (module docstring)."""
    if after_error not in AFTER_ERROR_CHOICES:
        raise ValueError(f"after_error must be one of {', '.join(AFTER_ERROR_CHOICES)}, got {after_error!r}")
    wrong = set(error_steps)
    first = min(wrong) if wrong else n_steps + 1
    labels: list[bool | None] = []
    for number in range(1, n_steps + 1):
        if number in wrong:
            labels.append(False)
        elif number < first or after_error == "prmbench":
            labels.append(True)
        else:
            labels.append(None if after_error == "unlabelled" else False)
    return tuple(labels)


def _text(data: dict[str, Any], field: str, path: str, line: int) -> str:
    value = data.get(field)
    if not isinstance(value, str):
        raise InputError(path, line, field, f"expected the question as a string, got {type(value).__name__}")
    return value


def _steps(value: Any, path: str, line: int, field: str) -> tuple[str, ...]:
    """The steps as they are: PRMBench has a few empty steps (the benchmark scores them too)."""
    if not isinstance(value, list) or not value:
        raise InputError(path, line, field, f"expected a non-empty list of step strings, got {type(value).__name__}")
    for k, step in enumerate(value):
        if not isinstance(step, str):
            raise InputError(path, line, field, f"step {k + 1} is {type(step).__name__}; every step must be a string")
    if not any(step.strip() for step in value):
        raise InputError(path, line, field, "every step is empty")
    return tuple(value)


def new_stats() -> dict[str, int]:
    """The conversion's counts (see the module docstring)."""
    return {"rows": 0, "originals": 0, "originals_repeated": 0, "modified": 0, "error_steps_past_end": 0, "modified_left_out": 0}


def solutions_of_row(data: dict[str, Any], path: str | Path, line: int, after_error: AfterError = "prmbench",
                     keep_original: bool = True, stats: dict[str, int] | None = None) -> list[LabelledSolution]:
    """The solutions of one PRMBench row: the original (unless ``keep_original`` is False)
    and the modified one, labelled; InputError names the field at fault."""
    path = str(path)
    stats = new_stats() if stats is None else stats
    stats["rows"] += 1
    idx = data.get("idx")
    if idx is not None and not isinstance(idx, (str, int)):
        raise InputError(path, line, "idx", f"expected a string, got {type(idx).__name__}")
    group = str(idx) if idx is not None else f"{Path(path).name}:{line}"
    classification = data.get("classification") if isinstance(data.get("classification"), str) else None
    question_field = "original_question" if "original_question" in data else "question"
    out: list[LabelledSolution] = []
    if data.get("original_process") is not None and keep_original:
        question = _text(data, question_field, path, line)
        steps = _steps(data["original_process"], path, line, "original_process")
        out.append(LabelledSolution(question, steps, (True,) * len(steps), group, path, line, "original_process", "correct"))
        stats["originals"] += 1
    elif data.get("original_process") is not None:
        stats["originals_repeated"] += 1
    if data.get("modified_process") is not None:
        question = _text(data, "modified_question", path, line) if "modified_question" in data else _text(data, question_field, path, line)
        steps = _steps(data["modified_process"], path, line, "modified_process")
        errors = data.get("error_steps")
        if not isinstance(errors, list) or not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in errors):
            raise InputError(path, line, "error_steps", f"expected a list of 1-based step numbers, got {errors!r}")
        within = [e for e in errors if e <= len(steps)]
        stats["error_steps_past_end"] += len(errors) - len(within)
        if errors and not within:
            stats["modified_left_out"] += 1
        else:
            out.append(LabelledSolution(question, steps, step_labels(len(steps), within, after_error), group, path, line, "modified_process", classification))
            stats["modified"] += 1
    if not out and data.get("original_process") is None:
        raise InputError(path, line, "modified_process", "missing (a PRMBench row needs original_process or modified_process)")
    return out


def convert(rows: Iterator[tuple[str, int, dict[str, Any]]], after_error: AfterError = "prmbench",
            stats: dict[str, int] | None = None) -> Iterator[LabelledSolution]:
    """The labelled solutions of PRMBench rows (``(path, line, data)``), one original
    solution per ``idx`` (the first read); ``stats`` (from :func:`new_stats`) is counted into."""
    originals: set[str] = set()
    for path, line, data in rows:
        idx = data.get("idx")
        keep = idx is None or str(idx) not in originals
        solutions = solutions_of_row(data, path, line, after_error, keep_original=keep, stats=stats)
        if idx is not None and any(s.field == "original_process" for s in solutions):
            originals.add(str(idx))
        yield from solutions


def read_prmbench(paths: list[str | Path], after_error: AfterError = "prmbench", limit: int | None = None,
                  stats: dict[str, int] | None = None) -> list[LabelledSolution]:
    """The labelled solutions of PRMBench files (the first ``limit`` rows in all)."""
    from assay.files.jsonl import read_rows

    def rows() -> Iterator[tuple[str, int, dict[str, Any]]]:
        count = 0
        for path in paths:
            for row in read_rows(path, required=(), text_fields=()):
                if not is_prmbench_row(row.data):
                    raise InputError(path, row.line, "modified_process", "missing: not a PRMBench row (original_process / modified_process / error_steps)")
                yield str(path), row.line, row.data
                count += 1
                if limit is not None and count >= limit:
                    return

    return list(convert(rows(), after_error, stats))
