"""The layer map of CONTRIBUTING.md, enforced: no import runs upward or across peers, no
import cycle between assay modules, and ``import assay`` loads the core modules only.

The map is read from CONTRIBUTING.md (the ``layers`` and ``layers-across`` blocks), so it
is written once. Imports are read with ``ast`` from every module under ``assay/``: at module
level, inside functions and classes, and under ``if TYPE_CHECKING:``; each one is an edge
(see CONTRIBUTING.md, "The layer map", for how edges are counted).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "assay"


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported assay module
    line: int
    in_function: bool

    def where(self) -> str:
        path = module_path(self.source).relative_to(REPO)
        return f"{path}:{self.line}: {self.source} imports {self.target}" + (" (inside a function)" if self.in_function else "")


@dataclass(frozen=True)
class LayerMap:
    levels: dict[str, int]  # unit -> level (0 = bottom)
    names: dict[str, str]  # unit -> layer name
    across: list[tuple[str, str]]  # (from unit, to module or unit) allowed between peers or upward

    def unit_of(self, module: str) -> str | None:
        """The longest unit that is the module or a package above it (the root ``assay`` unit is the facade module only)."""
        best = None
        for unit in self.levels:
            if module == unit or (unit != "assay" and module.startswith(unit + ".")):
                if best is None or len(unit) > len(best):
                    best = unit
        return best

    def allowed(self, source: str, target: str) -> bool:
        a, b = self.unit_of(source), self.unit_of(target)
        assert a is not None and b is not None
        if a == b or self.levels[b] < self.levels[a]:
            return True
        return any(a == src and (target == dst or target.startswith(dst + ".")) for src, dst in self.across)


def read_map() -> LayerMap:
    text = (REPO / "CONTRIBUTING.md").read_text()
    blocks = dict(re.findall(r"```(layers(?:-across)?)\n(.*?)```", text, flags=re.S))
    assert "layers" in blocks and "layers-across" in blocks, "CONTRIBUTING.md lost its ```layers``` or ```layers-across``` block"
    levels: dict[str, int] = {}
    names: dict[str, str] = {}
    for level, line in enumerate(row for row in blocks["layers"].splitlines() if row.strip() and not row.lstrip().startswith("#")):
        name, *units = line.split()
        for unit in units:
            assert unit not in levels, f"{unit} is listed twice in the layer map"
            levels[unit], names[unit] = level, name
    across = []
    for line in blocks["layers-across"].splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            source, arrow, target, *_why = line.split()
            assert arrow == "->", f"layers-across line {line!r}: expected 'FROM -> TO why'"
            across.append((source, target))
    return LayerMap(levels, names, across)


def module_path(module: str) -> Path:
    base = REPO.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def all_modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(module: str, path: Path, known: set[str]) -> list[Edge]:
    """Every assay module this module imports, with the line and whether it is inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    edges: list[Edge] = []

    def resolve(name: str) -> str | None:
        while name and name not in known:  # ``import assay.x.y`` of a module, or a name defined in a package
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in child.names]
            for target in targets:
                if target == "assay" or target.startswith("assay."):
                    resolved = resolve(target)
                    if resolved and resolved != module:
                        edges.append(Edge(module, resolved, child.lineno, inside))  # type: ignore[attr-defined]
            visit(child, inside)

    visit(tree, False)
    return list(dict.fromkeys(edges))  # one edge per import statement and target


def all_edges() -> list[Edge]:
    modules = all_modules()
    known = set(modules)
    return [edge for module, path in modules.items() for edge in imports_of(module, path, known)]


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a sorted list."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


# --- the tests -------------------------------------------------------------------------------------


def test_every_module_has_a_place_in_the_map() -> None:
    layers = read_map()
    missing = [m for m in all_modules() if layers.unit_of(m) is None]
    assert not missing, "modules outside the layer map (add their package to CONTRIBUTING.md's layers block): " + ", ".join(missing)


