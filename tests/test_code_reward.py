"""The ``code`` reward on real programs in the real sandbox: HumanEval's canonical solutions
(164/164), wrong programs failing for the right reason, stdin/stdout and pytest suites,
every scoring mode, and the line between a score (the program's fault) and a failure (the
tests' or the sandbox's fault). The trainer adapters and the server carry it unchanged."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket

import pytest

from assay.registry import reward_class
from assay.rewards.code.extract import extract_program
from assay.rewards.code.reward import CodeReward
from assay.sandbox import backends
from assay.types import Sample

ISOLATED = [name for name in ("bwrap", "unshare") if not isinstance(backends._probe(backends.BACKENDS[name]()), str)]
pytestmark = pytest.mark.skipif(not ISOLATED, reason="no isolating sandbox backend here (install bubblewrap: bash scripts/setup.sh as root)")
needs_gpp = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


def fenced(code: str, language: str = "python") -> str:
    return f"Here is my solution.\n```{language}\n{code}\n```\n"


@pytest.fixture(scope="module")
def humaneval(request):
    data_dir = request.getfixturevalue("data_dir")
    with gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt") as handle:
        return [json.loads(line) for line in handle]


def he_sample(problem: dict, body: str) -> Sample:
    return Sample(prompt=problem["prompt"], response=fenced(problem["prompt"] + body),
                  reference={"test": problem["test"], "entry_point": problem["entry_point"]})


# --- HumanEval -------------------------------------------------------------------------------
def test_humaneval_canonical_solutions_pass_164_of_164(humaneval):
    reward = reward_class("code")()
    judgments = reward.score([he_sample(p, p["canonical_solution"]) for p in humaneval])
    failed = [(p["task_id"], j.rationale) for p, j in zip(humaneval, judgments) if j.score != 1.0]
    assert len(humaneval) == 164 and failed == []
    assert judgments[0].rationale == "1 of 1 tests passed"


def test_humaneval_wrong_programs_fail_for_the_right_reason(humaneval):
    first, second = humaneval[0], humaneval[1]
    cases = [
        # another problem's solution: its body refers to names this function does not have
        (second["canonical_solution"], "NameError"),
        ("    pass\n", "AssertionError"),  # an empty body returns None
        ("    while True:\n        pass\n", "time limit exceeded"),
        ("    raise ValueError('boom')\n", "ValueError (solution.py line"),
        ("    import sys\n    sys.exit(0)\n", "SystemExit"),  # exit 0 before the tests is not a pass
        ("    return (\n", "SyntaxError"),
    ]
    reward = CodeReward(timeout_seconds=2)
    judgments = reward.score([he_sample(first, body) for body, _ in cases])
    for (body, reason), judgment in zip(cases, judgments):
        assert judgment.ok and judgment.score == 0.0, (body, judgment)
        assert reason in judgment.rationale, (reason, judgment.rationale)


def test_an_exit_before_the_tests_run_is_not_a_pass():
    tests = {"test_list": ["assert f() == 1"]}
    program = "import os\ndef f():\n    return 2\nos._exit(0)"
    judgment = CodeReward().score([Sample(response=fenced(program), reference=tests)])[0]
    assert judgment.score == 0.0 and "did not finish loading" in judgment.rationale


# --- assert-style (MBPP) ---------------------------------------------------------------------
MBPP = {"test_list": ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, 1) == 0"], "test_setup_code": "OFFSET = 0"}


@pytest.mark.parametrize("scoring, program, score", [
    ("fraction", "def add(a, b):\n    return a + b", 1.0),
    ("fraction", "def add(a, b):\n    return 3 if a == 1 else a * b", 1 / 3),  # passes only the first test... and add(2,2)
    ("all", "def add(a, b):\n    return 3 if a == 1 else a * b", 0.0),
    ("first_failure", "def add(a, b):\n    return 3 if a == 1 else a * b", 2 / 3),
])
def test_mbpp_style_scoring_modes(scoring, program, score):
    judgment = CodeReward(scoring=scoring).score([Sample(response=fenced(program), reference=MBPP)])[0]
    expected = {"fraction": 2 / 3 if "a * b" in program else 1.0}.get(scoring, score)
    assert judgment.score == pytest.approx(expected)
    if judgment.score < 1:
        assert "assert add(-1, 1) == 0 -> AssertionError" in judgment.rationale


def test_the_tests_own_setup_failing_is_a_typed_failure_not_a_zero():
    program = fenced("def add(a, b):\n    return a + b")
    missing = {"test_list": ["assert add(1, 2) == 3"], "test_imports": ["import package_the_sandbox_lacks"]}
    broken = {"test_list": ["assert add(1, 2) == 3"], "test_setup_code": "1 / 0"}
    no_import, bad_setup = CodeReward().score([Sample(response=program, reference=missing), Sample(response=program, reference=broken)])
    assert no_import.score is None and no_import.failure.kind == "backend" and "package_the_sandbox_lacks" in no_import.rationale
    assert bad_setup.score is None and bad_setup.failure.kind == "input" and "ZeroDivisionError" in bad_setup.rationale
    # the program's own import error is still the program's fault: a 0
    own = CodeReward().score([Sample(response=fenced("import package_the_sandbox_lacks\ndef add(a, b):\n    return a + b"), reference=missing)])[0]
    assert own.ok and own.score == 0.0 and "before any test" in own.rationale


# --- stdin/stdout ----------------------------------------------------------------------------
SUM_CASES = [{"input": f"{a} {b}\n", "output": f"{a + b}\n"} for a, b in [(1, 2), (10, 20), (-5, 5), (7, 0)]]


def test_stdio_cases_right_wrong_and_crashing():
    reward = CodeReward()
    right = "a, b = map(int, input().split())\nprint(a + b)"
    wrong = "a, b = map(int, input().split())\nprint(a + b if a > 0 else 99)"
    crash = "a, b = map(int, input().split())\nprint(a + b if a != 10 else 1 // 0)"
    judgments = reward.score([Sample(response=fenced(p), reference=SUM_CASES) for p in (right, wrong, crash)])
    assert [j.score for j in judgments] == [1.0, 0.75, 0.75]
    assert "case 2: input '-5 5\\n', expected '0\\n', got '99\\n'" in judgments[1].rationale
    assert "case 1 (input '10 20\\n'): ZeroDivisionError at line 2" in judgments[2].rationale
    assert judgments[0].details == {"passed": 4, "total": 4, "tests": [{"passed": True}] * 4}


def test_stdio_time_and_memory_limits_are_named():
    reward = CodeReward(timeout_seconds=1, memory_mb=128, scoring="all")
    slow = "while True: pass"
    hungry = "x = bytearray(1 << 31)"
    judgments = reward.score([Sample(response=fenced(p), reference=SUM_CASES) for p in (slow, hungry)])
    assert judgments[0].score == 0.0 and "time limit exceeded" in judgments[0].rationale
    assert judgments[1].score == 0.0 and "memory limit exceeded" in judgments[1].rationale
    assert judgments[0].details["tests"][1]["reason"] == "not run (an earlier case failed)"


@pytest.mark.parametrize("options, output, passes", [
    ({}, "3 \n\n", True),  # tokens: trailing space and blank lines do not matter
    ({}, "3\n4", False),
    ({"compare": "lines"}, "1 2  \n3\n\n", True),
    ({"compare": "lines"}, "1 2 3\n", False),
    ({"compare": "exact"}, "1 2\n3", False),
    ({"float_tolerance": 1e-6}, "0.3333333\n", True),
    ({}, "0.3333333\n", False),
    ({"case_sensitive": False}, "yes\n", True),
])
def test_output_comparison_options(options, output, passes):
    expected = {"tokens": "3", "lines": "1 2\n3", "exact": "1 2\n3\n"}[options.get("compare", "tokens")]
    if "float_tolerance" in options or output.startswith("0.33"):
        expected = "0.333333333"
    if "case_sensitive" in options:
        expected = "YES"
    program = f"import sys\nsys.stdout.write({output!r})"
    judgment = CodeReward(**options).score([Sample(response=fenced(program), reference=[{"input": "", "output": expected}])])[0]
    assert judgment.score == (1.0 if passes else 0.0), judgment.rationale


def test_apps_style_inputs_outputs_from_a_named_field():
    tests = json.dumps({"inputs": ["3\n", "5\n"], "outputs": ["6\n", "10\n"]})
    sample = Sample(response=fenced("print(int(input()) * 2)"), reference="ignored", extra={"input_output": tests})
    assert CodeReward(tests_field="input_output").score([sample])[0].score == 1.0


@needs_gpp
def test_cpp_stdio_and_compile_errors():
    right = "#include <iostream>\nint main(){long a,b; std::cin>>a>>b; std::cout<<a+b<<std::endl;}"
    broken = "#include <iostream>\nint main(){ std::cout << undefined_name; }"
    judgments = CodeReward().score([Sample(response=fenced(p, "cpp"), reference=SUM_CASES) for p in (right, broken)])
    assert judgments[0].score == 1.0, judgments[0].rationale
    assert judgments[1].score == 0.0 and judgments[1].rationale.startswith("compile error:") and "undefined_name" in judgments[1].rationale


# --- pytest files ----------------------------------------------------------------------------
PYTEST_FILE = """
from solution import slugify

