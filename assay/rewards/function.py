"""Bring your own reward function: ``type: function`` with ``path: "file.py:name"`` or
``"package.module:name"``.

The function has the shape ``f(response, reference, **fields) -> float | (float, str)``,
the shape most users already have; see ``assay.reward.FunctionReward`` for how it is called.

    rewards:
      mine: {type: function, path: "my_rewards.py:length_score"}
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from assay.reward import FunctionReward, Options


class FunctionOptions(Options):
    path: str  # "file.py:name" (relative to the config file, then the working directory) or "package.module:name"


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

    def __init__(self, name: str | None = None, *, base_dir: Path | None = None, **options: Any) -> None:
        path = FunctionOptions.model_validate(options).path
        try:
            fn = import_function(path, base_dir)
        except Exception as error:  # noqa: BLE001 - any failure of the user's file: named, no traceback
            raise load_error(name, path, error) from None
        super().__init__(fn, name=name, **options)


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
