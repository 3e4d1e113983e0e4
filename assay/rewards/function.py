"""Bring your own reward function: ``type: function`` with ``path: "file.py:name"`` or
``"package.module:name"``.

The function has the shape ``f(response, reference, **fields) -> float | (float, str)``,
the shape most users already have; see ``assay.reward.FunctionReward`` for how it is called.

    rewards:
      mine: {type: function, path: "my_rewards.py:length_score"}

With ``sandbox: true`` the function is not imported into this process: it runs in the
sandbox, for code you do not trust (``assay.rewards.function_sandbox`` says how, with its
options ``timeout_seconds``, ``memory_mb``, ``batch_size``, ``limits``, ``backend``):

    rewards:
      generated: {type: function, path: "reward.py:reward", sandbox: true}

The ``function`` comparator (``FunctionComparator``) decides a pair with your function, or
replays verdicts saved earlier (a published judge's outputs):

    comparator: {type: function, verdicts: "autoj_verdicts.jsonl", label_map: {"0": a, "1": b, "2": tie}}
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field, model_validator

from assay.reward import Comparator, FunctionReward, Options, Reward, identity_of
from assay.types import Judgment, Pair, Preference, Sample, prompt_text, text_of


class FunctionOptions(Options):
    path: str  # "file.py:name" (relative to the config file, then the working directory) or "package.module:name"
    sandbox: bool = False
    """Run the function in the sandbox instead of importing it (for code you do not trust); a ``file.py:name`` path only."""
    timeout_seconds: float = Field(5.0, gt=0, le=600)
    """With ``sandbox``: time limit per sample."""
    memory_mb: int = Field(512, ge=64)
    """With ``sandbox``: address space per sample, in MiB."""
    batch_size: int = Field(16, ge=1, le=1024)
    """With ``sandbox``: samples per sandbox start."""
    limits: dict[str, Any] = {}
    """With ``sandbox``: other sandbox limits (assay.sandbox.Limits fields: processes, output_bytes, ...)."""
    backend: Literal["auto", "bwrap", "unshare", "subprocess"] = "auto"
    """With ``sandbox``: ``auto`` is bubblewrap, else unshare; ``subprocess`` (no isolation) only when named."""

    @model_validator(mode="after")
    def _sandbox_keys(self) -> FunctionOptions:
        from assay.rewards.function_sandbox import SANDBOX_OPTIONS

        stray = [k for k in SANDBOX_OPTIONS if k in self.model_fields_set]
        if stray and not self.sandbox:
            raise ValueError(f"{', '.join(stray)} apply only with sandbox: true")
        if self.sandbox and not self.path.rpartition(":")[0].endswith(".py"):
            raise ValueError(f"sandbox: true runs a file: path must look like 'file.py:name', got {self.path!r}")
        if self.sandbox and self.limits:
            from assay.sandbox.limits import Limits

            Limits.of(self.limits)
        return self


def import_function(path: str, base_dir: Path | None = None) -> Callable[..., Any]:
    """Load ``name`` from ``file.py:name`` or ``package.module:name``; a clear error otherwise."""
    target, sep, attribute = path.rpartition(":")
    if not sep or not target or not attribute:
        raise ValueError(f"function path {path!r} must look like 'file.py:name' or 'package.module:name'")
    if target.endswith(".py"):
        candidates = [Path(target)] if Path(target).is_absolute() else [Path(base_dir or ".") / target, Path.cwd() / target]
        file = next((c for c in candidates if c.is_file()), None)
        if file is None:
            raise FileNotFoundError(f"function file {target!r} not found (looked in {', '.join(str(c.parent) for c in candidates)})")
        module_name = f"assay_user_{abs(hash(str(file.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # so the function pickles by reference in this process
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    fn = getattr(module, attribute, None)
    if fn is None:
        raise AttributeError(f"{target} has no attribute {attribute!r}")
    if isinstance(fn, FunctionReward):
        fn = fn.fn
    if not callable(fn):
        raise TypeError(f"{path} is not callable")
    return fn


class ImportedFunction(FunctionReward):
    """A FunctionReward whose function is named by ``path`` (see ``FunctionOptions``); a
    relative ``file.py`` is looked for in ``base_dir`` (the config file's folder), then the
    working directory."""

    Options = FunctionOptions
    options: FunctionOptions

    def __new__(cls, name: str | None = None, *, base_dir: Path | None = None, **options: Any) -> Any:
        if options.get("sandbox") is True:
            return SandboxedFunctionReward(name, base_dir=base_dir, **options)
        return super().__new__(cls)

    def __init__(self, name: str | None = None, *, base_dir: Path | None = None, **options: Any) -> None:
        path = FunctionOptions.model_validate(options).path
        try:
            fn = import_function(path, base_dir)
        except Exception as error:  # noqa: BLE001 - any failure of the user's file: named, no traceback
            raise load_error(name, path, error) from None
        super().__init__(fn, name=name, **options)


class SandboxedFunctionReward(Reward):
    """``{type: function, path: "file.py:name", sandbox: true}``: the function run in the
    sandbox (``assay.rewards.function_sandbox``), never imported here. Built by
    ``ImportedFunction`` when the options say ``sandbox: true``."""

    type_name = "function"
    Options = FunctionOptions
    options: FunctionOptions

    def __init__(self, name: str | None = None, *, base_dir: Path | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        from assay.rewards.function_sandbox import SandboxedFunction

        o = self.options
        target, _, attribute = o.path.rpartition(":")
        candidates = [Path(target)] if Path(target).is_absolute() else [Path(base_dir or ".") / target, Path.cwd() / target]
        file = next((c for c in candidates if c.is_file()), None)
        if file is None:
            from assay.spec import ConfigError

            where = f"rewards.{name}.path" if name else "path"
            raise ConfigError(f"{where}: function file {target!r} not found (looked in {', '.join(str(c.parent) for c in candidates)})")
        problem = defines(file.read_text(encoding="utf-8", errors="replace"), attribute)
        if problem:
            from assay.spec import ConfigError

            raise ConfigError(f"{f'rewards.{name}.path' if name else 'path'}: {o.path!r} could not be loaded: {problem}")
        self.file = file
        self.runner = SandboxedFunction(file, attribute, o.path, o.timeout_seconds, o.memory_mb, o.batch_size, o.limits, o.backend)

    def identity(self) -> str:
        return identity_of(self, self.runner.source)

    def score_batch(self, samples: list[Sample]) -> list[Judgment]:
        return self.runner.score(samples)


def defines(source: str, name: str) -> str | None:
    """Why ``source`` cannot be the file of a function ``name`` (read with ``ast``, never run),
    or None: a syntax error (with its line), or no top-level definition of that name."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return f"syntax error at line {error.lineno}: {error.msg}"
    except (ValueError, RecursionError, MemoryError) as error:
        return f"the file cannot be parsed ({type(error).__name__})"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return None
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return None
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == name for a in node.names):
            return None
    return f"the file defines no top-level {name!r}"


