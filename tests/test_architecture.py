"""The layout shows the architecture: lnra's folders form layers, each importing only the layers below
it, and no module imports itself back through others (an import circle). Read from the source with
``ast`` — imports inside functions count too, since they are circles deferred, not removed."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.paths import REPO

# Lowest first. A module may import its own layer and those before it.
LAYERS = (
    ("lnra.errors", "lnra.diskio", "lnra.config"),  # lnra.config reads classes by name only (_target_)
    ("lnra.data",),
    ("lnra.pseudo",),
    ("lnra.loading",),
    ("lnra.method",),
    ("lnra.pictures",),  # the drawing library of the callbacks and the tools
    ("lnra.callbacks",),
    ("lnra.run",),
    ("lnra.tools",),
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in (REPO / "lnra").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's lnra imports, as the module names they resolve to."""

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                targets.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
        graph[name] = {o for t in targets if t.startswith("lnra.") for o in [owner(t)] if o and o != name}
    return graph


def _layer(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None  # the package root (lnra/__init__.py), which only registers the schema


def test_every_module_belongs_to_a_layer() -> None:
    assert [m for m in _modules() if _layer(m) is None] == ["lnra"]


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [f"{m} -> {t}" for m, targets in _imports(_modules()).items() for t in sorted(targets)
              if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert upward == []


def test_there_are_no_import_circles() -> None:
    graph = _imports(_modules())
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []
