"""Keeping secrets out of everything imagegen shows or stores: errors, logs, ledgers, results and files.

One pattern knows what a key looks like (``SECRET_SHAPE``: OpenAI ``sk-…``, Google ``AIza…``, bearer
tokens) and one knows what a secret is called (``SECRET_NAME``). ``scrub`` cuts both the known values
and anything key-shaped out of text; ``scrub_error`` does it to an exception and its causes in place;
``redact`` drops the entries of a mapping whose key names a secret. The client, the providers and the
metadata writer all use these, so a key shape learnt once is cut everywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from typing import Any

__all__ = ["REDACTED", "SECRET_NAME", "SECRET_SHAPE", "LazySecrets", "redact", "scrub", "scrub_error",
           "secrets_of"]

REDACTED = "[redacted]"
#: Anything shaped like an API key or a bearer token.
SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9])(?:sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{30,})"
                          r"|Bearer\s+[A-Za-z0-9._\-]{8,}")
#: Names of settings, attributes and mapping keys that hold secrets.
SECRET_NAME = re.compile(r"api[_-]?key|secret|token|password|passwd|credential|authorization|bearer", re.I)
#: Known secret values shorter than this are not cut out of text: they cannot be real keys, and
#: replacing a placeholder such as ``"x"`` would shred every message.
MIN_SECRET_LENGTH = 8


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the known ``secrets`` and anything shaped like a key replaced by ``[redacted]``."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return SECRET_SHAPE.sub(REDACTED, text)


def _scrub_value(value: Any, secrets: list[str | None]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, Mapping):
        return {k: _scrub_value(v, secrets) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_scrub_value(v, secrets) for v in value)
    if isinstance(value, tuple) and hasattr(value, "_make"):  # a named tuple
        return value._make(_scrub_value(v, secrets) for v in value)
    return value


def scrub_error(exc: BaseException, secrets: Iterable[str | None] = ()) -> None:
    """Scrub an error and its causes in place (their args, and the ``message``, ``body`` and ``details``
    SDK errors carry), so ``str()``, ``repr()`` and tracebacks stay clean."""
    found = list(secrets)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(_scrub_value(a, found) for a in current.args)
        for attr in ("message", "body", "details"):
            try:
                value = getattr(current, attr, None)
            except Exception:  # a property that cannot be read: nothing to scrub
                continue
            if isinstance(value, (str, Mapping, list)):
                with suppress(AttributeError):  # a read-only property
                    setattr(current, attr, _scrub_value(value, found))
        current = current.__cause__ or current.__context__


def redact(value: Any) -> Any:
    """``value`` without the mapping entries whose key names a secret, recursively."""
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items() if not SECRET_NAME.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def secrets_of(*objects: Any) -> list[str]:
    """Secret values held by the environment (variables named like secrets) and by ``objects`` (their
    attributes named like secrets, and those of the SDK client each holds, one level down)."""
    found = [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH]
    seen: set[int] = set()
    stack = [o for o in objects if o is not None]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or not hasattr(obj, "__dict__"):
            continue
        seen.add(id(obj))
        for key, value in vars(obj).items():
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and SECRET_NAME.search(key):
                found.append(value)
            elif any(obj is o for o in objects) and key.lstrip("_") in ("client", "sdk", "async_client"):
                stack.append(value)
    return sorted(set(found), key=len, reverse=True)


class LazySecrets:
    """``secrets_of(*objects)``, worked out on first use: only an error needs scrubbing, and scanning
    the environment on every call costs more than the rest of a call's bookkeeping."""

    def __init__(self, *objects: Any) -> None:
        self._objects = objects
        self._values: list[str] | None = None

    def __iter__(self) -> Iterator[str]:
        if self._values is None:
            self._values = secrets_of(*self._objects)
        return iter(self._values)