def test_no_import_runs_upward_or_across() -> None:
    layers = read_map()
    bad = []
    for edge in all_edges():
        if not layers.allowed(edge.source, edge.target):
            a, b = layers.unit_of(edge.source), layers.unit_of(edge.target)
            assert a is not None and b is not None
            direction = "across, to a peer" if layers.levels[a] == layers.levels[b] else "upward"
            bad.append(f"{edge.where()}: {a} ({layers.names[a]}) -> {b} ({layers.names[b]}) runs {direction}")
    assert not bad, "imports the layer map forbids (CONTRIBUTING.md, 'The layer map'):\n" + "\n".join(bad)


def test_no_import_cycle() -> None:
    edges = all_edges()
    found = cycles(edges)
    lines = []
    for component in found:
        members = set(component)
        lines.append(" <-> ".join(component))
        lines += [f"    {e.where()}" for e in edges if e.source in members and e.target in members]
    assert not found, "import cycles between assay modules (function-level imports count too):\n" + "\n".join(lines)


def test_the_map_names_only_packages_that_exist_or_are_announced() -> None:
    """A unit is an existing module or package, or one of the announced new homes."""
    announced = {"assay.text", "assay.sandbox", "assay.train", "assay.rewards.code", "assay.rewards.sql"}
    stale = [unit for unit in read_map().levels if not module_path(unit).exists() and unit not in announced]
    assert not stale, f"the layer map names units that do not exist: {stale}"


def test_the_checker_sees_function_level_imports_and_cycles(tmp_path: Path) -> None:
    """The checker itself: an import inside a function is an edge, and a loop closed by one is a cycle."""
    (tmp_path / "a.py").write_text("import assay.b\n")
    (tmp_path / "b.py").write_text("def later():\n    from assay import a\n")
    known = {"assay.a", "assay.b"}
    edges = imports_of("assay.a", tmp_path / "a.py", known) + imports_of("assay.b", tmp_path / "b.py", known)
    assert [(e.source, e.target, e.in_function) for e in edges] == [("assay.a", "assay.b", False), ("assay.b", "assay.a", True)]
    assert cycles(edges) == [["assay.a", "assay.b"]]


# the modules `import assay` loads: the core only (assay.text once types.py imports it)
CORE_ON_IMPORT = {"assay", "assay.reward", "assay.spec", "assay.types"} | ({"assay.text"} if (PACKAGE / "text.py").exists() else set())
HEAVY = ("torch", "transformers", "fastapi", "uvicorn", "ray", "numpy", "sentence_transformers", "httpx", "openai", "trl")


def loaded_after(code: str) -> dict[str, list[str]]:
    script = (f"{code}\nimport json, sys\nmods = sorted(sys.modules)\n"
              f"print(json.dumps({{'assay': [m for m in mods if m == 'assay' or m.startswith('assay.')], 'heavy': [m for m in mods if m.split('.')[0] in {HEAVY!r}]}}))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_assay_loads_the_core_modules_only() -> None:
    loaded = loaded_after("import assay")
    assert set(loaded["assay"]) == CORE_ON_IMPORT
    assert loaded["heavy"] == []


def test_a_rule_config_builds_without_the_judge_stack_or_the_bench() -> None:
    loaded = loaded_after("import assay\nassay.load_reward({'rewards': {'em': {'type': 'exact_match'}}})")
    assert not [m for m in loaded["assay"] if m.startswith(("assay.rewards.judges", "assay.bench", "assay.backends"))], loaded["assay"]
    assert {"assay.compose.load", "assay.rewards.rules.match"} <= set(loaded["assay"])
    assert not [m for m in loaded["heavy"] if m.split(".")[0] in ("torch", "transformers", "fastapi")]


@pytest.mark.parametrize("name", ["load_reward", "load_comparator", "ConfigError"])
def test_the_public_names_stay(name: str) -> None:
    import assay

    assert name in assay.__all__ and getattr(assay, name) is not None
