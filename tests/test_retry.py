"""RetryPolicy: what is retried, how long it waits, and when it gives up (no real sleeping)."""

from __future__ import annotations

import random

import pytest

from imagegen import (
    AuthenticationError,
    BudgetExceeded,
    Client,
    ContentPolicyError,
    InvalidRequest,
    RateLimited,
    RetryPolicy,
    TransientError,
)
from imagegen.testing import FakeClock, FakeProvider


def policy(clock: FakeClock, **fields) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, clock=clock, rng=random.Random(0), **fields)


def run(fake: FakeProvider, clock: FakeClock, **fields):
    return Client(fake, retry=policy(clock, **fields)).generate("x", size="64x64")


def test_transient_errors_are_retried_until_success():
    clock = FakeClock()
    fake = FakeProvider(script=[TransientError("503"), TransientError("502")])
    result = run(fake, clock)
    assert len(fake.calls) == 3 and len(clock.sleeps) == 2
    assert [(a.status, a.attempt) for a in result.attempts] == [("error", 1), ("error", 2), ("ok", 3)]


def test_gives_up_after_attempts_and_raises_the_last_error():
    clock = FakeClock()
    fake = FakeProvider(script=[TransientError("a"), TransientError("b"), TransientError("c"), None])
    with pytest.raises(TransientError, match="c") as info:
        run(fake, clock, attempts=3)
    assert len(fake.calls) == 3
    assert [a.attempt for a in info.value.attempts] == [1, 2, 3]


def test_retry_after_is_honoured_exactly():
    clock = FakeClock()
    run(FakeProvider(script=[RateLimited(retry_after=7.5), RateLimited(retry_after=0.25)]), clock)
    assert clock.sleeps == [7.5, 0.25]


def test_rate_limit_without_retry_after_uses_backoff():
    clock = FakeClock()
    run(FakeProvider(script=[RateLimited(retry_after=None)]), clock, initial=2.0)
    assert len(clock.sleeps) == 1 and 0.0 <= clock.sleeps[0] <= 2.0


def test_backoff_is_full_jitter_within_a_growing_window():
    p = RetryPolicy(initial=0.5, multiplier=2.0, max_wait=3.0, rng=random.Random(1))
    for retry_number, high in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (8, 3.0)]:
        waits = [p.backoff(retry_number) for _ in range(200)]
        assert all(0.0 <= w <= high for w in waits)
        assert max(waits) > 0.8 * high and min(waits) < 0.2 * high  # spread over the whole window


@pytest.mark.parametrize("error", [AuthenticationError("401"), ContentPolicyError("refused"),
                                   InvalidRequest("bad", field="x"), BudgetExceeded("no money")],
                         ids=lambda e: type(e).__name__)
def test_final_errors_are_never_retried(error):
    clock = FakeClock()
    fake = FakeProvider(script=[error])
    with pytest.raises(type(error)):
        run(fake, clock, attempts=5)
    assert len(fake.calls) == 1 and clock.sleeps == []


def test_total_timeout_stops_before_a_wait_that_would_overrun_it():
    clock = FakeClock()
    fake = FakeProvider(script=[RateLimited(retry_after=4), RateLimited(retry_after=4), RateLimited(retry_after=4)])
    with pytest.raises(RateLimited):
        run(fake, clock, attempts=10, total_timeout=10, max_retry_after=60)
    assert clock.sleeps == [4, 4] and len(fake.calls) == 3


def test_retry_after_longer_than_max_retry_after_ends_retries_at_once():
    clock = FakeClock()
    fake = FakeProvider(script=[RateLimited(retry_after=3600)])
    with pytest.raises(RateLimited):
        run(fake, clock, attempts=5, max_retry_after=60)
    assert clock.sleeps == [] and len(fake.calls) == 1


def test_retry_false_means_one_try():
    fake = FakeProvider(script=[TransientError("503")])
    with pytest.raises(TransientError):
        Client(fake, retry=False).generate("x", size="64x64")
    assert len(fake.calls) == 1


def test_an_integer_sets_the_number_of_attempts():
    assert Client(FakeProvider(), retry=4).retry.attempts == 4


@pytest.mark.parametrize(("fields", "match"), [({"attempts": 0}, "retry.attempts"), ({"initial": -1}, "retry.initial"),
                                               ({"total_timeout": 0}, "retry.total_timeout"),
                                               ({"attempts": True}, "retry.attempts")])
def test_bad_policy_values_name_the_field(fields, match):
    with pytest.raises(InvalidRequest, match=match):
        RetryPolicy(**fields)


def test_bad_retry_argument_is_rejected():
    with pytest.raises(InvalidRequest, match="retry"):
        Client(FakeProvider(), retry="often")  # type: ignore[arg-type]
