"""The program a sandboxed ``function`` reward runs INSIDE the sandbox, once per sample
(standard library only; never imported by assay itself, read as text and handed to the
sandbox like any other program).

Its stdin is one JSON object: ``module`` (the read-only path of the user's file as the
sandbox sees it), ``function`` (the name to call), ``fields`` (the sample's fields, texts
already joined) and ``nonce``. It loads the file, calls the function with the fields its
signature names (all of them with ``**kwargs``), and writes ONE line to its stdout:
``<nonce> {json}`` with ``score`` (+ ``rationale``), ``abstain``, or ``error`` (``load``,
``raised``, ``returned``) with the exception's type, message and line in the user's file.

What the user's code prints goes to stderr (file descriptor 1 is pointed at 2 before the
file is loaded), so a print cannot be mistaken for the result; a program that writes to
the saved result channel on purpose only garbles its own sample, which assay then reports
as unreadable output. What it is not: a protection of anything; the sandbox around it is.
"""

import importlib.util
import json
import math
import os
import sys


def _where(error, path):
    """The last line of the user's file in the traceback, or None."""
    import traceback

    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == path]
    if isinstance(error, SyntaxError) and error.filename == path:
        return error.lineno
    return lines[-1] if lines else None


def _error(stage, error, path):
    return {"error": stage, "type": type(error).__name__, "message": str(error)[:500], "line": _where(error, path)}


def _number(value):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    return None


def _result(value):
    """What the function returned, as a JSON-able verdict."""
    if value is None:
        return {"abstain": True}
    if isinstance(value, (tuple, list)) and len(value) == 2:
        score = _number(value[0])
        if score is None:
            return {"error": "returned", "type": type(value[0]).__name__, "message": "the score %r is not a finite number" % (value[0],)}
        return {"score": score, "rationale": str(value[1])[:2000]}
    score = _number(value)
    if score is None:
        shown = repr(value)[:80]
        return {"error": "returned", "type": type(value).__name__, "message": "returned %s; expected a number, (number, rationale) or None" % shown}
    return {"score": score}


def _parameters(fn):
    """(names it takes, whether it takes ``**kwargs``): from the code object when it is a plain
    function (``inspect`` costs more to import than the rest of a call), else from inspect."""
    code = getattr(fn, "__code__", None)
    if code is not None and not hasattr(fn, "__wrapped__"):
        count = code.co_argcount + code.co_kwonlyargcount
        return set(code.co_varnames[:count]), bool(code.co_flags & 0x08)
    import inspect

    parameters = inspect.signature(fn).parameters
    return set(parameters), any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def main():
    request = json.loads(sys.stdin.read())
    results = os.dup(1)
    os.dup2(2, 1)  # the user's prints land in stderr
    path, nonce = request["module"], request["nonce"]
    try:
        spec = importlib.util.spec_from_file_location("reward_module", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["reward_module"] = module
        spec.loader.exec_module(module)
        fn = getattr(module, request["function"])
        if not callable(fn):
            raise TypeError("%s is not callable" % request["function"])
        names, takes_all = _parameters(fn)
    except BaseException as error:  # the user's file could not be loaded: reported, never raised
        out = _error("load", error, path)
    else:
        fields = request["fields"]
        if not takes_all:
            fields = {k: v for k, v in fields.items() if k in names}
        try:
            out = _result(fn(**fields))
        except BaseException as error:  # the user's function raised (SystemExit included)
            out = _error("raised", error, path)
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(results, (nonce + " " + json.dumps(out) + "\n").encode("utf-8"))
    os._exit(0)


main()
