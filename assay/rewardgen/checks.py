"""The static checks a generated reward function must pass before it is run: it parses, it
defines ``reward`` at the top level, it imports only listed standard-library modules, and it
names nothing that opens files, runs processes, reaches the network or digs into the
interpreter (no ``open``, ``exec``, ``eval``, ``compile``, ``__import__``, ``getattr``, no
dunder attributes such as ``__class__`` or ``__globals__``, no ``os``, ``sys``,
``subprocess``, ``socket``...).

    >>> [problem.split(" is not")[0] for problem in check("import os\\ndef reward(response):\\n    return os.system('x')")]
    ["line 1: import of 'os'", "line 3: attribute 'system'", "line 3: name 'os'"]
    >>> check("def reward(response):\\n    return float(len(response) < 100)")
    []

What it is not: the security boundary. A static check of Python can be fooled; the sandbox
the code then runs in is what contains it. The check is there to refuse the obvious early,
with a reason the model can read in the next round.
"""

from __future__ import annotations

import ast

ALLOWED_IMPORTS = frozenset({
    "bisect", "cmath", "collections", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions", "functools",
    "heapq", "html", "itertools", "json", "math", "numbers", "operator", "re", "statistics", "string", "textwrap",
    "typing", "unicodedata",
})
FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "input", "breakpoint", "globals", "locals", "vars", "getattr",
    "setattr", "delattr", "help", "exit", "quit", "memoryview", "__builtins__", "__loader__", "__spec__",
    "os", "sys", "subprocess", "socket", "shutil", "pathlib", "builtins", "importlib", "ctypes", "io", "signal",
    "threading", "multiprocessing", "tempfile", "glob", "pickle", "marshal", "urllib", "http", "posix", "pty",
})
FORBIDDEN_ATTRIBUTES = frozenset({
    "open", "system", "popen", "fork", "forkpty", "spawn", "spawnv", "execv", "execve", "execvp", "kill", "remove",
    "unlink", "rmdir", "rmtree", "listdir", "scandir", "walk", "environ", "getenv", "putenv", "read_text", "write_text",
    "read_bytes", "write_bytes", "connect", "socket", "modules", "loader", "sys", "os", "subprocess", "builtins",
    "importlib", "ctypes", "io", "pathlib", "shutil", "signal", "load_module", "exec_module", "f_globals", "f_locals",
    "f_back", "gi_frame", "cr_frame", "tb_frame",
})
ALLOWED_DUNDERS = frozenset({"__init__", "__name__"})
MAX_CHARS = 20_000
FUNCTION = "reward"


def check(source: str, function: str = FUNCTION) -> list[str]:
    """The problems found, each ``line N: what``; an empty list when the code may be run."""
    if len(source) > MAX_CHARS:
        return [f"the code is {len(source)} characters long; at most {MAX_CHARS}"]
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return [f"line {error.lineno}: syntax error: {error.msg}"]
    except (ValueError, RecursionError, MemoryError) as error:
        return [f"the code cannot be parsed ({type(error).__name__})"]
    problems: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            problems += [_import(alias.name, line) for alias in node.names if alias.name.split(".")[0] not in ALLOWED_IMPORTS]
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] not in ALLOWED_IMPORTS:
                problems.append(_import("." * node.level + (node.module or ""), line))
        elif isinstance(node, ast.Name) and (node.id in FORBIDDEN_NAMES or _dunder(node.id)):
            problems.append(f"line {line}: name {node.id!r} is not allowed (file, process, network or interpreter access)")
        elif isinstance(node, ast.Attribute) and (node.attr in FORBIDDEN_ATTRIBUTES or _dunder(node.attr)):
            problems.append(f"line {line}: attribute {node.attr!r} is not allowed (file, process, network or interpreter access)")
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and any(_dunder(n) for n in node.names):
            problems.append(f"line {line}: a dunder name is not allowed")
    defined = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    if not defined:
        problems.append(f"no top-level function named {function!r} (def {function}(response, reference=None, **fields): ...)")
    return list(dict.fromkeys(problems))


def _import(name: str, line: int) -> str:
    return f"line {line}: import of {name!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})"


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDERS
