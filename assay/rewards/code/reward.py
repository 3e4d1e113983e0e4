"""The ``code`` reward: run the response's program against the sample's tests in a sandbox.

For each sample: find the program (``extract.py``), read the tests from the reference or a
named field (``specs.py``: assert-style, stdin/stdout cases, or a pytest file), and run them
in ONE sandbox start (``assay.sandbox``): all stdin/stdout cases of a program go through one
harness, a compiled language is compiled once. Samples of a batch run concurrently in the
shared sandbox pool.

Scores (``scoring``): ``fraction`` of tests passed (default), ``all`` (1 only when every test
passes), ``first_failure`` (the fraction passed before the first failing test; the run
stops at a crash or a time-out). The rationale names the first failing test with its input,
the expected and the actual output (shortened), or the error: a syntax error, an exception
with its type and line, a time or memory limit exceeded, a compile error.

What is a score and what is a failure:

- a program that is wrong, crashes, loops or eats memory earns its 0 for those tests: a score;
- a response without a program scores 0 (nothing to run), saying so;
- a sandbox that could not run the program (no isolating backend installed, a remote
  sandbox down) is a ``backend`` failure, never a 0;
- tests that are missing or malformed are an ``input`` failure.

    >>> from assay.rewards.code.reward import CodeReward
    >>> from assay.types import Sample
    >>> reward = CodeReward()
    >>> tests = {"test_list": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]}
    >>> [round(j.score, 2) for j in reward.score([
    ...     Sample(response="```python\\ndef add(a, b):\\n    return a + b\\n```", reference=tests),
    ...     Sample(response="```python\\ndef add(a, b):\\n    return a - b\\n```", reference=tests)])]
    [1.0, 0.0]
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from assay.reward import Options as BaseOptions
from assay.reward import Reward
from assay.rewards.code.compare import outputs_match, shown
from assay.rewards.code.extract import extract_program
from assay.rewards.code.specs import SpecError, Suite, read_suite
from assay.text import shorten
from assay.types import Judgment, Sample

__all__ = ["CodeReward"]

DRIVER = Path(__file__).with_name("assert_driver.py")
_TRACE_LINE = re.compile(r'File "(?:main\.py|solution\.py|/tmp/main\.py)", line (\d+)')
_ERROR_LINE = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception|Exit|Interrupt|Warning)|[A-Z]\w*Error)\b:?\s*(.*)$", re.MULTILINE)


class CodeReward(Reward):
    """Fraction of the sample's tests the response's program passes, run in a sandbox."""

    type_name = "code"

    class Options(BaseOptions):
        tests_field: str | None = None
        """Sample field holding the tests (None: the reference)."""
        format: Literal["auto", "assert", "stdio", "pytest"] = "auto"
        """How to read the tests; ``auto`` tells them apart by their shape."""
        extract: Literal["fenced", "whole", "tag"] = "fenced"
        """Where the program is: the last fenced block, the whole answer, or a tag's text."""
        block_language: str | None = None
        """With ``extract: fenced``: only blocks fenced with this language tag."""
        tag: str = "code"
        """With ``extract: tag``: the tag name (``<code>...</code>``)."""
        prepend_field: str | None = None
        """A sample field whose text goes before the program (``prompt`` for HumanEval-style completions)."""
        language: str = "auto"
        """``python``, ``cpp``, a configured language, or ``auto`` (the fence's tag, else python)."""
        languages: dict[str, dict[str, Any]] = {}
        """Other languages: name -> {source, compile, run} (commands as lists or strings)."""
        scoring: Literal["fraction", "all", "first_failure"] = "fraction"
        compare: Literal["tokens", "lines", "exact"] = "tokens"
        """stdin/stdout comparison: whitespace-separated tokens, lines (trailing spaces ignored), exact."""
        float_tolerance: float | None = Field(None, ge=0)
        """Numbers in the output match within this absolute or relative difference."""
        case_sensitive: bool = True
        timeout_seconds: float = Field(5.0, gt=0, le=600)
        """Time limit per test case (for assert-style tests and pytest files: for the whole file)."""
        memory_mb: int = Field(1024, ge=16)
        limits: dict[str, Any] = {}
        """Other sandbox limits (assay.sandbox.Limits fields: processes, file_size_mb, output_bytes, ...)."""
        module: str = "solution"
        """pytest format: the module name the program is importable as."""
        backend: Literal["auto", "bwrap", "unshare", "subprocess", "remote"] = "auto"
        """The sandbox: ``auto`` is bubblewrap, else unshare; ``subprocess`` (no isolation) only when named."""
        url: str | None = None
        """The remote backend's SandboxFusion-compatible server."""

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        from assay.sandbox import Limits, Sandbox

        opts = self.options
        self.limits = Limits.of({**opts.limits, "wall_seconds": opts.timeout_seconds, "memory_mb": opts.memory_mb})
        self.sandbox = Sandbox(opts.backend, url=opts.url, languages=opts.languages)
        self._pytest_sandbox: Sandbox | None = None  # the same, plus pytest's installation mounted read-only
        self._pytest_paths: tuple[str, ...] = ()

    def _sandbox_for(self, suite: Suite):
        if suite.kind != "pytest" or self.options.backend == "remote":
            return self.sandbox
        if self._pytest_sandbox is None:
            from assay.sandbox import Sandbox, SandboxError

            try:
                import pytest
            except ImportError:
                raise SandboxError("pytest-format tests need pytest installed beside assay (pip install pytest)") from None
            self._pytest_paths = (os.path.dirname(os.path.dirname(pytest.__file__)),)
            from assay.sandbox.backends import others_can_read

            if os.geteuid() == 0 and self.options.backend != "subprocess" and not others_can_read(self._pytest_paths[0]):
                raise SandboxError(f"pytest-format tests mount pytest's installation ({self._pytest_paths[0]}) into the sandbox, whose user "
                                   "(nobody) cannot read it: a folder above it is not searchable by others (e.g. mode 700); "
                                   "install assay where others can read it (chmod o+rx on the folders)")
            opts = self.options
            self._pytest_sandbox = Sandbox(opts.backend, url=opts.url, languages=opts.languages, extra_ro_paths=self._pytest_paths)
        return self._pytest_sandbox

    # --- one sample -> one sandbox job ---------------------------------------------------------
    def _prepare(self, sample: Sample):
        opts = self.options
        raw = sample.reference if opts.tests_field is None else sample.fields().get(opts.tests_field)
        if raw is None and opts.tests_field is not None:
            return Judgment.fail("input", f"the sample has no field {opts.tests_field!r} with tests")
        try:
            suite = read_suite(raw, opts.format)
        except SpecError as error:
            return Judgment.fail("input", f"malformed tests: {error}")
        program = extract_program(sample.response_text, opts.extract, opts.block_language, opts.tag)
        if program.code is None:
            return Judgment(0.0, f"no program found ({program.where} of the answer is missing or empty); 0 of {len(suite)} tests run",
                            details={"passed": 0, "total": len(suite)})
        code = program.code
        if opts.prepend_field:
            code = str(sample.fields().get(opts.prepend_field) or "") + code
        name = opts.language if opts.language != "auto" else (program.language or "python")
        try:
            language = self.sandbox.language(name)
        except ValueError:
            if opts.language != "auto":
                return Judgment.fail("input", f"unknown language {name!r}")
            language = self.sandbox.language("python")
        if suite.kind != "stdio" and language.name != "python":
            return Judgment.fail("input", f"{suite.kind} tests need a Python program; the program is {language.name}")
        sandbox = self._sandbox_for(suite)
        return suite, sandbox, self._job(suite, code, language, sandbox)

    def _job(self, suite: Suite, code: str, language, sandbox):
        stop = self.options.scoring != "fraction"
        if suite.kind == "stdio":
            return sandbox.job(code, language, suite.tests, limits=self.limits, stop_on_error=stop)
        if suite.kind == "assert":
            nonce = secrets.token_hex(16)
            spec = {"nonce": nonce, "program": code, "setup": suite.setup, "tests": list(suite.tests)}
            job = sandbox.job(DRIVER.read_text(), "python", ("",), files={"_assay_tests.txt": repr(spec)}, limits=self.limits)
            return job, nonce
        from assay.sandbox.backends import sandbox_view
        from assay.sandbox.languages import Language

        paths = ", ".join(repr(sandbox_view(p)) for p in self._pytest_paths)
        runner = Language("pytest", f"{self.options.module}.py", None, (
            "{python}", "-c", f"import sys; sys.path[:0] = [{paths}]; import pytest; "
            "sys.exit(pytest.main(['-q', '-rA', '--tb=short', '-p', 'no:cacheprovider', '-o', 'addopts=', 'test_assay.py']))"))
        return sandbox.job(code, runner, ("",), files={"test_assay.py": suite.pytest_file},
                                limits=self.limits.replace(wall_seconds=self.limits.wall_seconds + 10, processes=max(self.limits.processes, 64)), fork=False)

    # --- a batch ------------------------------------------------------------------------------
    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        from assay.sandbox import SandboxError

        prepared = []
        for sample in samples:
            try:
                prepared.append(self._prepare(sample))
            except SandboxError as error:
                prepared.append(Judgment.fail("backend", str(error)))
        out: list[Judgment | None] = [p if isinstance(p, Judgment) else None for p in prepared]
        groups: dict[int, tuple[Any, list[int]]] = {}  # one batch per sandbox (the pytest one mounts more)
        for i, p in enumerate(prepared):
            if not isinstance(p, Judgment):
                groups.setdefault(id(p[1]), (p[1], []))[1].append(i)
        for sandbox, indices in groups.values():
            try:
                backend = sandbox.backend
            except SandboxError as error:
                for i in indices:
                    out[i] = Judgment.fail("backend", str(error))
                continue
            jobs = [prepared[i][2] for i in indices]
            results = sandbox.execute_many([job[0] if isinstance(job, tuple) else job for job in jobs])
            for i, job, result in zip(indices, jobs, results):
                suite = prepared[i][0]
                if isinstance(result, SandboxError):
                    out[i] = Judgment.fail("backend", f"the sandbox could not run the program: {result}")
                else:
                    out[i] = self._judge(suite, result, job[1] if isinstance(job, tuple) else None, backend.name)
        return out  # type: ignore[return-value]

    # --- verdicts ---------------------------------------------------------------------------
    def _judge(self, suite: Suite, result, nonce: str | None, backend: str) -> Judgment:
        total = len(suite)
        meta = {"backend": backend}
        if result.compile_failed:
            c = result.compile
            if _not_started(c):
                return Judgment.fail("backend", f"the compiler could not be started in the sandbox: {shorten(c.stderr, 240)}", meta=meta)
            what = c.describe() if c.limit else "compile error"
            return Judgment(0.0, f"{what}: {shorten(_first_error_lines(c.stderr), 240)}; 0 of {total} tests passed",
                            details={"passed": 0, "total": total}, meta=meta)
        if suite.kind == "stdio":
            outcomes = [self._stdio_outcome(suite, n, r) for n, r in enumerate(result.cases)]
            outcomes += [(False, "not run (an earlier case failed)")] * (total - len(outcomes))
        elif suite.kind == "assert":
            outcomes = _assert_outcomes(suite, result.cases[0], nonce or "")
            if isinstance(outcomes, Judgment):
                outcomes.meta.update(meta)
                return outcomes
        else:
            run = result.cases[0]
            if run.limit is None and run.exit_code == 5:
                return Judgment.fail("input", "the pytest file collected no test (pytest exit 5): there is nothing to score", meta=meta)
            if run.limit is None and run.exit_code in (3, 4):
                return Judgment.fail("backend", f"pytest itself failed (exit {run.exit_code}): {shorten((run.stdout + run.stderr).strip()[-240:], 240)}", meta=meta)
            outcomes, total = _pytest_outcomes(run)
        if suite.kind != "pytest" and result.cases and _not_started(result.cases[0]):
            return Judgment.fail("backend", f"the program's interpreter could not be started in the sandbox: {shorten(result.cases[0].stderr, 240)}", meta=meta)
        return self._verdict(suite, outcomes, total, meta)

    def _stdio_outcome(self, suite: Suite, n: int, run) -> tuple[bool, str]:
        if run.status != "ok":
            return False, f"{suite.names[n]} (input {shown(suite.tests[n], 60)}): {_run_error(run)}"
        o = self.options
        if outputs_match(run.stdout, suite.expected[n], o.compare, o.float_tolerance, o.case_sensitive):
            return True, ""
        return False, f"{suite.names[n]}: input {shown(suite.tests[n], 60)}, expected {shown(suite.expected[n])}, got {shown(run.stdout)}"

    def _verdict(self, suite: Suite, outcomes: list[tuple[bool, str]], total: int, meta: dict) -> Judgment:
        passed = sum(ok for ok, _ in outcomes)
        total = max(total, len(outcomes), 1)
        first = next((why for ok, why in outcomes if not ok), "")
        before_first = next((n for n, (ok, _) in enumerate(outcomes) if not ok), len(outcomes))
        scoring = self.options.scoring
        score = passed / total if scoring == "fraction" else float(passed == total) if scoring == "all" else before_first / total
        summary = f"{passed} of {total} tests passed"
        rationale = summary if not first else f"{summary}; first failure: {first}"
        details = {"passed": passed, "total": total, "tests": [{"passed": ok, **({"reason": why} if why else {})} for ok, why in outcomes[:50]]}
        return Judgment(score, rationale, details=details, meta=meta)


