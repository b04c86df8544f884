"""Keeping secrets out of everything imagegen shows or stores: errors, logs, ledgers, results and files.

One pattern knows what a key looks like (``SECRET_SHAPE``: OpenAI ``sk-…``, Google ``AIza…``, bearer
tokens) and one knows what a secret is called (``SECRET_NAME``). ``scrub`` cuts both the known values
and anything key-shaped out of text; ``scrub_error`` does it to an exception and its causes in place;
``redact`` drops the entries of a mapping whose key names a secret. The client, the providers and the
metadata writer all use these, so a key shape learnt once is cut everywhere.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from typing import Any

__all__ = ["REDACTED", "SDK_LOGGERS", "SECRET_NAME", "SECRET_SHAPE", "LazySecrets", "SecretFilter", "guard_logs",
           "redact", "scrub", "scrub_error", "scrub_object", "secrets_of"]

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


def _retext(value: str, text: str) -> str:
    """``text`` as the same kind of string as ``value`` (a ``GenerationWarning`` keeps its kind and field)."""
    if text == value:
        return value
    if type(value) is str:
        return text
    try:
        reduced: Any = value.__reduce__()
        rebuilt = reduced[0](text, *reduced[1][1:])
    except Exception:  # a str subclass that cannot be rebuilt: plain text is safe
        return text
    return rebuilt if isinstance(rebuilt, str) else text


def _scrub_value(value: Any, secrets: list[str | None], depth: int = 0) -> Any:
    if isinstance(value, str):
        return _retext(value, scrub(value, secrets))
    if depth > 6:
        return value
    if isinstance(value, Mapping):
        return {k: _scrub_value(v, secrets, depth + 1) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_scrub_value(v, secrets, depth + 1) for v in value)
    if isinstance(value, tuple) and hasattr(value, "_make"):  # a named tuple
        return value._make(_scrub_value(v, secrets, depth + 1) for v in value)
    if not isinstance(value, (BaseException, type)) and isinstance(getattr(value, "__dict__", None), dict):
        _scrub_state(value, secrets, depth + 1)  # an image, an attempt: cleaned in place
    return value


def _scrub_state(obj: Any, secrets: list[str | None], depth: int) -> None:
    state = vars(obj)
    for name, value in list(state.items()):
        if isinstance(value, (str, Mapping, list, tuple)) or hasattr(value, "__dict__"):
            state[name] = _scrub_value(value, secrets, depth)


def scrub_object(obj: Any, secrets: Iterable[str | None] = ()) -> Any:
    """Scrub, in place, the text an object holds in its attributes (and in the lists and mappings they hold,
    images and attempts inside them included): what a provider returned, before it is stored anywhere."""
    _scrub_value(obj, list(secrets))
    return obj


#: Attribute values an error may keep as they are: they cannot hold a secret.
_PLAIN = (int, float, bool, bytes, type(None))


def scrub_error(exc: BaseException, secrets: Iterable[str | None] = ()) -> None:
    """Scrub an error and every error linked to it (causes, contexts, ``errors`` lists) in place: their args
    and every text attribute (message, body, code, request ids, notes...), the images and attempts they
    carry, and, for an SDK's own exceptions, drop the request and response objects they hold (their
    headers carry the key), so nothing reachable from what imagegen raises holds a secret."""
    from .errors import ImageGenError

    found = list(secrets)
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.args = tuple(_scrub_value(a, found) for a in current.args)
        ours = isinstance(current, ImageGenError)
        for name, value in list(vars(current).items()):
            if isinstance(value, BaseException):
                stack.append(value)
            elif isinstance(value, (list, tuple)) and any(isinstance(v, BaseException) for v in value):
                stack.extend(v for v in value if isinstance(v, BaseException))
            elif isinstance(value, (str, Mapping, list, tuple)) or ours:
                if not isinstance(value, _PLAIN):
                    vars(current)[name] = _scrub_value(value, found)
            elif not isinstance(value, _PLAIN):
                vars(current)[name] = None  # an SDK's request, response or client: headers, keys, sockets
        for attr in ("message", "body", "details"):  # the same names when they are properties
            try:
                value = getattr(current, attr, None)
            except Exception:  # a property that cannot be read: nothing to scrub
                continue
            if isinstance(value, (str, Mapping, list)):
                with suppress(AttributeError):  # a read-only property
                    setattr(current, attr, _scrub_value(value, found))
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def redact(value: Any) -> Any:
    """``value`` without the mapping entries whose key names a secret, recursively."""
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items() if not SECRET_NAME.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def secrets_of(*objects: Any, environment: bool = True) -> list[str]:
    """Secret values held by the environment (variables named like secrets; skipped with
    ``environment=False``) and by ``objects`` (their attributes named like secrets, and those of the SDK
    client each holds, one level down)."""
    found = [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH] \
        if environment else []
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
        self._held: list[str] | None = None

    def __iter__(self) -> Iterator[str]:
        if self._values is None:
            self._values = secrets_of(*self._objects)
        return iter(self._values)

    @property
    def held(self) -> list[str]:
        """The secrets the objects hold themselves (their keys), without scanning the environment: what a
        provider's answer could echo, cheap enough to check on every successful call."""
        if self._held is None:
            self._held = self._values if self._values is not None else secrets_of(*self._objects,
                                                                                  environment=False)
        return self._held


# -- logs ------------------------------------------------------------------------------------------

#: The loggers of the SDKs imagegen drives (and their ``2`` forks, which openai 3.x and google-genai 3.x
#: send through). Their DEBUG logs echo request options and answers; httpx logs URLs at INFO.
SDK_LOGGERS = ("openai", "httpx", "httpx2", "httpcore", "httpcore2", "google_genai", "google.genai")

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


class SecretFilter(logging.Filter):
    """Rewrites every record it sees with known secrets (``guard_logs``) and anything key-shaped cut out:
    the message with its arguments, and the text of an exception logged with it. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _known_lock:
            known = list(_known_secrets)
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: leave it to logging to report
            return True
        record.msg, record.args = scrub(message, known), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, known)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, known)
        return True


_FILTER = SecretFilter()
_factory_installed = False


def _is_sdk_logger(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in SDK_LOGGERS)


def guard_logs(*secrets: str | None) -> None:
    """Cut ``secrets`` (and anything key-shaped) out of every record the SDK loggers (``SDK_LOGGERS`` and
    their children) make. Providers call it when they build their SDK client; calling it again adds
    secrets, never a second filter.

    The filter sits on each SDK logger that exists, and a log-record factory applies it to records of the
    loggers an SDK makes later (httpcore makes ``httpcore2.http11`` on its first connection): a filter on
    a logger is not consulted for records that reach it from a child."""
    global _factory_installed
    with _known_lock:
        _known_secrets.update(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)
        if not _factory_installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                if _is_sdk_logger(record.name):
                    _FILTER.filter(record)
                return record

            logging.setLogRecordFactory(factory)
            _factory_installed = True
    for name in {*SDK_LOGGERS, *(n for n in list(logging.Logger.manager.loggerDict) if _is_sdk_logger(n))}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
