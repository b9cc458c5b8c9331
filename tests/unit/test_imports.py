"""rdlab's import structure (STYLE §14): packages import downward only, so the graph of
imports between rdlab's sub-packages has no cycle; an rdlab import inside a function is a
documented lazy import of a heavy optional dependency — its line says ``# lazy: <what it
defers>`` — never a way around a cycle; only ``rdlab.tune`` imports Ray and Optuna, only
``rdlab.track`` imports MLflow (STYLE §7).

Read from the source with ``ast`` (nothing is imported). Imports under ``if TYPE_CHECKING:``
are types only and do not count. Imports of a module by name at run time (the registries'
discovery of their built-in plugins) are how rdlab inverts a dependency, not an edge.
"""

from __future__ import annotations

import ast
import itertools
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import ROOT

# (file, imported module) pairs allowed inside a function without a `# lazy:` reason.
# Empty since the loop refactor (issue 15); a stale entry fails.
ALLOWLIST: set[tuple[str, str]] = set()
LAZY = re.compile(r"#\s*lazy:\s*\S")
ADAPTERS = {"ray": "rdlab.tune", "optuna": "rdlab.tune", "mlflow": "rdlab.track"}


@dataclass(frozen=True)
class Import:
    path: str  # the file, relative to the repository
    line: int
    module: str  # the importing module, e.g. rdlab.tune.runner
    target: str  # the imported module, e.g. rdlab.study.spec
    in_function: bool
    type_only: bool
    lazy: bool  # the statement carries a `# lazy: …` comment

    @property
    def allowlisted(self) -> bool:
        return (self.path, self.target) in ALLOWLIST

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def package_dirs() -> dict[str, Path]:
    """Import name → source folder, from pyproject.toml's package-dir mapping."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        mapping = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapping.items()}


def _module_name(package: str, folder: Path, path: Path) -> str:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _sources() -> Iterator[tuple[str, Path]]:
    for package, folder in package_dirs().items():
        for path in sorted(folder.rglob("*.py")):
            yield _module_name(package, folder, path), path


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level == 0:
        return [node.module or ""]
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    if node.module:
        return [".".join([*base, node.module])]
    return [".".join([*base, a.name]) for a in node.names]  # `from . import sibling`


def _walk(
    node: ast.AST, in_function: bool = False, type_only: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function, type_only
        elif _is_type_checking(child):
            assert isinstance(child, ast.If)
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), in_function, True)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), in_function, type_only)
        else:
            inside = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            yield from _walk(child, inside, type_only)


def imports_of(text: str, module: str, rel: str, is_package: bool = False) -> list[Import]:
    """The imports in one module's source."""
    lines = text.splitlines()
    out = []
    for node, in_function, type_only in _walk(ast.parse(text, rel)):
        source = "\n".join(lines[node.lineno - 1 : (node.end_lineno or node.lineno)])
        lazy = bool(LAZY.search(source))
        for target in _targets(node, module, is_package):
            out.append(Import(rel, node.lineno, module, target, in_function, type_only, lazy))
    return out


def all_imports() -> list[Import]:
    out = []
    for module, path in _sources():
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(ROOT))
        out += imports_of(text, module, rel, is_package=path.name == "__init__.py")
    return out


def package_of(module: str) -> str:
    """The node of the graph: ``rdlab.tune`` for ``rdlab.tune.search.grid``."""
    return ".".join(module.split(".")[:2])


def package_graph(imports: list[Import]) -> dict[str, dict[str, list[str]]]:
    """package → imported package → where; type-only and allowlisted imports left out."""
    graph: dict[str, dict[str, list[str]]] = {}
    for imp in imports:
        if imp.type_only or imp.allowlisted or not imp.target.startswith("rdlab."):
            continue
        a, b = package_of(imp.module), package_of(imp.target)
        if a != b:
            graph.setdefault(a, {}).setdefault(b, []).append(imp.where())
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


IMPORTS = all_imports()
SAMPLE = """
from typing import TYPE_CHECKING
from rdlab.config import TrialConfig
from . import sibling

if TYPE_CHECKING:
    from rdlab.train import Trainer


def f() -> None:
    from rdlab.track import TrialTracker  # lazy: MLflow
    from rdlab.study.spec import parse_spec

    class C:
        import rdlab.errors
"""


def test_the_checker_tells_kinds_of_imports_apart() -> None:
    found = {i.target: i for i in imports_of(SAMPLE, "rdlab.tune.runner", "x.py")}
    assert found["rdlab.tune.sibling"].in_function is False
    assert found["rdlab.config"].in_function is False and not found["rdlab.config"].type_only
    assert found["rdlab.train"].type_only
    assert found["rdlab.track"].in_function and found["rdlab.track"].lazy
    assert found["rdlab.study.spec"].in_function and not found["rdlab.study.spec"].lazy
    assert found["rdlab.errors"].in_function  # a class inside a function is still inside it
    graph = {"a": {"b": ["x:1"]}, "b": {"c": ["y:2"]}, "c": {"a": ["z:3"]}, "d": {"a": ["w"]}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": ["x:1"]}, "b": {}}) is None


def test_the_walk_sees_rdlab() -> None:
    modules = {i.module for i in IMPORTS}
    assert {"rdlab.config", "rdlab.models.conv", "rdlab.dashboards.report"} <= modules
    assert {"rdlab.tune", "rdlab.study", "rdlab.train"} <= set(package_graph(IMPORTS))


def test_no_cycle_between_rdlab_packages() -> None:
    graph = package_graph(IMPORTS)
    cycle = find_cycle(graph)
    if cycle:
        edges = [f"{a} → {b} ({', '.join(graph[a][b])})" for a, b in itertools.pairwise(cycle)]
        raise AssertionError("import cycle between rdlab packages:\n  " + "\n  ".join(edges))


def test_rdlab_imports_inside_functions_are_documented_lazy_imports() -> None:
    offenders = [
        f"{i.where()}: {i.target}"
        for i in IMPORTS
        if i.in_function
        and i.target.startswith("rdlab")
        and not i.type_only
        and not i.lazy
        and not i.allowlisted
    ]
    assert not offenders, (
        "an rdlab import inside a function must say `# lazy: <the heavy dependency it "
        "defers>` on its line (an import placed there to dodge a cycle is a cycle):\n  "
        + "\n  ".join(offenders)
    )


def test_the_allowlist_has_no_stale_entries() -> None:
    present = {(i.path, i.target) for i in IMPORTS if i.in_function}
    stale = sorted(ALLOWLIST - present)
    assert not stale, f"remove from ALLOWLIST, these imports are gone: {stale}"


def test_only_the_adapters_import_ray_optuna_and_mlflow() -> None:
    offenders = [
        f"{i.where()}: {i.target}"
        for i in IMPORTS
        if (adapter := ADAPTERS.get(i.target.split(".")[0]))
        and not (i.module == adapter or i.module.startswith(adapter + "."))
    ]
    assert not offenders, (
        "Ray Tune and Optuna only in rdlab.tune, MLflow only in rdlab.track:\n  "
        + "\n  ".join(offenders)
    )


def test_platform_is_not_a_package() -> None:
    # A regular package named `platform` would shadow the standard library's (DESIGN §1).
    assert not (ROOT / "platform" / "__init__.py").exists()
