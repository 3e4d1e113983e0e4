"""Distilling a reward (ONI-style): label data with an expensive teacher, train a cheap
student on the labels, and say how well and how much faster the student does the teacher's
job: :func:`distill`, what ``assay train distill`` runs.

The teacher is any assay config (a rule, an LLM judge through any backend, a rubric, a
composite, or a ``comparator:``). The data is one of two kinds, told apart by its first row:

- **pointwise rows** ``{prompt, response, reference?, group?, ...}`` (the rows ``assay score``
  reads): the teacher scores each response; within a prompt (its ``group`` when given, else
  its text) every two responses whose scores differ by more than ``min_gap`` become a pair,
  the higher-scored one chosen. Pairs, not regression: both students are Bradley-Terry
  trainers, and a pair needs only the teacher's ordering, which is what a reward is used for
  (the scale of a judge's 1-10 and a rule's 0/1 need not agree).
- **pair rows** ``{prompt, chosen, rejected}`` or ``{prompt, response_a, response_b}`` (a
  label, when present, is not used for training): the config's comparator (or its composed
  reward, higher score wins) decides each pair, shown in a seeded random order so that a
  judge's position bias does not become a label. A tie says nothing and is left out.

A teacher failure (a parse failure, a timeout, a backend error, a rule's input error) or
abstention is never a label: the sample (and every pair it would be in) is left out and
counted by kind in the report. The teacher runs with at most ``concurrency`` chunks of
``chunk_size`` samples in flight (each reward's own concurrency and timeouts apply inside a
chunk). The split into training and held-out data is made before pairing, by prompt, so no
prompt of the held-out split is trained on. The student is trained by the existing trainers
(:func:`assay.train.heads.train_head` or :func:`assay.train.rm.train_rm`, on the teacher's
pairs written to ``teacher_pairs.train.jsonl`` and ``teacher_pairs.eval.jsonl``), then loaded
through its reward type and scored on the held-out pairs: ``agreement`` is the share of
held-out teacher pairs the student orders the same way (a student failure counts as a
disagreement), and ``speedup`` the teacher's seconds per label over the student's (a label:
one scored response for pointwise data, one decided pair for pair data; both measured as
wall time on this machine, the student's after its model is loaded).

Not here: the training loops (the trainers'), the teacher's scoring (the rewards'). Under
``accelerate launch``, label once with ``labels_only`` and train the student with
``assay train rm`` on the written pairs: every process would otherwise label the data again.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from assay.files.jsonl import InputError, read_rows
from assay.train.pairs import pair_of_row, pair_outcomes
from assay.train.report import write_report
from assay.types import Judgment, Pair, Preference, Sample, outcome

LABELS_FILE = "teacher_labels.jsonl"
TRAIN_PAIRS_FILE = "teacher_pairs.train.jsonl"
EVAL_PAIRS_FILE = "teacher_pairs.eval.jsonl"
STUDENT_FOLDER = "student"
Student = Literal["head", "rm"]


@dataclass(frozen=True)
class TeacherPair:
    """One pair the teacher ordered: ``chosen`` beat ``rejected`` for ``prompt``."""

    prompt: Any
    chosen: Any
    rejected: Any

    def row(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


def read_distill_rows(path: str | Path, limit: int | None = None) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """``("pointwise" | "pairs", [(line, row), ...])``: the kind is the first row's (pair rows
    have ``chosen``/``rejected`` or ``response_a``/``response_b``), and every row must be of it."""
    rows: list[tuple[int, dict[str, Any]]] = []
    kind = None
    for row in read_rows(path, required=(), text_fields=("prompt", "response", "chosen", "rejected", "response_a", "response_b")):
        data = row.data
        is_pair = any(k in data for k in ("chosen", "rejected", "response_a", "response_b"))
        this = "pairs" if is_pair else "pointwise"
        kind = kind or this
        if this != kind:
            raise InputError(path, row.line, "response" if kind == "pointwise" else "chosen",
                             f"a {this} row in a file of {kind} rows (the first row decides; a file holds one kind)")
        if this == "pointwise":
            response = data.get("response")
            if response is None or (isinstance(response, str) and not response.strip()):
                raise InputError(path, row.line, "response", "missing or empty: a pointwise row needs a response for the teacher to score")
        rows.append((row.line, data))
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise InputError(path, 0, None, "no rows in the file")
    return kind or "pointwise", rows


def _group_key(data: dict[str, Any]) -> str:
    group = data.get("group")
    return json.dumps(group if group is not None else data.get("prompt") or "", sort_keys=True, default=str)


def split_groups(keys: Sequence[str], eval_fraction: float, seed: int) -> set[str]:
    """The held-out group keys: a seeded shuffle of the distinct keys, the last ``eval_fraction``
    (at least one when the fraction is above 0 and there are two keys or more)."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    distinct = sorted(set(keys))
    random.Random(f"{seed}:distill-split").shuffle(distinct)
    n_eval = 0 if eval_fraction == 0 or len(distinct) < 2 else max(1, round(len(distinct) * eval_fraction))
    return set(distinct[len(distinct) - n_eval :])


