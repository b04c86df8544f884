"""What a generation returns: images (bytes as produced), cost, attempts, warnings, timings.

Results are plain dataclasses: they are built by trusted code on the hot path, so pydantic
validation would only cost time. ``to_dict()`` gives a JSON-ready view.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .files import atomic_write
from .imageio import ImageData
from .settings import ImageSettings

__all__ = ["ATTEMPT_STATUSES", "COST_SOURCES", "WARNING_KINDS", "Attempt", "AttemptStatus", "Cost", "CostItem",
           "CostSource", "GeneratedImage", "GenerationResult", "GenerationWarning", "WarningKind", "format_usd"]

#: What a warning is about: a size changed, a parameter the provider does not honour, seeds, a fallback,
#: cost, something changed to suit the provider's API, a model's lifecycle (deprecated), or anything else.
WarningKind = Literal["size", "unsupported", "seed", "fallback", "cost", "compatibility", "lifecycle", "other"]
WARNING_KINDS: tuple[WarningKind, ...] = get_args(WarningKind)


class GenerationWarning(str):
    """One thing imagegen or the provider changed, dropped or could not tell: the message text, plus
    ``kind`` (one of ``WARNING_KINDS``) and ``field`` (the parameter it is about, when there is one).

    It is a ``str`` (the message), so it prints, compares and serializes as one; code that acts on
    warnings reads ``kind`` and ``field`` instead of parsing the text::

        GenerationWarning("size: 16:9 resolved to 1792x1024 ...", kind="size", field="size")
    """

    kind: WarningKind
    field: str | None

    def __new__(cls, text: str, kind: WarningKind = "other", field: str | None = None) -> GenerationWarning:
        if kind not in WARNING_KINDS:
            raise ValueError(f"GenerationWarning.kind: {kind!r} is not one of {', '.join(WARNING_KINDS)}")
        self = super().__new__(cls, text)
        self.kind = kind
        self.field = field
        return self

    @classmethod
    def of(cls, text: str) -> GenerationWarning:
        """``text`` as a warning: itself when it already is one, else of kind ``"other"``."""
        return text if isinstance(text, GenerationWarning) else cls(text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (GenerationWarning, (str(self), self.kind, self.field))


def format_usd(value: float | None) -> str:
    """Money as imagegen shows it everywhere: ``$0.0400``, or ``unknown`` for a cost nobody knows."""
    return "unknown" if value is None else f"${value:.4f}"


@dataclass(eq=False, repr=False)
class GeneratedImage(ImageData):
    """One finished image. ``info`` carries what ``save`` writes into the file's metadata."""

    seed: int | None = None
    revised_prompt: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: The settings the provider actually used (completed by imagegen from what it sent); ``None`` for an
    #: image built by hand.
    settings: ImageSettings | None = None

    def save(self, path: str | os.PathLike[str], *, metadata: bool = True) -> str:
        """Write atomically (temp file + rename), with the settings it was made with as A1111 infotext and
        imagegen's JSON (PNG text chunks; a JPEG's or WebP's EXIF ``UserComment``). A path whose extension
        names another format is converted."""
        from .metadata import with_metadata

        target = os.fspath(path)
        data = self.data
        want = _mime_for_path(target) or self.mime
        if want != self.mime:
            data = _convert(self, want)
        if metadata:
            data = with_metadata(data, want, self)
        return atomic_write(target, data)

    def __repr__(self) -> str:
        return (f"GeneratedImage({self.mime}, {self.width}x{self.height}, seed={self.seed}, "
                f"{len(self.data)} bytes)")


_EXT_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
_EXTENSION = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def _mime_for_path(path: str) -> str | None:
    return _EXT_MIME.get(os.path.splitext(path)[1].lower())


def _convert(image: ImageData, mime: str) -> bytes:
    from .imageio import encode

    return encode(image.to_pil(), mime)


@dataclass
class CostItem:
    description: str
    quantity: float
    unit_usd: float | None
    usd: float | None


#: Where a cost comes from: a provider's price table, the usage it reported, local device time, an
#: estimate (charged when a call reported no price), images loaded from disk instead of made, or
#: several of those together.
CostSource = Literal["price-table", "usage", "gpu-seconds", "estimate", "skipped", "mixed"]
COST_SOURCES: tuple[CostSource, ...] = get_args(CostSource)


@dataclass
class Cost:
    """``usd`` is None when unknown (a warning says so), never a silent 0."""

    usd: float | None = None
    source: CostSource | None = None
    items: list[CostItem] = field(default_factory=list)

    @classmethod
    def combine(cls, costs: list[Cost]) -> Cost:
        items = [item for c in costs for item in c.items]
        if not costs or any(c.usd is None for c in costs):
            return cls(usd=None, source=_one_source(costs), items=items)
        return cls(usd=sum(c.usd for c in costs if c.usd is not None), source=_one_source(costs), items=items)


def _one_source(costs: list[Cost]) -> CostSource | None:
    sources = {c.source for c in costs if c.source}
    return sources.pop() if len(sources) == 1 else ("mixed" if sources else None)


#: How an attempt ended: it made images, it failed, the provider was passed over before anything was
#: sent (it could not be built or set up, or the request does not fit it), the budget refused it, or
#: it was cancelled while in flight.
AttemptStatus = Literal["ok", "error", "skipped", "refused", "cancelled"]
ATTEMPT_STATUSES: tuple[AttemptStatus, ...] = get_args(AttemptStatus)


@dataclass
class Attempt:
    """One call to one provider: what it was, how it ended, what it cost."""

    provider: str
    model: str
    status: AttemptStatus
    latency_s: float
    error: str | None = None
    message: str | None = None
    cost_usd: float | None = None
    n: int = 0
    index: int = 0
    seeds: tuple[int | None, ...] = ()
    attempt: int = 1  # 1 = first try of this call, 2 = first retry, ...
    cost_source: CostSource | None = None


@dataclass
class GenerationResult:
    images: list[GeneratedImage]
    provider: str
    model: str
    prompt: str
    cost: Cost = field(default_factory=Cost)
    warnings: list[GenerationWarning] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    request_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    #: What the provider reported using, merged over its calls: for the GPT Image models ``tokens`` (text
    #: and image input, image and text output) and ``calls``, so ``cost.items`` can be audited line by line.
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> GeneratedImage:
        """The first image: handy when n=1."""
        return self.images[0]

    @property
    def seeds(self) -> list[int | None]:
        return [im.seed for im in self.images]

    def save(self, directory: str | os.PathLike[str], prefix: str = "image") -> list[str]:
        """Save every image as ``{prefix}-{i}.png`` (``.jpg``, ``.webp``: the image's own format) under
        ``directory``, with its metadata; returns the paths."""
        return [im.save(os.path.join(os.fspath(directory), f"{prefix}-{i}{_EXTENSION.get(im.mime, '.png')}"))
                for i, im in enumerate(self.images)]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "provider": self.provider, "model": self.model, "prompt": self.prompt,
            "request_id": self.request_id, "params": self.params,
            "images": [{"mime": im.mime, "width": im.width, "height": im.height, "seed": im.seed,
                        "revised_prompt": im.revised_prompt, "bytes": len(im.data)} for im in self.images],
            "cost": asdict(self.cost), "warnings": list(self.warnings), "timings": dict(self.timings),
            "attempts": [asdict(a) for a in self.attempts], "usage": self.usage,
        }

    def __repr__(self) -> str:
        return (f"GenerationResult({self.provider}:{self.model}, {len(self.images)} images, "
                f"cost={format_usd(self.cost.usd)}, "
                f"{len(self.warnings)} warnings)")
