"""The shape of the code: imports point one way (front ends -> api -> core) and never in a circle.

The layer rules themselves are import-linter contracts in pyproject.toml (run by ``lint-imports``
in CI); these tests check what import-linter cannot: no cycles at all, that the contracts name
every core module, and that no module borrows another package's private names.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rnngen"
# Everything that is not core: the front ends, the API (and its progress bar), the entry points.
NOT_CORE = {"rnngen", "rnngen.__main__", "rnngen.api", "rnngen.progress"}
FRONT_ENDS = ("rnngen.cli", "rnngen.tui", "rnngen.server")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("rnngen", include_external_packages=True, cache_dir=None)


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    modules = sorted(m for m in graph.modules if m == "rnngen" or m.startswith("rnngen."))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v)):
            if not w.startswith("rnngen"):
                continue
            if w not in index:
                visit(w)
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

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles(graph):
    assert _cycles(graph) == []


def _core_modules(graph) -> set[str]:
    return {m for m in graph.modules
            if m.startswith("rnngen.") and m not in NOT_CORE and not m.startswith(FRONT_ENDS)}


def test_the_core_contract_names_every_core_module(graph):
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}
    listed = set(next(c for name, c in contracts.items() if name.startswith("Core"))["source_modules"])
    covered = {m for m in _core_modules(graph) if any(m == s or m.startswith(s + ".") for s in listed)}
    assert covered == _core_modules(graph), f"not in the contract: {sorted(_core_modules(graph) - covered)}"
    assert listed <= _core_modules(graph), f"not core modules: {sorted(listed - _core_modules(graph))}"


def test_core_imports_no_front_end_and_no_ui_library(graph):
    # The same rule as the import-linter contract, checked directly (direct imports only).
    for module in _core_modules(graph):
        imported = graph.find_modules_directly_imported_by(module)
        bad = {m for m in imported if m.split(".")[0] in ("click", "rich", "textual")
               or m.startswith(FRONT_ENDS) or m in ("rnngen.api", "rnngen.progress")}
        assert not bad, f"{module} imports {sorted(bad)}"


def _package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_module_imports_private_names_from_another_package():
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("rnngen"):
                continue
            if _package_of(node.module) == _package_of(module):
                continue
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{module} imports private {private} from {node.module}"


def test_the_design_notes_list_every_module():
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" and relative.count("/") and path.stat().st_size < 120:
            continue  # a package marker with one line of docstring
        assert f"`{relative}`" in design, f"docs/design.md does not list rnngen/{relative}"
