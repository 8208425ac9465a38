"""The package's shape: its modules import each other at the top, and never in a circle."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
#: Imports allowed inside a function: optional backends that cost seconds to import (and
#: may fail where numba-cuda is missing or broken: the studio checks before a GPU run).
LAZY = {
    # numba's CUDA support loads only when the GPU backend is asked for (``gpu_backend``,
    # the one place: it says in one line when the import fails)
    ("seoulfall.engine.stepper", "seoulfall.engine.gpu"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "seoulfall").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> tuple[set, set]:
    """(modules of the package imported at the top, those imported inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [n for n in subs if n in modules] or [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found = {n for n in names if n in modules and n != name}
        (top if node.col_offset == 0 else inner).update(found)
    return top, inner


def test_modules_import_at_the_top():
    modules = _modules()
    for name, path in modules.items():
        _, inner = _imports(name, path, modules)
        hidden = {(name, m) for m in inner} - LAZY
        if name != "seoulfall.cli":  # the command line may load a subcommand's stack late
            assert not hidden, f"{name} imports {sorted(m for _, m in hidden)} inside functions"


def test_no_import_circles():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        top, _ = _imports(name, path, modules)
        graph[name] = top
    state: dict[str, int] = {}

    def visit(m, trail):
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycle = trail[trail.index(n) :] + [n] if n in trail else [m, n]
                # a package importing its own submodule is its normal way of working
                if not all(b.startswith(a + ".") for a, b in zip(cycle, cycle[1:])):
                    pytest.fail("import circle: " + " -> ".join(cycle))
            elif state.get(n) is None:
                visit(n, trail + [n])
        state[m] = 2

    for m in sorted(graph):
        if state.get(m) is None:
            visit(m, [m])
