"""``{type: function, sandbox: true}``: the user's function run in the real sandbox. The
hostile-program suite of the code reward (tests/test_sandbox_hostile.py), run again as reward
functions: network, writes outside /tmp, the caller's environment and home, fork and memory
bombs, an infinite loop, a gigabyte of output, children that try to outlive the run. Each
attack is contained and comes back as a score that says what the function saw, or as a
typed failure naming the limit, never as a number made up for it. Plus the plain outcomes:
scores, rationales, abstentions, exceptions, garbage, and the sandbox being down.
"""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path

import pytest
from test_sandbox_hostile import host_processes_with

from assay.compose.load import load_reward
from assay.rewards.function import ImportedFunction, SandboxedFunctionReward
from assay.sandbox import backends
from assay.spec import ConfigError
from assay.types import Sample

REPO = Path(__file__).resolve().parents[1]
ISOLATED = [name for name in ("bwrap", "unshare") if not isinstance(backends._probe(backends.BACKENDS[name]()), str)]
pytestmark = pytest.mark.skipif(not ISOLATED, reason="no isolating sandbox backend here (install bubblewrap: bash scripts/setup.sh as root)")
SAMPLE = Sample(response="Paris", reference="Paris")


@pytest.fixture(params=ISOLATED or ["none"])
def backend(request) -> str:
    return request.param


def sandboxed(tmp_path: Path, source: str, name: str = "reward", **options):
    file = tmp_path / f"fn_{secrets.token_hex(4)}.py"
    file.write_text(source)
    return ImportedFunction(name="fn", path=f"{file}:{name}", sandbox=True, **options)


def one(reward, sample: Sample = SAMPLE):
    return reward.score([sample])[0]


# --- the plain outcomes ---------------------------------------------------------------------------
def test_scores_rationales_and_abstentions_come_back(tmp_path):
    source = """
def reward(response, reference=None, **fields):
    print("a debug line")  # goes to stderr, never mistaken for the result
    if fields.get("skip"):
        return None
    if response == reference:
        return 1.0, "matches the reference"
    return 0.25
"""
    reward = sandboxed(tmp_path, source)
    assert isinstance(reward, SandboxedFunctionReward)
    out = reward.score([SAMPLE, Sample(response="Lyon", reference="Paris"), Sample(response="x", extra={"skip": True})])
    assert [j.score for j in out] == [1.0, 0.25, None]
    assert out[0].rationale == "matches the reference" and out[0].failure is None
    assert "returned 0.25" in out[1].rationale
    assert out[2].failure is None and "abstained" in out[2].rationale
    assert out[0].meta["backend"] in ISOLATED


def test_only_named_fields_are_passed(tmp_path):
    reward = sandboxed(tmp_path, "def reward(response, prompt):\n    return float(len(prompt))\n")
    assert one(reward, Sample(prompt="four", response="x")).score == 4.0


def test_a_config_entry_with_sandbox_true_builds_the_sandboxed_reward(tmp_path):
    (tmp_path / "mine.py").write_text("def reward(response, reference=None):\n    return float(response == reference)\n")
    reward = load_reward({"rewards": {"mine": {"type": "function", "path": str(tmp_path / "mine.py") + ":reward", "sandbox": True}}})
    assert reward.score([SAMPLE])[0].score == 1.0


@pytest.mark.parametrize("source, name, kind, words", [
    ("def reward(response):\n    raise ValueError('bad input')\n", "reward", "internal", "raised ValueError at line 2: bad input"),
    ("def reward(response):\n    return 'high'\n", "reward", "parse", "expected a number"),
    ("def reward(response):\n    return float('nan')\n", "reward", "parse", "expected a number"),
    ("def reward(response):\n    return [1, 2, 3]\n", "reward", "parse", "expected a number"),
    ("def reward(response):\n    import sys\n    sys.exit(3)\n", "reward", "internal", "raised SystemExit"),
    ("def reward(response):\n    import os\n    os._exit(0)\n", "reward", "internal", "ended its process before returning"),
    ("def reward(response):\n    import os\n    os.kill(os.getpid(), 9)\n", "reward", "internal", "crashed"),
    ("import json\nraise RuntimeError('at import')\ndef reward(response):\n    return 1.0\n", "reward", "internal", "could not be loaded in the sandbox: RuntimeError at line 2"),
    ("reward = 3\n", "reward", "internal", "could not be loaded in the sandbox: TypeError"),
])
def test_the_functions_own_failures_are_typed_never_a_score(tmp_path, source, name, kind, words):
    judgment = one(sandboxed(tmp_path, source, name))
    assert judgment.score is None and judgment.failure.kind == kind, judgment
    assert words in judgment.rationale


