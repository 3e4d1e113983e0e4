"""``assay reward-gen``'s parts: the static checks, the labelled examples, the agreement
figures, and the loop's control flow with a scripted model (poor code, a syntax error, a
forbidden import, hostile code that passes the checks and is contained by the real sandbox, a
correct function passed in and kept as best, a model that is down). The code the scripted
model writes runs in the real sandbox; only the model is scripted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scripted_backend import ScriptedBackend, user_text

from assay.backends.base import BackendError
from assay.backends.settings import BackendOptions
from assay.files.jsonl import InputError
from assay.rewardgen.agreement import agreement
from assay.rewardgen.checks import check
from assay.rewardgen.examples import read_examples
from assay.rewardgen.loop import extract_code, generate
from assay.rewardgen.provenance import read_provenance, save
from assay.rewards.function import ImportedFunction, SandboxedFunctionReward
from assay.sandbox import backends
from assay.types import Sample

REPO = Path(__file__).resolve().parents[1]
ISOLATED = [name for name in ("bwrap", "unshare") if not isinstance(backends._probe(backends.BACKENDS[name]()), str)]
needs_sandbox = pytest.mark.skipif(not ISOLATED, reason="no isolating sandbox backend here (install bubblewrap: bash scripts/setup.sh as root)")

TASK = "reward responses that end with a question to the user"
ROWS = [
    {"prompt": "Plan my trip", "response": "Where would you like to go?", "label": True},
    {"prompt": "Plan my trip", "response": "Go to Rome.", "label": False},
    {"prompt": "Fix my code", "response": "Which error do you see?", "label": True},
    {"prompt": "Fix my code", "response": "Add a semicolon.", "label": False},
    {"prompt": "Cook dinner", "response": "Pasta is quick. Do you have tomatoes?", "label": True},
    {"prompt": "Cook dinner", "response": "Is pasta fine? Make pasta.", "label": False},
    {"prompt": "Name a colour", "response": "Blue", "label": False},
    {"prompt": "Help me write", "response": "What is the topic?  ", "label": True},
]
CORRECT = "def reward(response, reference=None, **fields):\n    return float(response.strip().endswith('?')), 'ends with a question mark'\n"
POOR = "def reward(response, reference=None, **fields):\n    return float('?' in response)\n"  # a question anywhere: 7 of 8
CONSTANT = "def reward(response, **fields):\n    return 1.0\n"


def fenced(code: str) -> str:
    return f"Here is the function.\n```python\n{code}```\nIt checks the ending."


@pytest.fixture
def examples(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return read_examples(path)


def scripted(*replies):
    """A backend answering the k-th call with the k-th reply (the last one again after that)."""
    return ScriptedBackend(lambda messages, params, _r=list(replies): _r.pop(0) if len(_r) > 1 else _r[0])


# --- static checks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("code, words", [
    ("import os\ndef reward(response):\n    return 1.0\n", "import of 'os'"),
    ("from subprocess import run\ndef reward(response):\n    return 1.0\n", "import of 'subprocess'"),
    ("from . import x\ndef reward(response):\n    return 1.0\n", "import of '.'"),
    ("def reward(response):\n    return len(open('/etc/passwd').read())\n", "name 'open'"),
    ("def reward(response):\n    return eval(response)\n", "name 'eval'"),
    ("def reward(response):\n    return __import__('os').system('id')\n", "name '__import__'"),
    ("def reward(response):\n    return ().__class__.__bases__[0].__subclasses__()\n", "attribute '__class__'"),
    ("def reward(response):\n    return getattr(response, 'upper')()\n", "name 'getattr'"),
    ("import json\ndef reward(response):\n    return json.codecs.open('x')\n", "attribute 'open'"),
    ("def reward(response):\n    return (lambda: 0).__globals__\n", "attribute '__globals__'"),
    ("def reward(response:\n    return 1\n", "syntax error"),
    ("def score(response):\n    return 1.0\n", "no top-level function named 'reward'"),
])
def test_the_static_check_refuses_with_a_line_and_a_reason(code, words):
    problems = check(code)
    assert any(words in p for p in problems), problems


def test_the_static_check_accepts_plain_standard_library_code():
    code = "import re\nfrom collections import Counter\nimport math\n\ndef reward(response, reference=None, **fields):\n" \
           "    words = Counter(re.findall(r'\\w+', response))\n    return 1 - math.exp(-len(words)), f'{len(words)} words'\n"
    assert check(code) == []
    assert check(CORRECT) == []


def test_code_is_taken_from_the_fence_that_defines_reward():
    reply = "```python\ndef reward(response):\n    return 1.0\n```\nUsage:\n```python\nprint(reward('x'))\n```"
    assert extract_code(reply).startswith("def reward")
    assert extract_code("```python\ndef reward(r):\n    return 0.5\n").startswith("def reward")  # cut before the closing fence
    assert extract_code("def reward(r): return 1") == "def reward(r): return 1"


# --- examples and agreement --------------------------------------------------------------------------
def test_examples_are_read_and_the_label_is_hidden_from_the_function(examples):
    assert examples.kind == "binary" and len(examples.items) == 8
    assert all("label" not in e.sample.fields() for e in examples.items)
    assert examples.labels[:2] == [1.0, 0.0]


@pytest.mark.parametrize("rows, words", [
    ([{"response": "a"}, {"response": "b", "label": 1}], "bad.jsonl:1: field 'label': missing"),
    ([{"response": "a", "label": "yes"}, {"response": "b", "label": 1}], "bad.jsonl:1: field 'label': expected a boolean"),
    ([{"response": "a", "label": True}, {"response": "b", "label": True}], "every example has the same label"),
    ([{"response": "a", "label": True}], "at least 2"),
    ([{"prompt": "p", "label": True}], "field 'response': missing"),
])
def test_bad_example_files_name_the_file_line_and_field(tmp_path, rows, words):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=words):
        read_examples(path)


def test_graded_labels_use_pairwise_accuracy_and_a_score_field(tmp_path):
    path = tmp_path / "graded.jsonl"
    path.write_text("".join(json.dumps({"response": r, "score": s}) + "\n" for r, s in [("a", 0.1), ("bb", 0.5), ("ccc", 0.9)]))
    examples = read_examples(path)
    assert examples.kind == "graded"
    assert agreement(examples.labels, [1.0, 2.0, 3.0], "graded").value == 1.0
    assert agreement(examples.labels, [3.0, 2.0, 1.0], "graded").value == 0.0
    assert agreement(examples.labels, [1.0, 1.0, 1.0], "graded").value == 0.5  # constant: chance
    assert agreement(examples.labels, [1.0, 2.0, 3.0], "graded").spearman == pytest.approx(1.0)


def test_a_failure_never_agrees_by_accident():
    labels = [1.0, 0.0, 1.0, 0.0]
    assert agreement(labels, [1.0, 0.0, 1.0, 0.0], "binary").value == 1.0
    assert agreement(labels, [1.0, None, 1.0, None], "binary").value == 0.5  # the two "0" labels were not called 0
    assert agreement(labels, [None] * 4, "binary").value == 0.0
    assert agreement([3.0, 2.0, 1.0], [None, 2.0, 1.0], "graded").value == pytest.approx(1 / 3)


# --- the loop, with a scripted model and the real sandbox ------------------------------------------
@needs_sandbox
def test_poor_code_then_a_correct_function_then_worse_keeps_the_correct_one(examples):
    backend = scripted(fenced(POOR), fenced(CORRECT), fenced(CONSTANT))
    result = generate(TASK, examples, backend, BackendOptions(), rounds=3)
    # rounds 1 and 2 only: agreement 1.0 in round 2 ends the loop
    assert [c.round for c in result.candidates] == [1, 2]
    assert result.candidates[0].agreement.value == pytest.approx(7 / 8)
    assert result.best is result.candidates[1] and result.best.agreement.value == 1.0
    second_prompt = user_text(backend.calls[1][0])
    assert "accuracy 0.875" in second_prompt and "Is pasta fine? Make pasta." in second_prompt  # what it got wrong, fed back
    assert "float('?' in response)" in second_prompt  # and its code


@needs_sandbox
def test_a_worse_later_round_does_not_replace_the_best(examples):
    backend = scripted(fenced(POOR), fenced(CONSTANT), fenced(CONSTANT))
    result = generate(TASK, examples, backend, BackendOptions(), rounds=3)
    assert len(result.candidates) == 3
    assert [round(c.agreement.value, 3) for c in result.candidates] == [0.875, 0.5, 0.5]
    assert result.best.round == 1
    assert "The best function so far (round 1) has accuracy 0.875" in user_text(backend.calls[2][0])


@needs_sandbox
def test_a_syntax_error_and_a_forbidden_import_are_refused_reported_and_fed_back(examples):
    broken = "def reward(response:\n    return 1\n"
    forbidden = "import os\ndef reward(response, **fields):\n    os.system('touch /tmp/pwned')\n    return 1.0\n"
    backend = scripted(fenced(broken), fenced(forbidden), fenced(POOR))
    result = generate(TASK, examples, backend, BackendOptions(), rounds=3)
    first, second, third = result.candidates
    assert first.status == "refused" and "syntax error" in first.problems[0] and first.judgments == [] and first.agreement is None
    assert second.status == "refused" and any("import of 'os'" in p for p in second.problems) and second.judgments == []
    assert "It was refused before running, because:" in user_text(backend.calls[1][0]) and "syntax error" in user_text(backend.calls[1][0])
    assert "import of 'os'" in user_text(backend.calls[2][0])
    assert result.best is third
    assert "refused before running" in result.table()


@needs_sandbox
def test_hostile_code_that_passes_the_checks_is_contained_and_scored_as_failures(examples):
    loop = "def reward(response, **fields):\n    while True:\n        pass\n"
    bomb = "def reward(response, **fields):\n    x = 'x' * (8 * 1024 ** 3)\n    return 1.0\n"
    flood = "def reward(response, **fields):\n    for _ in range(10 ** 9):\n        print('x' * 100000)\n    return 1.0\n"
    assert check(loop) == check(bomb) == check(flood) == []
    backend = scripted(fenced(loop), fenced(bomb), fenced(flood))
    result = generate(TASK, examples, backend, BackendOptions(), rounds=3, timeout_seconds=1)
    loop_c, bomb_c, flood_c = result.candidates
    assert [j.failure.kind for j in loop_c.judgments] == ["timeout"] * 8 and loop_c.agreement.value == 0.0
    assert all(j.failure.kind == "internal" and "MemoryError" in j.rationale for j in bomb_c.judgments)
    assert all(j.score is None and j.failure is not None for j in flood_c.judgments)
    assert {j.failure.kind for j in flood_c.judgments} <= {"internal", "timeout"}
    assert "failures: 8 timeout" in loop_c.summary()
    assert "it failed (timeout)" in user_text(backend.calls[1][0])
    best = result.best
    assert best is loop_c and best.agreement.value == 0.0  # kept only because nothing scored better; the file says so


@needs_sandbox
def test_a_correct_function_passed_in_is_kept_when_the_model_does_worse(examples):
    backend = scripted(fenced(POOR), "I cannot write code.", fenced(CONSTANT))
    result = generate(TASK, examples, backend, BackendOptions(), rounds=3, starts=[("known_good.py", CORRECT)])
    start = result.candidates[0]
    assert start.round == 0 and start.origin == "start: known_good.py" and start.agreement.value == 1.0
    assert result.best is start and len(result.candidates) == 1 and backend.calls == []  # 1.0 already: no round needed
    backend = scripted(fenced(POOR), "I cannot write code.", fenced(CONSTANT))
    result = generate(TASK, examples, backend, BackendOptions(), rounds=3, starts=[("almost.py", POOR)])
    assert "a function to improve on" in user_text(backend.calls[0][0])
    assert result.best.origin == "start: almost.py"  # round 1 ties it (0.875): the earlier is kept
    assert result.candidates[2].status == "refused"  # "I cannot write code." is no code


@needs_sandbox
def test_a_model_that_is_down_ends_the_loop_and_is_reported(examples):
    backend = ScriptedBackend(lambda messages, params: BackendError("connection refused"))
    result = generate(TASK, examples, backend, BackendOptions(), rounds=3, starts=[("mine.py", POOR)])
    assert [c.status for c in result.candidates] == ["ran", "model call failed"] and len(backend.calls) == 1
    assert "connection refused" in result.candidates[1].summary()
    assert result.best.origin == "start: mine.py"


@needs_sandbox
def test_the_saved_file_carries_its_provenance_and_loads_as_a_sandboxed_function(examples, tmp_path):
    result = generate(TASK, examples, scripted(fenced(CORRECT)), BackendOptions(), rounds=2)
    out = tmp_path / "reward.py"
    save(out, result.best.source, result.provenance("abc123"))
    provenance = read_provenance(out)
    assert provenance["task"] == TASK and provenance["model"] == "scripted" and provenance["agreement"] == 1.0
    assert provenance["best_round"] == 1 and provenance["rounds"] == 2 and provenance["examples_sha256"] == "abc123"
    text = out.read_text()
    assert text.startswith("# Reward function written by `assay reward-gen`") and "sandbox: true" in text.splitlines()[1]
    assert check(text) == []
    reward = ImportedFunction(name="generated", path=f"{out}:reward", sandbox=True)
    assert isinstance(reward, SandboxedFunctionReward)
    scores = [j.score for j in reward.score([Sample(response="Really?"), Sample(response="No.")])]
    assert scores == [1.0, 0.0]


@needs_sandbox
def test_the_command_saves_a_start_function_when_the_model_is_down(examples, tmp_path):
    """The CLI end to end without a model: a config whose judge points at a closed port, a
    known-good start file: the start is scored, the failed model call reported, the start saved."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "judge.yaml"
    config.write_text(f"rewards:\n  judge: {{type: judge, base_url: 'http://127.0.0.1:{port}/v1', model: nobody, retries: 0, timeout: 5}}\n")
    start = tmp_path / "known_good.py"
    start.write_text(CORRECT)
    out = tmp_path / "reward.py"
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "assay", "reward-gen", "--task", TASK, "--examples", examples.source, "--config", str(config),
                           "--start", str(start), "--rounds", "2", "--output", str(out), "--report", str(report)],
                          capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "start: " in done.stdout and "1.000" in done.stdout
    assert read_provenance(out)["origin"].startswith("start: ")
    data = json.loads(report.read_text())
    assert [c["status"] for c in data["candidates"]] == ["ran"]  # 1.0 at round 0: the model is never asked


def test_the_command_refuses_bad_input_with_exit_status_2(tmp_path):
    config = tmp_path / "judge.yaml"
    config.write_text("rewards:\n  em: {type: exact_match}\n")
    examples = tmp_path / "labelled.jsonl"
    examples.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    done = subprocess.run([sys.executable, "-m", "assay", "reward-gen", "--task", TASK, "--examples", str(examples), "--config", str(config),
                           "--output", str(tmp_path / "r.py")], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 2 and "sets backend settings" in done.stderr
    assert not (tmp_path / "r.py").exists()
