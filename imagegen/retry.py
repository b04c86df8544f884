"""``RetryPolicy``: the one retry layer of the whole stack (provider SDKs have theirs switched off).

Only ``RateLimited`` and ``TransientError`` are retried. Waits are exponential backoff with full
jitter (a uniform draw in ``[0, min(max_wait, initial * multiplier**k)]``), except after a
``RateLimited`` that says how long to wait: then it waits that long. Tries stop at ``attempts`` or
when the next wait would end past ``total_timeout``, whichever comes first, and the last error is
raised so a ``Client`` can fall back to the next provider. A ``Client`` also cuts an attempt that is
still running when ``total_timeout`` is up (a ``TransientError``), so a hung call cannot outlast it.

``sleep`` and ``clock`` are injectable so tests (yours too) never wait for real::

    policy = RetryPolicy(attempts=5, sleep=fake_sleep, clock=fake_clock)
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from .errors import InvalidRequest, RateLimited, TransientError

__all__ = ["RetryPolicy", "retry_after_seconds", "retrying"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
OnRetry = Callable[[int, BaseException, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one provider call is retried.

    ``attempts`` counts every try, the first included (1 = no retries). ``total_timeout`` bounds
    the tries and waits of one call together, a hung try included (default 600 s, the bound the openai
    SDK puts on one request: long enough for a slow high-quality cloud image or a local model on a CPU,
    since a cloud call cut off mid-way may still be billed; None: no bound). A ``Retry-After`` longer than
    ``max_retry_after`` ends the retries at once, so a fallback provider can take over.
    """

    attempts: int = 3
    initial: float = 0.5
    multiplier: float = 2.0
    max_wait: float = 20.0
    total_timeout: float | None = 600.0
    max_retry_after: float = 60.0
    sleep: Sleep = field(default=asyncio.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise InvalidRequest(f"retry.attempts: must be a whole number >= 1; got {self.attempts!r}",
                                 field="retry")
        for name in ("initial", "multiplier", "max_wait", "max_retry_after"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or value < 0):
                raise InvalidRequest(f"retry.{name}: must be a finite number >= 0; got {value!r}", field="retry")
        total = self.total_timeout
        if total is not None and (isinstance(total, bool) or not isinstance(total, (int, float))
                                  or not math.isfinite(total) or total <= 0):
            raise InvalidRequest(f"retry.total_timeout: must be a finite number of seconds > 0, or None; got "
                                 f"{total!r}", field="retry")

    @classmethod
    def none(cls) -> RetryPolicy:
        """One try, no retries."""
        return cls(attempts=1)

    @staticmethod
    def retryable(exc: BaseException) -> bool:
        return isinstance(exc, (RateLimited, TransientError))

    def backoff(self, retry_number: int) -> float:
        """Full-jitter wait before retry ``retry_number`` (1 = the first retry)."""
        high = min(self.max_wait, self.initial * self.multiplier ** (retry_number - 1))
        return self.rng.uniform(0.0, high)

    def wait_for(self, exc: BaseException, retry_number: int) -> float:
        """How long to wait after ``exc`` before retry ``retry_number``; honours ``retry_after``."""
        if isinstance(exc, RateLimited) and exc.retry_after is not None and exc.retry_after >= 0:
            return float(exc.retry_after)
        return self.backoff(retry_number)


class _Stop(tenacity.stop.stop_base):
    """Stop at ``attempts`` or when the coming wait would run past ``total_timeout``."""

    def __init__(self, policy: RetryPolicy, started: float) -> None:
        self.policy = policy
        self.started = started

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        policy = self.policy
        if retry_state.attempt_number >= policy.attempts:
            return True
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        upcoming = retry_state.upcoming_sleep
        if isinstance(exc, RateLimited) and exc.retry_after is not None and exc.retry_after > policy.max_retry_after:
            return True
        if policy.total_timeout is None:
            return False
        return policy.clock() - self.started + upcoming > policy.total_timeout


async def retrying(policy: RetryPolicy, call: Callable[[int], Awaitable[T]], *,
                   on_retry: OnRetry | None = None) -> T:
    """Run ``call(attempt_number)`` under ``policy``; the last error propagates unchanged.

    ``on_retry(attempt_number, error, wait_s)`` runs before each wait (for logs and warnings).
    """
    started = policy.clock()

    def wait(retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        assert exc is not None
        return policy.wait_for(exc, retry_state.attempt_number)

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        if on_retry is not None and retry_state.outcome is not None:
            exc = retry_state.outcome.exception()
            assert exc is not None
            on_retry(retry_state.attempt_number, exc, retry_state.upcoming_sleep)

    runner = tenacity.AsyncRetrying(
        sleep=policy.sleep, stop=_Stop(policy, started), wait=wait,
        retry=tenacity.retry_if_exception(policy.retryable), before_sleep=before_sleep, reraise=True)
    async for attempt in runner:
        with attempt:
            return await call(attempt.retry_state.attempt_number)
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """How long an HTTP answer asks to wait: ``retry-after-ms`` (OpenAI's precise form) or ``retry-after``
    (seconds or an HTTP date); None when neither is given or readable. For ``RateLimited(retry_after=...)``."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
