"""Run untrusted code, bounded and isolated: the building block for code rewards, judges
with tools and generated reward code. ``pool.py`` beside it is the killable worker pool for
trusted but unbounded work (math-verify, SQL), without isolation.

    >>> from assay import sandbox
    >>> result = sandbox.run("print(input()[::-1])", language="python", stdin="abc")
    >>> result.status, result.stdout
    ('ok', 'cba\\n')
    >>> sandbox.run("while True: pass", limits={"wall_seconds": 1}).limit in ("cpu_time", "wall_time")
    True

``run`` is one program and one stdin; ``run_cases`` is one program and many stdins in ONE
sandbox start (compiled once), which is how a code reward runs a test suite. Both return
results about the program; a sandbox that cannot run it raises ``SandboxError``.

What is covered (bubblewrap, the default backend; docs/security.md has the attack table):
no network (a new, empty network namespace); no view of other processes, and nothing outlives
a run (a new PID namespace whose PID 1 is the harness); a read-only view of /usr and the
Python installation and nothing else of the host (no checkout, no home directory, no /etc
beyond the dynamic loader's files); an empty environment; a private size-limited tmpfs
/tmp as the only writable place; the user ``nobody`` with no capabilities; rlimits on CPU
seconds, address space, processes, file size and open files; a wall clock after which the
whole namespace is killed; stdout and stderr cut at a cap.

What is not covered: kernel exploits (the sandbox shares the host kernel; no seccomp filter
narrows the system calls); CPU-share, memory-bandwidth and disk-I/O fairness (no cgroups);
timing side channels; the integrity of tests that run in the program's own process
(assert-style tests, pytest files: a program can tamper with them from inside); and, for the
``subprocess`` backend, everything but the rlimits and the wall clock.
"""

from __future__ import annotations

from typing import Any

from assay.sandbox.languages import Language
from assay.sandbox.languages import language as resolve_language
from assay.sandbox.limits import COMPILE_LIMITS, Limits
from assay.sandbox.result import RunResult, SandboxError

__all__ = ["Language", "Limits", "RunResult", "Sandbox", "SandboxError", "get_sandbox", "run", "run_cases"]


class Sandbox:
    """A configured sandbox: a backend (``auto``, ``bwrap``, ``unshare``, ``subprocess`` or
    ``remote``), the pool its runs share, and the languages it knows beyond the built-in ones."""

    def __init__(self, backend: str = "auto", url: str | None = None, languages: dict[str, Language | dict] | None = None,
                 extra_ro_paths: tuple[str, ...] | list[str] = (), max_concurrency: int | None = None, timeout_seconds: float = 60.0,
                 python_site: bool = False) -> None:
        self.backend_name = backend
        self.url = url
        self.languages = {k.lower(): v if isinstance(v, Language) else Language.from_dict(k, v) for k, v in (languages or {}).items()}
        self.extra_ro_paths = tuple(extra_ro_paths)
        self.max_concurrency = max_concurrency
        self.timeout_seconds = timeout_seconds
        self.python_site = python_site  # site-packages of the sandbox's Python (off: stdlib only, faster)
        self._backend = None

    @property
    def backend(self):
        """The backend object (resolved on first use; raises SandboxError when unusable)."""
        if self._backend is None:
            if self.backend_name == "remote":
                from assay.sandbox.remote import RemoteBackend

                if not self.url:
                    raise SandboxError("the remote sandbox backend needs a url (a SandboxFusion-compatible server)")
                self._backend = RemoteBackend(self.url, timeout_seconds=self.timeout_seconds)
            else:
                from assay.sandbox.backends import local_backend

                self._backend = local_backend(self.backend_name, self.extra_ro_paths, self.python_site)
        return self._backend

    def language(self, name: str | Language) -> Language:
        return resolve_language(name, self.languages)

    def job(self, code: str, language: str | Language = "python", cases: list[str] | tuple[str, ...] = ("",), files: dict[str, str] | None = None,
            limits: Limits | dict | None = None, compile_limits: Limits | dict | None = None, stop_on_error: bool = False, fork: bool = True):
        from assay.sandbox.job import Job

        for name in files or {}:
            parts = name.replace("\\", "/").split("/")
            if not name or name.startswith("/") or ".." in parts:
                raise ValueError(f"file name {name!r} must be relative and stay inside the working directory")
        return Job(code, self.language(language), tuple(cases), tuple((files or {}).items()), Limits.of(limits),
                   Limits.of(compile_limits) if compile_limits else COMPILE_LIMITS, stop_on_error, fork)

    def execute(self, job):
        """Run one job through the shared pool (blocking); returns its JobResult."""
        from assay.sandbox.executor import shared_executor

        backend = self.backend
        return shared_executor(self.max_concurrency, backend.name if backend.name == "remote" else "local").run(backend, job)

    def execute_many(self, jobs: list) -> list:
        """Run jobs concurrently (bounded by the pool); one JobResult or SandboxError per job, in order."""
        from assay.sandbox.executor import shared_executor

        backend = self.backend
        return shared_executor(self.max_concurrency, backend.name if backend.name == "remote" else "local").run_many(backend, jobs)

    def run(self, code: str, language: str | Language = "python", stdin: str = "", files: dict[str, str] | None = None,
            limits: Limits | dict | None = None) -> RunResult:
        result = self.execute(self.job(code, language, (stdin,), files, limits, fork=False))
        return result.compile if result.compile_failed else result.cases[0]

    def run_cases(self, code: str, stdins: list[str], language: str | Language = "python", files: dict[str, str] | None = None,
                  limits: Limits | dict | None = None, stop_on_error: bool = False):
        return self.execute(self.job(code, language, tuple(stdins), files, limits, stop_on_error=stop_on_error))


_sandboxes: dict[tuple, Sandbox] = {}


def get_sandbox(backend: str = "auto", url: str | None = None) -> Sandbox:
    """The process-wide sandbox for a backend (and url), created once."""
    key = (backend, url)
    if key not in _sandboxes:
        _sandboxes[key] = Sandbox(backend, url)
    return _sandboxes[key]


def run(code: str, language: str | Language = "python", stdin: str = "", files: dict[str, str] | None = None,
        limits: Limits | dict[str, Any] | None = None, backend: str = "auto", url: str | None = None) -> RunResult:
    """Run one program once: compile it if its language compiles, feed it ``stdin``, bound it by
    ``limits``. Returns the run's result (the compile step's, when that failed); raises
    SandboxError when the sandbox itself cannot run it."""
    return get_sandbox(backend, url).run(code, language, stdin, files, limits)


def run_cases(code: str, stdins: list[str], language: str | Language = "python", files: dict[str, str] | None = None,
              limits: Limits | dict[str, Any] | None = None, backend: str = "auto", url: str | None = None, stop_on_error: bool = False):
    """Run one program once per stdin, in one sandbox start; returns a JobResult
    (``.compile``, ``.cases``)."""
    return get_sandbox(backend, url).run_cases(code, stdins, language, files, limits, stop_on_error)