def _first_error_lines(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "error" in line.lower()]
    return " | ".join(lines[:2]) if lines else stderr.strip()[:240]


def _run_error(run) -> str:
    """What went wrong in a run, in words: the limit hit, or the exception with its line."""
    if run.limit:
        return run.describe()
    error = _python_error(run.stderr)
    if error:
        return error
    if run.signal:
        return f"killed by signal {run.signal}" + (f" ({shorten(run.stderr.strip(), 80)})" if run.stderr.strip() else "")
    tail = run.stderr.strip().splitlines()[-1:] if run.stderr.strip() else []
    return f"exit code {run.exit_code}" + (f" ({shorten(tail[0], 100)})" if tail else "")


def _python_error(stderr: str) -> str | None:
    if "Traceback" not in stderr and "SyntaxError" not in stderr:
        return None
    errors = _ERROR_LINE.findall(stderr)
    if not errors:
        return None
    kind, message = errors[-1]
    lines = _TRACE_LINE.findall(stderr)
    where = f" at line {lines[-1]}" if lines else ""
    return f"{kind}{where}" + (f": {shorten(message, 100)}" if message else "")


def _assert_outcomes(suite: Suite, run, nonce: str) -> list[tuple[bool, str]] | Judgment:
    """Each test's (passed, why) from the driver's reports; a failure of the tests' own setup
    is a typed failure instead (a missing package: ``backend``; setup code that raises: ``input``)."""
    reports = []
    for line in run.stdout.splitlines():
        if line.startswith(nonce + " "):
            try:
                reports.append(json.loads(line[len(nonce) + 1:]))
            except ValueError:
                continue
    total = len(suite.tests)
    program = next((r for r in reports if r.get("stage") == "program"), None)
    if program is not None:
        where = f" at line {program['line']}" if program.get("line") else ""
        message = f": {shorten(program['message'], 100)}" if program.get("message") else ""
        return [(False, f"the program fails before any test: {program['error']}{where}{message}")] * total
    setup = next((r for r in reports if r.get("stage") == "setup"), None)
    if setup is not None:
        message = f"{setup['error']}: {shorten(setup.get('message', ''), 160)}"
        if setup["error"] in ("ModuleNotFoundError", "ImportError"):
            return Judgment.fail("backend", f"the tests' imports fail in the sandbox ({message}): the sandbox lacks a package the tests need; the program was not scored")
        return Judgment.fail("input", f"the tests' setup code fails ({message}): the program was not scored")
    if not any(r.get("stage") == "loaded" for r in reports):
        return [(False, f"the program did not finish loading: {_run_error(run) if not run.ok else 'it exited early'}")] * total
    outcomes: list[tuple[bool, str]] = []
    tests = {r["index"]: r for r in reports if r.get("stage") == "test"}
    for n in range(total):
        report = tests.get(n)
        if report is None:
            why = _run_error(run) if not run.ok else "it exited before this test ran"
            outcomes.append((False, f"{shorten(suite.names[n], 80)}: {why}"))
        elif report.get("passed"):
            outcomes.append((True, ""))
        else:
            shown = report.get("test_line") or suite.names[n]
            message = f": {shorten(report['message'], 100)}" if report.get("message") else ""
            where = f" (solution.py line {report['line']})" if report.get("line") else ""
            outcomes.append((False, f"{shorten(shown, 100)} -> {report['error']}{where}{message}"))
    if not any(r.get("stage") == "done" for r in reports) and all(ok for ok, _ in outcomes):
        outcomes.append((False, f"the run did not complete ({_run_error(run)})"))
    return outcomes


