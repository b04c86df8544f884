"""Small helpers for tests that use imagegen as a user would: providers registered for one test, and
a default client (behind ``imagegen.generate``) that starts fresh and is closed after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .. import client as _client
from .. import registry as _registry

__all__ = ["fresh_default_client", "registered_provider"]


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
