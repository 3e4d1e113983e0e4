"""A calibrator saved as a small JSON file with its data's provenance, and read back.

    {"assay_calibration": 1,
     "method": "platt", "input": "raw", "params": {"a": 0.71, "b": -0.4},
     "provenance": {"file": "labelled.jsonl", "sha256": "...", "n": 800, "n_fit": 560,
                    "n_holdout": 240, "date": "2026-12-01T20:00:00+00:00", "method": "platt", ...},
     "evaluation": {"holdout": {"before": {...}, "after": {...}}}}

``read_fit(path)`` checks the file (a clear error naming the file and the field) and gives
the ``Calibrator`` and the whole record; ``sha256_of(path)`` hashes a data file in chunks.
"""

from __future__ import annotations

import hashlib
import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

from assay.rewards.calibration.calibrators import METHODS, Calibrator

FORMAT_VERSION = 1


class FitFileError(ValueError):
    """A calibration file that cannot be read; the message names the file and the field."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_fit(path: str | Path, calibrator: Calibrator, provenance: dict[str, Any], evaluation: dict[str, Any] | None = None) -> Path:
    path = Path(path)
    record = {"assay_calibration": FORMAT_VERSION, **calibrator.to_dict(), "notes": calibrator.notes, "provenance": provenance, "evaluation": evaluation or {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def _number(record: dict[str, Any], key: str, where: str) -> float:
    value = record.get("params", {}).get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FitFileError(f"{where}: params.{key}: expected a finite number, got {value!r}")
    return float(value)


def read_fit(path: str | Path) -> tuple[Calibrator, dict[str, Any]]:
    """The calibrator a file holds, and the file's whole record (provenance, evaluation)."""
    where = str(path)
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FitFileError(f"{where}: calibration file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FitFileError(f"{where}: not a JSON calibration file ({error})") from None
    if not isinstance(record, dict) or record.get("assay_calibration") != FORMAT_VERSION:
        raise FitFileError(f"{where}: assay_calibration: expected {FORMAT_VERSION} (a file written by `assay calibrate`)")
    method = record.get("method")
    if method not in METHODS:
        raise FitFileError(f"{where}: method: expected one of {', '.join(METHODS)}, got {method!r}")
    domain = record.get("input")
    if domain not in ("probability", "raw"):
        raise FitFileError(f"{where}: input: expected 'probability' or 'raw', got {domain!r}")
    if not isinstance(record.get("params"), dict):
        raise FitFileError(f"{where}: params: expected a mapping")
    if method == "temperature":
        if _number(record, "temperature", where) <= 0:
            raise FitFileError(f"{where}: params.temperature: must be above 0")
        params: dict[str, Any] = {"temperature": _number(record, "temperature", where)}
    elif method == "platt":
        params = {"a": _number(record, "a", where), "b": _number(record, "b", where)}
    else:
        xs, ys = record["params"].get("x"), record["params"].get("y")
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or not xs:
            raise FitFileError(f"{where}: params.x, params.y: expected two equal, non-empty lists of knots")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in xs + ys):
            raise FitFileError(f"{where}: params.x, params.y: every knot must be a finite number")
        if any(b < a for a, b in pairwise(xs)) or any(b < a for a, b in pairwise(ys)):
            raise FitFileError(f"{where}: params.x, params.y: knots must be non-decreasing")
        params = {"x": [float(v) for v in xs], "y": [float(v) for v in ys]}
    return Calibrator(method, params, domain, list(record.get("notes") or [])), record
