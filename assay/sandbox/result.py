"""What a sandboxed run returns: ``RunResult`` (about the program) and ``SandboxError``
(the sandbox itself could not run it).

The split is the point: a program that crashes, loops or eats memory gives a ``RunResult``
whose ``status`` and ``limit`` say so, and a reward scores it (usually 0, honestly); a
sandbox that is missing, misconfigured or unreachable raises ``SandboxError``, which a
reward turns into a ``backend`` failure, never into a score.

    >>> from assay.sandbox.result import RunResult
    >>> r = RunResult(status="timeout", exit_code=None, signal=9, limit="wall_time", wall_seconds=2.0)
    >>> r.ok, r.describe()
    (False, 'time limit exceeded (wall clock)')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "error", "timeout", "memory", "output", "compile_error"]
LimitHit = Literal["wall_time", "cpu_time", "memory", "output", "file_size", "processes", "open_files"]

LIMIT_WORDS = {
    "wall_time": "time limit exceeded (wall clock)",
    "cpu_time": "time limit exceeded (CPU time)",
    "memory": "memory limit exceeded",
    "output": "output limit exceeded",
    "file_size": "file size limit exceeded",
    "processes": "process limit reached",
    "open_files": "open-file limit reached",
}


class SandboxError(RuntimeError):
    """The sandbox could not run the program (no isolating backend, a remote sandbox down,
    a harness that could not start). Not a verdict on the program."""


@dataclass
class RunResult:
    """One program run (or one test case of a multi-case run).

    ``status``: ``ok`` (exit 0), ``error`` (non-zero exit or killed by a signal),
    ``timeout`` (CPU or wall-clock limit), ``memory``, ``output`` (output or file size
    limit), ``compile_error`` (the compile step failed; ``stderr`` holds its messages).
    ``limit`` names the limit hit, if any. ``memory_mb`` is the peak resident memory of the
    largest process. ``truncated`` says stdout or stderr was cut at the output cap.
    """

    status: Status
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    memory_mb: float = 0.0
    limit: LimitHit | None = None
    truncated: bool = False
    backend: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        """The outcome in words, for a rationale."""
        if self.limit:
            return LIMIT_WORDS[self.limit]
        if self.status == "ok":
            return "exited normally"
        if self.status == "compile_error":
            return "compile error"
        if self.signal:
            return f"killed by signal {self.signal}"
        return f"exit code {self.exit_code}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
