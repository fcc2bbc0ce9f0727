"""The apps import in one direction, no two files import each other (even inside functions), and a
long module says why it is long. See README, "Architecture".

    common  <-  catalog  <-  inference  <-  readerstudy        analysis: pure, imports none of them
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("common", "catalog", "inference", "readerstudy")
PACKAGES = (*LAYERS, "analysis")
# The project package `readerstudy` also holds the settings, URLs, WSGI and Celery entry points;
# they sit on top and may name every app.
MAX_LINES = 400
LONG_REASON = "Long module:"


def project_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                files.append(path)
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in project_files()}


def resolve(current: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    """Project modules an import statement loads (a `from X import name` of a submodule counts as it)."""
    targets = []
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] in PACKAGES]
    if node.level:
        base = current.split(".") if is_package else current.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module.split(".")[0] not in PACKAGES:
        return []
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        targets.append(sub if sub in MODULES else module)
    return targets


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):  # every import, also those inside functions
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in resolve(name, node, path.name == "__init__.py"):
                    known = target
                    while known and known not in MODULES:
                        known = known.rpartition(".")[0]
                    if known and known != name:
                        graph[name].add(known)
    return graph


def layer(module: str) -> int | None:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


ENTRY_POINTS = {"readerstudy.settings", "readerstudy.urls", "readerstudy.wsgi", "readerstudy.celery"}


def test_apps_import_downwards_only():
    wrong = []
    for source, targets in import_graph().items():
        for target in targets:
            if source.split(".")[0] == "analysis" and target.split(".")[0] != "analysis":
                wrong.append(f"{source} -> {target} (analysis is a pure package)")
            elif layer(source) is not None and layer(target) is not None and layer(target) > layer(source):
                wrong.append(f"{source} -> {target} (against common <- catalog <- inference <- readerstudy)")
    assert wrong == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_file_circles():
    graph = import_graph()
    # A package's __init__ that re-exports its submodules is not a circle with them.
    for name in list(graph):
        graph[name] = {t for t in graph[name] if not (MODULES[t].name == "__init__.py" and name.startswith(t + "."))}
    assert strongly_connected(graph) == []


def test_the_checker_sees_a_circle_and_a_wrong_direction():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("catalog.models") < layer("readerstudy.views.reader")
    tree = ast.parse("def f():\n    from readerstudy.models import Study\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert resolve("inference.services", node, False) == ["readerstudy.models"]


@pytest.mark.parametrize("path", [p for p in project_files() if len(p.read_text().splitlines()) > MAX_LINES],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_a_long_module_says_why(path: Path):
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert LONG_REASON in docstring, f"{path.relative_to(ROOT)} is over {MAX_LINES} lines: say why in its docstring"
