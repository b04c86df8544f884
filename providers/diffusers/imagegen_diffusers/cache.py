"""Loaded pipelines, shared by every provider instance: an LRU cache and one job at a time per device.

``PipelineCache`` keys loaded models by (model, dtype, device, preset) — ``dtype`` as asked ("auto" when the
preset chooses) — and keeps at most ``max_pipelines`` of them; the least recently used one is dropped (its
memory freed) when another is loaded. Loading the same key from several threads loads once. A warm call
finds its entry and loads nothing.

``device_lock(device)`` serializes the work on one device: GPU jobs (and CPU ones, which would only fight
over cores) run one at a time, others queue.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["CacheKey", "PipelineCache", "device_lock"]

T = TypeVar("T")


@dataclass(frozen=True)
class CacheKey:
    model: str
    dtype: str
    device: str
    preset: str


class PipelineCache(Generic[T]):
    """A thread-safe LRU of loaded models. ``release(entry)`` is called on an entry when it is dropped."""

    def __init__(self, max_pipelines: int = 2, *, release: Callable[[T], None] | None = None) -> None:
        if isinstance(max_pipelines, bool) or not isinstance(max_pipelines, int) or max_pipelines < 1:
            raise ValueError(f"max_pipelines must be a whole number >= 1; got {max_pipelines!r}")
        self.max_pipelines = max_pipelines
        self._release = release
        self._entries: OrderedDict[CacheKey, T] = OrderedDict()
        self._loading: dict[CacheKey, threading.Lock] = {}
        self._lock = threading.Lock()
        self.loads = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[CacheKey]:
        """The loaded models' keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[CacheKey]:
        return iter(self.keys())

    def peek(self, key: CacheKey) -> T | None:
        """The entry for ``key`` if loaded, without counting a use."""
        with self._lock:
            return self._entries.get(key)

    def get_or_load(self, key: CacheKey, load: Callable[[], T]) -> tuple[T, bool]:
        """(entry, loaded_now): the cached entry, or ``load()``'s result stored under ``key``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry, False
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:  # another thread loaded it while we waited
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return entry, False
            try:
                entry = load()
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)
                raise
            with self._lock:
                self._entries[key] = entry
                self._loading.pop(key, None)
                self.loads += 1
                dropped = []
                while len(self._entries) > self.max_pipelines:
                    dropped.append(self._entries.popitem(last=False)[1])
        for old in dropped:
            self._drop(old)
        return entry, True

    def evict(self, key: CacheKey) -> bool:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._drop(entry)
        return True

    def clear(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            self._drop(entry)

    def _drop(self, entry: T) -> None:
        if self._release is not None:
            self._release(entry)
        del entry
        gc.collect()


_device_locks: dict[str, threading.RLock] = {}
_device_locks_guard = threading.Lock()


def device_lock(device: str) -> threading.RLock:
    """The lock that serializes work on ``device`` ("cuda:0", "mps", "cpu")."""
    with _device_locks_guard:
        lock = _device_locks.get(device)
        if lock is None:
            lock = _device_locks[device] = threading.RLock()
        return lock