def _not_started(run) -> bool:
    """The sandbox's harness could not exec the command (a compiler or interpreter missing):
    the sandbox failed, not the program (the harness then exits 127 saying so)."""
    return run.exit_code == 127 and "harness: " in (run.stderr or "")


_PYTEST_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED)\s+(\S+)(?:\s+-\s+(.*))?$", re.MULTILINE)


_PYTEST_E_LINE = re.compile(r"^E\s+(.+)$", re.MULTILINE)


def _pytest_outcomes(run) -> tuple[list[tuple[bool, str]], int]:
    outcomes = []
    e_lines = _PYTEST_E_LINE.findall(run.stdout)
    for status, node, message in _PYTEST_LINE.findall(run.stdout):
        if status == "ERROR" and not message and e_lines:  # a collection error: pytest's "E ..." lines say what
            message = next((line for line in e_lines if "Error" in line), e_lines[0])
        if status in ("SKIPPED", "XFAIL"):
            continue
        ok = status in ("PASSED", "XPASS")
        outcomes.append((ok, "" if ok else f"{node} {status.lower()}" + (f": {shorten(message, 120)}" if message else "")))
    if not outcomes:
        if run.limit:
            return [(False, f"the pytest run: {run.describe()}")], 1
        error = _python_error(run.stdout + "\n" + run.stderr)
        return [(False, f"no test ran: {error or shorten((run.stdout + run.stderr).strip()[-200:], 200)}")], 1
    if run.limit:
        outcomes.append((False, f"the pytest run: {run.describe()}"))
    return outcomes, len(outcomes)
