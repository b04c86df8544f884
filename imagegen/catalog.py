"""Every model imagegen knows, as data (``ModelInfo``), and how it differs from the vendors' own model lists
(``compare``), so a stale catalog is caught by one call: ``imagegen.models()`` and
``imagegen.live_differences()`` (in ``imagegen.registry``), ``imagegen models --live`` on the command line.

A provider offers its catalog through two optional hooks:

- ``catalog()`` on its factory (a classmethod of the provider class): ``ModelInfo`` rows built from its
  data files (sizes, images per call, price basis, lifecycle); no key, no SDK, no network;
- ``async list_models()`` on an instance: the ``LiveModel``s the vendor lists now (OpenAI ``GET
  /v1/models``, which reports ``shutdown_date``; Google's models list), image models only.

The core never imports a provider: the registry finds them, like everything else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from .lifecycle import Status, today

__all__ = ["DIFFERENCE_KINDS", "Difference", "DifferenceKind", "LiveModel", "ModelInfo", "compare"]


@dataclass(frozen=True)
class ModelInfo:
    """One model as imagegen knows it. ``status`` is its status today (a passed shutdown date is retired)."""

    provider: str
    model: str
    status: Status
    shutdown: dt.date | None = None
    replacement: str | None = None
    #: The sizes it makes, in words (``1024x1024, 1536x1024`` or ``sides 480..3840 in steps of 16, ...``).
    sizes: str = ""
    max_images_per_call: int = 1
    #: What a call costs, in words: token rates, a per-image range, device time, or ``unknown``.
    price: str = "unknown"
    operations: tuple[str, ...] = ()
    #: The model imagegen picks for this provider when none is named.
    recommended: bool = False
    #: Where the lifecycle data was read, and when.
    source: str = ""
    note: str = ""

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.model}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["shutdown"] = self.shutdown.isoformat() if self.shutdown else None
        out["operations"] = list(self.operations)
        return out


@dataclass(frozen=True)
class LiveModel:
    """A model as the vendor lists it now."""

    id: str
    #: The shutdown date the vendor reports (OpenAI's ``shutdown_date``); None: none announced, or not reported.
    shutdown: dt.date | None = None


DifferenceKind = Literal["not-listed", "still-listed", "new", "shutdown-added", "shutdown-changed"]
DIFFERENCE_KINDS: tuple[DifferenceKind, ...] = get_args(DifferenceKind)


@dataclass(frozen=True)
class Difference:
    """Where imagegen's built-in data and the vendor's list disagree.

    ``not-listed``: a model in service by imagegen's data that the vendor no longer lists; ``still-listed``: one
    imagegen takes for shut down that the vendor still lists; ``new``: a listed id imagegen does not know;
    ``shutdown-added`` / ``shutdown-changed``: the vendor reports a shutdown date the data lacks or has otherwise.
    """

    provider: str
    model: str
    kind: DifferenceKind
    builtin: str | None = None
    live: str | None = None

    @property
    def message(self) -> str:
        label = f"{self.provider}:{self.model}"
        return {
            "not-listed": f"{label}: in service by imagegen's data, but the vendor no longer lists it",
            "still-listed": f"{label}: shut down by imagegen's data ({self.builtin}), but the vendor still lists it",
            "new": f"{label}: listed by the vendor, unknown to imagegen (it gets the provider's generic limits)",
            "shutdown-added": f"{label}: the vendor reports shutdown {self.live}; imagegen's data has none",
            "shutdown-changed": f"{label}: the vendor reports shutdown {self.live}; imagegen's data: {self.builtin}",
        }[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def compare(known: Sequence[ModelInfo], live: Sequence[LiveModel], *, provider: str) -> list[Difference]:
    """The differences between ``known`` (imagegen's data) and ``live`` (the vendor's list)."""
    listed = {m.id: m for m in live}
    rows = {m.model: m for m in known}
    out: list[Difference] = []
    for info in known:
        seen = listed.get(info.model)
        if seen is None:
            if info.status != "retired":
                out.append(Difference(provider, info.model, "not-listed"))
            continue
        builtin = info.shutdown.isoformat() if info.shutdown else None
        reported = seen.shutdown.isoformat() if seen.shutdown else None
        if info.status == "retired" and (seen.shutdown is None or seen.shutdown > today()):
            out.append(Difference(provider, info.model, "still-listed", builtin or "no date", reported))
        elif reported and not builtin:
            out.append(Difference(provider, info.model, "shutdown-added", None, reported))
        elif reported and builtin and reported != builtin:
            out.append(Difference(provider, info.model, "shutdown-changed", builtin, reported))
    for model_id, seen in listed.items():
        if model_id not in rows:
            out.append(Difference(provider, model_id, "new", None,
                                  seen.shutdown.isoformat() if seen.shutdown else None))
    return out
