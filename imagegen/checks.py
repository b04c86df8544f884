"""Checks of settings that several parts of imagegen take, so each is validated (and worded) once."""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequest

__all__ = ["check_timeout"]


def check_timeout(value: Any, field: str = "timeout") -> float | None:
    """``value`` as seconds (a number > 0) or None; anything else is an ``InvalidRequest`` naming ``field``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidRequest(f"{field}: must be seconds > 0 or None; got {value!r}", field=field)
    return float(value)
