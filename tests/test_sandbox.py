"""The sandbox API: typed results for each way a run ends, compiled and configured languages,
many cases in one start, the pool (bounded, queued, shut down cleanly), the never-silent
backend choice, and the remote backend against a real SandboxFusion-API server on loopback
(assay's own, ``assay.sandbox.server``)."""

from __future__ import annotations

import base64
import shutil
import socket
import threading
import time

import httpx
import pytest

from assay import sandbox
from assay.sandbox import Language, Limits, Sandbox, SandboxError, backends
from assay.sandbox.executor import SandboxExecutor

ISOLATED = [name for name in ("bwrap", "unshare") if not isinstance(backends._probe(backends.BACKENDS[name]()), str)]
needs_isolation = pytest.mark.skipif(not ISOLATED, reason="no isolating sandbox backend here (install bubblewrap: bash scripts/setup.sh as root)")
needs_gpp = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_isolation
def test_a_start_killed_past_its_whole_budget_is_a_sandbox_error_not_a_time_limit(monkeypatch):
    """The harness enforces each case's limit; a start that outlives the sum of them is the
    sandbox failing: the jobs that did not report are errors, never time-limit zeros."""
    from assay.sandbox import job as job_module

    box = Sandbox()
    jobs = [box.job("import time\ntime.sleep(3)\nprint('late')", limits={"wall_seconds": 10}) for _ in range(2)]
    monkeypatch.setattr(job_module.Job, "wall_budget", lambda self: 0.5)  # as if the machine stalled
    results = box.backend.execute_batch(jobs)
    assert all(isinstance(r, SandboxError) and "whole time budget" in str(r) for r in results)


@needs_isolation
def test_run_returns_what_the_program_did():
    result = sandbox.run("import sys\nprint(input()[::-1])\nprint('warn', file=sys.stderr)\nsys.exit(3)", stdin="abc")
    assert (result.status, result.exit_code, result.stdout, result.stderr) == ("error", 3, "cba\n", "warn\n")
    assert result.backend in ISOLATED and result.wall_seconds > 0 and result.memory_mb > 0
    assert result.describe() == "exit code 3"