def load_error(name: str | None, path: str, error: BaseException) -> Exception:
    """A ``ConfigError`` naming the config entry and what went wrong loading its function:
    a syntax error or an exception raised on import (with the file and line), a missing
    name, something not callable."""
    from assay.spec import ConfigError

    where = f"rewards.{name}.path" if name else "path"
    if isinstance(error, SyntaxError):
        problem = f"syntax error in {error.filename}, line {error.lineno}: {error.msg}"
    elif (tb := traceback.extract_tb(error.__traceback__)) and tb[-1].filename == __file__:
        problem = str(error)  # raised by import_function itself: already a clear sentence
    else:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if "importlib" not in f.filename and not f.filename.endswith("function.py")]
        at = f" (at {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
        problem = f"importing it raised {type(error).__name__}: {error}{at}"
    return ConfigError(f"{where}: {path!r} could not be loaded: {problem}")


# --- a pair decided by your function, or by verdicts saved earlier -------------------------------
class FunctionComparatorOptions(Options):
    path: str | None = None  # "file.py:name" or "package.module:name": f(prompt, response_a, response_b, **fields)
    verdicts: str | None = None  # or a .jsonl of saved verdicts: response_a, response_b, winner (, rationale)
    label_map: dict[str, str] = {}  # the saved (or returned) winner values -> a, b or tie, e.g. {"1": "a", "2": "b", "0": "tie"}

    @model_validator(mode="after")
    def _one_source(self) -> FunctionComparatorOptions:
        if (self.path is None) == (self.verdicts is None):
            raise ValueError("give path (a function deciding each pair) or verdicts (a file of saved verdicts), not both, not neither")
        bad = sorted({v for v in self.label_map.values() if v not in ("a", "b", "tie")})
        if bad:
            raise ValueError(f"label_map values must be a, b or tie, got {', '.join(bad)}")
        return self


