"""The local sandbox backends: how the harness is started, bounded and killed.

Three ways to start the in-sandbox harness (``_harness.py``), chosen by name:

- ``bwrap`` (bubblewrap, the default): new user, PID, network, IPC, UTS and cgroup
  namespaces; the sandbox user is ``nobody`` with no capabilities; the harness is PID 1 (a
  program cannot signal it, and when it exits the kernel kills everything left in the
  namespace); ``/usr`` (and the Python installation, and ``extra_ro_paths``) mounted
  read-only; a private size-limited tmpfs at ``/tmp`` as the only writable place and the
  working directory; no checkout, no home directory, an empty environment
  (``--clearenv``); ``--die-with-parent`` and ``--new-session``.
- ``unshare`` (util-linux): the same namespaces and the same mount layout built by hand
  (a tmpfs root, read-only binds, ``chroot``), capabilities dropped with ``setpriv``; for
  machines without bubblewrap.
- ``subprocess``: the harness as a plain child process with the rlimits and the wall clock,
  and NO isolation (the program sees the file system, the network and other processes).
  Only when named explicitly; assay never falls back to it.

Every backend bounds the whole start by a wall clock (the sum of its jobs' ``wall_budget``):
past it the harness's process group (and with it the namespace) is killed, and each job
that had not reported is a ``SandboxError`` (the harness enforces each case's own limit, so
a start past the sum of them is the sandbox failing, not the program timing out). ``close_all()``
kills every live sandbox, for a clean shutdown. The harness is handed over as ``-c`` source
(no file of the checkout is mounted), and one start may run several jobs (``execute_batch``)
with a clean slate between them. When assay runs as root, the wrapper is started as
``nobody``: root is exempt from RLIMIT_NPROC, and must not own the sandbox's processes.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import cache
from pathlib import Path

from assay.sandbox.job import Job, JobResult
from assay.sandbox.limits import Limits
from assay.sandbox.result import RunResult, SandboxError

HARNESS = Path(__file__).with_name("_harness.py")
HARNESS_SOURCE = HARNESS.read_text(encoding="utf-8")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap; "
    "bash scripts/setup.sh does it when run as root), or make util-linux's unshare usable with user namespaces; "
    "to run WITHOUT isolation, name backend='subprocess' explicitly"
)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime")
PATH = "/usr/local/bin:/usr/bin:/bin"
SHADOWED = ("/tmp", "/proc", "/dev")  # the sandbox mounts its own here: a host path below them is shown elsewhere
RO_VIEW = "/run/assay-ro"


def sandbox_view(path: str) -> str:
    """Where a host path mounted read-only (the Python installation, ``extra_ro_paths``) is seen
    inside the sandbox: the same path, except below ``/tmp``, ``/proc`` and ``/dev``, which
    the sandbox replaces with its own (a checkout under /tmp would be hidden by the private
    /tmp): those are shown under ``/run/assay-ro`` + the path."""
    return RO_VIEW + path if any(path == d or path.startswith(d + "/") for d in SHADOWED) else path

_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()


def python_candidates() -> list[tuple[str, str]]:
    """Interpreters the sandbox may run, best first, each with its installation prefix: this
    Python's base interpreter (not a venv's wrapper: the sandbox mounts the prefix read-only,
    without the venv's packages), then the system's /usr/bin/python3. The first that works
    under the backend wins (a prefix under a home directory that the sandbox user cannot
    enter does not)."""
    executable = os.path.realpath(getattr(sys, "_base_executable", sys.executable) or sys.executable)
    out = [(executable, os.path.realpath(sys.base_prefix))]
    if os.path.exists("/usr/bin/python3") and os.path.realpath("/usr/bin/python3") != executable:
        out.append((os.path.realpath("/usr/bin/python3"), "/usr"))
    return out


def others_can_read(path: str) -> bool:
    """Whether a user with no rights of its own (the sandbox's ``nobody``) can read ``path``:
    every folder above it searchable by others, the path itself readable by others. A folder
    of mode 700 on the way (``mktemp -d``, a home directory) hides it from the sandbox."""
    import stat

    path = os.path.realpath(path)
    try:
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        folder = path
        while folder != "/":
            folder = os.path.dirname(folder)
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
    except OSError:
        return False
    return True


SANDBOX_UID = 65534  # nobody: who the sandbox runs as when assay runs as root (root is exempt from RLIMIT_NPROC)


def _as_user() -> dict:
    """Popen arguments that drop root to nobody before the wrapper starts (nothing otherwise)."""
    if os.geteuid() != 0:
        return {}
    return {"user": SANDBOX_UID, "group": SANDBOX_UID, "extra_groups": []}


def _host_dir() -> tempfile.TemporaryDirectory:
    folder = tempfile.TemporaryDirectory(prefix="assay-sandbox-")
    if os.geteuid() == 0:
        os.chown(folder.name, SANDBOX_UID, SANDBOX_UID)
    return folder


class LocalBackend:
    """Start the harness under a wrapper command, feed it the job, read its one JSON line."""

    name = "local"
    isolated = True

    def __init__(self, extra_ro_paths: tuple[str, ...] = (), python_site: bool = False) -> None:
        self.extra_ro_paths = tuple(os.path.realpath(p) for p in extra_ro_paths)
        self.python_site = python_site
        self.python, self.python_prefix = python_candidates()[0]

    # what each backend defines
    def wrapper(self, limits: Limits, workdir: str) -> list[str]:
        raise NotImplementedError

    def check(self) -> None:
        """Raise SandboxError when this backend cannot run here (cached per backend kind)."""

    # jobs
    def execute(self, job: Job) -> JobResult:
        result = self.execute_batch([job])[0]
        if isinstance(result, SandboxError):
            raise result
        return result

    def execute_batch(self, jobs: list[Job]) -> list[JobResult | SandboxError]:
        """Several jobs in ONE sandbox start, one after another, with a clean slate between
        them (see the harness): the start is paid once. One result (or error) per job."""
        self.check()
        limits = max((job.limits for job in jobs), key=lambda l: l.tmp_mb)
        with _host_dir() as host_dir:
            workdir = self.workdir(host_dir)
            payload = self.payload(jobs, workdir)
            argv = self.wrapper(limits, host_dir) + self.harness_command()
            budget = sum(job.wall_budget() for job in jobs)
            stdout, stderr, returncode, killed = self._launch(argv, payload, budget, host_dir)
        return self.parse(jobs, stdout, stderr, returncode, killed)

    def workdir(self, host_dir: str) -> str:
        return "/tmp"

    def harness_command(self) -> list[str]:
        """The harness is handed over as ``-c`` source: no file of the checkout is mounted."""
        return [sandbox_view(self.python), "-I", *([] if self.python_site else ["-S"]), "-c", HARNESS_SOURCE]

    def payload(self, jobs: list[Job], workdir: str) -> bytes:
        return marshal.dumps({
            "programs": [self.program(job) for job in jobs],
            "limit_processes": self.isolated,  # outside a user namespace RLIMIT_NPROC counts all of the user's processes
            "workdir": workdir,
            "scratch": os.path.join(workdir, ".assay"),
            "env": {"PATH": PATH, "HOME": workdir, "LANG": "C.UTF-8", "TMPDIR": workdir},
        })

    def program(self, job: Job) -> dict:
        language = job.language
        files = dict(job.files)
        files[language.source] = job.code
        run = [sandbox_view(self.python) if part == "{python}" else part for part in language.run if not (part == "-S" and self.python_site)]
        return {
            "files": files,
            "compile": list(language.compile) if language.compile else None,
            "compile_limits": job.compile_limits.to_dict(),
            "run": run,
            "python_fork": language.source if language.python_fork and job.fork else None,
            "cases": list(job.cases),
            "limits": job.limits.to_dict(),
            "stop_on_error": job.stop_on_error,
        }

    def _launch(self, argv: list[str], payload: bytes, budget: float, host_dir: str) -> tuple[bytes, bytes, int | None, bool]:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, env={"PATH": PATH}, cwd=host_dir, **_as_user())
        except OSError as error:
            raise SandboxError(f"{self.name}: could not start the sandbox ({error}); {INSTALL_HINT}") from error
        with _live_lock:
            _live.add(proc)
        killed = False
        try:
            try:
                stdout, stderr = proc.communicate(payload, timeout=budget)
            except subprocess.TimeoutExpired:
                killed = True
                _kill(proc)
                stdout, stderr = proc.communicate(timeout=10)
        finally:
            with _live_lock:
                _live.discard(proc)
        return stdout, stderr, proc.returncode, killed

    def parse(self, jobs: list[Job], stdout: bytes, stderr: bytes, returncode: int | None, killed: bool) -> list[JobResult | SandboxError]:
        reported: dict[int, dict] = {}
        for line in stdout.splitlines():
            try:
                data = json.loads(line)
                reported[int(data["program"])] = data
            except (ValueError, KeyError, TypeError):
                continue
        message = stderr.decode("utf-8", "replace").strip()[-600:] or f"exit status {returncode}"
        out: list[JobResult | SandboxError] = []
        for index, job in enumerate(jobs):
            data = reported.get(index)
            if data is None:
                if killed:  # the harness enforces every case's own limit, so a start past its whole budget is the sandbox's fault
                    out.append(SandboxError(f"{self.name}: the sandbox start ran past its whole time budget and was killed before this program reported; it was not scored"))
                else:
                    out.append(SandboxError(f"{self.name}: the sandbox harness did not report ({message})"))
                continue
            compile_result = RunResult.from_dict({**data["compile"], "backend": self.name}) if data.get("compile") else None
            if compile_result is not None and compile_result.status != "ok" and compile_result.limit is None:
                compile_result.status = "compile_error"
            cases = [RunResult.from_dict({**case, "backend": self.name}) for case in data["cases"]]
            out.append(JobResult(cases, compile_result, self.name))
        return out


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def close_all() -> None:
    """Kill every sandbox that is still running (a clean shutdown; the pool calls it)."""
    with _live_lock:
        live = list(_live)
    for proc in live:
        _kill(proc)


class BwrapBackend(LocalBackend):
    name = "bwrap"

    def check(self) -> None:
        _check_wrapper(self)

    def wrapper(self, limits: Limits, workdir: str) -> list[str]:
        argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
                "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv",
                "--hostname", "sandbox"]
        for path in SYSTEM_PATHS:
            if os.path.islink(path):
                argv += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                argv += ["--ro-bind", path, path]
        for path in ETC_FILES:
            argv += ["--ro-bind-try", path, path]
        for path in (self.python_prefix, *self.extra_ro_paths):
            if not any(path == p or path.startswith(p + "/") for p in SYSTEM_PATHS):
                argv += ["--ro-bind", path, sandbox_view(path)]
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
                 "--remount-ro", "/", "--chdir", "/tmp",
                 "--setenv", "PATH", PATH, "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8", "--"]
        return argv


class UnshareBackend(LocalBackend):
    """The bubblewrap layout built with util-linux: ``unshare`` for the namespaces, ``mount``
    for a tmpfs root with read-only binds, ``chroot`` into it, ``setpriv`` to drop every
    capability (and with ``--no-new-privs``)."""

    name = "unshare"

    def check(self) -> None:
        _check_wrapper(self)

    def wrapper(self, limits: Limits, workdir: str) -> list[str]:
        size = limits.tmp_mb << 20
        steps = ["set -e", f"PATH={PATH}:/usr/sbin:/sbin", f"R={os.path.join(workdir, 'root')}", "mkdir -p $R", "mount -t tmpfs -o size=64m,mode=755 none $R"]
        for path in SYSTEM_PATHS:
            if os.path.islink(path):
                steps.append(f"ln -s {os.readlink(path)} $R{path}")
            elif os.path.isdir(path):
                steps.append(_ro_bind(path))
        steps += [_ro_bind(path) for path in ETC_FILES if os.path.exists(path)]
        steps += [_ro_bind(path, sandbox_view(path)) for path in (self.python_prefix, *self.extra_ro_paths)
                  if not any(path == p or path.startswith(p + "/") for p in SYSTEM_PATHS)]
        steps += [
            "mkdir -p $R/tmp $R/proc $R/dev",
            f"mount -t tmpfs -o size={size},mode=1777 none $R/tmp",
            "mount -t proc -o nosuid,nodev,noexec proc $R/proc",
            "for d in null zero full random urandom; do touch $R/dev/$d; mount --bind /dev/$d $R/dev/$d; done",
            "mount -o remount,ro,bind $R",
            # into the new root; then no capabilities, and none regained by exec (noroot)
            f"exec {shutil.which('chroot', path=PATH + ':/usr/sbin:/sbin') or 'chroot'} $R /bin/sh -c 'cd /tmp && exec /usr/bin/env -i PATH={PATH} HOME=/tmp LANG=C.UTF-8 "
            "/usr/bin/setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=-all "
            "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked \"$@\"' sh \"$@\"",
        ]
        return [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--mount",
                "--ipc", "--uts", "--cgroup", "--kill-child", "--propagation", "private", "--", "/bin/sh", "-c", "\n".join(steps), "sh"]


def _ro_bind(source: str, target: str | None = None) -> str:
    target = target or source
    make = f"mkdir -p $R{target}" if os.path.isdir(source) else f"mkdir -p $R{os.path.dirname(target)} && touch $R{target}"
    return f"{make} && mount --rbind {source} $R{target} && mount -o remount,ro,bind $R{target}"


class SubprocessBackend(LocalBackend):
    """The harness as a plain child process: rlimits and the wall clock only, NO isolation
    (and no process limit: outside a user namespace it would count all of the user's processes).
    When assay runs as root, the child runs as nobody."""

    name = "subprocess"
    isolated = False

    def check(self) -> None:
        _check_wrapper(self)

    def wrapper(self, limits: Limits, workdir: str) -> list[str]:
        return []

    def workdir(self, host_dir: str) -> str:
        return host_dir



_checked: dict[tuple, tuple[str, str] | str] = {}
_check_lock = threading.Lock()


def _check_wrapper(backend: LocalBackend) -> None:
    """Run a Python one-liner under the wrapper, once per backend kind and set of mounts, with
    each candidate interpreter; keep the first that works, or raise SandboxError saying why."""
    key = (backend.name, backend.extra_ro_paths)
    with _check_lock:
        if key not in _checked:
            _checked[key] = _probe(backend)
    found = _checked[key]
    if isinstance(found, str):
        raise SandboxError(f"the {backend.name} sandbox backend does not work here: {found}; {INSTALL_HINT}")
    backend.python, backend.python_prefix = found


def _probe(backend: LocalBackend) -> tuple[str, str] | str:
    tool = {"bwrap": "bwrap", "unshare": "unshare"}.get(backend.name)
    if tool and shutil.which(tool) is None:
        return f"{tool} is not installed"
    problem = ""
    for python, prefix in python_candidates():
        backend.python, backend.python_prefix = python, prefix
        with _host_dir() as host_dir:
            argv = backend.wrapper(Limits(), host_dir) + [python, "-I", "-S", "-c", "print('ok')"]
            try:
                done = subprocess.run(argv, capture_output=True, timeout=30, env={"PATH": PATH}, cwd=host_dir, **_as_user())
            except (OSError, subprocess.TimeoutExpired) as error:
                problem = str(error)
                continue
        if done.returncode == 0 and done.stdout.strip() == b"ok":
            return python, prefix
        problem = (done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}")[-400:]
    return problem


BACKENDS = {"bwrap": BwrapBackend, "unshare": UnshareBackend, "subprocess": SubprocessBackend}


@cache
def local_backend(name: str, extra_ro_paths: tuple[str, ...] = (), python_site: bool = False) -> LocalBackend:
    """A local backend by name; ``auto`` is the first isolating one that works here (bwrap,
    then unshare), and a SandboxError saying how to install one when none does."""
    if name == "auto":
        problems = []
        for candidate in ("bwrap", "unshare"):
            backend = BACKENDS[candidate](extra_ro_paths, python_site)
            try:
                backend.check()
                return backend
            except SandboxError as error:
                problems.append(str(error).split(";")[0])
        raise SandboxError(f"no isolating sandbox backend works here ({'; '.join(problems)}); {INSTALL_HINT}")
    if name not in BACKENDS:
        raise SandboxError(f"unknown sandbox backend {name!r}; known: auto, bwrap, unshare, subprocess, remote")
    return BACKENDS[name](extra_ro_paths, python_site)
