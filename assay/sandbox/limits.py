"""What one sandboxed run may use: the bounds every run carries, whatever its backend.

``Limits`` is a frozen dataclass so a run's bounds can be shared, hashed and written into a
rationale. Every field is a hard bound enforced by the kernel (rlimits set in the process
before the program starts) or by the parent (the wall clock, the output cap); none is advice.

    >>> from assay.sandbox.limits import Limits
    >>> Limits(wall_seconds=2).cpu_seconds
    2.0
    >>> Limits(memory_mb=256).replace(memory_mb=512).memory_mb
    512

What it is not: a CPU-share or I/O-bandwidth quota (no cgroups); a program may use whole
cores within its CPU seconds, and the pool bounds how many programs run at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Bounds of one program run (per test case when a harness runs several cases)."""

    wall_seconds: float = 10.0
    """Wall-clock time of one run; past it the run (its whole process group or namespace) is killed."""
    cpu_seconds: float | None = None
    """CPU seconds (RLIMIT_CPU); defaults to ``wall_seconds``."""
    memory_mb: int = 1024
    """Address space per process (RLIMIT_AS), in MiB."""
    processes: int = 64
    """Processes and threads of the sandbox user (RLIMIT_NPROC): a fork bomb stops here."""
    file_size_mb: int = 64
    """Largest file a process may write (RLIMIT_FSIZE), stdout and stderr included, in MiB."""
    open_files: int = 64
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    output_bytes: int = 1 << 20
    """How much of stdout and of stderr is kept; a run that writes more is cut and marked."""
    tmp_mb: int = 256
    """Size of the private writable /tmp (a tmpfs, for the isolating backends)."""

    def __post_init__(self) -> None:
        if self.cpu_seconds is None:
            object.__setattr__(self, "cpu_seconds", float(self.wall_seconds))
        for name in ("wall_seconds", "cpu_seconds", "memory_mb", "processes", "file_size_mb", "open_files", "output_bytes", "tmp_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"limit {name} must be positive, got {getattr(self, name)}")

    def replace(self, **changes: Any) -> Limits:
        if "wall_seconds" in changes and "cpu_seconds" not in changes:
            changes["cpu_seconds"] = None
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, value: Limits | dict[str, Any] | None) -> Limits:
        """Limits from a Limits, a dict of its fields (a config entry), or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Limits):
            return value
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown sandbox limits {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**value)


COMPILE_LIMITS = Limits(wall_seconds=30.0, memory_mb=4096, processes=64, file_size_mb=256, open_files=256)
"""Bounds of a compile step (g++ needs more address space and time than the program it builds)."""