class FunctionComparator(Comparator):
    """``comparator: {type: function, path: "judge.py:decide"}`` or ``{type: function,
    verdicts: "saved.jsonl"}``: a pair decided by your function, or replayed from the verdicts
    a published judge saved, so its outputs run through ``assay bench`` and ``assay compare``
    from a config.

    The function is called with ``prompt``, ``response_a``, ``response_b``, ``reference`` and
    the pair's other fields that it names (all with ``**fields``), and returns ``a``, ``b``
    or ``tie`` (or a value of ``label_map``), a ``(winner, rationale)`` pair, or a
    Preference. A saved verdict is found by the exact texts of the two responses *in this
    order*: a pair asked in the other order has its own verdict or none (an ``input``
    failure: the swapped verdict is never made up by flipping). A value it cannot read is a
    ``parse`` failure; an exception, that pair's ``internal`` failure.
    """

    type_name = "function"
    Options = FunctionComparatorOptions
    options: FunctionComparatorOptions

    def __init__(self, name: str | None = None, *, base_dir: Path | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        o = self.options
        self._fn: Callable[..., Any] | None = None
        self._saved: dict[tuple[str, str], dict[str, Any]] = {}
        self._source = ""
        if o.path is not None:
            self._fn = import_function(o.path, base_dir)
            parameters = inspect.signature(self._fn).parameters
            self._takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
            self._names = set(parameters)
            try:
                self._source = inspect.getsource(self._fn)
            except (OSError, TypeError):
                self._source = f"{id(self._fn)}:{time.time_ns()}"
        else:
            assert o.verdicts is not None
            self._saved, self._source = _read_verdicts(o.verdicts, base_dir)

    def identity(self) -> str:
        return identity_of(self, self._source)

    def _winner(self, value: Any) -> str | None:
        text = str(value).strip()
        if self.options.label_map:
            return self.options.label_map.get(text)
        return text.lower() if text.lower() in ("a", "b", "tie") else None

    def compare_batch(self, pairs: list[Pair]) -> list[Preference]:
        return [self._one(pair) for pair in pairs]

    def _one(self, pair: Pair) -> Preference:
        first, second = text_of(pair.response_a), text_of(pair.response_b)
        if self._fn is None:
            row = self._saved.get((first, second))
            if row is None:
                swapped = " (one is saved for the other order)" if (second, first) in self._saved else ""
                return Preference.fail("input", f"no saved verdict for this pair in this order{swapped}")
            value, rationale = row.get("winner"), str(row.get("rationale") or "saved verdict")
        else:
            fields = {**pair.extra, "prompt": prompt_text(pair.prompt), "response_a": first, "response_b": second, "reference": pair.reference, "id": pair.id}
            if not self._takes_all:
                fields = {k: v for k, v in fields.items() if k in self._names}
            try:
                returned = self._fn(**fields)
            except Exception as error:  # noqa: BLE001 - one pair's error fails that pair only
                return Preference.fail("internal", f"{self.options.path} raised {type(error).__name__}: {error}")
            if isinstance(returned, Preference):
                return returned
            value, rationale = (returned if isinstance(returned, tuple) and len(returned) == 2 else (returned, f"decided by {self.options.path}"))
        winner = self._winner(value)
        if winner is None:
            return Preference.fail("parse", f"cannot read the verdict {value!r}: expected a, b or tie" + (" (through label_map)" if self.options.label_map else ""), raw=str(value))
        return Preference(winner=winner, rationale=str(rationale))  # type: ignore[arg-type]


def _read_verdicts(path: str, base_dir: Path | None) -> tuple[dict[tuple[str, str], dict[str, Any]], str]:
    """Saved verdicts keyed by (response_a, response_b), and the file's hash; a clear error
    naming the file and line when a row is unreadable or a pair is saved twice."""
    import hashlib
    import json

    candidates = [Path(path)] if Path(path).is_absolute() else [Path(base_dir or ".") / path, Path.cwd() / path]
    file = next((c for c in candidates if c.is_file()), None)
    if file is None:
        raise FileNotFoundError(f"verdicts file {path!r} not found (looked in {', '.join(str(c.parent) for c in candidates)})")
    data = file.read_bytes()
    saved: dict[tuple[str, str], dict[str, Any]] = {}
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{file}: line {number}: not valid JSON ({error})") from None
        for key in ("response_a", "response_b", "winner"):
            if not isinstance(row, dict) or row.get(key) is None:
                raise ValueError(f"{file}: line {number}: field {key!r}: missing")
        key = (text_of(row["response_a"]), text_of(row["response_b"]))
        if key in saved:
            raise ValueError(f"{file}: line {number}: this pair (in this order) already has a verdict")
        saved[key] = row
    return saved, hashlib.sha256(data).hexdigest()