def test_garbage_on_the_result_channel_is_a_parse_failure(tmp_path):
    source = """
import os
def reward(response):
    for fd in range(3, 20):
        try:
            os.write(fd, b"garbage\\n")
        except OSError:
            pass
    return 1.0
"""
    judgment = one(sandboxed(tmp_path, source))
    assert judgment.score is None and judgment.failure.kind == "parse" and "could not be read" in judgment.rationale


def test_a_syntax_error_or_a_missing_name_is_a_config_error_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="syntax error at line 1"):
        sandboxed(tmp_path, "def reward(response:\n    return 1\n")
    with pytest.raises(ConfigError, match="defines no top-level 'score'"):
        sandboxed(tmp_path, "def reward(response):\n    return 1\n", name="score")
    with pytest.raises(ConfigError, match="not found"):
        ImportedFunction(name="fn", path=str(tmp_path / "absent.py") + ":reward", sandbox=True)


def test_sandbox_options_without_sandbox_and_module_paths_with_it_are_refused(tmp_path):
    with pytest.raises(ValueError, match="apply only with sandbox: true"):
        ImportedFunction(name="fn", path="os.path:join", timeout_seconds=3)
    with pytest.raises(ValueError, match="file.py:name"):
        ImportedFunction(name="fn", path="os.path:join", sandbox=True)


def test_the_file_is_never_imported_into_this_process(tmp_path):
    marker = tmp_path / "imported-here"
    source = f"open({str(marker)!r}, 'w').write('x')\ndef reward(response):\n    return 1.0\n"
    judgment = one(sandboxed(tmp_path, source))
    assert not marker.exists()  # the sandbox cannot write there, and assay never ran the file
    assert judgment.failure.kind == "internal" and "could not be loaded" in judgment.rationale


def test_the_snapshot_is_read_only_and_taken_when_the_reward_is_built(tmp_path):
    file = tmp_path / "mine.py"
    file.write_text("def reward(response):\n    try:\n        open(__file__, 'a').write('#')\n        return 1.0, 'WROTE'\n"
                    "    except OSError as error:\n        return 0.0, type(error).__name__\n")
    reward = ImportedFunction(name="fn", path=f"{file}:reward", sandbox=True)
    file.write_text("def reward(response):\n    return 99.0\n")  # edited after the build: not what runs
    judgment = one(reward)
    assert judgment.score == 0.0 and judgment.rationale in ("OSError", "PermissionError"), judgment


def test_no_isolating_backend_is_a_backend_failure_of_every_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "local_backend", backends.local_backend.__wrapped__)
    monkeypatch.setattr(backends, "_checked", {})
    monkeypatch.setattr(backends, "_probe", lambda backend: f"{backend.name} is not installed")
    out = sandboxed(tmp_path, "def reward(response):\n    return 1.0\n").score([SAMPLE, SAMPLE])
    assert [j.failure.kind for j in out] == ["backend", "backend"] and "apt-get install bubblewrap" in out[0].rationale


def test_batches_are_bounded_and_one_bad_sample_costs_only_itself(tmp_path):
    source = "def reward(response):\n    if response == 'loop':\n        while True:\n            pass\n    return float(len(response))\n"
    reward = sandboxed(tmp_path, source, timeout_seconds=1, batch_size=3)
    samples = [Sample(response=r) for r in ["a", "bb", "loop", "dddd", "eeeee", "loop", "g"]]
    started = time.monotonic()
    out = reward.score(samples)
    assert time.monotonic() - started < 30
    assert [j.score for j in out] == [1.0, 2.0, None, 4.0, 5.0, None, 1.0]
    assert [j.failure.kind for j in out if j.failure] == ["timeout", "timeout"]


# --- the hostile-program suite, as reward functions -----------------------------------------------
def test_no_network_not_even_a_listener_on_loopback(tmp_path, backend):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    source = f"""
import socket
def reward(response):
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2)
        return 1.0, "CONNECTED"
    except OSError as error:
        pass
    try:
        socket.getaddrinfo("pypi.org", 443)
        return 1.0, "RESOLVED"
    except OSError as error:
        return 0.0, "no network: " + type(error).__name__
"""
    judgment = one(sandboxed(tmp_path, source, backend=backend))
    assert judgment.score == 0.0 and judgment.rationale.startswith("no network"), judgment
    with pytest.raises(socket.timeout):
        listener.accept()
    listener.close()


