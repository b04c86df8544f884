"""The event loop behind the sync API: one loop in a daemon thread, shared by every ``Client``.

Sync calls run their coroutine there, so the sync API works the same from plain scripts and from inside
a running loop (Jupyter), a client costs no thread of its own, and async SDK clients that bind to a
loop keep working across calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["SHARED_LOOP", "LoopThread"]

T = TypeVar("T")


class LoopThread:
    """One event loop in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and wait for its result (from any thread but that one)."""
        return self.submit(coro).result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop thread; its future can be waited on or cancelled from any other thread."""
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._loop is None:
                    self._loop = asyncio.new_event_loop()
                    self._thread = threading.Thread(target=self._loop.run_forever, name="imagegen-loop",
                                                    daemon=True)
                    self._thread.start()
                loop = self._loop
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("imagegen: a sync Client method was called from inside the client's own event "
                               "loop (for example from an async scorer); await the async method instead")
        return asyncio.run_coroutine_threadsafe(coro, loop)


#: Every client's sync calls run on this one loop thread.
SHARED_LOOP = LoopThread()
