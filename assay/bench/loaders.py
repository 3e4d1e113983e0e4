"""Loaders for each benchmark's official file format, from local files only.

Each loader takes the data folder (``--data-dir``; default ``assay.paths.data_dir()``, i.e.
``$ASSAY_DATA_DIR`` or ``../shared/data``) and returns a ``Loaded``: typed items with ids,
the files read, and notes (a file that is expected but absent, rows skipped by the
benchmark's own rule). A malformed file raises ``DataError`` naming the file, the line or
index, and the field.

    >>> loaded = load("llmbar", "../shared/data")            # doctest: +SKIP
    >>> loaded.items[0].better, loaded.files[0].name          # doctest: +SKIP
    ('a', 'adversarial-gptinst.json')
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from assay.bench.items import BestOfN, Candidates, Item, JudgedPair, LabeledPair, PreferencePair, ProcessItem, SampledSolutions, StyledPair


class DataError(ValueError):
    """A benchmark file that cannot be read: the message names file, line/index and field."""

    def __init__(self, path: str | Path, where: str, field_name: str | None, problem: str) -> None:
        self.path, self.where, self.field, self.problem = str(path), where, field_name, problem
        super().__init__(f"{path}: {where}" + (f": field {field_name!r}" if field_name else "") + f": {problem}")


@dataclass
class Loaded:
    items: list[Item]
    files: list[Path]
    notes: list[str] = field(default_factory=list)


# --- reading records ------------------------------------------------------------------------
def read_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for each record of a .jsonl(.gz), .json (a list, or a dict holding one) or
    .parquet file; ``where`` is ``line N`` or ``item N`` for error messages."""
    name = path.name
    if name.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as error:
                    raise DataError(path, f"line {number}", None, f"not valid JSON ({error.msg} at column {error.colno})") from None
                if not isinstance(row, dict):
                    raise DataError(path, f"line {number}", None, f"expected a JSON object, got {type(row).__name__}")
                yield f"line {number}", row
    elif name.endswith(".json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DataError(path, f"line {error.lineno}", None, f"not valid JSON ({error.msg})") from None
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise DataError(path, "top level", None, "expected a JSON list of rows (or an object holding exactly one list)")
            data = lists[0]
        if not isinstance(data, list):
            raise DataError(path, "top level", None, f"expected a JSON list of rows, got {type(data).__name__}")
        for index, row in enumerate(data):
            if not isinstance(row, dict):
                raise DataError(path, f"item {index}", None, f"expected a JSON object, got {type(row).__name__}")
            yield f"item {index}", row
    elif name.endswith(".parquet"):
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise DataError(path, "file", None, "reading parquet needs pandas and pyarrow (pip install pandas pyarrow)") from None
        frame = pd.read_parquet(path)
        for index, row in enumerate(frame.to_dict(orient="records")):
            yield f"row {index}", {k: _plain(v) for k, v in row.items()}
    else:
        raise DataError(path, "file", None, "unknown format: expected .jsonl, .jsonl.gz, .json or .parquet")


def _plain(value: Any) -> Any:
    """numpy arrays and scalars from parquet into lists and Python scalars."""
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def data_files(folder: Path, patterns: tuple[str, ...] = ("*.jsonl", "*.jsonl.gz", "*.json", "*.parquet")) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in folder.glob(pattern) if p.is_file())
    return sorted(found)


def _require(row: dict[str, Any], path: Path, where: str, name: str, kind: type | tuple[type, ...] | None = None) -> Any:
    if name not in row or row[name] is None:
        raise DataError(path, where, name, "missing")
    value = row[name]
    if kind is not None and not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(path, where, name, f"expected {expected}, got {type(value).__name__}")
    return value


def _text(row: dict[str, Any], path: Path, where: str, name: str) -> str:
    return _require(row, path, where, name, str)


def _texts(row: dict[str, Any], path: Path, where: str, name: str, length: int | None = None) -> list[str]:
    value = _require(row, path, where, name, list)
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise DataError(path, where, f"{name}[{i}]", f"expected a string, got {type(v).__name__}")
    if length is not None and len(value) != length:
        raise DataError(path, where, name, f"expected {length} responses, got {len(value)}")
    return value


def _prompt(row: dict[str, Any], path: Path, where: str, name: str = "prompt") -> Any:
    value = _require(row, path, where, name)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return value
    raise DataError(path, where, name, "expected a string or a list of chat messages with 'content'")