async def _bounded(items: list[Any], score: Any, chunk_size: int, concurrency: int, progress: bool) -> list[Any]:
    """``score(chunk)`` over chunks of ``items``, at most ``concurrency`` chunks at a time, in order."""
    chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
    gate = asyncio.Semaphore(concurrency)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc="teacher", unit="label")

    async def run(chunk: list[Any]) -> list[Any]:
        async with gate:
            result = await score(chunk)
        if bar is not None:
            bar.update(len(chunk))
        return result

    try:
        results = await asyncio.gather(*(run(chunk) for chunk in chunks))
    finally:
        if bar is not None:
            bar.close()
    return [r for chunk in results for r in chunk]


def label_pointwise(teacher: Any, rows: list[tuple[int, dict[str, Any]]], chunk_size: int, concurrency: int, progress: bool) -> tuple[list[Judgment], float]:
    """The teacher's judgment of every row, and the wall seconds it took."""
    from assay.reward import run_sync

    samples = [Sample.from_dict(data) for _, data in rows]
    started = time.perf_counter()
    judgments = run_sync(_bounded(samples, teacher.ascore, chunk_size, concurrency, progress))
    return judgments, time.perf_counter() - started


def label_pairs(teacher: Any, pairs: list[Pair], chunk_size: int, concurrency: int, progress: bool) -> tuple[list[Preference], float]:
    """The teacher's preference on every pair, and the wall seconds it took."""
    from assay.reward import run_sync

    started = time.perf_counter()
    preferences = run_sync(_bounded(pairs, teacher.acompare, chunk_size, concurrency, progress))
    return preferences, time.perf_counter() - started


def pairs_from_scores(items: list[tuple[dict[str, Any], float]], min_gap: float) -> list[TeacherPair]:
    """Every two responses of one prompt whose teacher scores differ by more than ``min_gap``,
    the higher one chosen (``items``: the rows of one group, each with its score)."""
    out = []
    for (a, score_a), (b, score_b) in combinations(items, 2):
        if abs(score_a - score_b) <= min_gap:
            continue
        high, low = (a, b) if score_a > score_b else (b, a)
        out.append(TeacherPair(high.get("prompt") or "", high["response"], low["response"]))
    return out


def _label_row(line: int, result: Judgment | Preference, extra: dict[str, Any]) -> dict[str, Any]:
    return {"line": line, "outcome": outcome(result), **extra, "teacher": result.to_dict()}


def _pointwise_labels(rows, judgments, held_keys, min_gap, handle) -> tuple[list[TeacherPair], list[TeacherPair], Counter]:
    counts: Counter = Counter()
    groups: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for (line, data), judgment in zip(rows, judgments):
        counts[outcome(judgment)] += 1
        handle.write(json.dumps(_label_row(line, judgment, {"score": judgment.score if judgment.ok else None}), default=str) + "\n")
        if judgment.ok and judgment.score is not None:
            groups.setdefault(_group_key(data), []).append((data, float(judgment.score)))
    train: list[TeacherPair] = []
    held: list[TeacherPair] = []
    for key, items in groups.items():
        (held if key in held_keys else train).extend(pairs_from_scores(items, min_gap))
    return train, held, counts


