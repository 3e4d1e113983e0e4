"""A sandbox behind SandboxFusion's HTTP API: ``POST {url}/run_code``.

For users who run SandboxFusion (or ``python -m assay.sandbox.server``) at scale: each case of
a job is one request

    {"code", "language", "stdin", "compile_timeout", "run_timeout", "memory_limit_MB", "files"}

(``files``: name -> base64), answered with ``{"status": "Success" | "Failed" | "SandboxError",
"message", "compile_result", "run_result": {"status": "Finished" | "TimeLimitExceeded" |
"Error", "return_code", "stdout", "stderr", "execution_time"}}``.

The point of this module is the line between the program and the sandbox: a run that
finished, failed or timed out is a RunResult; a connection refused, a timeout of the HTTP
call itself, a 5xx after bounded retries, an answer that is not that JSON, or a
``SandboxError`` status raise SandboxError (a reward's ``backend`` failure), never a 0.

Not covered: what the remote sandbox isolates is the remote side's business (SandboxFusion's
own documentation); the rlimits other than time and memory are not part of its API.
"""

from __future__ import annotations

import base64
import time

import httpx

from assay.sandbox.job import Job, JobResult
from assay.sandbox.result import RunResult, SandboxError

MEMORY_MARKERS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory")
LANGUAGE_NAMES = {"python": "python", "cpp": "cpp"}


class RemoteBackend:
    name = "remote"
    isolated = True

    def __init__(self, url: str, timeout_seconds: float = 60.0, retries: int = 2) -> None:
        self.url = url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_seconds, connect=5.0))

    def check(self) -> None:
        """Nothing to probe up front: a remote that is down fails the first request."""

    def request(self, job: Job, stdin: str) -> dict:
        files = {name: base64.b64encode(text.encode()).decode() for name, text in job.files}
        return {
            "code": job.code,
            "language": LANGUAGE_NAMES.get(job.language.name, job.language.name),
            "stdin": stdin,
            "compile_timeout": job.compile_limits.wall_seconds,
            "run_timeout": job.limits.wall_seconds,
            "memory_limit_MB": job.limits.memory_mb,
            "files": files,
        }

    def _post(self, body: dict) -> dict:
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(0.2 * 2 ** (attempt - 1))
            try:
                response = self._client.post(f"{self.url}/run_code", json=body)
            except httpx.TransportError as error:  # refused, reset, timed out: the sandbox is not answering
                problem = f"{type(error).__name__}: {error}"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code != 200:
                raise SandboxError(f"remote sandbox {self.url} refused the request: HTTP {response.status_code}: {response.text[:300]}")
            try:
                data = response.json()
            except ValueError:
                raise SandboxError(f"remote sandbox {self.url} answered something that is not JSON: {response.text[:200]!r}") from None
            if not isinstance(data, dict) or "status" not in data:
                raise SandboxError(f"remote sandbox {self.url} answered without a status: {str(data)[:200]}")
            return data
        raise SandboxError(f"remote sandbox {self.url} is not answering after {self.retries + 1} attempts ({problem})")

    def execute(self, job: Job) -> JobResult:
        cases: list[RunResult] = []
        compile_result = None
        for stdin in job.cases:
            data = self._post(self.request(job, stdin))
            if data["status"] == "SandboxError":
                raise SandboxError(f"remote sandbox {self.url} could not run the program: {data.get('message') or data}")
            compiled = data.get("compile_result")
            if compiled and compiled.get("return_code") not in (0, None) or (compiled and compiled.get("status") == "TimeLimitExceeded"):
                compile_result = self._result(compiled, compile_step=True)
                return JobResult([], compile_result, self.name)
            if compiled:
                compile_result = self._result(compiled)
            run = data.get("run_result")
            if not isinstance(run, dict):
                raise SandboxError(f"remote sandbox {self.url} answered without a run result: {data.get('message') or data}")
            cases.append(self._result(run))
            if job.stop_on_error and cases[-1].status != "ok":
                break
        return JobResult(cases, compile_result, self.name)

    def _result(self, run: dict, compile_step: bool = False) -> RunResult:
        stdout, stderr = run.get("stdout") or "", run.get("stderr") or ""
        code = run.get("return_code")
        common = dict(exit_code=code, stdout=stdout, stderr=stderr, wall_seconds=float(run.get("execution_time") or 0.0), backend=self.name)
        if run.get("status") == "TimeLimitExceeded":
            return RunResult("timeout", limit="wall_time", **common)
        if compile_step:
            return RunResult("compile_error", **common)
        if code == 0 and run.get("status") == "Finished":
            return RunResult("ok", **common)
        if any(marker in stderr[-4000:] for marker in MEMORY_MARKERS):
            return RunResult("memory", limit="memory", **common)
        return RunResult("error", **common)

    def close(self) -> None:
        self._client.close()