def _folder(data_dir: str | Path | None, name: str) -> Path:
    from assay.paths import data_dir as default_data_dir

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if root is None:
        raise FileNotFoundError("no data folder: pass --data-dir or set ASSAY_DATA_DIR")
    folder = root / name
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: benchmark folder not found (see `assay bench --list` for the files each benchmark expects)")
    return folder


def _limited(items: list[Item], limit: int | None) -> list[Item]:
    return items if limit is None else items[:limit]


def _hash(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:12]


# --- RewardBench 1 --------------------------------------------------------------------------
def load_rewardbench(data_dir: str | Path | None, limit: int | None = None) -> Loaded:
    """``rewardbench/*.{jsonl,json,parquet}``: rows with prompt, chosen, rejected, subset (and id)."""
    folder = _folder(data_dir, "rewardbench")
    files = data_files(folder)
    items: list[Item] = []
    for path in files:
        for where, row in read_records(path):
            subset = _text(row, path, where, "subset")
            rid = str(row.get("id", f"{path.stem}:{where.split()[-1]}"))
            items.append(PreferencePair(rid, _prompt(row, path, where), _text(row, path, where, "chosen"), _text(row, path, where, "rejected"), subset))
    return Loaded(_limited(items, limit), files)


# --- RewardBench 2 --------------------------------------------------------------------------
def load_rewardbench2(data_dir: str | Path | None, limit: int | None = None) -> Loaded:
    """``rewardbench2/*.{jsonl,json,parquet}``: rows with id, prompt, chosen (list), rejected
    (list), subset; Ties rows have ids ``ref:N`` / ``tied:N`` and several chosen."""
    folder = _folder(data_dir, "rewardbench2")
    files = data_files(folder)
    items: list[Item] = []
    for path in files:
        for where, row in read_records(path):
            subset = _text(row, path, where, "subset")
            chosen = _texts(row, path, where, "chosen")
            rejected = _texts(row, path, where, "rejected")
            if not chosen:
                raise DataError(path, where, "chosen", "empty list")
            if not rejected:
                raise DataError(path, where, "rejected", "empty list")
            rid = str(_require(row, path, where, "id"))
            if subset.lower() == "ties" and (":" not in rid or rid.split(":")[0] not in ("ref", "tied")):
                raise DataError(path, where, "id", f"a Ties row's id must look like 'ref:N' or 'tied:N', got {rid!r}")
            meta = {k: row[k] for k in ("num_correct", "num_rejected", "total_completions") if k in row}
            items.append(BestOfN(rid, _prompt(row, path, where), chosen, rejected, subset, meta))
    return Loaded(_limited(items, limit), files)


# --- RM-Bench -------------------------------------------------------------------------------
RMBENCH_FILES = ("chat", "code", "math", "safety-refuse", "safety-response")


def load_rmbench(data_dir: str | Path | None, limit: int | None = None) -> Loaded:
    """``rm-bench/{chat,code,math,safety-refuse,safety-response}.json`` (or ``*_filtered.json``):
    rows with id, prompt, chosen (3), rejected (3), subset. The two safety files form one
    ``safety`` domain; an absent file is a note, not an error."""
    folder = _folder(data_dir, "rm-bench")
    items: list[Item] = []
    files: list[Path] = []
    notes: list[str] = []
    for stem in RMBENCH_FILES:
        path = next((p for p in (folder / f"{stem}.json", folder / f"{stem}_filtered.json") if p.is_file()), None)
        if path is None:
            notes.append(f"rm-bench: {stem}.json not found in {folder}; domain {stem.split('-')[0]} is left out of the averages")
            continue
        files.append(path)
        domain = "safety" if stem.startswith("safety") else stem
        for where, row in read_records(path):
            rid = f"{stem}:{_require(row, path, where, 'id')}"
            items.append(StyledPair(
                rid, _prompt(row, path, where), _texts(row, path, where, "chosen", 3), _texts(row, path, where, "rejected", 3),
                domain, str(row.get("subset", stem)),
            ))
    return Loaded(_limited(items, limit), files, notes)


