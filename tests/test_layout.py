"""The package's shape: dependencies point one way, modules stay readable.

Read from the source with ``ast`` (nothing is imported):
- every import of a module of the package, at any depth (module level,
  inside functions; ``if TYPE_CHECKING:`` blocks aside, they never run), is an
  edge of a graph; the graph has no cycle, at any length;
- no Python module is over 600 lines (the pure-Python twins of the compiled
  modules aside: they are specifications, as long as what they specify).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "admf_perf"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _resolve(name: str) -> str:
    """The most specific module of the package that a dotted name lies in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package's modules this import statement runs: each module named
    (``from pkg import submodule`` names the submodule, ``from pkg import
    name`` the package), and the packages above it that the importer is not
    already inside (importing ``a.b.c`` runs ``a/b/__init__``)."""
    if isinstance(node, ast.Import):
        named = {_resolve(alias.name) for alias in node.names}
    else:
        if node.level:
            base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        named = {f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else _resolve(prefix) for a in node.names}
    out = set()
    inside = _ancestors(module) | {module}
    for target in filter(None, named):
        out.add(target)
        out |= {a for a in _ancestors(target) if a not in inside and a in MODULES}
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: set[str] = set()
        for node in _imports(tree):
            edges |= _targets(module, path, node)
        edges.discard(module)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_the_graph_sees_relative_absolute_and_function_level_imports():
    graph = import_graph()
    assert "admf_perf.caching.registry" in graph["admf_perf.caching.cache"]          # from .registry import
    assert "admf_perf._validate" in graph["admf_perf.research.bars"]                   # from .._validate import
    assert "admf_perf.resources" in graph["admf_perf.research.bars"]                  # a package run on the way
    assert "admf_perf" not in graph["admf_perf.caching.cache"]                       # from .. import _ext
    assert "admf_perf.research.optimize" in graph["admf_perf.cli"]                     # inside a function


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, f"modules that import each other (at some depth): {found}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_readable(module):
    path = MODULES[module]
    if path.parent.name == "_ext" and path.stem.endswith("_py"):
        pytest.skip("a pure-Python twin: as long as the compiled module it specifies")
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines (> {MAX_LINES}): split it"
