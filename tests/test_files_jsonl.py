"""``assay.files.jsonl.finite_json``: the one place NaN and infinities become JSON null, used by
``report.json`` (``assay.bench.report.public``) and the server's strict-JSON endpoints."""

from __future__ import annotations

import json
import math

from assay.bench.report import public
from assay.files.jsonl import finite_json


def test_nan_and_infinities_become_null_at_any_depth_and_the_rest_is_kept():
    value = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf, "d": (2, "x")}], "e": None, "f": 0.5}
    assert finite_json(value) == {"a": None, "b": [1.0, None, {"c": None, "d": [2, "x"]}], "e": None, "f": 0.5}
    json.dumps(finite_json(value), allow_nan=False)  # strict JSON now


def test_a_reports_public_form_is_strict_json_without_its_private_keys():
    report = {"benchmark": "llmbar", "overall": math.nan, "_scores": [1.0, 2.0]}
    assert public(report) == {"benchmark": "llmbar", "overall": None}