# --- JudgeBench -----------------------------------------------------------------------------
def judgebench_family(source: str) -> str:
    """The source family JudgeBench reports: knowledge (mmlu-pro-*), reasoning, math, coding."""
    if source.startswith("mmlu-pro"):
        return "knowledge"
    return {"livebench-reasoning": "reasoning", "livebench-math": "math", "livecodebench": "coding"}.get(source, source)


def judgebench_split(path: Path) -> str:
    """The response-model split a JudgeBench file holds: ``response_model=X`` in its name
    (``dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl``), else the file stem."""
    stem = path.name.split(".jsonl")[0]
    for part in stem.split(","):
        if part.startswith("response_model="):
            return part.split("=", 1)[1]
    return stem


def load_judgebench(data_dir: str | Path | None, limit: int | None = None, mix_splits: bool = False) -> Loaded:
    """``judgebench/*.jsonl``: rows with pair_id, source, question, response_A, response_B, label
    (A>B or B>A). Files of different response-model splits (GPT-4o, Claude) are not pooled
    unless ``mix_splits``; the notes name the files read and any pair whose two responses are
    identical (no pointwise reward can separate them)."""
    folder = _folder(data_dir, "judgebench")
    files = data_files(folder, ("*.jsonl", "*.jsonl.gz"))
    splits = sorted({judgebench_split(p) for p in files})
    if len(splits) > 1 and not mix_splits:
        raise DataError(
            folder, "files", None,
            f"{len(files)} files of {len(splits)} response-model splits ({', '.join(splits)}): JudgeBench reports each split apart; "
            "point --data-dir at a folder with one split, or pass --judgebench-mix-splits to pool them",
        )
    items: list[Item] = []
    identical: list[str] = []
    for path in files:
        for where, row in read_records(path):
            label = _text(row, path, where, "label")
            if label not in ("A>B", "B>A"):
                raise DataError(path, where, "label", f"expected 'A>B' or 'B>A', got {label!r}")
            source = _text(row, path, where, "source")
            rid = f"{path.stem}:{_require(row, path, where, 'pair_id')}"
            a, b = _text(row, path, where, "response_A"), _text(row, path, where, "response_B")
            if a.strip() == b.strip():
                identical.append(f"{path.name} {where} ({rid})")
            items.append(LabeledPair(
                rid, _text(row, path, where, "question"), a, b, "a" if label == "A>B" else "b", judgebench_family(source), {"source": source, "split": judgebench_split(path)},
            ))
    notes = [f"judgebench: read {len(files)} file(s) of response-model split(s) {', '.join(splits)}" + (" (pooled: --judgebench-mix-splits)" if len(splits) > 1 else "")]
    if identical:
        notes.append(f"judgebench: warning: {len(identical)} pair(s) have two identical responses, so no pointwise reward can be right on them: {'; '.join(identical)}")
    return Loaded(_limited(items, limit), files, notes)


# --- LLMBar ---------------------------------------------------------------------------------
def load_llmbar(data_dir: str | Path | None, limit: int | None = None) -> Loaded:
    """``llmbar/*.json``: lists of {input, output_1, output_2, label (1 or 2)}; subset = file name."""
    folder = _folder(data_dir, "llmbar")
    files = data_files(folder, ("*.json", "*.jsonl"))
    items: list[Item] = []
    for path in files:
        for where, row in read_records(path):
            label = _require(row, path, where, "label")
            if label not in (1, 2) or isinstance(label, bool):
                raise DataError(path, where, "label", f"expected 1 or 2, got {label!r}")
            index = where.split()[-1]
            items.append(LabeledPair(
                f"{path.stem}:{index}", _text(row, path, where, "input"), _text(row, path, where, "output_1"),
                _text(row, path, where, "output_2"), "a" if label == 1 else "b", path.stem.split(".")[0],
            ))
    return Loaded(_limited(items, limit), files)


# --- RMB ------------------------------------------------------------------------------------
def _rmb_answer(value: Any, path: Path, where: str, name: str) -> str:
    if isinstance(value, dict) and isinstance(value.get("answer"), str):
        return value["answer"]
    raise DataError(path, where, name, "expected an object with a string 'answer'")


def _rmb_prompt(row: dict[str, Any], path: Path, where: str) -> list[dict[str, Any]]:
    turns = _require(row, path, where, "conversation_input", list)
    if not all(isinstance(t, dict) and "content" in t for t in turns):
        raise DataError(path, where, "conversation_input", "expected a list of messages with 'role' and 'content'")
    return [{"role": t.get("role", "user"), "content": t["content"]} for t in turns]


