"""The SQL rewards on the real Chinook database: the case set (equivalent rewrites, wrong joins
and filters, ordering, syntax errors, writes, ATTACH, PRAGMAs, load_extension, blow-ups that hit
the time and row bounds), BIRD's semantics, every failure path of the gold side, a worker
killed mid-query, the partial rewards, a composed config, and ``import assay`` staying light."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import assay
from assay.rewards.sql.compare import compare
from assay.rewards.sql.execution import Database
from assay.rewards.sql.inputs import extract_query
from assay.rewards.sql.reward import SqlExecution
from assay.types import Sample

REPO = Path(__file__).resolve().parents[1]
CASES = [json.loads(line) for line in (REPO / "tests" / "data" / "chinook_sql_cases.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def reward(chinook):
    r = SqlExecution(database=chinook, workers=2, timeout_seconds=1.0)
    yield r
    r.close()


def fenced(query: str) -> str:
    return f"Let me write it.\n```sql\n{query}\n```"


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- the case set ------------------------------------------------------------------------------
def test_every_chinook_case_scores_as_expected_and_the_database_is_untouched(reward, chinook):
    before = digest(chinook)
    judgments = reward.score([Sample(response=fenced(c["candidate"]), reference=c["gold"]) for c in CASES])
    wrong = [
        (c["id"], c["category"], j.score, j.rationale)
        for c, j in zip(CASES, judgments)
        if j.score != c["expect_score"] or c["expect_reason"] not in j.rationale or j.failure is not None
    ]
    assert not wrong, wrong
    assert digest(chinook) == before
    categories = {c["category"] for c in CASES}
    assert {"equivalent", "wrong_join", "wrong_filter", "ordering", "syntax_error", "write", "attach", "pragma",
            "load_extension", "cartesian_time", "cartesian_rows"} <= categories
    by_id = {c["id"]: j for c, j in zip(CASES, judgments)}
    assert by_id["q02-c4"].rationale.endswith('OperationalError: near "SELEC": syntax error')  # the database's own error
    assert by_id["q03-c1"].details["outcome"] == "equal" and "reordering the columns" in by_id["q03-c1"].rationale
    assert by_id["q14-c10"].details["outcome"] == "timeout" and by_id["q14-c11"].details["outcome"] == "row_cap"


def test_bird_semantics_are_three_options(chinook):
    bird = SqlExecution(database=chinook, workers=1, order="ignore", duplicates="set", column_order="strict")
    try:
        pick = {c["id"]: c for c in CASES}
        ids = ["q11-c2", "q03-c1", "q02-c3"]  # duplicates, swapped columns, unordered rows
        judgments = bird.score([Sample(response=fenced(pick[i]["candidate"]), reference=pick[i]["gold"]) for i in ids])
        assert [j.score for j in judgments] == [1.0, 0.0, 1.0]
        assert "equal as sets" in judgments[0].rationale
    finally:
        bird.close()


def test_compare_rules():
    assert compare([(1, 2.0)], [(1.0, 2)]).equal  # int/float equality
    assert compare([(0.1 + 0.2,)], [(0.3,)]).equal and not compare([(0.1 + 0.2,)], [(0.3,)], float_digits=None).equal
    assert compare([], [], "SELECT a FROM t").equal
    assert not compare([(1,), (1,)], [(1,)]).equal and compare([(1,), (1,)], [(1,)], duplicates="set").equal
    assert compare([(1, 1), (2, 2)], [(2, 2), (1, 1)], "SELECT a FROM t ORDER BY a").reason.startswith("rows in a different order")
    assert compare([(1, "a", 3)], [("a", 3, 1)]).permutation == (2, 0, 1)
    assert not compare([(1, "a")], [("a", 1)], column_order="strict").equal


# --- extraction --------------------------------------------------------------------------------
def test_extraction_modes():
    text = "<think>```sql\nSELECT 0\n```</think>Draft:\n```\nSELECT 1\n```\nFinal:\n```sql\nSELECT 2\n```"
    assert extract_query(text).query == "SELECT 2"
    assert extract_query("```python\nx = 1\n```\n```\nSELECT 1\n```").query == "SELECT 1"
    assert extract_query("<think>```sql\nSELECT 0\n```</think> none here").query is None  # only after </think>
    assert extract_query("reason <answer>\n```sql\nSELECT 3\n```\n</answer>", "tag").query == "SELECT 3"
    assert extract_query("<sql>SELECT 4</sql>", "tag", tag="sql").query == "SELECT 4"
    assert extract_query("  SELECT 5  ", "whole").query == "SELECT 5"


def test_no_query_is_a_zero_with_the_reason(reward):
    j = reward.score([Sample(response="I think the answer is 25.", reference="SELECT 1")])[0]
    assert j.score == 0.0 and j.failure is None and "no ```sql fenced block" in j.rationale


# --- the gold side and the inputs --------------------------------------------------------------
def test_gold_and_database_problems_are_failures_not_zeros(chinook, tmp_path):
    r = SqlExecution(database=chinook, workers=1, timeout_seconds=1.0, gold_timeout_seconds=0.5, max_rows=100)
    try:
        good = fenced("SELECT 1")
        judgments = r.score([
            Sample(response=good, reference="SELECT COUNT(*) FROM Track a, Track b, Track c"),  # gold times out
            Sample(response=good, reference="SELEC 1"),  # gold does not parse
            Sample(response=good, reference="SELECT Name FROM Track"),  # gold over the row cap
            Sample(response=good, reference="DELETE FROM Genre"),  # gold refused
            Sample(response=good),  # no gold
            Sample(response=good, reference="SELECT 1", extra={"db_path": str(tmp_path / "missing.sqlite")}),
        ])
        kinds = [j.failure.kind if j.failure else None for j in judgments]
        assert kinds == ["timeout", "input", "input", "input", "input", "input"], [j.rationale for j in judgments]
        assert "gold query ran past its time limit" in judgments[0].rationale
        assert "syntax error" in judgments[1].rationale and "more rows than max_rows" in judgments[2].rationale
        assert "does not exist" in judgments[5].rationale
    finally:
        r.close()
    nowhere = SqlExecution(workers=1)
    j = nowhere.score([Sample(response=good, reference="SELECT 1")])[0]
    assert j.failure.kind == "input" and "no database" in j.rationale
    nowhere.close()


def test_spider_layout_db_id_under_db_root(chinook, tmp_path):
    (tmp_path / "chinook").mkdir()
    os.symlink(chinook, tmp_path / "chinook" / "chinook.sqlite")
    r = SqlExecution(db_root=str(tmp_path), workers=1)
    try:
        j = r.score([Sample(response=fenced("SELECT COUNT(*) FROM Genre"), reference="SELECT 25", extra={"db_id": "chinook"})])[0]
        assert j.score == 1.0, j.rationale
        j = r.score([Sample(response=fenced("SELECT 1"), reference="SELECT 1", extra={"db_id": "../etc"})])[0]
        assert j.failure.kind == "input"
    finally:
        r.close()


# --- the guard ---------------------------------------------------------------------------------
def test_the_guard_refuses_and_nothing_is_written(chinook, tmp_path):
    db = Database(chinook)
    target = tmp_path / "copy.sqlite"
    attached = tmp_path / "attached.sqlite"
    cases = {
        f"VACUUM INTO '{target}'": "refused",
        f"ATTACH DATABASE '{attached}' AS a": "refused",
        "CREATE TEMP TABLE t (x)": "refused",
        "PRAGMA query_only = 0": "refused",
        "PRAGMA temp_store_directory = '/tmp'": "refused",
        "SELECT load_extension('libm')": "refused",
        "SELECT fts3_tokenizer('simple')": "refused",
        "BEGIN": "refused",
        "WITH x AS (SELECT 1) DELETE FROM Genre": "refused",
        "SELECT value FROM json_each('[1, 2]')": "refused",
        "SELECT randomblob(100000000)": "error",
        "PRAGMA table_info(Genre)": "ok",
    }
    for sql, status in cases.items():
        outcome = db.run(sql, timeout_seconds=1.0, max_rows=100)
        assert outcome.status == status, (sql, outcome)
    assert not target.exists() and not attached.exists()
    db.close()


def test_memory_bound_ends_a_blow_up_as_a_zero(chinook):
    r = SqlExecution(database=chinook, workers=1, timeout_seconds=30, memory_mb=256)
    try:
        started = time.monotonic()
        j = r.score([Sample(response=fenced("SELECT a.Name || b.Name AS s FROM Track a, Track b ORDER BY s"), reference="SELECT 1")])[0]
        assert j.score == 0.0 and j.failure is None
        assert j.details["outcome"] in ("memory", "crash"), j.rationale
        assert time.monotonic() - started < 30
        assert r.score([Sample(response=fenced("SELECT 1"), reference="SELECT 1")])[0].score == 1.0  # the pool carries on
    finally:
        r.close()


def _kill_worker_while_running(r: SqlExecution, sample: Sample, how: int = signal.SIGKILL):
    r.warm_up()  # a worker that is ready, so the signal lands inside the query
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("j", r.score([sample])[0]))
    thread.start()
    time.sleep(1.0)
    for pid in r.worker_pids():
        os.kill(pid, how)
    thread.join(30)
    return result["j"]


def test_a_worker_killed_mid_query_is_attributed_to_its_phase(chinook):
    r = SqlExecution(database=chinook, workers=1, timeout_seconds=20, gold_timeout_seconds=20)
    try:
        slow = "SELECT COUNT(*) FROM Track a, Track b, Track c"
        j = _kill_worker_while_running(r, Sample(response=fenced(slow), reference="SELECT 1"))
        assert j.score == 0.0 and "died (killed by signal 9)" in j.rationale and j.details["outcome"] == "crash"
        j = _kill_worker_while_running(r, Sample(response=fenced("SELECT 1"), reference=slow))
        assert j.score is None and j.failure.kind == "internal" and "gold query died" in j.rationale
        assert r.score([Sample(response=fenced("SELECT 2"), reference="SELECT 2")])[0].score == 1.0
    finally:
        r.close()


def test_a_worker_that_stops_answering_is_killed_at_the_phase_deadline(chinook):
    """A stopped worker (SIGSTOP: its own progress handler cannot fire) stands for a query stuck
    in one long step: the parent kills it at the phase's bound plus the grace."""
    r = SqlExecution(database=chinook, workers=1, timeout_seconds=2, gold_timeout_seconds=2)
    try:
        slow = "SELECT COUNT(*) FROM Track a, Track b, Track c"
        started = time.monotonic()
        j = _kill_worker_while_running(r, Sample(response=fenced(slow), reference="SELECT 1"), signal.SIGSTOP)
        assert j.score == 0.0 and "time limit exceeded (2 s; the worker was killed)" in j.rationale
        assert time.monotonic() - started < 15
        j = _kill_worker_while_running(r, Sample(response=fenced("SELECT 1"), reference=slow), signal.SIGSTOP)
        assert j.failure.kind == "timeout" and "the worker was killed" in j.rationale
    finally:
        r.close()


