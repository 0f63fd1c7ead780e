"""The layout holds: imports run one way (entry points -> stages -> domain packages -> base), no module
imports another in a circle, no source file grows past a page count a reader can hold, and SQL lives
only under ``sql/``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "popheath"

# The floors, top to bottom. A module may import its own floor or any floor below, never above.
ENTRY = {"popheath.cli", "popheath.demo", "popheath.pipeline", "popheath.orchestration", "popheath.bench"}
BASE = {
    "popheath",
    "popheath.config",
    "popheath.db",
    "popheath.errors",
    "popheath.logs",
    "popheath.results",
    "popheath.checksums",
    "popheath.runlog",
    "popheath.yaml_io",
}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every popheath module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("popheath"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("popheath"):
            module = str(node.module)
            for alias in node.names:
                child = f"{module}.{alias.name}"
                found.add(child if child in MODULES else module)
    return {name for name in found if name in MODULES}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _floor(module: str) -> int:
    """0 entry points, 1 stages, 2 domain packages, 3 base."""
    if module in ENTRY or any(module.startswith(entry + ".") for entry in ENTRY):
        return 0
    if module.startswith("popheath.stages"):
        return 1
    if module in BASE:
        return 3
    return 2


def _top_package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_imports_never_run_up_a_floor() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _floor(target) < _floor(module)
    )
    assert upward == []


def test_no_stage_imports_another_stage() -> None:
    between = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("popheath.stages.")
        for target in targets
        if target.startswith("popheath.stages.") and target != module
    )
    assert between == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), i.e. import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_planted_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles_between_modules() -> None:
    # A package's __init__ importing its own modules is not a circle of the design.
    graph = {
        module: {t for t in targets if not (module in t and module == _top_package(module))}
        for module, targets in GRAPH.items()
    }
    assert _cycles(graph) == []


def test_no_import_circles_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        if _floor(module) != 2:
            continue
        packages.setdefault(_top_package(module), set()).update(
            _top_package(t) for t in targets if _floor(t) == 2 and _top_package(t) != _top_package(module)
        )
    assert _cycles(packages) == []


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_source_files_stay_under_a_readable_length(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)} has {lines} lines"


def test_sql_lives_only_under_sql() -> None:
    stray = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "src").rglob("*.sql"))
    assert stray == []
    assert sorted(p.name for p in (ROOT / "sql").iterdir() if p.is_dir()) == [
        "10_staging",
        "20_clinical",
        "30_features",
        "40_marts",
    ]


def test_no_two_modules_share_a_file_name() -> None:
    names: dict[str, list[str]] = {}
    for module, path in MODULES.items():
        if path.name != "__init__.py" and not module.startswith("popheath.stages."):
            names.setdefault(path.stem, []).append(module)
    assert {stem: found for stem, found in names.items() if len(found) > 1} == {}
