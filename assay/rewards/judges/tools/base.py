"""What every judge tool is: a name, a description, one text input, a text answer.

A tool is built once per judge from its config entry (``calculator``, or
``{python: {timeout_seconds: 5}}``) and called many times: ``tool.call(text, timeout_seconds)``
returns the answer the judge reads, or raises :class:`ToolError` with a message the judge
reads instead (a tool error is the tool's answer, never a score). Each tool bounds its own
work to ``timeout_seconds`` (a sandbox's wall clock, a killable worker process, SQLite's
progress handler); the tool loop adds an outer deadline of its own.

    >>> tools = build_tools(["calculator"])
    >>> tools["calculator"].call("1/3 + 1/6", 5)  # doctest: +SKIP
    '1/2'

Not here: the tools themselves (one file each beside this one) and the loop that calls them
(``assay.rewards.judges.tooluse``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

# tool name -> "module:class"; loaded on first use, so a judge without tools imports none
TOOL_TYPES: dict[str, str] = {
    "python": "assay.rewards.judges.tools.python:PythonTool",
    "calculator": "assay.rewards.judges.tools.calculator:CalculatorTool",
    "search": "assay.rewards.judges.tools.search:SearchTool",
    "sql": "assay.rewards.judges.tools.sql:SqlTool",
}


class ToolError(Exception):
    """The tool could not answer this input (bad input, a failed run, a refused query). The
    message is shown to the judge as the tool's answer."""


class ToolOptions(BaseModel):
    """A tool's own options (extra keys forbidden, so a typo names the key)."""

    model_config = ConfigDict(extra="forbid")


class Tool:
    """A tool: ``name``, ``description`` and ``input_description`` (shown to the judge) and
    ``call(text, timeout_seconds) -> str``. Subclasses declare ``Options`` and may use
    ``base_dir`` (the config file's folder) for relative paths."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    input_name: ClassVar[str] = "input"  # the parameter name in the OpenAI function declaration
    input_description: ClassVar[str] = ""
    Options: ClassVar[type[ToolOptions]] = ToolOptions

    def __init__(self, base_dir: Path | None = None, **options: Any) -> None:
        self.options = self.Options(**options)
        self.base_dir = base_dir

    def path(self, value: str) -> Path:
        """A configured path: absolute, else relative to the config's folder, else to the working directory."""
        path = Path(value).expanduser()
        if not path.is_absolute() and self.base_dir is not None and (self.base_dir / path).exists():
            return self.base_dir / path
        return path

    def call(self, text: str, timeout_seconds: float) -> str:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Start what the tool needs (a worker process) ahead of the first call; nothing by default."""

    def close(self) -> None:
        """Stop what the tool started (worker processes); called when the judge goes away."""

    def declaration(self) -> dict[str, Any]:
        """The OpenAI function declaration (``tools: [{type: function, function: ...}]``)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": {self.input_name: {"type": "string", "description": self.input_description}},
                    "required": [self.input_name],
                },
            },
        }


def entry_name_options(entry: Any, where: str) -> tuple[str, dict[str, Any]]:
    """``"calculator"`` or ``{python: {timeout_seconds: 5}}`` -> (name, options)."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and len(entry) == 1:
        (name, options), = entry.items()
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ValueError(f"{where}: the options of tool {name!r} must be a mapping, got {type(options).__name__}")
        return str(name), dict(options)
    raise ValueError(f"{where}: a tool is a name (calculator) or a one-key mapping ({{python: {{timeout_seconds: 5}}}}), got {entry!r}")


def tool_class(name: str, where: str = "tools") -> type[Tool]:
    if name not in TOOL_TYPES:
        raise ValueError(f"{where}: unknown tool {name!r}; known tools: {', '.join(sorted(TOOL_TYPES))}")
    module, _, attribute = TOOL_TYPES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def build_tools(entries: list[Any], base_dir: Path | None = None, where: str = "tools") -> dict[str, Tool]:
    """The tools a config declares, by name, built once (a search index is built here).
    A tool object (anything with ``name`` and ``call``) is taken as it is (Python callers,
    tests). Errors name the entry: ``tools[2] (search).documents: no such file or folder``."""
    tools: dict[str, Tool] = {}
    for index, entry in enumerate(entries):
        here = f"{where}[{index}]"
        if hasattr(entry, "call") and hasattr(entry, "name"):
            tool = entry
        else:
            name, options = entry_name_options(entry, here)
            cls = tool_class(name, here)
            try:
                tool = cls(base_dir=base_dir, **options)
            except ValidationError as error:
                problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
                raise ValueError(f"{here} ({name}): {problems}") from None
            except (ValueError, OSError) as error:
                raise ValueError(f"{here} ({name}): {error}") from None
        warm_up = getattr(tool, "warm_up", None)
        if warm_up is not None:
            warm_up()
        if tool.name in tools:
            raise ValueError(f"{here}: tool {tool.name!r} is declared twice")
        tools[tool.name] = tool
    return tools
