"""Suite-wide rules.

- In CI (``CI`` set), a test may not skip because a module is missing. ``pytest.importorskip`` keeps the suite
  usable on a partial install, but in CI the README's test block installs everything the tests need, so a
  missing module there means the README is wrong, not that the test may pass quietly.
- No test touches the user's own ledger or data folder: the session's ``IMAGEGEN_LEDGER`` and
  ``XDG_DATA_HOME`` point into a temporary folder (tests and the processes they start inherit it; a test that
  sets its own wins), so a test that forgets ``--ledger`` writes nothing into
  ``~/.local/share/imagegen/ledger.sqlite``."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator
from typing import Any

import pytest

_MISSING = ("could not import", "No module named")


def _fails_in_ci(report: Any) -> None:
    if not os.environ.get("CI") or not report.skipped:
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(marker in reason for marker in _MISSING):
        report.outcome = "failed"
        report.longrepr = f"skipped for a missing module in CI (install it in README's test block): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    _fails_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    _fails_in_ci(outcome.get_result())


_DATA: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    data = tempfile.mkdtemp(prefix="imagegen-test-data-")
    _DATA.append(data)
    os.environ["XDG_DATA_HOME"] = data
    os.environ["IMAGEGEN_LEDGER"] = os.path.join(data, "imagegen", "ledger.sqlite")


def pytest_unconfigure(config: pytest.Config) -> None:
    for data in _DATA:
        shutil.rmtree(data, ignore_errors=True)
