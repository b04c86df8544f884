"""Fixtures for the fault-injection suites: instant retries and a ledger per test."""

from __future__ import annotations

import pytest

from imagegen import Ledger, RetryPolicy
from imagegen.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def retry(clock) -> RetryPolicy:
    """Three tries with waits on a fake clock: retries cost no real time."""
    return RetryPolicy(attempts=3, sleep=clock.sleep, clock=clock)


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened
