"""Read a sample's tests into one of three suites, whatever format the data set uses.

- **assert** tests (HumanEval, MBPP): code run in the program's namespace after it.
  HumanEval: ``{"test": "def check(candidate): ...", "entry_point": "f"}`` (one test:
  ``check(f)``). MBPP: ``{"test_list": ["assert f(1) == 2", ...], "test_setup_code": ...,
  "test_imports": [...]}`` (one test per assert). Or ``{"tests": [...]}``, a list of test code.
- **stdio** cases (APPS, CodeContests, TACO, LiveCodeBench): ``[{"input": ..., "output":
  ...}, ...]`` or ``{"inputs": [...], "outputs": [...]}``.
- **pytest** file: ``{"pytest": "<test file text>"}`` (the program is importable as the
  module ``solution``).

A value may also be the JSON text of one of these. Anything else is a ``SpecError``, which
the reward reports as an ``input`` failure naming what was wrong. Test code is parsed
(``ast.parse``, never run) here, so a test suite with a syntax error is the data's fault,
not the program's.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any


class SpecError(ValueError):
    """The tests are missing or malformed (an ``input`` failure)."""


@dataclass(frozen=True)
class Suite:
    kind: str  # assert | stdio | pytest
    tests: tuple[str, ...] = ()  # assert: code of each test; stdio: the input of each case
    expected: tuple[str, ...] = ()  # stdio: the expected output of each case
    setup: str = ""  # assert: code run after the program, before the tests (MBPP setup, imports)
    pytest_file: str = ""
    names: tuple[str, ...] = field(default=())  # how each test is named in a rationale

    def __len__(self) -> int:
        return len(self.tests) if self.kind != "pytest" else 1


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "[{":
            try:
                return json.loads(stripped)
            except ValueError as error:
                raise SpecError(f"the tests look like JSON but do not parse: {error}") from None
    return value


def _check_code(code: str, what: str) -> None:
    try:
        ast.parse(code)
    except SyntaxError as error:
        raise SpecError(f"{what} has a syntax error at line {error.lineno}: {error.msg}") from None


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):  # some sets store lines
        return "\n".join(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise SpecError(f"{what} must be text, got {type(value).__name__}")


def read_suite(value: Any, fmt: str = "auto") -> Suite:
    """The tests in ``value`` as a Suite; ``fmt`` forces a format (``assert``, ``stdio``, ``pytest``)."""
    if value is None or value == "" or value == [] or value == {}:
        raise SpecError("the sample has no tests")
    value = _parsed(value)
    if fmt == "pytest" or (isinstance(value, dict) and "pytest" in value):
        text = value.get("pytest") if isinstance(value, dict) else value
        if not isinstance(text, str) or not text.strip():
            raise SpecError("a pytest suite needs the test file's text ({'pytest': '...'})")
        _check_code(text, "the pytest file")
        return Suite("pytest", pytest_file=text, names=("the pytest file",))
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value) or (isinstance(value, dict) and "inputs" in value):
        if fmt not in ("auto", "stdio"):
            raise SpecError(f"the tests are stdin/stdout cases, but format is {fmt!r}")
        return _stdio(value)
    if isinstance(value, dict) and ("test" in value or "test_list" in value or "tests" in value):
        if fmt not in ("auto", "assert"):
            raise SpecError(f"the tests are assert-style, but format is {fmt!r}")
        return _asserts(value)
    if isinstance(value, str) and fmt == "assert":
        _check_code(value, "the test code")
        return Suite("assert", (value,), names=("the test code",))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value) and fmt in ("auto", "assert"):
        return _asserts({"tests": value})
    raise SpecError(
        "cannot read the tests: expected {'test', 'entry_point'} (HumanEval), {'test_list'} (MBPP), a list of "
        "{'input', 'output'} cases, {'inputs', 'outputs'}, or {'pytest': text}; got "
        + (f"a dict with keys {sorted(value)[:8]}" if isinstance(value, dict) else type(value).__name__)
    )


def _stdio(value: Any) -> Suite:
    if isinstance(value, dict):
        if value.get("fn_name"):
            raise SpecError("call-based tests (APPS 'fn_name') are not supported; give stdin/stdout cases or assert tests")
        inputs, outputs = value.get("inputs"), value.get("outputs")
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
            raise SpecError("'inputs' and 'outputs' must be lists of the same length")
        cases = [{"input": i, "output": o} for i, o in zip(inputs, outputs)]
    else:
        cases = value
    if not cases:
        raise SpecError("the sample has no test cases")
    ins, outs = [], []
    for n, case in enumerate(cases):
        if "input" not in case or "output" not in case:
            raise SpecError(f"test case {n} needs 'input' and 'output' keys, has {sorted(case)}")
        ins.append(_text(case["input"], f"test case {n}'s input"))
        outs.append(_text(case["output"], f"test case {n}'s output"))
    return Suite("stdio", tuple(ins), tuple(outs), names=tuple(f"case {n}" for n in range(len(ins))))


def _asserts(value: dict) -> Suite:
    setup_parts = []
    imports = value.get("test_imports") or []
    if isinstance(imports, str):
        imports = [imports]
    setup_parts += [str(i) for i in imports]
    if value.get("test_setup_code"):
        setup_parts.append(str(value["test_setup_code"]))
    setup = "\n".join(setup_parts)
    if setup:
        _check_code(setup, "the test setup code")
    if "test" in value and "test_list" not in value:
        test = value["test"]
        if not isinstance(test, str) or not test.strip():
            raise SpecError("'test' must be the test code")
        entry = value.get("entry_point")
        if entry is not None and (not isinstance(entry, str) or not entry.isidentifier()):
            raise SpecError(f"'entry_point' must be a function name, got {entry!r}")
        code = test + (f"\ncheck({entry})\n" if entry and "def check" in test else "")
        _check_code(code, "the test code")
        return Suite("assert", (code,), setup=setup, names=(f"check({entry})" if entry else "the test code",))
    tests = value.get("test_list") if "test_list" in value else value.get("tests")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise SpecError("'test_list' / 'tests' must be a non-empty list of test code strings")
    for n, test in enumerate(tests):
        _check_code(test, f"test {n}")
    return Suite("assert", tuple(tests), setup=setup, names=tuple(t.strip().splitlines()[0] if t.strip() else f"test {n}" for n, t in enumerate(tests)))
