"""The SQL rewards through the trainer adapters and the server, unchanged: TRL's keyword
arguments (the database as a dataset column), veRL's ``compute_score`` (the database in
``extra_info``), and ``/v1/score`` of a real server on loopback give the same scores and
rationales as calling the reward directly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from assay.integrations import trl, verl
from assay.rewards.sql.reward import SqlExecution
from assay.types import Sample

GOLD = "SELECT COUNT(*) FROM Genre"
RESPONSES = ["```sql\nSELECT COUNT(GenreId) FROM Genre\n```", "```sql\nSELECT COUNT(*) FROM Track\n```", "```sql\nDELETE FROM Genre\n```"]


@pytest.fixture(scope="module")
def direct(chinook):
    reward = SqlExecution(workers=1)
    judgments = reward.score([Sample(response=r, reference=GOLD, extra={"db_path": chinook}) for r in RESPONSES])
    reward.close()
    assert [j.score for j in judgments] == [1.0, 0.0, 0.0]
    return judgments


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "sql.yaml"
    path.write_text(json.dumps({"rewards": {"execution": {"type": "sql", "workers": 1, "weight": 1.0}, "ngram": {"type": "sql_ngram", "weight": 0.5}}}))
    return path


class Extra:
    def __init__(self) -> None:
        self.columns: dict[str, list] = {}

    def log_extra(self, column: str, values: list) -> None:
        self.columns.setdefault(column, []).extend(values)


def test_trl_carries_sql(tmp_path, chinook, direct):
    funcs, weights = trl.reward_funcs(write_config(tmp_path))
    assert [f.__name__ for f in funcs] == ["execution", "ngram"] and weights == [1.0, 0.5]
    extra = Extra()
    out = funcs[0](
        prompts=["How many genres?"] * 3, completions=RESPONSES, completion_ids=[[1]] * 3,
        solution=[GOLD] * 3, db_path=[chinook] * 3, log_extra=extra.log_extra, log_metric=lambda *a: None,
    )
    assert out == [j.score for j in direct]
    assert extra.columns["rationale/execution"] == [j.rationale for j in direct]


def test_verl_carries_sql(tmp_path, chinook, direct):
    path = write_config(tmp_path)
    for response, want in zip(RESPONSES, direct):
        result = verl.compute_score("chinook", response, GOLD, extra_info={"index": 0, "db_path": chinook}, config=str(path))
        assert result["execution"] == want.score and result["failed"] == 0
        assert "execution(" in result["rationale"] and math.isfinite(result["score"])
    missing = verl.compute_score("chinook", RESPONSES[0], GOLD, extra_info={"index": 0}, config=str(path))
    assert math.isnan(missing["score"]) and missing["failure_kind"] == "input"


def test_server_carries_sql(tmp_path, chinook, direct):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    import httpx

    from assay.serve.runner import ServerThread

    with ServerThread(str(write_config(tmp_path))) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.post("/v1/score", json={"samples": [{"response": resp, "reference": GOLD, "db_path": chinook} for resp in RESPONSES]})
        assert r.status_code == 200, r.text
        got = [j["details"]["execution"] for j in r.json()["judgments"]]
    assert [g["score"] for g in got] == [j.score for j in direct]
    assert [g["rationale"] for g in got] == [j.rationale for j in direct]
