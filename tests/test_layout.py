"""The layout rules of docs/architecture.md, checked on the source: provider packages reach the core
through ``imagegen`` and its provider SPI only, every ``imagegen`` module imports on its own, and no
import cycle exists between ``imagegen`` modules (lazy imports count; ``TYPE_CHECKING`` ones do not)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p for p in (ROOT / "providers").glob("*/imagegen_*") if p.is_dir())
PROVIDER_TESTS = sorted(p for p in (ROOT / "providers").glob("*/tests") if p.is_dir())
CORE = ROOT / "imagegen"
#: What a provider package may import from the core; its tests may also use imagegen.testing.
ALLOWED = {"imagegen", "imagegen.provider"}
ALLOWED_IN_TESTS = ALLOWED | {"imagegen.testing"}


#: The core's modules and packages (``from imagegen import client`` imports one of them).
SUBMODULES = {p.stem for p in CORE.glob("*.py") if p.stem != "__init__"} | {
    p.parent.name for p in CORE.glob("*/__init__.py")}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``: ``from imagegen import Client`` counts as ``imagegen``,
    ``from imagegen import client`` as ``imagegen.client``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            if node.module == "imagegen":
                found += [(node.lineno, f"imagegen.{a.name}") for a in node.names if a.name in SUBMODULES]
    return found


def core_imports(paths: list[Path], allowed: set[str]) -> list[str]:
    bad = []
    for path in paths:
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for line, module in imported_modules(path):
            if (module == "imagegen" or module.startswith("imagegen.")) and module not in allowed:
                bad.append(f"{where}:{line} imports {module}")
    return bad


def test_there_are_provider_packages_to_check():
    assert {p.name for p in PACKAGES} >= {"imagegen_openai", "imagegen_google", "imagegen_diffusers"}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_a_provider_package_imports_only_imagegen_and_the_provider_spi(package):
    assert core_imports(sorted(package.rglob("*.py")), ALLOWED) == []


@pytest.mark.parametrize("tests", PROVIDER_TESTS, ids=lambda p: p.parent.name)
def test_a_provider_packages_tests_also_use_only_imagegen_testing(tests):
    assert core_imports(sorted(tests.rglob("*.py")), ALLOWED_IN_TESTS) == []


def test_the_import_rule_check_sees_a_forbidden_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from imagegen.errors import InvalidRequest\nimport imagegen.client\n"
                      "from imagegen import Client\nfrom imagegen.provider import Capabilities\n"
                      "from imagegen import registry\n")
    assert core_imports([sneaky], ALLOWED) == [f"{sneaky}:1 imports imagegen.errors",
                                               f"{sneaky}:2 imports imagegen.client",
                                               f"{sneaky}:5 imports imagegen.registry"]


# -- the core's own imports ----------------------------------------------------------------------------

def core_modules() -> dict[str, Path]:
    """``imagegen.x`` -> its file, for every module of the core (packages by their ``__init__``)."""
    found = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_edges(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The core modules ``name`` imports at run time: every import, at the top or inside a function, but
    not those under ``if TYPE_CHECKING:`` (which never run)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
                   for n in ast.walk(node)}
    edges: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            edges.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    edges.add(f"{base}.{alias.name}")
                elif base in modules:
                    edges.add(base)
    edges.discard(name)
    return edges


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_no_runtime_import_cycle_anywhere_in_the_core():
    modules = core_modules()
    graph = {name: runtime_edges(name, path, modules) for name, path in modules.items()}
    assert graph["imagegen.client"] >= {"imagegen._run", "imagegen._loop", "imagegen._batch"}  # it sees imports,
    assert "imagegen.client" not in graph["imagegen._batch"]  # lazy ones too, but not the TYPE_CHECKING ones
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("name", sorted(core_modules()))
def test_every_core_module_imports_alone_in_a_fresh_interpreter(name):
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


# -- docs/architecture.md stays true to the tree -------------------------------------------------------

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def architecture_references() -> list[tuple[str, list[str]]]:
    """(file, [names]) for every ``imagegen/x.py`` cell of the walk and rule tables, e.g.
    ``imagegen/client.py`` (``agenerate``, ``_resolve``)."""
    import re
    found = []
    for match in re.finditer(r"`(imagegen/[\w/]+\.py)`(?: \(([^)]*)\))?", ARCHITECTURE.read_text(encoding="utf-8")):
        names = [n.split(".")[0] for n in re.findall(r"`([\w.]+)`", match.group(2) or "")]
        found.append((match.group(1), names))
    return found


def test_architecture_page_names_files_and_functions_that_exist():
    refs = architecture_references()
    assert len(refs) >= 20
    missing = []
    for file, names in refs:
        path = ROOT / file
        if not path.exists():
            missing.append(file)
            continue
        defined = {node.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        defined |= {t.id for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(node, (ast.Assign, ast.AnnAssign))
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(t, ast.Name)}
        defined |= {a.asname or a.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(node, ast.ImportFrom) for a in node.names}
        missing += [f"{file}: {name}" for name in names if name not in defined]
    assert missing == []
