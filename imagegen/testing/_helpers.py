"""Small helpers for tests that use imagegen as a user would: providers registered for one test, and
a default client (behind ``imagegen.generate``) that starts fresh and is closed after."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator, Mapping
from typing import Any

from .. import client as _client
from .. import registry as _registry

__all__ = ["fresh_default_client", "holding", "registered_provider"]


@contextlib.contextmanager
def registered_provider(name: str, factory: _registry.ProviderFactory) -> Iterator[None]:
    """``imagegen.register_provider(name, factory)`` for the ``with`` block only; what was registered
    under ``name`` before comes back afterwards."""
    missing = object()
    before = _registry._registered.get(name, missing)
    _registry.register_provider(name, factory)
    try:
        yield
    finally:
        with _registry._lock:
            if before is missing:
                _registry._registered.pop(name, None)
            else:
                _registry._registered[name] = before  # type: ignore[assignment]


@contextlib.contextmanager
def fresh_default_client() -> Iterator[None]:
    """Inside the block ``imagegen.generate`` builds its default client anew (so it reads the settings
    and environment the test set up); that client is closed afterwards and the old one comes back."""
    before = _client._default
    _client._default = None
    try:
        yield
    finally:
        made, _client._default = _client._default, before
        if made is not None:
            made.close()


def holding(root: Any, needle: str, *, depth: int = 12) -> list[str]:
    """Where ``needle`` (a canary key, say) can be reached from ``root``: the attribute paths, through
    attributes, mappings, sequences, an exception's args, causes, contexts and notes, whose text (or
    bytes) contains it. ``[]`` means nothing ``root`` leads to holds it. Functions, classes, modules,
    frames and tracebacks are not followed (every Python object leads to those)."""
    found: list[str] = []
    seen: set[int] = set()
    skip = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, type,
            types.FrameType, types.TracebackType, types.CodeType)
    raw = needle.encode()

    def walk(value: Any, path: str, left: int) -> None:
        if isinstance(value, str):
            if needle in value:
                found.append(path)
            return
        if isinstance(value, (bytes, bytearray, memoryview)):
            if raw in bytes(value):
                found.append(path)
            return
        if value is None or isinstance(value, (int, float, complex, *skip)) or left == 0:
            return
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, Mapping):
            for key, item in list(value.items()):
                walk(key, f"{path}[key {key!r:.40}]", left - 1)
                walk(item, f"{path}[{key!r:.40}]", left - 1)
            return
        if isinstance(value, (list, tuple, set, frozenset)):
            for i, item in enumerate(list(value)):
                walk(item, f"{path}[{i}]", left - 1)
            return
        if isinstance(value, BaseException):
            walk(value.args, f"{path}.args", left - 1)
            walk(value.__cause__, f"{path}.__cause__", left - 1)
            walk(value.__context__, f"{path}.__context__", left - 1)
            walk(getattr(value, "__notes__", None), f"{path}.__notes__", left - 1)
        state = getattr(value, "__dict__", None)
        if isinstance(state, dict):
            for name, item in list(state.items()):
                walk(item, f"{path}.{name}", left - 1)
        for name in getattr(type(value), "__slots__", ()):
            walk(getattr(value, name, None), f"{path}.{name}", left - 1)

    walk(root, "root", depth)
    return found
