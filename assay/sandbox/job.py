"""A sandbox job: one program, its files, its compile step, and the stdin of each run.

A job is what every backend executes in ONE sandbox start: the program is compiled once (if
its language compiles) and then run once per case. ``JobResult`` holds the compile step's
result and one ``RunResult`` per case, in order. ``assay.sandbox.run`` is a job of one case.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.sandbox.languages import Language
from assay.sandbox.limits import COMPILE_LIMITS, Limits
from assay.sandbox.result import RunResult


@dataclass(frozen=True)
class Job:
    code: str
    language: Language
    cases: tuple[str, ...] = ("",)
    """The stdin of each run."""
    files: tuple[tuple[str, str], ...] = ()
    """Extra files (name, text) written into the working directory before anything runs."""
    limits: Limits = field(default_factory=Limits)
    """Bounds of each run (each case)."""
    compile_limits: Limits = COMPILE_LIMITS
    stop_on_error: bool = False
    """Stop after the first case that does not exit normally (the rest are not run)."""
    fork: bool = True
    """For Python: run cases in forks of the harness (fast) rather than fresh interpreters."""

    def wall_budget(self) -> float:
        """The longest the whole job may take: every case at its limit, the compile step, slack."""
        compile_time = self.compile_limits.wall_seconds if self.language.compile else 0.0
        return compile_time + len(self.cases) * (self.limits.wall_seconds + 0.5) + 10.0


@dataclass
class JobResult:
    cases: list[RunResult]
    compile: RunResult | None = None
    backend: str = ""

    @property
    def compile_failed(self) -> bool:
        return self.compile is not None and self.compile.status != "ok"