def test_lower():
    assert slugify("Hello") == "hello"

def test_spaces():
    assert slugify("a b  c") == "a-b-c"

class TestEdges:
    def test_empty(self):
        assert slugify("") == ""
"""


def _pytest_visible_in_sandbox() -> bool:
    from assay.sandbox.backends import others_can_read

    return os.geteuid() != 0 or others_can_read(os.path.dirname(os.path.dirname(pytest.__file__)))


NEEDS_VISIBLE_PYTEST = pytest.mark.skipif(
    not _pytest_visible_in_sandbox(),
    reason="this checkout's venv lies below a folder others cannot enter (mode 700): the sandbox user cannot read its pytest; "
           "test_pytest_hidden_from_the_sandbox_is_a_backend_failure covers this case")


@NEEDS_VISIBLE_PYTEST
def test_pytest_files_count_each_test():
    reward = CodeReward()
    right = "def slugify(text):\n    return '-'.join(text.lower().split())"
    partial = "def slugify(text):\n    return text.lower().replace(' ', '-')"
    judgments = reward.score([Sample(response=fenced(p), reference={"pytest": PYTEST_FILE}) for p in (right, partial)])
    assert judgments[0].score == 1.0, judgments[0].rationale
    assert judgments[1].score == pytest.approx(2 / 3) and "test_spaces failed" in judgments[1].rationale


@NEEDS_VISIBLE_PYTEST
def test_a_pytest_file_against_a_broken_program_scores_zero():
    judgment = CodeReward().score([Sample(response=fenced("def slugify(:"), reference={"pytest": PYTEST_FILE})])[0]
    assert judgment.score == 0.0 and "SyntaxError" in judgment.rationale


# --- what is a failure, not a score ------------------------------------------------------------
@pytest.mark.parametrize("reference, message", [
    (None, "no tests"),
    ([{"input": "1"}], "needs 'input' and 'output'"),
    ({"test_list": ["assert f(1) =="]}, "syntax error"),
    ("[not json", "do not parse"),
    ({"something": 1}, "cannot read the tests"),
    ({"pytest": "def test_x(:\n    pass"}, "the pytest file has a syntax error"),
    ({"inputs": ["1"], "outputs": []}, "same length"),
])
def test_malformed_tests_are_input_failures(reference, message):
    judgment = CodeReward().score([Sample(response=fenced("print(1)"), reference=reference)])[0]
    assert judgment.score is None and judgment.failure.kind == "input" and message in judgment.rationale


def test_a_missing_tests_field_is_an_input_failure():
    judgment = CodeReward(tests_field="tests").score([Sample(response=fenced("print(1)"))])[0]
    assert judgment.failure.kind == "input" and "no field 'tests'" in judgment.rationale


def test_no_program_in_the_response_scores_zero_and_says_so():
    judgment = CodeReward().score([Sample(response="I think the answer is to add them.", reference=SUM_CASES)])[0]
    assert judgment.score == 0.0 and "no program found" in judgment.rationale


def test_a_sandbox_that_is_down_is_a_backend_failure_never_a_zero():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reward = CodeReward(backend="remote", url=f"http://127.0.0.1:{port}")
    judgment = reward.score([Sample(response=fenced("print(3)"), reference=SUM_CASES)])[0]
    assert judgment.score is None and judgment.failure.kind == "backend" and "not answering" in judgment.rationale


def test_no_isolating_backend_is_a_backend_failure_that_says_how_to_install_one(monkeypatch):
    monkeypatch.setattr(backends, "local_backend", backends.local_backend.__wrapped__)
    monkeypatch.setattr(backends, "_checked", {})
    monkeypatch.setattr(backends, "_probe", lambda backend: f"{backend.name} is not installed")
    judgment = CodeReward().score([Sample(response=fenced("print(3)"), reference=SUM_CASES)])[0]
    assert judgment.failure.kind == "backend" and "apt-get install bubblewrap" in judgment.rationale


def test_the_remote_backend_scores_like_the_local_one():
    from assay.sandbox.server import serve_in_thread

    server, url = serve_in_thread()
    try:
        programs = ["a, b = map(int, input().split())\nprint(a + b)", "print(-1)"]
        samples = [Sample(response=fenced(p), reference=SUM_CASES) for p in programs]
        remote = [j.score for j in CodeReward(backend="remote", url=url).score(samples)]
        assert remote == [j.score for j in CodeReward().score(samples)] == [1.0, 0.0]
    finally:
        server.shutdown()


# --- extraction ----------------------------------------------------------------------------------
def test_extraction_options():
    text = "<think>```python\nprint('draft')\n```</think>\n```python\nprint(1)\n```\n```text\nnot code\n```"
    assert extract_program(text).code == "not code\n"
    assert extract_program(text, block_language="python").code == "print(1)\n"
    assert extract_program("<code>print(2)</code>", mode="tag").code == "print(2)"
    assert extract_program("print(3)", mode="whole").code == "print(3)"
    assert extract_program("```python\nprint(4)\n").code == "print(4)\n"  # cut off inside the block
    prompt_sample = Sample(prompt="def f():\n", response="```python\n    return 5\n```", reference={"test_list": ["assert f() == 5"]})
    assert CodeReward(prepend_field="prompt").score([prompt_sample])[0].score == 1.0


# --- the adapters carry it unchanged -----------------------------------------------------------------
CONFIG = {"rewards": {"code": {"type": "code", "timeout_seconds": 2}}}
RIGHT = fenced("a, b = map(int, input().split())\nprint(a + b)")
WRONG = fenced("print(-1)")


def test_trl_adapter(tmp_path):
    from assay.integrations import trl

    path = tmp_path / "rewards.json"
    path.write_text(json.dumps(CONFIG))
    funcs, weights = trl.reward_funcs(path, reference_column="tests")
    out = funcs[0](prompts=["add", "add"], completions=[RIGHT, WRONG], completion_ids=[[1], [2]], tests=[SUM_CASES, SUM_CASES])
    assert out == [1.0, 0.0] and weights == [1.0]


def test_verl_adapter(tmp_path):
    from assay.integrations import verl

    path = tmp_path / "rewards.json"
    path.write_text(json.dumps(CONFIG))
    right = verl.compute_score("codecontests", RIGHT, SUM_CASES, config=str(path))
    wrong = verl.compute_score("codecontests", WRONG, SUM_CASES, config=str(path))
    assert right["score"] == 1.0 and wrong["score"] == 0.0


def test_server_adapter():
    pytest.importorskip("fastapi")
    import httpx

    from assay.serve.runner import ServerThread

    with ServerThread(CONFIG) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.post("/v1/score", json={"samples": [{"response": RIGHT, "reference": SUM_CASES}, {"response": WRONG, "reference": SUM_CASES}]})
        judgments = response.json()["judgments"]
        assert [j["score"] for j in judgments] == [1.0, 0.0]
        assert "first failure" in judgments[1]["details"]["code"]["rationale"]


def test_pytests_installation_is_mounted_only_for_pytest_tests():
    import os

    import pytest as installed

    site = os.path.dirname(os.path.dirname(installed.__file__))
    program = f"import os\nprint(os.path.exists({site!r}))"
    judgment = CodeReward().score([Sample(response=fenced(program), reference=[{"input": "", "output": "False"}])])[0]
    assert judgment.score == 1.0, judgment.rationale


@NEEDS_VISIBLE_PYTEST
def test_a_pytest_file_that_collects_no_test_is_an_input_failure():
    """pytest exit 5 (nothing collected) says the tests are empty, not that the program is wrong."""
    [judgment] = CodeReward().score([Sample(response=fenced("def slugify(t):\n    return t"), reference={"pytest": "from solution import slugify\n"})])
    assert judgment.score is None and judgment.failure.kind == "input" and "collected no test" in judgment.rationale


@pytest.mark.skipif(_pytest_visible_in_sandbox(), reason="pytest is readable by the sandbox user here: the hidden case does not arise")
def test_pytest_hidden_from_the_sandbox_is_a_backend_failure():
    [judgment] = CodeReward().score([Sample(response=fenced("def slugify(t):\n    return t"), reference={"pytest": PYTEST_FILE})])
    assert judgment.score is None and judgment.failure.kind == "backend" and "cannot read it" in judgment.rationale