def load_rmb(data_dir: str | Path | None, limit: int | None = None, part: str | None = None) -> Loaded:
    """``rmb/**/*.json`` as in the RMB repository: Pairwise_set rows (pair_uid, conversation_input,
    chosen.answer, reject.answer, category_path) and BoN_set rows (bon_uid, conversation_input,
    bon_best.answer, loser_list[].answer, category_path). ``part`` keeps only ``pairwise`` or ``bon``."""
    folder = _folder(data_dir, "rmb")
    files = sorted(p for p in folder.rglob("*.json") if p.is_file())
    items: list[Item] = []
    for path in files:
        for where, row in read_records(path):
            category = str(row.get("category_path", path.parent.name))
            subset = "/".join(category.split("/")[:2])
            if "pair_uid" in row:
                if part == "bon":
                    continue
                items.append(PreferencePair(
                    str(row["pair_uid"]), _rmb_prompt(row, path, where), _rmb_answer(row.get("chosen"), path, where, "chosen"),
                    _rmb_answer(row.get("reject"), path, where, "reject"), subset, {"category_path": category},
                ))
            elif "bon_uid" in row:
                if part == "pairwise":
                    continue
                losers = _require(row, path, where, "loser_list", list)
                if not losers:
                    raise DataError(path, where, "loser_list", "empty list")
                items.append(BestOfN(
                    str(row["bon_uid"]), _rmb_prompt(row, path, where), [_rmb_answer(row.get("bon_best"), path, where, "bon_best")],
                    [_rmb_answer(v, path, where, f"loser_list[{i}]") for i, v in enumerate(losers)], subset, {"category_path": category},
                ))
            else:
                raise DataError(path, where, "pair_uid", "missing (an RMB row has pair_uid or bon_uid)")
    return Loaded(_limited(items, limit), files)


# --- ProcessBench and PRMBench --------------------------------------------------------------
def load_processbench(data_dir: str | Path | None, limit: int | None = None) -> Loaded:
    """``processbench/{gsm8k,math,olympiadbench,omnimath}.{json,jsonl}``: rows with id, problem,
    steps (list), label (index of the first wrong step, -1 for none); subset = file name."""
    folder = _folder(data_dir, "processbench")
    files = data_files(folder)
    items: list[Item] = []
    for path in files:
        for where, row in read_records(path):
            steps = _texts(row, path, where, "steps")
            label = _require(row, path, where, "label", int)
            if not -1 <= label < len(steps):
                raise DataError(path, where, "label", f"{label} is not -1 or a step index below {len(steps)}")
            rid = f"{path.stem}:{row.get('id', where.split()[-1])}"
            items.append(ProcessItem(rid, _text(row, path, where, "problem"), steps, label, path.stem.split(".")[0]))
    return Loaded(_limited(items, limit), files)


def prmbench_label(error_steps: list[int]) -> int:
    """PRMBench's 1-based error steps into ProcessBench's 0-based first-error index (-1: none)."""
    return min(error_steps) - 1 if error_steps else -1


PRMBENCH_FILE_SETS = ("all", "test")
PRMBENCH_CORRECT_SOURCE = "redundency"  # PRMBench takes the correct (original) solutions from these rows, spelt so


def prmbench_files(folder: Path, files: str = "all") -> list[Path]:
    """The files PRMBench's evaluation reads: ``all``, every ``.jsonl`` of the folder (its own
    ``load_dir_of_jsonl_data_function_default``), or ``test``, those whose name holds
    ``test`` (the 16 ``prm800k_test_*`` files and ``prm_test_p12_multi_solutions``): for a
    PRM trained on the ``prm800k_train_p1_first400_*`` files."""
    if files not in PRMBENCH_FILE_SETS:
        raise ValueError(f"prmbench files must be one of {', '.join(PRMBENCH_FILE_SETS)}, got {files!r}")
    every = sorted(p for p in folder.glob("*.jsonl") if p.is_file())
    return every if files == "all" else [p for p in every if "test" in p.name]


