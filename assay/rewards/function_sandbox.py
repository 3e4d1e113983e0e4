"""``{type: function, path: "file.py:name", sandbox: true}``: your function run in the sandbox,
for code you do not trust (written by a model, by ``assay reward-gen``, by someone else).

The file is read once, when the reward is built, and its snapshot is mounted read-only into
every sandbox start (the file is never imported into assay's process). Samples go in as
JSON on the program's stdin, in batches of ``batch_size`` samples per sandbox start, each
sample in its own forked process with its own bounds (``timeout_seconds``, ``memory_mb``,
the output cap and the sandbox's other ``limits``); a batch is bounded by the sum of its
samples' bounds, after which the whole sandbox is killed. The function's verdict comes back
as one JSON line; what it prints goes to stderr and is kept (shortened) for the failure.

    rewards:
      generated: {type: function, path: "reward.py:reward", sandbox: true, timeout_seconds: 2}

What is a score and what is a failure (the same split as the ``code`` reward):

- the function's number (or ``(number, rationale)``) is the score; None is an abstention;
- the sandbox that cannot run at all (no isolating backend, a harness that does not start)
  is a ``backend`` failure of every sample of the batch;
- the function running past its time is a ``timeout`` failure of that sample;
- the file failing to load, the function raising, crashing, running out of memory, hitting
  the process limit or writing past the output cap is an ``internal`` failure (the reward's
  own code failed), saying which;
- a return value that is not a score, or output that is not one result line, is a ``parse``
  failure.

Never a 0 for any of them. What it is not: a way to use packages outside the standard
library (the sandbox's Python runs without site-packages) or a second file of yours (only
the named file is mounted).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from assay.types import Judgment, Sample

__all__ = ["SANDBOX_OPTIONS", "SandboxedFunction", "snapshot"]

RUNNER = Path(__file__).with_name("_function_runner.py")
SANDBOX_OPTIONS = ("timeout_seconds", "memory_mb", "batch_size", "limits", "backend")
_ERROR_LINE = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception|Exit|Interrupt|Warning)|[A-Z]\w*Error)\b:?\s*(.*)$", re.MULTILINE)

_folder: str | None = None
_folder_lock = threading.Lock()


def _snapshot_folder() -> str:
    """One folder per process holding the snapshots (mode 755: the sandbox's user, nobody,
    must be able to read it; removed at exit)."""
    global _folder
    with _folder_lock:
        if _folder is None or not os.path.isdir(_folder):
            _folder = tempfile.mkdtemp(prefix="assay-functions-")
            os.chmod(_folder, 0o755)
            atexit.register(shutil.rmtree, _folder, True)
        return _folder


def snapshot(source: str) -> str:
    """Write ``source`` into the snapshot folder (read-only, named by its hash); its path."""
    path = os.path.join(_snapshot_folder(), hashlib.sha256(source.encode("utf-8")).hexdigest()[:24] + ".py")
    if not os.path.exists(path):
        partial = path + f".{secrets.token_hex(4)}.part"
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(source)
        os.chmod(partial, 0o444)
        os.replace(partial, path)
    return path


def _shorten(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SandboxedFunction:
    """Runs ``function`` of the file ``file`` on samples in the sandbox; ``score(samples)``
    returns one Judgment per sample (see the module docstring for the outcomes). The reward
    class (``assay.rewards.function``) wraps it; ``assay reward-gen`` uses it directly."""

    def __init__(self, file: Path | None, function: str, where: str, timeout_seconds: float = 5.0, memory_mb: int = 512, batch_size: int = 16,
                 limits: dict[str, Any] | None = None, backend: str = "auto", source: str | None = None) -> None:
        from assay.sandbox import Limits, Sandbox

        if source is None:
            if file is None:
                raise ValueError("give the function's file or its source")
            source = Path(file).read_text(encoding="utf-8")
        self.source = source
        self.function = function
        self.where = where
        self.batch_size = batch_size
        self.path = snapshot(self.source)
        self.limits = Limits.of({**(limits or {}), "wall_seconds": timeout_seconds, "memory_mb": memory_mb})
        self.sandbox = Sandbox(backend, extra_ro_paths=(os.path.dirname(self.path),))
        self.runner = RUNNER.read_text(encoding="utf-8")

    def score(self, samples: list[Sample]) -> list[Judgment]:
        from assay.sandbox import SandboxError
        from assay.sandbox.backends import others_can_read, sandbox_view

        try:
            backend = self.sandbox.backend
            backend.check()
        except SandboxError as error:
            return [Judgment.fail("backend", f"the sandbox cannot run the function: {error}") for _ in samples]
        if os.geteuid() == 0 and backend.name != "subprocess" and not others_can_read(self.path):
            return [Judgment.fail("backend", f"the function's snapshot ({self.path}) is not readable by the sandbox's user (nobody): a folder "
                                  "above it is not searchable by others; set TMPDIR to a folder others can read") for _ in samples]
        module = self.path if backend.name == "subprocess" else sandbox_view(self.path)
        nonce = secrets.token_hex(16)
        jobs, inputs = [], []
        for start in range(0, len(samples), self.batch_size):
            batch = samples[start:start + self.batch_size]
            cases = [json.dumps({"module": module, "function": self.function, "nonce": nonce, "fields": _fields(s)}, default=str) for s in batch]
            jobs.append(self.sandbox.job(self.runner, "python", cases, limits=self.limits))
            inputs.append(len(batch))
        out: list[Judgment] = []
        for count, result in zip(inputs, self.sandbox.execute_many(jobs)):
            if isinstance(result, SandboxError):
                out += [Judgment.fail("backend", f"the sandbox could not run the function: {result}") for _ in range(count)]
                continue
            cases = list(result.cases) + [None] * (count - len(result.cases))
            out += [self._verdict(run, nonce, backend.name) for run in cases]
        return out

    def _verdict(self, run: Any, nonce: str, backend: str) -> Judgment:
        meta = {"backend": backend}
        if run is None:
            return Judgment.fail("backend", "the sandbox reported no result for this sample", **meta)
        meta |= {"wall_seconds": run.wall_seconds, "memory_mb": run.memory_mb}
        stderr = run.stderr or ""
        raw = stderr[-2000:] or None
        if run.exit_code == 127 and "harness: " in stderr:
            return Judgment.fail("backend", f"the sandbox's Python could not be started: {_shorten(stderr)}", raw=raw, **meta)
        if run.limit in ("wall_time", "cpu_time"):
            return Judgment.fail("timeout", f"{self.where} ran past its {self.limits.wall_seconds:g} s limit on this sample ({run.describe()})", raw=raw, **meta)
        if run.limit is not None:
            return Judgment.fail("internal", f"{self.where} hit a sandbox limit on this sample: {run.describe()}", raw=raw, **meta)
        lines = (run.stdout or "").splitlines()
        results = [line for line in lines if line.startswith(nonce + " ")]
        if not results:
            if run.status == "ok":
                return Judgment.fail("internal", f"{self.where} ended its process before returning (no result came back)", raw=raw, **meta)
            return Judgment.fail("internal", f"{self.where} crashed on this sample: {_crash(run)}", raw=raw, **meta)
        if len(lines) != 1:
            return Judgment.fail("parse", f"the output of {self.where} could not be read: {len(lines)} lines where one result line was expected "
                                 "(something wrote to the result channel)", raw=_shorten(run.stdout, 2000), **meta)
        try:
            data = json.loads(results[0][len(nonce) + 1:])
        except ValueError:
            return Judgment.fail("parse", f"the output of {self.where} could not be read (not JSON)", raw=_shorten(run.stdout, 2000), **meta)
        return self._read(data, raw, meta)

    def _read(self, data: Any, raw: str | None, meta: dict[str, Any]) -> Judgment:
        if not isinstance(data, dict):
            return Judgment.fail("parse", f"the output of {self.where} could not be read", **meta)
        if data.get("abstain"):
            return Judgment(None, f"{self.where} abstained (returned None)", meta=meta)
        error = data.get("error")
        if error is not None:
            line = f" at line {data['line']}" if data.get("line") else ""
            what = f"{data.get('type')}{line}: {_shorten(str(data.get('message') or ''), 200)}"
            if error == "load":
                return Judgment.fail("internal", f"{self.where} could not be loaded in the sandbox: {what}", raw=raw, **meta)
            if error == "returned":
                return Judgment.fail("parse", f"{self.where} {_shorten(str(data.get('message') or ''), 200)}", raw=raw, **meta)
            return Judgment.fail("internal", f"{self.where} raised {what}", raw=raw, **meta)
        score = data.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            return Judgment.fail("parse", f"the output of {self.where} holds no score", **meta)
        rationale = data.get("rationale")
        return Judgment(float(score), str(rationale) if rationale is not None else f"{self.where} returned {float(score):g}", meta=meta)


def _fields(sample: Sample) -> dict[str, Any]:
    """What the function may name, as for an in-process function: every field, texts joined."""
    return {**sample.fields(), "prompt": sample.prompt_text, "response": sample.response_text, "reference": sample.reference}


def _crash(run: Any) -> str:
    errors = _ERROR_LINE.findall(run.stderr or "")
    if errors:
        kind, message = errors[-1]
        return kind + (f": {_shorten(message, 120)}" if message else "")
    return run.describe()
