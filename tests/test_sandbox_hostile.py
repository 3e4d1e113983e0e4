"""The hostile-program suite: each test is one attack, run in the real sandbox (bubblewrap, and
util-linux's unshare where it works), and checks the attack was contained AND reported as
such. docs/security.md lists the same attacks with their outcomes.

Skips (saying why) where no isolating backend works; `bash scripts/setup.sh` as root
installs bubblewrap.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

import pytest

from assay.sandbox import Sandbox, SandboxError

REPO = Path(__file__).resolve().parents[1]


def _backends() -> list[str]:
    names = []
    for name in ("bwrap", "unshare"):
        try:
            Sandbox(name).backend.check()
            names.append(name)
        except SandboxError:
            pass
    return names


BACKENDS = _backends()
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no isolating sandbox backend here (install bubblewrap: bash scripts/setup.sh as root)")


@pytest.fixture(params=BACKENDS or ["none"])
def box(request) -> Sandbox:
    return Sandbox(request.param)


def host_processes_with(marker: str) -> list[int]:
    """PIDs of host processes whose command line holds the marker (what outlived a run)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def test_no_network_not_even_a_listener_on_loopback(box):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    print("CONNECTED")
except OSError as error:
    print("refused:", type(error).__name__)
try:
    socket.getaddrinfo("pypi.org", 443)
    print("RESOLVED")
except OSError as error:
    print("no dns:", type(error).__name__)
"""
    result = box.run(code)
    assert result.ok and "refused:" in result.stdout and "no dns:" in result.stdout, result
    with pytest.raises(socket.timeout):
        listener.accept()  # nothing reached the host's listener
    listener.close()


@pytest.mark.parametrize("target", ["checkout", "home", "host_tmp", "usr"])
def test_writes_outside_the_private_tmp_fail(box, target, tmp_path):
    name = f"assay-escape-{secrets.token_hex(4)}"
    folder = {"checkout": REPO, "home": Path.home(), "host_tmp": tmp_path, "usr": Path("/usr/local")}[target]
    path = folder / name
    code = f"""
try:
    open({str(path)!r}, "w").write("escaped")
    print("WROTE")
except OSError as error:
    print("denied:", type(error).__name__)
open("/tmp/inside.txt", "w").write("fine")  # the private tmp is writable
print(open("/tmp/inside.txt").read())
"""
    result = box.run(code)
    assert result.ok and "denied:" in result.stdout and "fine" in result.stdout, result
    assert not path.exists()


def test_the_callers_environment_and_home_files_are_not_visible(box, monkeypatch):
    secret = secrets.token_hex(8)
    monkeypatch.setenv("ASSAY_TEST_SECRET", secret)
    home_file = Path.home() / f".assay-secret-{secret}"
    home_file.write_text(secret)
    try:
        code = f"""
import os, glob
print(sorted(os.environ))
print("SECRET" if {secret!r} in str(os.environ) else "no secret in env")
try:
    print(open({str(home_file)!r}).read())
except OSError as error:
    print("unreadable:", type(error).__name__)
print("home listing:", glob.glob({str(Path.home())!r} + "/*")[:5])
print("checkout visible:", os.path.exists({str(REPO / 'pyproject.toml')!r}))
"""
        result = box.run(code)
    finally:
        home_file.unlink()
    assert result.ok, result
    assert secret not in result.stdout and "no secret in env" in result.stdout and "unreadable:" in result.stdout
    assert "checkout visible: False" in result.stdout


def test_a_fork_bomb_hits_the_process_limit_and_nothing_survives(box):
    marker = f"bomb-{secrets.token_hex(4)}"
    code = f"""
import os, sys, time
n = 0
while True:
    try:
        if os.fork() == 0:
            sys.argv[0] = {marker!r}
            time.sleep(30)
            os._exit(0)
        n += 1
    except OSError as error:
        print("fork refused after", n, type(error).__name__, flush=True)
        break
"""
    started = time.monotonic()
    result = box.run(code, limits={"wall_seconds": 5, "processes": 32})
    assert time.monotonic() - started < 20
    assert "fork refused after" in result.stdout, result
    assert int(result.stdout.split()[3]) <= 32
    time.sleep(0.2)
    assert host_processes_with(marker) == []


def test_a_memory_bomb_is_a_memory_limit(box):
    result = box.run("x = bytearray(8 * 1024 ** 3)\nprint('allocated')", limits={"memory_mb": 256})
    assert result.status == "memory" and result.limit == "memory" and "allocated" not in result.stdout, result
    assert result.describe() == "memory limit exceeded"


def test_an_infinite_loop_is_a_time_limit(box):
    started = time.monotonic()
    result = box.run("while True:\n    pass", limits={"wall_seconds": 1})
    assert result.status == "timeout" and result.limit in ("cpu_time", "wall_time"), result
    assert time.monotonic() - started < 10


def test_a_gigabyte_of_output_is_cut(box):
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
    started = time.monotonic()
    result = box.run(code, limits={"output_bytes": 1 << 16, "file_size_mb": 8})
    assert result.status == "output" and result.limit in ("file_size", "output"), result
    assert len(result.stdout) <= 1 << 16 and result.truncated
    assert time.monotonic() - started < 20


def test_a_background_process_does_not_outlive_the_run(box):
    marker = f"outlive-{secrets.token_hex(4)}"
    code = f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", {marker!r}], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("started")
"""
    result = box.run(code)
    assert result.ok and "started" in result.stdout, result
    time.sleep(0.3)
    assert host_processes_with(marker) == []