def load_prmbench(data_dir: str | Path | None, limit: int | None = None, files: str = "all") -> Loaded:
    """``prmbench/*.jsonl``, read as ssmisya/PRMBench ``mr_eval/tasks/prmtest_classified/task.py:
    load_data_function`` does: every file (``files="test"``: the test files only), the first
    row of each (classification, idx) kept, and one correct solution per idx taken from the
    ``redundency`` rows' original process. Each kept row gives a ProcessItem for its modified
    process (label = first error step - 1, subset = its classification; error steps are
    1-based); each correct solution one with label -1 (subset ``original``). A row whose
    first error lies past its last step is kept (it counts in the official PRMScore, its
    steps all valid); its label is then past the end, and it is left out of assay's
    first-error F1, which cannot express it (a note names them)."""
    folder = _folder(data_dir, "prmbench")
    paths = prmbench_files(folder, files)
    items: list[Item] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    past_end: list[str] = []
    rows = 0
    for path in paths:
        for where, row in read_records(path):
            rows += 1
            idx = str(_require(row, path, where, "idx"))
            classification = str(row.get("classification", path.stem))
            modified = _texts(row, path, where, "modified_process")
            raw_errors = _require(row, path, where, "error_steps", list)
            try:
                errors = sorted(int(e) for e in raw_errors)
            except (TypeError, ValueError):
                raise DataError(path, where, "error_steps", "expected a list of step numbers") from None
            if errors and errors[0] < 1:
                raise DataError(path, where, "error_steps", f"step numbers are 1-based, got {errors[0]}")
            if classification == PRMBENCH_CORRECT_SOURCE and f"correct:{idx}" not in seen:
                seen.add(f"correct:{idx}")
                original = _texts(row, path, where, "original_process")
                oq = str(row.get("original_question") or row.get("question") or "")
                items.append(ProcessItem(f"original:{idx}", oq, original, -1, "original", [], {"file": path.name}))
            key = f"{classification}:{idx}"
            if key in seen:
                duplicates.append(f"{path.name} {where} ({key})")
                continue
            seen.add(key)
            if errors and errors[0] > len(modified):
                past_end.append(f"{path.name} {where} (first error step {errors[0]} of {len(modified)} steps)")
            question = str(row.get("modified_question") or row.get("question") or "")
            items.append(ProcessItem(
                f"{key}:modified", question, modified, prmbench_label(errors), classification,
                [e - 1 for e in errors], {"file": path.name},
            ))
    which = "all" if files == "all" else "the test"
    notes = [
        f"prmbench: read {which} {len(paths)} .jsonl file(s) of {folder} ({rows} rows"
        + ("; PRMBench's own evaluation reads every file, --prmbench-files test keeps the test files only" if files == "all" else "; the prm800k_train_p1_first400 files were left out")
        + "; the files are listed under data.files)"
    ]
    if duplicates:
        notes.append(f"prmbench: kept the first of each duplicated (classification, idx) row, as PRMBench does; dropped {len(duplicates)}: {'; '.join(duplicates)}")
    if past_end:
        notes.append(
            f"prmbench: {len(past_end)} row(s) whose first error step lies past the last step are kept (their steps count as valid in "
            f"prm_score, as in PRMBench's code) but left out of the first-error F1: {'; '.join(past_end)}"
        )
    return Loaded(_limited(items, limit), paths, notes)


# --- best-of-N math -------------------------------------------------------------------------
def _score_value(value: Any, path: Path, where: str, name: str) -> float:
    while isinstance(value, list) and len(value) >= 1:
        value = value[-1]  # Qwen's files nest each reward as [score]; the last is the final-step score
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(path, where, name, f"expected a number (or [number]), got {type(value).__name__}")
    return float(value)