# --- the partial rewards -----------------------------------------------------------------------
def test_partial_rewards(chinook):
    pytest.importorskip("sqlglot")
    from assay.rewards.sql.partial import SqlNgram, SqlSchemaLinking, SqlSyntax

    pick = {c["id"]: c for c in CASES}
    samples = [Sample(response=fenced(pick[i]["candidate"]), reference=pick[i]["gold"]) for i in ("q04-c1", "q04-c2", "q02-c4", "q02-c5", "q14-c1")]
    syntax = SqlSyntax(database=chinook).score(samples)
    assert [j.score for j in syntax] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert "syntax error" in syntax[2].rationale and "no such table: Genres" in syntax[3].rationale
    assert "refused by the read-only policy: delete Genre" in syntax[4].rationale
    loose = SqlSyntax(check="sqlglot").score(samples[3:4])[0]  # sqlglot alone does not check names
    assert loose.score == 1.0 and "parses" in loose.rationale

    linking = SqlSchemaLinking(database=chinook).score(samples)
    assert linking[0].score == pytest.approx(5 / 6) and linking[1].score == pytest.approx(4 / 6)  # the wrong join: album.albumid for album.artistid
    assert "missing: column:album.artistid; extra: column:album.albumid" in linking[1].rationale
    assert linking[2].score == 0.0 and "does not parse" in linking[2].rationale
    same = SqlSchemaLinking(database=chinook).score([Sample(response=fenced(pick["q04-c2"]["gold"]), reference=pick["q04-c2"]["gold"])])[0]
    assert same.score == 1.0 and "table:artist" in same.details["items"] and "column:album.artistid" in same.details["items"]

    ngram = SqlNgram().score([Sample(response=fenced("SELECT Name FROM Genre"), reference="select name from [Genre];"), *samples[:2]])
    assert ngram[0].score == 1.0 and 0 < ngram[1].score < ngram[2].score < 1
    assert SqlNgram().score([Sample(response=fenced("SELECT 1"))])[0].failure.kind == "input"


