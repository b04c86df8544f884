"""Checks of settings and inputs that several parts of imagegen take, so each is validated (and worded) once.

The public edge is strict: numbers are numbers (never strings, bytes or bools), every float setting is
finite, and text is a ``str`` that can be sent as UTF-8 (no NUL bytes, no lone surrogates).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .errors import InvalidRequest

__all__ = ["MAX_PROMPT_CHARS", "check_finite", "check_real", "check_text", "check_timeout", "check_whole", "shown"]

#: The longest prompt imagegen takes for any model: no image model reads more (the longest vendor limit,
#: the GPT Image models', is 32,000 characters); a model's own, smaller limit is in its ``Capabilities``.
MAX_PROMPT_CHARS = 100_000


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about inputs of any size."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_whole(value: Any, field: str) -> int:
    """``value`` as an int: an integer (a whole float too, such as 3.0); never a bool, a string or bytes."""
    if not isinstance(value, bool):
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    raise InvalidRequest(f"{field}: must be a whole number; got {shown(value)}", field=field)


def check_real(value: Any, field: str) -> float:
    """``value`` as a finite float: an int or a float; never a bool, a string, bytes, NaN or infinity."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    raise InvalidRequest(f"{field}: must be a finite number; got {shown(value)}", field=field)


def check_finite(value: Any, field: str, *, minimum: float | None = None, above: float | None = None) -> float:
    """``check_real`` with a lower bound: ``minimum`` (inclusive) or ``above`` (exclusive)."""
    number = check_real(value, field)
    if minimum is not None and number < minimum:
        raise InvalidRequest(f"{field}: must be a number >= {minimum:g}; got {shown(value)}", field=field)
    if above is not None and number <= above:
        raise InvalidRequest(f"{field}: must be a number > {above:g}; got {shown(value)}", field=field)
    return number


def check_text(value: Any, field: str) -> str:
    """``value`` when it is a ``str`` that can be sent: no NUL bytes and no lone surrogates (which cannot be
    encoded as UTF-8, so no API and no file could take them)."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field}: must be text (str); got {type(value).__name__} {shown(value)}", field=field)
    if "\x00" in value:
        raise InvalidRequest(f"{field}: contains a NUL character (\\x00) at position {value.index(chr(0))}",
                             field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"{field}: contains a lone surrogate ({value[exc.start]!r} at position {exc.start}), "
                             "which is not valid Unicode text", field=field) from None
    return value


def check_timeout(value: Any, field: str = "timeout") -> float | None:
    """``value`` as seconds (a finite number > 0) or None; anything else is an ``InvalidRequest`` naming ``field``."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not value > 0):
        raise InvalidRequest(f"{field}: must be seconds > 0 or None; got {value!r}", field=field)
    return float(value)