def load_math_bon(data_dir: str | Path | None, limit: int | None = None, folder_name: str = "math-bon") -> Loaded:
    """``math-bon/*.jsonl`` in the shape of Qwen2.5-Math's ``math_cot_100.jsonl``: question,
    response (or code) list, pred (extracted answers), score (correctness booleans), and
    optionally pred_score (one reward per sample, a number or [number])."""
    folder = _folder(data_dir, folder_name)
    files = data_files(folder, ("*.jsonl", "*.jsonl.gz"))
    items: list[Item] = []
    for path in files:
        for where, row in read_records(path):
            prompt = row.get("question", row.get("problem", row.get("prompt")))
            if not isinstance(prompt, str):
                raise DataError(path, where, "question", "missing (or not a string)")
            responses = _texts(row, path, where, "response" if "response" in row else "code")
            n = len(responses)
            answers = [str(a) for a in _require(row, path, where, "pred", list)]
            correct = _require(row, path, where, "score", list)
            if len(answers) != n:
                raise DataError(path, where, "pred", f"has {len(answers)} answers for {n} responses")
            if len(correct) != n or not all(isinstance(c, bool) for c in correct):
                raise DataError(path, where, "score", f"expected {n} booleans")
            stored = None
            if "pred_score" in row and row["pred_score"] is not None:
                raw = _require(row, path, where, "pred_score", list)
                if len(raw) != n:
                    raise DataError(path, where, "pred_score", f"has {len(raw)} scores for {n} responses")
                stored = [_score_value(v, path, where, f"pred_score[{i}]") for i, v in enumerate(raw)]
            rid = f"{path.stem}:{row.get('idx', where.split()[-1])}"
            items.append(SampledSolutions(rid, prompt, responses, answers, list(correct), stored, path.stem, {"gt": row.get("gt", row.get("answer"))}))
    return Loaded(_limited(items, limit), files)


# --- your own data: pairs with ties, best-of-N -------------------------------------------------
PAIR_FIELDS = {"id": "id", "prompt": "prompt", "response_a": "response_a", "response_b": "response_b", "label": "label", "split": "split", "subset": "subset"}
BON_FIELDS = {"id": "id", "prompt": "prompt", "responses": "responses", "correct": "correct", "subset": "subset"}
PAIR_LABELS = ("a", "b", "tie")


def _own_file(data: str | Path | None) -> Path:
    if data is None:
        raise FileNotFoundError("name your data file with --data FILE (.jsonl, .jsonl.gz, .json or .parquet)")
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: data file not found")
    return path


def _field_names(defaults: dict[str, str], given: dict[str, str] | None) -> dict[str, str]:
    unknown = sorted(set(given or {}) - set(defaults))
    if unknown:
        raise ValueError(f"unknown field role {', '.join(unknown)}; the roles are {', '.join(defaults)}")
    return {**defaults, **(given or {})}


def pair_label(value: Any, label_map: dict[str, str] | None, path: Path, where: str, name: str) -> str:
    """A label as ``a``, ``b`` or ``tie``: through ``label_map`` (raw value as text -> label)
    when given, else a, b or tie in any case."""
    if isinstance(value, bool) or value is None:
        raise DataError(path, where, name, f"expected a label, got {value!r}")
    text = str(value).strip()
    if label_map:
        mapped = label_map.get(text)
        if mapped is None:
            raise DataError(path, where, name, f"label {text!r} is not in the label map ({', '.join(f'{k}={v}' for k, v in label_map.items())})")
        return mapped
    if text.lower() in PAIR_LABELS:
        return text.lower()
    raise DataError(path, where, name, f"expected a, b or tie, got {text!r} (map other values with --label-map, e.g. 1=a,2=b,0=tie)")


def majority_label(labels: list[str]) -> str | None:
    """The label more than half the annotators gave; None when there is no such label."""
    top, count = Counter(labels).most_common(1)[0]
    return top if count * 2 > len(labels) else None