def test_a_child_that_ignores_sigterm_is_killed(box):
    marker = f"stubborn-{secrets.token_hex(4)}"
    code = f"""
import os, signal, sys, time
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.execv(sys.executable, [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)", {marker!r}])
time.sleep(0.2)
print("parent leaves")
"""
    result = box.run(code)
    assert result.ok and "parent leaves" in result.stdout, result
    time.sleep(0.3)
    assert host_processes_with(marker) == []


def test_setsid_and_double_fork_do_not_escape(box):
    marker = f"daemon-{secrets.token_hex(4)}"
    code = f"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
    os._exit(0)
time.sleep(0.3)
print("daemonized")
"""
    result = box.run(code)
    assert result.ok and "daemonized" in result.stdout, result
    time.sleep(0.3)
    assert host_processes_with(marker) == []


def test_other_processes_under_proc_are_invisible(box, monkeypatch):
    secret = secrets.token_hex(8)
    monkeypatch.setenv("ASSAY_PROC_SECRET", secret)  # in the environ of this (host) process
    code = f"""
import os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("pids", pids[:10], len(pids))
found = []
for pid in pids:
    for name in ("environ", "cmdline"):
        try:
            if {secret!r} in open(f"/proc/{{pid}}/{{name}}", errors="replace").read():
                found.append(pid)
        except OSError:
            pass
print("FOUND" if found else "nothing found")
print("host pid visible:", os.path.exists("/proc/{os.getpid()}/environ") and {os.getpid()} > 200)
try:
    os.readlink("/proc/1/fd/1")
    print("HARNESS FD OPEN")
except OSError as error:
    print("harness fds:", type(error).__name__)
"""
    result = box.run(code)
    assert result.ok and "nothing found" in result.stdout, result
    assert "harness fds: PermissionError" in result.stdout
    count = int(result.stdout.split("\n")[0].rsplit(" ", 1)[1])
    assert count < 20  # the harness, the program, maybe a reaper: not the host's processes


def test_a_program_cannot_forge_the_harness_report_of_other_cases(box):
    """Each case's child cannot write to the harness's own stdout (the results channel): a
    forged results line printed by case 0 stays in case 0's stdout."""
    forged = '{"compile": null, "cases": []}'
    code = f"import os, sys\nprint({forged!r})\ntry:\n    os.write(3, b'x')\nexcept OSError:\n    print('no fd 3')\nprint(input())"
    result = box.run_cases(code, ["a", "b"])
    assert [c.stdout.splitlines()[-1] for c in result.cases] == ["a", "b"]
    assert all("no fd 3" in c.stdout for c in result.cases)


def test_a_whole_job_past_its_budget_is_killed_and_reported(box):
    """Many cases that each time out: every one is reported as a time limit, in bounded time."""
    started = time.monotonic()
    result = box.run_cases("while True: pass", ["", "", ""], limits={"wall_seconds": 0.5, "cpu_seconds": 5})
    assert [c.limit for c in result.cases] == ["wall_time"] * 3
    assert time.monotonic() - started < 15


def test_programs_batched_into_one_start_do_not_see_each_other(box):
    """The pool runs several programs per sandbox start; the harness kills whatever the first
    left running and empties the working directory before the second."""
    marker = f"leftover-{secrets.token_hex(4)}"
    first = f"""
import os, sys
open("planted.txt", "w").write("from the first program")
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
print("planted")
"""
    second = f"""
import os
print("file:", os.path.exists("planted.txt"), os.path.exists("/tmp/planted.txt"))
found = [p for p in os.listdir("/proc") if p.isdigit() and {marker!r} in open(f"/proc/{{p}}/cmdline").read()]
print("daemon:", bool(found))
"""
    jobs = [box.job(first), box.job(second)]
    results = box.backend.execute_batch(jobs)
    assert results[0].cases[0].stdout == "planted\n"
    assert results[1].cases[0].stdout == "file: False False\ndaemon: False\n", results[1]