@pytest.mark.parametrize("target", ["checkout", "home", "host_tmp", "usr"])
def test_writes_outside_the_private_tmp_fail(tmp_path, backend, target):
    name = f"assay-escape-{secrets.token_hex(4)}"
    folder = {"checkout": REPO, "home": Path.home(), "host_tmp": tmp_path, "usr": Path("/usr/local")}[target]
    path = folder / name
    source = f"""
def reward(response):
    open("/tmp/inside.txt", "w").write("fine")
    try:
        open({str(path)!r}, "w").write("escaped")
        return 1.0, "WROTE"
    except OSError as error:
        return 0.0, "denied: " + type(error).__name__ + " " + open("/tmp/inside.txt").read()
"""
    judgment = one(sandboxed(tmp_path, source, backend=backend))
    assert judgment.score == 0.0 and judgment.rationale.startswith("denied") and judgment.rationale.endswith("fine"), judgment
    assert not path.exists()


def test_the_callers_environment_home_and_checkout_are_not_visible(tmp_path, backend, monkeypatch):
    secret = secrets.token_hex(8)
    monkeypatch.setenv("ASSAY_TEST_SECRET", secret)
    home_file = Path.home() / f".assay-secret-{secret}"
    home_file.write_text(secret)
    source = f"""
import os
def reward(response):
    seen = []
    if {secret!r} in str(os.environ):
        seen.append("env")
    try:
        seen.append(open({str(home_file)!r}).read())
    except OSError:
        pass
    if os.path.exists({str(REPO / 'pyproject.toml')!r}):
        seen.append("checkout")
    return float(len(seen)), ",".join(seen) or "nothing"
"""
    try:
        judgment = one(sandboxed(tmp_path, source, backend=backend))
    finally:
        home_file.unlink()
    assert judgment.score == 0.0 and judgment.rationale == "nothing", judgment


def test_a_fork_bomb_hits_the_process_limit_and_nothing_survives(tmp_path, backend):
    marker = f"bomb-{secrets.token_hex(4)}"
    source = f"""
import os, sys, time
def reward(response):
    n = 0
    while True:
        try:
            if os.fork() == 0:
                sys.argv[0] = {marker!r}
                time.sleep(30)
                os._exit(0)
            n += 1
        except OSError:
            return float(n), "fork refused"
"""
    started = time.monotonic()
    judgment = one(sandboxed(tmp_path, source, backend=backend, timeout_seconds=5, limits={"processes": 32}))
    assert time.monotonic() - started < 30
    assert judgment.rationale == "fork refused" and judgment.score <= 32, judgment
    time.sleep(0.2)
    assert host_processes_with(marker) == []


def test_a_memory_bomb_is_a_memory_failure_not_a_score(tmp_path, backend):
    source = "def reward(response):\n    x = bytearray(8 * 1024 ** 3)\n    return 1.0\n"
    judgment = one(sandboxed(tmp_path, source, backend=backend, memory_mb=256))
    assert judgment.score is None and judgment.failure.kind == "internal" and "MemoryError" in judgment.rationale, judgment


def test_a_memory_bomb_in_c_kills_only_its_sample(tmp_path, backend):
    source = ("import ctypes\ndef reward(response):\n    if response == 'bomb':\n        ctypes.string_at(0)\n"
              "    return 1.0\n")  # a segfault: the process dies without a Python exception
    out = sandboxed(tmp_path, source, backend=backend).score([Sample(response="ok"), Sample(response="bomb"), Sample(response="ok")])
    assert [j.score for j in out] == [1.0, None, 1.0]
    assert out[1].failure.kind == "internal" and "crashed" in out[1].rationale


def test_an_infinite_loop_is_a_timeout(tmp_path, backend):
    started = time.monotonic()
    judgment = one(sandboxed(tmp_path, "def reward(response):\n    while True:\n        pass\n", backend=backend, timeout_seconds=1))
    assert judgment.score is None and judgment.failure.kind == "timeout" and "1 s limit" in judgment.rationale
    assert time.monotonic() - started < 15


def test_a_gigabyte_of_output_is_cut_and_reported(tmp_path, backend):
    source = "import sys\ndef reward(response):\n    chunk = 'x' * (1 << 20)\n    for _ in range(1024):\n        sys.stdout.write(chunk)\n    return 1.0\n"
    started = time.monotonic()
    judgment = one(sandboxed(tmp_path, source, backend=backend, limits={"output_bytes": 1 << 16, "file_size_mb": 8}))
    assert judgment.score is None and judgment.failure.kind == "internal" and "limit exceeded" in judgment.rationale, judgment
    assert len(judgment.failure.raw or "") <= 2000
    assert time.monotonic() - started < 30


def test_children_do_not_outlive_the_run(tmp_path, backend):
    marker = f"outlive-{secrets.token_hex(4)}"
    source = f"""
import os, signal, subprocess, sys
def reward(response):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", {marker!r}], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
        os._exit(0)
    return 1.0, "started"
"""
    judgment = one(sandboxed(tmp_path, source, backend=backend))
    assert judgment.score == 1.0 and judgment.rationale == "started", judgment
    time.sleep(0.3)
    assert host_processes_with(marker) == []
