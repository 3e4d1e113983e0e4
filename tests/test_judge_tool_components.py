"""The judge tools against their real components: python in assay's sandbox, the calculator
with sympy in its worker process, search with bm25s over a small folder and a JSONL file, sql
over the real Chinook database (``chinook`` fixture) through the sql reward's executor; and
one judge (scripted replies) calling the real tools through the loop."""

from __future__ import annotations

import json

import pytest
from scripted_backend import ScriptedBackend

from assay.backends.base import Completion
from assay.rewards.judges.pointwise import PointwiseJudge
from assay.rewards.judges.tools.base import ToolError, build_tools
from assay.rewards.judges.tools.calculator import CalculatorTool, evaluate
from assay.rewards.judges.tools.search import SearchTool
from assay.rewards.judges.tools.sql import SqlTool
from assay.sandbox import backends as sandbox_backends
from assay.types import Sample

ISOLATED = [name for name in ("bwrap", "unshare") if not isinstance(sandbox_backends._probe(sandbox_backends.BACKENDS[name]()), str)]
needs_isolation = pytest.mark.skipif(not ISOLATED, reason="no isolating sandbox backend here (install bubblewrap: bash scripts/setup.sh as root)")


# --- python -------------------------------------------------------------------------------------


@needs_isolation
def test_python_tool_runs_in_the_sandbox() -> None:
    tool = build_tools([{"python": {"timeout_seconds": 5, "memory_mb": 256}}])["python"]
    assert tool.call("print(17 * 23)", 5) == "391"
    assert tool.call("print('x')\nraise ValueError('boom')", 5).endswith("[the program did not finish normally: exit code 1]")
    assert "ValueError: boom" in tool.call("raise ValueError('boom')", 5)
    assert tool.call("pass", 5) == "(the program printed nothing)"


@needs_isolation
def test_python_tool_is_bounded() -> None:
    tool = build_tools([{"python": {"timeout_seconds": 5, "memory_mb": 256, "output_bytes": 1000}}])["python"]
    assert "time limit exceeded" in tool.call("while True: pass", 1)  # the call's bound, below the tool's own 5 s
    assert "[output cut at 1000 bytes]" in tool.call("print('y' * 100000)", 5)
    memory = tool.call("x = bytearray(2 * 1024**3)", 5)
    assert "MemoryError" in memory or "memory limit" in memory
    network = tool.call("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)", 5)
    assert "did not finish normally" in network  # no network in the sandbox
    host = tool.call("import os\nprint(os.path.exists('/work'), os.path.exists('/etc/passwd'))", 5)
    assert host == "False False"  # no view of the host


# --- calculator ---------------------------------------------------------------------------------


@pytest.mark.parametrize("expression,answer", [
    ("1/3 + 1/6", "1/2 (= 0.5)"),
    ("0.1 + 0.2", "3/10 (= 0.3)"),
    ("2^10 - 1", "1023"),
    ("sqrt(8)", "2*sqrt(2) (= 2.8284271247461900976)"),
    ("factorial(20)", "2432902008176640000"),
    ("solve(x**2 - 4, x)", "[-2, 2]"),
    ("simplify((x**2 - 1)/(x - 1))", "x + 1"),
    ("log(8, 2)", "3"),
    ("gcd(84, 36)", "12"),
    ("17 // 5, 17 % 5", "(3, 2)"),
])
def test_calculator_is_exact(expression: str, answer: str) -> None:
    assert evaluate(expression) == answer


