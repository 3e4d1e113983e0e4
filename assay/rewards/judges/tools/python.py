"""The ``python`` judge tool: the judge's program runs in assay's sandbox, bounded.

The input is a Python program; the answer is what it printed (stdout, then stderr under a
heading) and, when it did not exit normally, how it ended ("time limit exceeded (wall
clock)", "exit code 1"). The run is bounded by the sandbox's limits: wall-clock seconds (the
call's time bound or ``timeout_seconds``, whichever is smaller), address space
(``memory_mb``), output (``output_bytes``), processes, and no network and no view of the host
(see ``assay.sandbox``). A sandbox that cannot run programs here is a :class:`ToolError`,
shown to the judge like any tool error.

    tools: [{python: {timeout_seconds: 5, memory_mb: 512}}]

Not here: code rewards (``assay.rewards.code``); this tool runs what the judge writes, to
check an arithmetic claim or a snippet of a response, and reports what happened.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assay.rewards.judges.tools.base import Tool, ToolError, ToolOptions


class PythonOptions(ToolOptions):
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    memory_mb: int = Field(512, ge=64, le=16384)
    output_bytes: int = Field(65536, ge=256, le=1 << 24)
    backend: Literal["auto", "bwrap", "unshare", "subprocess", "remote"] = "auto"  # the sandbox backend
    url: str | None = None  # a remote sandbox's address (backend: remote)


class PythonTool(Tool):
    name = "python"
    description = "Run a Python 3 program in an isolated sandbox (no network, no files of the host) and see what it prints. Use print() to show results."
    input_name = "code"
    input_description = "the complete Python program to run"
    Options = PythonOptions

    def call(self, text: str, timeout_seconds: float) -> str:
        from assay import sandbox

        o = self.options
        wall = max(0.1, min(o.timeout_seconds, timeout_seconds))
        limits = {"wall_seconds": wall, "memory_mb": o.memory_mb, "output_bytes": o.output_bytes}
        try:
            result = sandbox.run(text, language="python", limits=limits, backend=o.backend, url=o.url)
        except sandbox.SandboxError as error:
            raise ToolError(f"the sandbox could not run the program: {error}") from None
        parts = [result.stdout.rstrip("\n")] if result.stdout else []
        if result.stderr.strip():
            parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
        if not result.ok:
            parts.append(f"[the program did not finish normally: {result.describe()}]")
        if result.truncated:
            parts.append(f"[output cut at {o.output_bytes} bytes]")
        return "\n".join(parts) if parts else "(the program printed nothing)"
