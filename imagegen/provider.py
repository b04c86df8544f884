"""The provider contract: what a backend declares (``Capabilities``) and what it is sent.

A provider only ever sees ``ProviderRequest``s that ``normalize`` has already made valid for its
capabilities, so backends stay small: translate the request, call the model, map errors.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from .errors import ImageGenError

if TYPE_CHECKING:
    from .imageio import ImageData
    from .params import LoRA
    from .result import Cost, GeneratedImage

__all__ = ["Capabilities", "ProgressEvent", "Provider", "ProviderRequest", "ProviderResponse", "gather_calls"]

T = TypeVar("T")

ALL_OPERATIONS = frozenset({"txt2img", "img2img", "inpaint", "variation", "controlnet"})
#: Parameters a provider may declare in ``Capabilities.supports``.
SUPPORTABLE = frozenset({"seed", "negative_prompt", "steps", "guidance", "scheduler", "lora",
                         "quality", "style", "strength", "control_scale"})


@dataclass(frozen=True)
class Capabilities:
    """What a provider/model can do. ``normalize`` makes every request fit inside this."""

    sizes: frozenset[tuple[int, int]] | None = None
    multiple_of: int = 8
    min_side: int = 64
    max_side: int = 4096
    max_pixels: int | None = None
    max_aspect: float | None = None
    default_size: tuple[int, int] | None = None
    max_images_per_call: int = 1
    operations: frozenset[str] = frozenset({"txt2img"})
    supports: frozenset[str] = frozenset()
    qualities: frozenset[str] | None = None
    styles: frozenset[str] | None = None
    max_seed: int = 2**64 - 1

    def __post_init__(self) -> None:
        if self.sizes is not None and not self.sizes:
            raise ValueError("Capabilities.sizes: give at least one size, or None for free sizes")
        if self.multiple_of < 1 or self.max_images_per_call < 1:
            raise ValueError("Capabilities: multiple_of and max_images_per_call must be >= 1")
        lo = -(-self.min_side // self.multiple_of) * self.multiple_of
        if self.sizes is None and lo > self.max_side:
            raise ValueError("Capabilities: no side length fits min_side, max_side and multiple_of")
        if self.sizes is None and self.max_pixels is not None and lo * lo > self.max_pixels:
            raise ValueError("Capabilities: max_pixels is smaller than the smallest allowed square")
        if self.max_aspect is not None and self.max_aspect < 1:
            raise ValueError("Capabilities.max_aspect is width/height or height/width: must be >= 1")
        unknown = set(self.operations) - ALL_OPERATIONS
        if unknown:
            raise ValueError(f"Capabilities.operations: unknown {sorted(unknown)}; known {sorted(ALL_OPERATIONS)}")
        if self.default_size is not None and not self.allows(*self.default_size):
            raise ValueError(f"Capabilities.default_size {self.default_size} is not an allowed size")

    def allows(self, width: int, height: int) -> bool:
        """True when ``width`` x ``height`` can be sent as it is."""
        if self.sizes is not None:
            return (width, height) in self.sizes
        if width % self.multiple_of or height % self.multiple_of:
            return False
        if not (self.min_side <= width <= self.max_side and self.min_side <= height <= self.max_side):
            return False
        if self.max_pixels is not None and width * height > self.max_pixels:
            return False
        return self.max_aspect is None or max(width / height, height / width) <= self.max_aspect + 1e-9

    def describe_sizes(self) -> str:
        if self.sizes is not None:
            return ", ".join(f"{w}x{h}" for w, h in sorted(self.sizes))
        parts = [f"sides {self.min_side}..{self.max_side} in steps of {self.multiple_of}"]
        if self.max_pixels:
            parts.append(f"at most {self.max_pixels} pixels")
        if self.max_aspect:
            parts.append(f"aspect at most {self.max_aspect:g}:1")
        return ", ".join(parts)


@dataclass(frozen=True)
class ProgressEvent:
    """One step of work inside a provider call (denoising steps locally, attempts remotely)."""

    stage: str
    step: int
    total: int
    image_index: int = 0


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class ProviderRequest:
    """One call's worth of work, already valid for the provider's capabilities.

    ``seeds`` holds one entry per image (None where the provider draws or cannot take seeds);
    ``index`` is the position of this request's first image in the merged result.
    """

    prompt: str
    operation: str
    width: int
    height: int
    n: int = 1
    seeds: tuple[int | None, ...] = ()
    index: int = 0
    steps: int | None = None
    guidance: float | None = None
    negative_prompt: str | None = None
    scheduler: str | None = None
    image: ImageData | None = None
    mask: ImageData | None = None
    strength: float | None = None
    control_image: ImageData | None = None
    control: str | None = None
    control_model: str | None = None
    control_scale: float | None = None
    loras: tuple[LoRA, ...] = ()
    quality: str | None = None
    style: str | None = None
    provider_options: Mapping[str, Any] = field(default_factory=dict)
    request_id: str = ""
    progress: ProgressCallback | None = field(default=None, repr=False, compare=False)
    cancel: threading.Event | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


@dataclass
class ProviderResponse:
    """What a provider returns: images in request order, its cost if it knows it, its own warnings."""

    images: list[GeneratedImage]
    cost: Cost | None = None
    warnings: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """A backend. Optional extras: ``estimate_cost(req) -> Cost | None`` for budgets,
    ``async prepare()`` for one-time setup that a ``Client`` awaits before planning a request (outside
    any per-attempt timeout; called for every request, so it must be cheap once done), and
    ``aclose()`` to release clients or GPU memory."""

    name: str
    model: str

    def capabilities(self) -> Capabilities: ...

    async def generate(self, req: ProviderRequest) -> ProviderResponse: ...


async def gather_calls(calls: Sequence[Awaitable[T]], images: Callable[[T], Sequence[GeneratedImage]]) -> list[T]:
    """Run a provider's API calls together, results in call order. When some fail, raise the first
    failure with the finished calls' images attached (``error.images``), so nothing paid for is lost."""
    if len(calls) == 1:
        return [await calls[0]]
    results: list[T | BaseException] = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        first = failures[0]
        if isinstance(first, ImageGenError):
            done = [im for r in results if not isinstance(r, BaseException) for im in images(r)]
            first.images = done + list(first.images)
        raise first
    return [r for r in results if not isinstance(r, BaseException)]
