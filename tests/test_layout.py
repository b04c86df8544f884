"""Layout rules, checked on the source: provider packages reach the core through ``imagegen`` and its
provider SPI only (their tests also through ``imagegen.testing``)."""

from __future__ import annotations

import ast
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
