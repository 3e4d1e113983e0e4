"""How a language's source becomes a running program: a file name, an optional compile
command, and a run command (argument lists, run inside the sandbox's working directory).

Python and C++ (g++) are built in. Any other language is a ``Language`` you configure with
the commands it needs, as long as its toolchain is under a directory the sandbox mounts
(``/usr`` by default; add others with ``Sandbox(extra_ro_paths=[...])``):

    >>> from assay.sandbox.languages import Language, language
    >>> language("cpp").compile
    ('g++', '-O2', '-std=c++17', '-o', 'main', 'main.cpp')
    >>> rust = Language("rust", "main.rs", compile=("rustc", "-O", "-o", "main", "main.rs"), run=("./main",))

Python runs with ``-E -s -S``: the standard library only, no site-packages (a faster start,
and nothing of the caller's environment); ``Sandbox(python_site=True)`` turns site-packages
of the sandbox's interpreter back on. A Python program run for many test cases is executed in a fork of the harness (no new
interpreter per case), which is where most of the speed of multi-case runs comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Language:
    name: str
    source: str
    """The file the program is written to."""
    compile: tuple[str, ...] | None = None
    """The compile command (None: interpreted)."""
    run: tuple[str, ...] = ()
    """The run command. ``{python}`` stands for the sandbox's Python interpreter."""
    python_fork: bool = False
    """Run each case in a fork of the in-sandbox harness instead of a new interpreter."""

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Language:
        unknown = set(data) - {"source", "compile", "run"}
        if unknown:
            raise ValueError(f"language {name!r}: unknown keys {sorted(unknown)}; expected source, compile, run")
        if "source" not in data or "run" not in data:
            raise ValueError(f"language {name!r} needs 'source' (a file name) and 'run' (a command list)")

        def argv(value: Any, key: str) -> tuple[str, ...]:
            if isinstance(value, str):
                return tuple(value.split())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError(f"language {name!r}: {key} must be a command (a string or a list of strings)")

        return cls(name, str(data["source"]), argv(data["compile"], "compile") if data.get("compile") else None, argv(data["run"], "run"))


BUILTIN: dict[str, Language] = {
    "python": Language("python", "main.py", None, ("{python}", "-E", "-s", "-S", "main.py"), python_fork=True),
    "cpp": Language("cpp", "main.cpp", ("g++", "-O2", "-std=c++17", "-o", "main", "main.cpp"), ("./main",)),
}
ALIASES = {"py": "python", "python3": "python", "c++": "cpp", "cxx": "cpp", "cc": "cpp"}


def language(name: str | Language, configured: dict[str, Language] | None = None) -> Language:
    """The language for a name (or an alias such as ``py``, ``c++``); a clear error otherwise."""
    if isinstance(name, Language):
        return name
    key = name.strip().lower()
    configured = configured or {}
    if key in configured:
        return configured[key]
    key = ALIASES.get(key, key)
    if key in BUILTIN:
        return BUILTIN[key]
    raise ValueError(f"unknown language {name!r}; built in: python, cpp; configure others with Language(name, source, compile, run)")
