"""The harness: the one process a sandbox starts. It runs INSIDE the sandbox, stdlib only.

It reads a job from stdin (in ``marshal`` form, written by assay): one or more programs,
each with files to write, an optional compile command, a run command, the stdin of each
test case, the limits. For each program it writes the files into its working directory,
compiles once, then runs every case in a child process of its own, each with fresh rlimits
(CPU, address space, processes, file size, open files), its own process group, stdin from
the case, stdout and stderr into files capped by RLIMIT_FSIZE, and a wall-clock deadline
after which the child's group is killed. It writes one JSON line of results per program to
stdout. Between two programs it kills every other process of the sandbox and empties the
working directory, so programs batched into one start do not see each other.

Why a harness: many cases per program in one sandbox start (the start is the expensive
part), and for Python a fork of this already-running interpreter instead of a new one.

What protects its results from the program it runs: the results go to the harness's own
stdout, which no child keeps (each child's 0/1/2 are replaced and every other descriptor
closed); the harness makes itself non-dumpable, so a child cannot open /proc/<harness>/fd
or /proc/<harness>/mem; under bubblewrap the harness is PID 1 of the sandbox, which a
child cannot signal. Expected outputs never enter the sandbox: the comparison is done
outside, on what the harness reports.

Not for use outside a sandbox: it runs whatever the job says.
"""

import marshal
import os
import resource
import select
import signal
import sys
import time

MB = 1 << 20
LIMIT_PROCESSES = True  # RLIMIT_NPROC: only inside a user namespace, where it counts this sandbox's processes
SCRATCH = "/tmp/.assay"  # where case stdin/stdout/stderr files live (set from the job)


def _set_limits(limits, processes_offset=0, limit_processes=True):
    cpu = max(1, int(limits["cpu_seconds"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] * MB, limits["memory_mb"] * MB))
    size = limits["file_size_mb"] * MB
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    nproc = limits["processes"] + processes_offset
    if not limit_processes:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    except (ValueError, OSError):
        pass


def _child(case_index, argv, python_code, stdin_path, limits, env):
    """In the forked child: become the program. Never returns."""
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        in_fd = os.open(stdin_path, os.O_RDONLY)
        out_fd = os.open(SCRATCH + "/out%d" % case_index, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(SCRATCH + "/err%d" % case_index, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(in_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.closerange(3, 65536)
        _set_limits(limits, processes_offset=1, limit_processes=LIMIT_PROCESSES)
        if python_code is None:
            os.execve(argv[0] if "/" in argv[0] else _which(argv[0], env), argv, env)
        # A fork of this interpreter runs the program as __main__, as `python main.py` would.
        import builtins
        import io
        import types
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8", errors="replace")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=False)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True)
        sys.argv = [python_code[0]]
        sys.path.insert(0, os.getcwd())
        module = types.ModuleType("__main__")
        module.__dict__.update({"__builtins__": builtins, "__file__": python_code[0]})
        sys.modules["__main__"] = module
        code = 1
        try:
            exec(compile(python_code[1], python_code[0], "exec"), module.__dict__)
            code = 0
        except SystemExit as stop:
            if stop.code is None or stop.code == 0:
                code = 0
            elif isinstance(stop.code, int):
                code = stop.code & 0xFF
            else:
                print(stop.code, file=sys.stderr)
                code = 1
        except BaseException:  # the program's own error: its traceback, as Python prints it
            import traceback

            etype, value, tb = sys.exc_info()
            traceback.print_exception(etype, value, tb.tb_next if tb else tb)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(code)
    except BaseException as error:  # could not become the program (exec failed, ...)
        try:
            os.write(2, ("harness: %s: %s\n" % (type(error).__name__, error)).encode())
        finally:
            os._exit(127)


def _which(name, env):
    for folder in env.get("PATH", "/usr/bin:/bin").split(":"):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return name


def _read_capped(path, cap):
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            data = handle.read(cap)
        os.unlink(path)
    except OSError:
        return "", False
    return data.decode("utf-8", errors="replace"), size > cap


MEMORY_MARKERS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")
PROCESS_MARKERS = ("Resource temporarily unavailable", "can't start new thread", "BlockingIOError")


def run_case(case_index, argv, python_code, stdin_text, limits, env):
    stdin_path = SCRATCH + "/in%d" % case_index
    with open(stdin_path, "w", encoding="utf-8") as handle:
        handle.write(stdin_text or "")
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(case_index, argv, python_code, stdin_path, limits, env)
    deadline = started + limits["wall_seconds"]
    killed_by_wall = False
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    status = rusage = None
    while status is None:
        got, st, ru = os.wait4(pid, os.WNOHANG)
        if got == pid:
            status, rusage = st, ru
            break
        left = deadline - time.monotonic()
        if left <= 0:
            killed_by_wall = True
            _kill_group(pid)
            _, status, rusage = os.wait4(pid, 0)
            break
        if pidfd is not None:
            select.select([pidfd], [], [], min(left, 1.0))
        else:
            time.sleep(min(left, 0.002))
    if pidfd is not None:
        os.close(pidfd)
    _kill_group(pid)  # whatever the program left behind in its group
    wall = time.monotonic() - started
    os.unlink(stdin_path)
    cap = limits["output_bytes"]
    stdout, cut_out = _read_capped(SCRATCH + "/out%d" % case_index, cap)
    stderr, cut_err = _read_capped(SCRATCH + "/err%d" % case_index, cap)
    cpu = rusage.ru_utime + rusage.ru_stime
    result = {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "stdout": stdout, "stderr": stderr, "wall_seconds": round(wall, 4), "cpu_seconds": round(cpu, 4),
        "memory_mb": round(rusage.ru_maxrss / 1024.0, 2), "truncated": cut_out or cut_err, "limit": None,
    }
    sig = result["signal"]
    if killed_by_wall:
        result["status"], result["limit"] = "timeout", "wall_time"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits["cpu_seconds"] - 0.05):
        result["status"], result["limit"] = "timeout", "cpu_time"
    elif sig == signal.SIGXFSZ:
        result["status"], result["limit"] = "output", "file_size"
    elif cut_out or cut_err:
        result["status"], result["limit"] = "output", "output"
    elif result["exit_code"] == 0:
        result["status"] = "ok"
    elif any(marker in stderr[-4000:] for marker in MEMORY_MARKERS):
        result["status"], result["limit"] = "memory", "memory"
    else:
        result["status"] = "error"
        if any(marker in stderr[-4000:] for marker in PROCESS_MARKERS):
            result["limit"] = "processes"
    return result


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main():
    job = marshal.loads(sys.stdin.buffer.read())  # written by assay (trusted), not by the program
    try:  # no child may open this process's /proc entries (fds, memory, environment)
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:
        pass
    global SCRATCH, LIMIT_PROCESSES
    LIMIT_PROCESSES = job.get("limit_processes", True)
    workdir = job.get("workdir") or os.getcwd()
    SCRATCH = job.get("scratch") or SCRATCH
    env = job.get("env") or {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    for index, program in enumerate(job["programs"]):
        if index:
            _clean_slate(workdir)
        os.makedirs(SCRATCH, exist_ok=True)
        os.chdir(workdir)
        out = run_program(program, env)
        out["program"] = index
        _emit(out)


def run_program(job, env):
    for name, content in job.get("files", {}).items():
        folder = os.path.dirname(name)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(name, "w", encoding="utf-8") as handle:
            handle.write(content)
    out = {"compile": None, "cases": []}
    if job.get("compile"):
        compiled = run_case(0, job["compile"], None, "", job["compile_limits"], env)
        out["compile"] = compiled
        if compiled["status"] != "ok":
            return out
    python_code = None
    if job.get("python_fork"):
        with open(job["python_fork"], encoding="utf-8") as handle:
            python_code = (job["python_fork"], handle.read())
    for index, stdin_text in enumerate(job["cases"]):
        result = run_case(index + 1, job["run"], python_code, stdin_text, job["limits"], env)
        out["cases"].append(result)
        if job.get("stop_on_error") and result["status"] != "ok":
            break
        _reap_orphans()
    return out


def _clean_slate(workdir):
    """Between two programs of one sandbox start: nothing of the first survives into the second.
    As PID 1 of the sandbox, kill(-1) reaches every other process in it (daemons, setsid
    escapes, stopped processes); then the working directory is emptied."""
    if os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
    os.chdir("/")
    for root, folders, files in os.walk(workdir, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(root, name))
            except OSError:
                pass
        for name in folders:
            path = os.path.join(root, name)
            try:
                os.unlink(path) if os.path.islink(path) else os.rmdir(path)
            except OSError:
                pass


def _reap_orphans():
    """As PID 1 the harness inherits what a program left running; collect the dead ones."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _to_json(value):
    """JSON without the json module (whose import of re costs more than the rest of the start)."""
    from _json import encode_basestring_ascii

    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(encode_basestring_ascii(str(k)) + ": " + _to_json(v) for k, v in value.items()) + "}"
    return "[" + ", ".join(_to_json(v) for v in value) + "]"


def _emit(out):
    sys.stdout.write(_to_json(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
