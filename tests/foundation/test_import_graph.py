"""bhsvc's modules form no import cycle, counting imports inside functions too (only
those for type checking are left out), and each imports on its own."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import bhsvc

PACKAGE = Path(bhsvc.__file__).parent
MODULES = {info.name: info for info in pkgutil.walk_packages(bhsvc.__path__, "bhsvc.")} | {
    "bhsvc": None
}


def source_of(module: str) -> Path:
    parts = module.split(".")[1:]
    folder = PACKAGE.joinpath(*parts)
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imported_by(module: str) -> set[str]:
    """The bhsvc modules `module` imports, anywhere in its code."""
    tree = ast.parse(source_of(module).read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("bhsvc")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bhsvc"):
            base = str(node.module)
            for alias in node.names:
                # `from bhsvc import ui` names a module; `from bhsvc.x import Y` a name in x.
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found - {module}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for neighbour in sorted(graph.get(node, ())):
            if state.get(neighbour) == "open":
                return [*stack[stack.index(neighbour) :], neighbour]
            if neighbour not in state and (cycle := visit(neighbour)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle() -> None:
    graph = {module: imported_by(module) for module in MODULES}
    assert all(target in MODULES for targets in graph.values() for target in targets)
    assert find_cycle(graph) is None


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    names = sorted(name for name in MODULES if name != "bhsvc.__main__")
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    proc = subprocess.run(
        [sys.executable, "-c", script, *names], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
