"""The project's modules import each other without cycles, and infrastructure stays apart from the domain.

Every import counts, the ones inside functions too (an import moved into a
function still makes the cycle it hides). Tests and migrations are left out.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

PACKAGES = ("voicebot_site", "errors", "lobbies", "signaling", "ops", "resilience", "web", "bots")
# What the infrastructure may import of the project: the error vocabulary, nothing of the domain apps.
RESILIENCE_MAY_IMPORT = {"resilience", "errors.exceptions", "errors.choices"}


def project_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        root = settings.BASE_DIR / package
        if not root.is_dir():
            continue
        for path in root.rglob("*.py"):
            parts = path.relative_to(settings.BASE_DIR).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imported(path: Path, name: str, modules: dict[str, Path]) -> Iterator[str]:
    """The project modules ``path`` imports, wherever the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and modules[target].name != "__init__.py":
                yield target


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: set(imported(path, name, modules)) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in edges.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_inside_functions() -> None:
    edges = graph()
    assert "errors.breaker_reports" in edges["errors.apps"]  # imported in ready()


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_resilience_imports_nothing_of_the_domain_apps() -> None:
    edges = graph()
    for module, targets in edges.items():
        if module.startswith("resilience"):
            strays = {t for t in targets if not any(t == a or t.startswith(a + ".") for a in RESILIENCE_MAY_IMPORT)}
            assert not strays, f"{module} imports {strays}"


def test_errors_imports_nothing_of_ops() -> None:
    edges = graph()
    assert {m: t for m, targets in edges.items() if m.startswith("errors") for t in targets if t.startswith("ops")} == {}
