"""What a generation returns: images (bytes as produced), cost, attempts, warnings, timings.

Results are plain dataclasses: they are built by trusted code on the hot path, so pydantic
validation would only cost time. ``to_dict()`` gives a JSON-ready view.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from .imageio import ImageData

__all__ = ["Attempt", "Cost", "CostItem", "GeneratedImage", "GenerationResult"]


@dataclass(eq=False, repr=False)
class GeneratedImage(ImageData):
    """One finished image. ``info`` carries what ``save`` writes into the file's metadata."""

    seed: int | None = None
    revised_prompt: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike[str], *, metadata: bool = True) -> str:
        """Write atomically (temp file + rename). PNGs carry the prompt, params, provider, model
        and seed as text chunks; a path whose extension names another format is converted."""
        from .metadata import png_text_chunks, with_png_text

        target = os.fspath(path)
        data = self.data
        want = _mime_for_path(target) or self.mime
        if want != self.mime:
            data = _convert(self, want)
        if metadata and want == "image/png":
            data = with_png_text(data, png_text_chunks(self))
        directory = os.path.dirname(os.path.abspath(target))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".imagegen-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return target

    def __repr__(self) -> str:
        return (f"GeneratedImage({self.mime}, {self.width}x{self.height}, seed={self.seed}, "
                f"{len(self.data)} bytes)")


_EXT_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
_PIL_FORMAT = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def _mime_for_path(path: str) -> str | None:
    return _EXT_MIME.get(os.path.splitext(path)[1].lower())


def _convert(image: ImageData, mime: str) -> bytes:
    import io

    im = image.to_pil()
    if mime == "image/jpeg" and im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    buf = io.BytesIO()
    im.save(buf, format=_PIL_FORMAT[mime])
    return buf.getvalue()


@dataclass
class CostItem:
    description: str
    quantity: float
    unit_usd: float | None
    usd: float | None


@dataclass
class Cost:
    """``usd`` is None when unknown (a warning says so), never a silent 0."""

    usd: float | None = None
    source: str | None = None  # "price-table" | "usage" | "gpu-seconds" | "estimate"
    items: list[CostItem] = field(default_factory=list)

    @classmethod
    def combine(cls, costs: list[Cost]) -> Cost:
        items = [item for c in costs for item in c.items]
        if not costs or any(c.usd is None for c in costs):
            return cls(usd=None, source=_one_source(costs), items=items)
        return cls(usd=sum(c.usd for c in costs if c.usd is not None), source=_one_source(costs), items=items)


def _one_source(costs: list[Cost]) -> str | None:
    sources = {c.source for c in costs if c.source}
    return sources.pop() if len(sources) == 1 else ("mixed" if sources else None)


@dataclass
class Attempt:
    """One call to one provider: what it was, how it ended, what it cost."""

    provider: str
    model: str
    status: str  # "ok" | "error"
    latency_s: float
    error: str | None = None
    message: str | None = None
    cost_usd: float | None = None
    n: int = 0
    index: int = 0
    seeds: tuple[int | None, ...] = ()
    attempt: int = 1  # 1 = first try of this call, 2 = first retry, ...
    cost_source: str | None = None


@dataclass
class GenerationResult:
    images: list[GeneratedImage]
    provider: str
    model: str
    prompt: str
    cost: Cost = field(default_factory=Cost)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    request_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> GeneratedImage:
        """The first image: handy when n=1."""
        return self.images[0]

    @property
    def seeds(self) -> list[int | None]:
        return [im.seed for im in self.images]

    def save(self, directory: str | os.PathLike[str], prefix: str = "image") -> list[str]:
        """Save every image as ``{prefix}-{i}.png`` under ``directory``; returns the paths."""
        return [im.save(os.path.join(os.fspath(directory), f"{prefix}-{i}.png"))
                for i, im in enumerate(self.images)]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "provider": self.provider, "model": self.model, "prompt": self.prompt,
            "request_id": self.request_id, "params": self.params,
            "images": [{"mime": im.mime, "width": im.width, "height": im.height, "seed": im.seed,
                        "revised_prompt": im.revised_prompt, "bytes": len(im.data)} for im in self.images],
            "cost": asdict(self.cost), "warnings": list(self.warnings), "timings": dict(self.timings),
            "attempts": [asdict(a) for a in self.attempts],
        }

    def __repr__(self) -> str:
        usd = "unknown" if self.cost.usd is None else f"${self.cost.usd:.4f}"
        return (f"GenerationResult({self.provider}:{self.model}, {len(self.images)} images, cost={usd}, "
                f"{len(self.warnings)} warnings)")
