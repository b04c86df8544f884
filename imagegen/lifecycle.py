"""When a vendor's model lives and dies: lifecycle as data, and the one rule that acts on it.

Providers keep a ``Lifecycle`` next to each model's sizes and prices (its status as the vendor's page
gave it, the shutdown date, the replacement, and where and when that was read). ``check_lifecycle`` is the rule,
applied before anything is sent (``check_lifecycle``):

- a model whose shutdown date has passed (or that the vendor lists as shut down) is *retired*: on the
  vendor's own endpoint it raises ``ProviderUnavailable`` naming the date and the replacement, so a
  fallback chain moves on without a wasted request; ``allow_retired=True`` lets it through;
- a model with an announced shutdown still ahead is *deprecated*: it generates, with a ``lifecycle``
  warning naming the date, the days left and the replacement;
- on any other endpoint (an OpenAI-compatible server, a proxy, Azure) lifecycle does not apply: such
  servers keep serving old names.

"Today" is the UTC date (``today()``), so a shutdown takes effect on its day wherever the code runs.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from .errors import InvalidRequest, ProviderUnavailable
from .result import GenerationWarning

__all__ = ["STATUSES", "Lifecycle", "Status", "check_lifecycle", "in_service", "parse_date", "today"]

#: ``active``: in service, no shutdown announced; ``deprecated``: a shutdown date is announced;
#: ``retired``: shut down (the vendor no longer serves it).
Status = Literal["active", "deprecated", "retired"]
STATUSES: tuple[Status, ...] = get_args(Status)


def today() -> _dt.date:
    """The current UTC date (the day lifecycle dates are compared with)."""
    return _dt.datetime.now(_dt.timezone.utc).date()


def parse_date(value: str | _dt.date | None, *, field: str = "shutdown") -> _dt.date | None:
    """``"2026-05-12"`` -> a date; None stays None. Anything else is ``InvalidRequest`` naming ``field``."""
    if value is None or isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidRequest(f"{field}: expected a date as YYYY-MM-DD; got {value!r}", field=field) from None


@dataclass(frozen=True)
class Lifecycle:
    """One model's lifecycle as its vendor published it.

    ``status`` is what the vendor's page said when it was read (``source`` names the page and the date);
    ``status_on(day)`` is what it is on ``day``: a passed shutdown date makes any model retired.
    ``replacement`` is a model id of the same provider (what the vendor recommends instead).
    """

    status: Status = "active"
    shutdown: _dt.date | None = None
    replacement: str | None = None
    source: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Lifecycle.status: {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.status == "deprecated" and self.shutdown is None:
            raise ValueError("Lifecycle: a deprecated model needs its announced shutdown date")

    def status_on(self, day: _dt.date | None = None) -> Status:
        day = day or today()
        if self.status == "retired" or (self.shutdown is not None and day >= self.shutdown):
            return "retired"
        if self.shutdown is not None:
            return "deprecated"
        return self.status


def check_lifecycle(provider: str, model: str, lifecycle: Lifecycle, *, vendor: str, vendor_endpoint: bool,
          allow_retired: bool = False, replacement: str | None = None,
          day: _dt.date | None = None) -> GenerationWarning | None:
    """Apply lifecycle to one call of ``provider:model`` (see the module docstring).

    Returns the ``lifecycle`` warning for a deprecated model, None when there is nothing to say; raises
    ``ProviderUnavailable`` for a retired model on the vendor's endpoint. ``replacement`` overrides the
    lifecycle's own (a provider passes the current recommendation when the named one is itself retired).
    """
    if not vendor_endpoint:
        return None
    day = day or today()
    status = lifecycle.status_on(day)
    label = f"{provider}:{model}"
    instead = replacement or lifecycle.replacement
    use = f"; use {provider}:{instead}" if instead else ""
    if status == "retired":
        if allow_retired:
            return GenerationWarning(
                f"model: {label} was shut down by {vendor}{_on(lifecycle.shutdown)}; sent anyway "
                f"(allow_retired=True){use}", kind="lifecycle", field="model")
        raise ProviderUnavailable(
            f"{label} was shut down by {vendor}{_on(lifecycle.shutdown)}{use} (or, if {vendor} still serves it to "
            "you, pass allow_retired=True; `imagegen models --live` compares this list with the vendor's)",
            provider=label)
    if status == "deprecated" and lifecycle.shutdown is not None:
        left = (lifecycle.shutdown - day).days
        return GenerationWarning(
            f"model: {label} is deprecated: {vendor} shuts it down on {lifecycle.shutdown.isoformat()} "
            f"({left} day{'s' if left != 1 else ''} left){use}", kind="lifecycle", field="model")
    return None


def in_service(model: str | None, lifecycles: Mapping[str, Lifecycle], recommended: str,
               day: _dt.date | None = None) -> str | None:
    """``model``, or, when it is itself shut down, what replaces it (the chain followed), else ``recommended``:
    so a refusal never points at another shut-down model. ``lifecycles`` maps a provider's model ids to theirs."""
    seen: set[str] = set()
    while model is not None and model in lifecycles and lifecycles[model].status_on(day) == "retired":
        if model in seen:
            return recommended
        seen.add(model)
        model = lifecycles[model].replacement
    return model


def _on(day: _dt.date | None) -> str:
    return f" on {day.isoformat()}" if day is not None else ""