def load_pairs(
    data_dir: str | Path | None,
    limit: int | None = None,
    data: str | Path | None = None,
    fields: dict[str, str] | None = None,
    label_map: dict[str, str] | None = None,
    annotators: list[str] | None = None,
) -> Loaded:
    """Your own preference pairs: prompt, two responses and a label (a, b or tie), field
    names mapped by ``fields`` (role -> your field name; roles: id, prompt, response_a,
    response_b, label, split, subset); label values mapped by ``label_map``. With
    ``annotators`` (several label fields, PandaLM's annotator1..3), the label is their
    majority and a row without one is left out (the notes count them)."""
    path = _own_file(data)
    names = _field_names(PAIR_FIELDS, fields)
    if label_map:
        bad = sorted({v for v in label_map.values() if v not in PAIR_LABELS})
        if bad:
            raise ValueError(f"label map values must be a, b or tie, got {', '.join(bad)}")
    items: list[Item] = []
    no_majority = 0
    for where, row in read_records(path):
        if annotators:
            annotations = [pair_label(_require(row, path, where, f), label_map, path, where, f) for f in annotators]
            label = majority_label(annotations)
            if label is None:
                no_majority += 1
                continue
        else:
            annotations = None
            label = pair_label(_require(row, path, where, names["label"]), label_map, path, where, names["label"])
        split = row.get(names["split"])
        if split is not None and str(split) not in ("dev", "test"):
            raise DataError(path, where, names["split"], f"expected dev or test, got {split!r}")
        base_id = str(row[names["id"]]) if row.get(names["id"]) is not None else f"{path.stem}:{where.split()[-1]}"
        prompt, first, second = _prompt(row, path, where, names["prompt"]), _text(row, path, where, names["response_a"]), _text(row, path, where, names["response_b"])
        # the content's hash in the id: an edited row is never matched with a result saved for its old text
        items.append(JudgedPair(
            f"{base_id}#{_hash(prompt, first, second)[:8]}", prompt, first, second, label, str(row.get(names["subset"]) or path.stem),  # type: ignore[arg-type]
            None if split is None else str(split), annotations, {"row_id": base_id},
        ))
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise DataError(path, "file", names["id"], f"id {item.meta['row_id']!r} appears more than once with the same texts (ids key the per-sample log)")
        seen.add(item.id)
    notes = [f"pairs: {no_majority} row(s) without a majority label among {', '.join(annotators or [])} left out"] if no_majority else []
    return Loaded(_limited(items, limit), [path], notes)


def load_bon(
    data_dir: str | Path | None,
    limit: int | None = None,
    data: str | Path | None = None,
    fields: dict[str, str] | None = None,
) -> Loaded:
    """Your own best-of-N sets: a prompt, N responses and which are correct (a list of N
    booleans, or the indices of the correct responses), field names mapped by ``fields``
    (roles: id, prompt, responses, correct, subset)."""
    path = _own_file(data)
    names = _field_names(BON_FIELDS, fields)
    items: list[Item] = []
    for where, row in read_records(path):
        responses = _texts(row, path, where, names["responses"])
        if not responses:
            raise DataError(path, where, names["responses"], "no responses")
        given = _require(row, path, where, names["correct"], list)
        if given and all(isinstance(c, bool) for c in given):
            if len(given) != len(responses):
                raise DataError(path, where, names["correct"], f"{len(given)} booleans for {len(responses)} responses")
            correct = list(given)
        elif all(isinstance(c, int) and not isinstance(c, bool) for c in given):
            bad = [c for c in given if not 0 <= c < len(responses)]
            if bad:
                raise DataError(path, where, names["correct"], f"index {bad[0]} out of range for {len(responses)} responses")
            correct = [i in set(given) for i in range(len(responses))]
        else:
            raise DataError(path, where, names["correct"], "expected a list of booleans (one per response) or of indices of the correct responses")
        base_id = str(row[names["id"]]) if row.get(names["id"]) is not None else f"{path.stem}:{where.split()[-1]}"
        prompt = _prompt(row, path, where, names["prompt"])
        items.append(Candidates(f"{base_id}#{_hash(prompt, responses)[:8]}", prompt, responses, correct, str(row.get(names["subset"]) or path.stem), {"row_id": base_id}))
    return Loaded(_limited(items, limit), [path])


LOADERS: dict[str, Callable[..., Loaded]] = {
    "rewardbench": load_rewardbench,
    "rewardbench2": load_rewardbench2,
    "rm-bench": load_rmbench,
    "judgebench": load_judgebench,
    "llmbar": load_llmbar,
    "rmb": load_rmb,
    "processbench": load_processbench,
    "prmbench": load_prmbench,
    "math-bon": load_math_bon,
    "pairs": load_pairs,
    "bon": load_bon,
}


def load(benchmark: str, data_dir: str | Path | None = None, limit: int | None = None, **options: Any) -> Loaded:
    """Load a benchmark by name (see ``LOADERS``); ``options`` go to its loader (prmbench
    ``files``, judgebench ``mix_splits``)."""
    if benchmark not in LOADERS:
        raise KeyError(f"unknown benchmark {benchmark!r}; known: {', '.join(LOADERS)}")
    import inspect

    loader = LOADERS[benchmark]
    accepted = [name for name in inspect.signature(loader).parameters if name not in ("data_dir", "limit")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{benchmark} has no option {', '.join(unknown)} (its options: {', '.join(accepted) or 'none'})")
    return loader(data_dir, limit, **options)
