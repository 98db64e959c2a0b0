"""The import rules of docs/architecture.md, read from the source with `ast`: no import circle
in agent/, collector/ or shared/, and inside the collector every import runs down the layers

    errors | records -> settings | storage -> ingest | analytics -> reports -> jobs | export
    -> api -> cli

(a package may import its own modules and any package on a lower layer, never one on its own
layer or above). shared/ imports neither side; the agent never imports the collector."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("agent", "collector", "shared", "devkit")
# Layer of each collector package (modules directly in collector/ are the ground floor).
LAYERS = {
    "collector.errors": 0, "collector.records": 0,
    "collector.settings": 1, "collector.storage": 1,
    "collector.ingest": 2, "collector.analytics": 2,
    "collector.reports": 3,
    "collector.jobs": 4, "collector.export": 4,
    "collector.api": 5,
    "collector.cli": 6,  # `serve` runs the API
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module `path` imports (also inside functions and TYPE_CHECKING blocks)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for s in SOURCES for p in (REPO / s).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name] = {m for m in _imports(path) if m in files and m != name}
    return graph


def _layer(module: str) -> tuple[str, int] | None:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return prefix, layer
    return None


def test_no_import_circles() -> None:
    graph = _graph()
    # A package's __init__ re-exporting its own modules is no circle: leave those edges out.
    edges = {
        m: {t for t in ts if not (m == t.rsplit(".", 1)[0] or t.startswith(m + "."))}
        for m, ts in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                circles.append([*stack[stack.index(t) :], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_collector_imports_run_down_the_layers() -> None:
    wrong = []
    for module, targets in _graph().items():
        here = _layer(module)
        if here is None:
            continue
        for target in targets:
            there = _layer(target)
            if there is not None and there[0] != here[0] and there[1] >= here[1]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layers: " + ", ".join(sorted(wrong))


@pytest.mark.parametrize(("side", "never"), [("shared", ("agent", "collector")),
                                              ("agent", ("collector",))])  # fmt: skip
def test_sides_stay_apart(side: str, never: tuple[str, ...]) -> None:
    bad = [
        f"{m} -> {t}"
        for m, ts in _graph().items()
        if m.split(".")[0] == side
        for t in ts
        if t.split(".")[0] in never
    ]
    assert not bad, bad


def test_the_shipped_collector_never_imports_tests_or_devkit() -> None:
    bad = [
        f"{_module_name(p)} -> {m}"
        for p in (REPO / "collector").rglob("*.py")
        for m in _imports(p)
        if m.split(".")[0] in ("tests", "devkit", "bench")
    ]
    assert not bad, bad