@pytest.mark.parametrize("expression,why", [
    ("__import__('os').system('id')", "only the listed functions may be called"),
    ("().__class__.__bases__[0].__subclasses__()", "only the listed functions may be called"),
    ("(1).__class__", "Attribute is not allowed"),
    ("(1, 2)[0]", "Subscript is not allowed"),
    ("(lambda: 1)()", "only the listed functions may be called"),
    ("'a' * 3", "only numbers are allowed as literals"),
    ("[x for x in (1, 2)]", "ListComp is not allowed"),
    ("open", "the name 'open' is not known"),
    ("sqrt", "is a function"),
    ("2 ** 10 ** 10", "larger than the limit"),
    ("factorial(10**7)", "larger than the limit"),
    ("1 +" * 3, "syntax error"),
    ("1+" * 2000 + "1", "characters, more than the limit"),
    ("x == 1", "Compare is not allowed"),
    ("Rational(1, 3)(2)", "only the listed functions may be called"),
])
def test_calculator_refuses_what_is_not_an_expression(expression: str, why: str) -> None:
    with pytest.raises(ToolError, match="cannot read|" + why) as error:
        evaluate(expression)
    assert why in str(error.value)


def test_calculator_tool_runs_in_a_killable_worker() -> None:
    tool = CalculatorTool(timeout_seconds=5)
    try:
        tool.warm_up()
        assert tool.call("2**100", 5) == "1267650600228229401496703205376"
        assert tool.call("1/0", 5) == "zoo (complex infinity: a division by zero)"
        with pytest.raises(ToolError, match="did not finish within 1 s"):
            tool.call("isprime(2**99991 - 1)", 1)
        assert tool.call("3 * 7", 5) == "21"  # a fresh worker after the killed one
        with pytest.raises(ToolError, match="not allowed"):
            tool.call("().__class__", 5)  # refused before it travels
    finally:
        tool.close()


def test_calculator_calls_run_side_by_side_in_its_workers() -> None:
    """A hanging calculation holds one worker; a concurrent call runs in the other."""
    import threading
    import time

    tool = CalculatorTool(workers=2)
    try:
        tool.warm_up()
        tool.call("1 + 1", 30)  # both workers ready (the first call waits for one)
        tool.call("1 + 2", 30)
        errors: list[Exception] = []

        def hang() -> None:
            try:
                tool.call("isprime(2**99991 - 1)", 3)
            except ToolError as error:
                errors.append(error)

        thread = threading.Thread(target=hang)
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert tool.call("3 * 7", 5) == "21"
        assert time.monotonic() - started < 2.5  # not queued behind the hanging one
        thread.join(10)
        assert errors and "did not finish within 3 s" in str(errors[0])
    finally:
        tool.close()


# --- search -------------------------------------------------------------------------------------


@pytest.fixture()
def library(tmp_path):
    folder = tmp_path / "library"
    (folder / "science").mkdir(parents=True)
    (folder / "eiffel.txt").write_text("The Eiffel Tower in Paris is 330 metres tall. It was finished in 1889.")
    (folder / "science" / "moon.md").write_text("# The Moon\nThe Moon orbits the Earth in about 27.3 days.")
    (folder / "science" / "water.md").write_text("Water boils at 100 degrees Celsius at sea level.")
    (folder / "notes.csv").write_text("ignored,file")
    return folder


def test_search_over_a_folder(library) -> None:
    tool = SearchTool(documents=str(library), top_k=2)
    assert [d for d, _ in tool.documents] == ["eiffel.txt", "science/moon.md", "science/water.md"]
    answer = tool.call("How tall is the Eiffel Tower?", 5)
    assert answer.startswith("[1] eiffel.txt (score ") and "330 metres" in answer and "[2]" not in answer  # only matching documents
    assert "science/moon.md" in tool.call("moon orbit days", 5)
    assert tool.call("banana", 5) == "no document matches 'banana'"
    assert "no searchable words" in tool.call("the of and", 5)
    with pytest.raises(ToolError, match="empty"):
        tool.call("  ", 5)


def test_search_over_jsonl_with_cut_documents(tmp_path) -> None:
    path = tmp_path / "docs.jsonl"
    rows = [{"id": "p1", "title": "Refunds", "text": "Refunds are paid within 14 days. " + "More words. " * 200}, {"id": "p2", "text": "Shipping takes 3 days."}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tool = SearchTool(documents=str(path), max_chars_per_document=100)
    answer = tool.call("refunds days", 5)
    assert answer.startswith("[1] p1") and "Refunds are paid within 14 days." in answer and "more characters]" in answer


def test_search_input_errors_name_file_and_line(tmp_path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "fine"}\n{"body": "no text field"}\n')
    with pytest.raises(ValueError, match=r"docs.jsonl, line 2: field 'text' is missing"):
        SearchTool(documents=str(path))
    path.write_text('{"text": "fine"}\nnot json\n')
    with pytest.raises(ValueError, match=r"line 2: not JSON"):
        SearchTool(documents=str(path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no .txt or .md files"):
        build_tools([{"search": {"documents": str(empty)}}])


def test_search_documents_relative_to_the_config(library) -> None:
    tool = build_tools([{"search": {"documents": "library"}}], base_dir=library.parent)["search"]
    assert tool.source == library


# --- sql ----------------------------------------------------------------------------------------


def test_sql_tool_reads_chinook(chinook) -> None:
    tool = SqlTool(database=chinook, max_rows=5)
    try:
        tool.warm_up()
        assert tool.call("SELECT count(*) FROM Genre", 5) == "1 row\ncount(*)\n25"
        answer = tool.call("```sql\nSELECT Name FROM Genre ORDER BY GenreId LIMIT 2\n```", 5)
        assert answer == "2 rows\nName\nRock\nJazz"
        assert tool.call("SELECT Name FROM Genre WHERE 0", 5) == "(no rows)\ncolumns: Name"
    finally:
        tool.close()


@pytest.mark.parametrize("query,message", [
    ("DROP TABLE Genre", "refused"),
    ("DELETE FROM Genre", "refused"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "refused"),
    ("PRAGMA journal_mode = WAL", "refused"),
    ("SELECT load_extension('x')", "refused"),
    ("SELEC 1", "syntax error"),
    ("SELECT * FROM Track", "row_cap"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", "time limit exceeded"),
])
def test_sql_tool_is_read_only_and_bounded(chinook, query: str, message: str) -> None:
    tool = SqlTool(database=chinook, max_rows=5)
    try:
        with pytest.raises(ToolError, match=message):
            tool.call(query, 1)
    finally:
        tool.close()


# --- a judge calling the real tools -------------------------------------------------------------


def test_a_judge_calls_the_real_calculator_and_sql(chinook) -> None:
    replies = [
        Completion(text="", tool_calls=[
            {"id": "a", "name": "calculator", "arguments": json.dumps({"expression": "17 * 23"})},
            {"id": "b", "name": "sql", "arguments": json.dumps({"query": "SELECT count(*) FROM Genre"})},
        ]),
        Completion(text="", tool_calls=[{"id": "c", "name": "sql", "arguments": json.dumps({"query": "DROP TABLE Genre"})}]),
        "The product is 391 and there are 25 genres, as the response says. Score: 10",
    ]
    backend = ScriptedBackend(lambda m, p: replies.pop(0))
    backend.mode = "chat"
    judge = PointwiseJudge(client=backend, tools=["calculator", {"sql": {"database": chinook}}])
    try:
        judgment = judge.score([Sample(prompt="17*23, and how many genres?", response="391; 25 genres")])[0]
    finally:
        judge.close_tools()
    assert judgment.score == 1.0
    turns = judgment.details["tools"]["turns"]
    assert [c["answer"] for c in turns[0]["calls"]] == ["391", "1 row\ncount(*)\n25"]
    refused = turns[1]["calls"][0]
    assert refused["error"] is True and refused["answer"].startswith("error: refused: refused by the read-only policy")
    declared = {t["function"]["name"]: t["function"]["parameters"]["required"] for t in backend.calls[0][1]["tools"]}
    assert declared == {"calculator": ["expression"], "sql": ["query"]}
