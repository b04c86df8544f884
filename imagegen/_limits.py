"""Per-provider limits that hold across threads and event loops: concurrency slots and rpm pacing.

``max_concurrency`` and ``rpm`` are given per provider: a number for all, or a mapping from
``"name:model"`` or ``"name"`` (``"*"``: every other provider). Both are thread-safe, so they hold
across the sync API, your own event loops and threads together.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from .errors import InvalidRequest
from .provider import Provider
from .retry import RetryPolicy

__all__ = ["Gate", "Limits", "Pace", "Pacer", "PerProvider", "Slots", "limit_of", "per_provider"]

PerProvider = int | float | Mapping[str, int | float] | None
Setting = int | float | dict[str, int | float] | None


class Gate(Protocol):
    """What a call holds while it runs: a provider's concurrency slot (``Slots``, or one held across machines)."""

    async def __aenter__(self) -> None: ...

    async def __aexit__(self, *exc: object) -> None: ...


class Pacer(Protocol):
    """What a call waits on before it starts: a provider's rpm pacing (``Pace``, or one shared across machines)."""

    async def wait(self) -> None: ...


class Slots:
    """A counting semaphore that tasks on any event loop, in any thread, can wait on."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = (
            collections.deque())

    async def __aenter__(self) -> None:
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            loop = asyncio.get_running_loop()
            waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise
            if waiter[1].done() and not waiter[1].cancelled():
                self._release()  # the slot reached us just as we were cancelled: pass it on
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            loop, future = self._waiters.popleft()
        loop.call_soon_threadsafe(self._hand_over, future)

    def _hand_over(self, future: asyncio.Future[None]) -> None:
        if future.done():  # cancelled before it got the slot
            self._release()
        else:
            future.set_result(None)


class Pace:
    """Requests-per-minute pacing: calls start at least ``60 / rpm`` seconds apart."""

    def __init__(self, rpm: float, policy: RetryPolicy) -> None:
        self._interval = 60.0 / rpm
        self._policy = policy
        self._next = float("-inf")
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Take the next start time; the seconds to wait for it (0: start now)."""
        with self._lock:
            now = self._policy.clock()
            start = max(now, self._next)
            self._next = start + self._interval
        return start - now

    async def wait(self) -> None:
        delay = self.delay()
        if delay > 0:
            await self._policy.sleep(delay)


def per_provider(value: PerProvider, name: str, *, whole: bool) -> Setting:
    """Validate a per-provider setting (``InvalidRequest`` naming ``name``)."""
    def check(v: Any) -> int | float:
        ok = (not isinstance(v, bool) and (isinstance(v, int) if whole else isinstance(v, (int, float)))
              and math.isfinite(v) and v > 0)
        if not ok:
            kind = "a whole number >= 1" if whole else "a finite number > 0"
            raise InvalidRequest(f"{name}: must be {kind}, a mapping of provider to such numbers, or None; "
                                 f"got {v!r}", field=name)
        return v  # type: ignore[no-any-return]

    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): check(v) for k, v in value.items()}
    return check(value)


def limit_of(value: Setting, label: str) -> int | float | None:
    """The setting for provider ``label`` ("name:model"): its own, its name's, ``"*"``'s, or the one number."""
    name = label.partition(":")[0]
    if isinstance(value, dict):
        return value.get(label, value.get(name, value.get("*")))
    return value


class Limits:
    """The slots and pacing of each provider of one client, made on first use."""

    def __init__(self, max_concurrency: Setting, rpm: Setting, policy: RetryPolicy) -> None:
        self._max_concurrency = max_concurrency
        self._rpm = rpm
        self._policy = policy
        self._made: dict[str, tuple[Slots | None, Pace | None]] = {}
        self._lock = threading.Lock()

    def of(self, provider: Provider) -> tuple[Gate | None, Pacer | None]:
        return self.at(f"{provider.name}:{provider.model}")

    def at(self, label: str) -> tuple[Slots | None, Pace | None]:
        """The slots and pacing of provider ``label`` ("name:model")."""
        with self._lock:
            if label not in self._made:
                size = limit_of(self._max_concurrency, label)
                rate = limit_of(self._rpm, label)
                self._made[label] = (Slots(int(size)) if size else None,
                                     Pace(float(rate), self._policy) if rate else None)
            return self._made[label]