def _pair_inputs(rows: list[tuple[int, dict[str, Any]]], path: str | Path, seed: int) -> tuple[list[Pair], list[bool | None]]:
    """Each pair row as the comparator's :class:`Pair` in a seeded random order, and for each
    whether the row's own label (when it has one) says A is better."""
    pairs, a_is_data_chosen = [], []
    for line, data in rows:
        if "chosen" in data or "rejected" in data:
            pair = pair_of_row(data, path, line)
            first, second, labelled = pair.chosen, pair.rejected, True
        else:
            for field in ("response_a", "response_b"):
                if data.get(field) is None:
                    raise InputError(path, line, field, "missing (a pair row needs response_a and response_b)")
            first, second = data["response_a"], data["response_b"]
            label = str(data.get("label") or "").strip().lower()
            labelled = True if label in ("a", "response_a") else False if label in ("b", "response_b") else None
        swap = random.Random(f"{seed}:{line}:order").random() < 0.5
        a, b = (second, first) if swap else (first, second)
        pairs.append(Pair(data.get("prompt") or "", a, b, data.get("reference"), data.get("id")))
        a_is_data_chosen.append(None if labelled is None else (labelled != swap))
    return pairs, a_is_data_chosen


def _pair_labels(rows, pairs, preferences, data_a_better, held_keys, handle) -> tuple[list[TeacherPair], list[TeacherPair], Counter, dict[str, Any]]:
    counts: Counter = Counter()
    train: list[TeacherPair] = []
    held: list[TeacherPair] = []
    agree = compared = 0
    for (line, data), pair, preference, a_better in zip(rows, pairs, preferences, data_a_better):
        kind = outcome(preference)
        if kind == "scored" and preference.winner == "tie":
            kind = "tie"
        counts[kind] += 1
        handle.write(json.dumps(_label_row(line, preference, {"winner": preference.winner}), default=str) + "\n")
        if kind != "scored":
            continue
        won, lost = (pair.response_a, pair.response_b) if preference.winner == "a" else (pair.response_b, pair.response_a)
        (held if _group_key(data) in held_keys else train).append(TeacherPair(pair.prompt, won, lost))
        if a_better is not None:
            compared += 1
            agree += (preference.winner == "a") == a_better
    with_data = {"pairs": compared, "agreement": agree / compared if compared else None}
    return train, held, counts, with_data


def _write_pairs(path: Path, pairs: list[TeacherPair]) -> Path:
    with path.open("w") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair.row(), ensure_ascii=False, default=str) + "\n")
    return path


def student_agreement(load_with: dict[str, Any], held: list[TeacherPair]) -> dict[str, Any]:
    """The student, loaded through its reward type, on the held-out teacher pairs: the share
    it orders as the teacher did (a failed score counts as a disagreement), and its wall
    seconds per response scored, measured after one warm-up score that loads the model."""
    from assay.compose.load import load_reward

    student = load_reward({"rewards": {"student": load_with}})
    student.score([Sample(prompt=held[0].prompt, response=held[0].chosen)])  # load the model outside the timing
    samples = [s for p in held for s in (Sample(prompt=p.prompt, response=p.chosen), Sample(prompt=p.prompt, response=p.rejected))]
    started = time.perf_counter()
    judgments = student.score(samples)
    seconds = time.perf_counter() - started
    agree, failed = pair_outcomes(judgments)
    return {"agreement": agree / len(held), "pairs": len(held), "failed": failed, "seconds": seconds,
            "seconds_per_response": seconds / len(samples)}


def distill(
    data: str | Path,
    teacher: str | Path | dict[str, Any],
    output: str | Path,
    *,
    student: Student = "head",
    student_options: dict[str, Any] | None = None,
    eval_fraction: float = 0.2,
    limit: int | None = None,
    seed: int = 0,
    min_gap: float = 0.0,
    concurrency: int = 4,
    chunk_size: int = 8,
    labels_only: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Label ``data`` with the ``teacher`` config, train the ``student`` (``head``, or ``rm``
    with ``student_options["model"]`` its base) on the labels, and write everything to
    ``output`` (the labels, the pairs, ``student/``, the report); returns the report."""
    from assay.compose.load import load_comparator, load_reward, loaded

    if concurrency < 1 or chunk_size < 1:
        raise ValueError("concurrency and chunk_size must be at least 1")
    if student not in ("head", "rm"):
        raise ValueError(f"student must be 'head' or 'rm', got {student!r}")
    options = dict(student_options or {})
    if student == "rm" and not options.get("model"):
        raise ValueError("an rm student needs a base model (--model)")
    kind, rows = read_distill_rows(data, limit)
    held_keys = split_groups([_group_key(d) for _, d in rows], eval_fraction, seed)
    config = loaded(teacher)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    with (output / LABELS_FILE).open("w") as handle:
        if kind == "pointwise":
            judge = load_reward(config)
            judgments, teacher_seconds = label_pointwise(judge, rows, chunk_size, concurrency, progress)
            train, held, counts = _pointwise_labels(rows, judgments, held_keys, min_gap, handle)
            with_data = None
            labels, unit = len(rows), "response"
        else:
            comparator = load_comparator(config)
            pairs, data_a_better = _pair_inputs(rows, data, seed)
            preferences, teacher_seconds = label_pairs(comparator, pairs, chunk_size, concurrency, progress)
            train, held, counts, with_data = _pair_labels(rows, pairs, preferences, data_a_better, held_keys, handle)
            labels, unit = len(rows), "pair"
    failures = {k: v for k, v in counts.items() if k not in ("scored", "abstained", "tie")}
    report: dict[str, Any] = {
        "trainer": "distill",
        "data": str(data),
        "data_kind": kind,
        "teacher": str(teacher) if not isinstance(teacher, dict) else teacher,
        "student": student,
        "rows": len(rows),
        "teacher_outcomes": dict(counts),
        "teacher_failures": sum(failures.values()),
        "teacher_failures_by_kind": failures,
        "teacher_seconds": round(teacher_seconds, 3),
        "teacher_seconds_per_label": teacher_seconds / labels,
        "label_unit": unit,
        "pairs": {"train": len(train), "eval": len(held)},
        "teacher_vs_data_label": with_data,
        "options": {"eval_fraction": eval_fraction, "seed": seed, "min_gap": min_gap, "concurrency": concurrency,
                    "chunk_size": chunk_size, "limit": limit, "student_options": options},
    }
    train_file = _write_pairs(output / TRAIN_PAIRS_FILE, train)
    eval_file = _write_pairs(output / EVAL_PAIRS_FILE, held)
    report["pair_files"] = {"train": str(train_file), "eval": str(eval_file)}
    if labels_only or not train:
        if not train:
            report["stopped"] = "the teacher ordered no training pair (every label failed, tied or abstained): nothing to train on"
        report["files"] = {k: str(v) for k, v in write_report(output, report, [], x="step").items()}
        return report
    student_report = _train_student(student, train_file, eval_file if held else None, output / STUDENT_FOLDER, options, seed, progress)
    report["student_report"] = {k: v for k, v in student_report.items() if k not in ("history", "files")}
    report["load_with"] = student_report["load_with"]
    if held:
        scored = student_agreement(student_report["load_with"], held)
        per_label = scored["seconds_per_response"] * (2 if unit == "pair" else 1)
        report.update({
            "agreement": scored["agreement"],
            "agreement_detail": scored,
            "student_seconds_per_label": per_label,
            "speedup": report["teacher_seconds_per_label"] / per_label if per_label > 0 else None,
        })
    else:
        report.update({"agreement": None, "speedup": None, "student_seconds_per_label": None})
    report["files"] = {k: str(v) for k, v in write_report(output, report, student_report.get("history", []),
                                                          x="epoch" if student == "head" else "step").items()}
    return report


def _train_student(student: Student, train_file: Path, eval_file: Path | None, folder: Path, options: dict[str, Any], seed: int, progress: bool) -> dict[str, Any]:
    """The existing trainer on the teacher's pairs (no eval split of its own: the held-out
    teacher pairs are its eval data)."""
    held = {"eval_data": eval_file} if eval_file is not None else {"eval_fraction": 0.0}
    if student == "head":
        from assay.train.heads import train_head

        return train_head(train_file, folder, progress=progress, seed=seed, **held, **options)
    from assay.train.rm import train_rm

    rm_options = dict(options)
    model = rm_options.pop("model")
    return train_rm(train_file, model, folder, seed=seed, progress=progress, **held, **rm_options)