def test_composed_config_weights_and_gate(chinook):
    pytest.importorskip("sqlglot")
    reward = assay.load_reward(str(REPO / "examples" / "sql_reasoning.yaml"))
    gold = "SELECT COUNT(*) FROM Genre"
    samples = [
        Sample(response="<think>count them</think>\n```sql\nSELECT COUNT(*) FROM Genre\n```", reference=gold, extra={"db_path": chinook}),
        Sample(response="<think>count them</think>\n```sql\nSELEC COUNT(*) FROM Genre\n```", reference=gold, extra={"db_path": chinook}),
        Sample(response="<think>oops</think>\n```sql\nSELECT COUNT(*) FROM Track\n```", reference=gold, extra={"db_path": chinook}),
    ]
    best, broken, wrong = reward.score(samples)
    assert best.score == pytest.approx(7.0)  # 3 + 1 + 1 + 1 + 1
    assert broken.score == 0.0 and "capped" in broken.rationale
    assert 0 < wrong.score < 3 and wrong.details["execution"].score == 0.0


@pytest.mark.parametrize("module", ["guard", "compare", "inputs", "parsing"])
def test_module_doctests(module):
    import doctest
    import importlib

    pytest.importorskip("sqlglot")
    result = doctest.testmod(importlib.import_module(f"assay.rewards.sql.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_import_assay_does_not_import_sqlglot():
    code = "import sys, assay, assay.registry; from assay.rewards.sql import reward, partial; assert 'sqlglot' not in sys.modules, 'sqlglot imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