@needs_isolation
def test_each_limit_is_named_in_the_result():
    assert sandbox.run("while True: pass", limits={"wall_seconds": 1}).limit in ("cpu_time", "wall_time")
    assert sandbox.run("x = ' ' * (2 << 30)", limits={"memory_mb": 128}).limit == "memory"
    out = sandbox.run("print('y' * 100000)", limits={"output_bytes": 1000})
    assert out.limit == "output" and out.truncated and len(out.stdout) == 1000
    killed = sandbox.run("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    assert killed.status == "error" and killed.signal == 11 and killed.describe() == "killed by signal 11"


@needs_isolation
def test_files_are_written_beside_the_program():
    result = sandbox.run("import helper\nprint(helper.VALUE, open('data.txt').read())", files={"helper.py": "VALUE = 41 + 1", "data.txt": "hello"})
    assert result.stdout == "42 hello\n", result


@needs_isolation
@needs_gpp
def test_cpp_compiles_once_and_runs_every_case():
    code = "#include <cstdio>\nint main(){long a,b; if(scanf(\"%ld %ld\",&a,&b)!=2) return 1; printf(\"%ld\\n\", a+b);}"
    job = sandbox.run_cases(code, ["1 2", "40 2", "oops"], language="cpp")
    assert job.compile is not None and job.compile.ok
    assert [c.stdout for c in job.cases] == ["3\n", "42\n", ""] and job.cases[2].exit_code == 1
    broken = sandbox.run("int main() { return }", language="c++")
    assert broken.status == "compile_error" and "error" in broken.stderr


@needs_isolation
def test_a_configured_language_runs_by_its_commands():
    shell = Language("sh", "main.sh", None, ("/bin/sh", "main.sh"))
    result = Sandbox(languages={"sh": shell}).run("read x; echo \"got $x\"", language="sh", stdin="7")
    assert result.stdout == "got 7\n"
    with pytest.raises(ValueError, match="unknown language 'cobol'"):
        sandbox.run("x", language="cobol")


@needs_isolation
def test_many_cases_run_in_one_start_with_per_case_limits():
    code = "n = int(input())\nif n == 2:\n    while True: pass\nprint(n * n)"
    job = sandbox.run_cases(code, ["1", "2", "3"], limits={"wall_seconds": 1})
    assert [c.status for c in job.cases] == ["ok", "timeout", "ok"]
    assert job.cases[2].stdout == "9\n"
    stopped = sandbox.run_cases(code, ["1", "2", "3"], limits={"wall_seconds": 1}, stop_on_error=True)
    assert len(stopped.cases) == 2


def test_no_isolating_backend_is_an_error_that_says_how_to_install_one(monkeypatch):
    monkeypatch.setattr(backends, "local_backend", backends.local_backend.__wrapped__)
    monkeypatch.setattr(backends, "_checked", {})
    monkeypatch.setattr(backends, "_probe", lambda backend: f"{backend.name} is not installed")
    with pytest.raises(SandboxError, match="apt-get install bubblewrap") as error:
        Sandbox("auto").backend
    assert "backend='subprocess' explicitly" in str(error.value)


def test_the_subprocess_backend_runs_only_when_named():
    result = Sandbox("subprocess").run("print(1 + 1)")
    assert result.stdout == "2\n" and result.backend == "subprocess"
    assert backends.SubprocessBackend.isolated is False


def test_limits_are_checked():
    with pytest.raises(ValueError, match="unknown sandbox limits"):
        Limits.of({"wall": 1})
    with pytest.raises(ValueError, match="must be positive"):
        Limits(memory_mb=0)
    assert Limits(wall_seconds=3).cpu_seconds == 3


@needs_isolation
def test_the_pool_bounds_concurrency_and_queues_the_rest():
    box = Sandbox()
    pool = SandboxExecutor(max_workers=2)
    running, peak, lock = [0], [0], threading.Lock()
    backend = box.backend

    class Counting:
        name = backend.name

        def execute(self, job):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return backend.execute(job)
            finally:
                with lock:
                    running[0] -= 1

    jobs = [box.job(f"print({i})") for i in range(6)]
    results = pool.run_many(Counting(), jobs)
    assert [r.cases[0].stdout for r in results] == [f"{i}\n" for i in range(6)]
    assert peak[0] == 2
    pool.close()


@needs_isolation
def test_closing_the_pool_kills_running_sandboxes_and_refuses_new_work():
    box = Sandbox()
    pool = SandboxExecutor(max_workers=1)
    futures = [pool.submit(box.backend, box.job("import time\ntime.sleep(30)", limits={"wall_seconds": 60})) for _ in range(3)]
    time.sleep(1.0)
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 10
    assert sum(f.cancelled() for f in futures) == 2  # the queued ones
    with pytest.raises(SandboxError, match="shut down"):
        pool.submit(box.backend, box.job("print(1)"))


# --- the remote backend, against assay's SandboxFusion-API server on loopback ----------------
@pytest.fixture(scope="module")
def server_url():
    from assay.sandbox.server import serve_in_thread

    if not ISOLATED:
        pytest.skip("no isolating sandbox backend here")
    server, url = serve_in_thread()
    yield url
    server.shutdown()


def test_the_server_speaks_sandboxfusions_api(server_url):
    body = {"code": "print(open('in.txt').read() + input())", "language": "python", "stdin": "!", "run_timeout": 5,
            "memory_limit_MB": 256, "files": {"in.txt": base64.b64encode(b"hi").decode()}}
    data = httpx.post(f"{server_url}/run_code", json=body, timeout=30).json()
    assert data["status"] == "Success" and data["run_result"]["stdout"] == "hi!\n" and data["run_result"]["return_code"] == 0
    loop = httpx.post(f"{server_url}/run_code", json={"code": "while 1: pass", "language": "python", "run_timeout": 1}, timeout=30).json()
    assert loop["status"] == "Failed" and loop["run_result"]["status"] == "TimeLimitExceeded"
    bad = httpx.post(f"{server_url}/run_code", json={"code": 3}, timeout=30)
    assert bad.status_code == 400 and "code must be a string" in bad.json()["detail"]
    assert httpx.get(f"{server_url}/ping").text == "pong"


def test_the_remote_backend_gives_the_same_results(server_url):
    box = Sandbox("remote", url=server_url)
    assert box.run("print(input() * 2)", stdin="ab").stdout == "abab\n"
    assert box.run("raise ValueError('x')").status == "error"
    assert box.run("while 1: pass", limits={"wall_seconds": 1}).limit == "wall_time"
    job = box.run_cases("print(int(input()) + 1)", ["1", "2"])
    assert [c.stdout for c in job.cases] == ["2\n", "3\n"]


def test_a_remote_sandbox_that_is_down_is_a_sandbox_error():
    box = Sandbox("remote", url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(SandboxError, match="is not answering after 3 attempts"):
        box.run("print(1)")
    assert time.monotonic() - started < 10


@needs_isolation
@pytest.mark.parametrize("module", ["assay.sandbox", "assay.sandbox.limits", "assay.sandbox.result", "assay.sandbox.languages",
                                    "assay.sandbox.executor", "assay.rewards.code.extract", "assay.rewards.code.compare", "assay.rewards.code.reward"])
def test_module_doctests(module):
    import doctest
    import importlib

    failures, _ = doctest.testmod(importlib.import_module(module))
    assert failures == 0


def test_import_assay_does_not_import_the_sandbox():
    import subprocess
    import sys

    code = "import sys, assay; print(any(m.startswith('assay.sandbox') or m == 'httpx' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_file_names_must_stay_in_the_working_directory():
    for name in ("../escape.py", "/etc/x", "a/../../b"):
        with pytest.raises(ValueError, match="must be relative"):
            Sandbox("subprocess").job("print(1)", files={name: "x"})
