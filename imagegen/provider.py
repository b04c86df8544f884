"""The provider SPI: everything a provider package needs from imagegen, in one import.

A provider only ever sees ``ProviderRequest``s that ``normalize`` has already made valid for its
capabilities, so backends stay small: translate the request, call the model, map errors. Provider
packages import ``imagegen`` and ``imagegen.provider`` only (their tests may also use
``imagegen.testing``)::

    from imagegen.provider import (Capabilities, Cost, GeneratedImage, ProviderRequest, ProviderResponse,
                                   RateLimited, TransientError, scrub)

``SPEC_VERSION`` is the version of this contract. A provider may say which version it was written
for with a ``spec_version`` class attribute (default 1); imagegen refuses one written for a newer
contract than it knows, with ``ProviderUnavailable``, instead of failing in the middle of a call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from .catalog import LiveModel, ModelInfo
from .checks import check_timeout
from .errors import (
    AllProvidersFailed,
    AuthenticationError,
    BudgetExceeded,
    ContentPolicyError,
    ImageGenError,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    TransientError,
    UnsupportedFeature,
)
from .hashing import embedding_hash, file_sha256, lora_hash, lora_sha256, model_hash, model_sha256
from .imageio import ImageData, encode_png, sniff
from .lifecycle import Lifecycle, Status, check_lifecycle, in_service
from .params import OPERATIONS, PROMPT_SYNTAXES, Hires, LoRA, Operation, PromptSyntax
from .result import Cost, CostItem, CostSource, GeneratedImage, GenerationWarning, WarningKind
from .retry import retry_after_seconds
from .scrub import REDACTED, guard_logs, redact, scrub, scrub_error, scrub_object
from .settings import HiresSettings, ImageSettings, ModelRef

__all__ = [
    "OPERATIONS",
    "PROMPT_SYNTAXES",
    "REDACTED",
    "SPEC_VERSION",
    "SUPPORTABLE",
    "AllProvidersFailed",
    "AuthenticationError",
    "BudgetExceeded",
    "Capabilities",
    "ContentPolicyError",
    "Cost",
    "CostItem",
    "CostSource",
    "GeneratedImage",
    "GenerationWarning",
    "Hires",
    "HiresSettings",
    "ImageData",
    "ImageGenError",
    "ImageSettings",
    "InvalidRequest",
    "Lifecycle",
    "LiveModel",
    "LoRA",
    "ModelInfo",
    "ModelRef",
    "Operation",
    "PartialImage",
    "PartialImageCallback",
    "ProgressCallback",
    "ProgressEvent",
    "PromptSyntax",
    "Provider",
    "ProviderRequest",
    "ProviderResponse",
    "ProviderUnavailable",
    "RateLimited",
    "Status",
    "TransientError",
    "UnsupportedFeature",
    "WarningKind",
    "check_lifecycle",
    "check_timeout",
    "embedding_hash",
    "encode_png",
    "file_sha256",
    "gather_calls",
    "guard_logs",
    "in_service",
    "lora_hash",
    "lora_sha256",
    "model_hash",
    "model_sha256",
    "redact",
    "retry_after_seconds",
    "scrub",
    "scrub_error",
    "scrub_object",
    "sniff",
    "spec_version",
]

T = TypeVar("T")

#: The version of the provider contract this imagegen speaks.
SPEC_VERSION = 1
#: Parameters a provider may declare in ``Capabilities.supports``.
SUPPORTABLE = frozenset({"seed", "negative_prompt", "steps", "guidance", "scheduler", "lora",
                         "quality", "style", "strength", "control_scale", "prompt_syntax", "clip_skip", "embeddings",
                         "hires", "refiner", "vae", "tiling", "output_format", "background"})


@dataclass(frozen=True)
class Capabilities:
    """What a provider/model can do. ``normalize`` makes every request fit inside this."""

    sizes: frozenset[tuple[int, int]] | None = None
    multiple_of: int = 8
    min_side: int = 64
    max_side: int = 4096
    max_pixels: int | None = None
    #: The fewest pixels a free size may have (``gpt-image-2`` needs 655,360 or more).
    min_pixels: int | None = None
    max_aspect: float | None = None
    default_size: tuple[int, int] | None = None
    max_images_per_call: int = 1
    operations: frozenset[str] = frozenset({"txt2img"})
    supports: frozenset[str] = frozenset()
    qualities: frozenset[str] | None = None
    styles: frozenset[str] | None = None
    max_seed: int = 2**64 - 1
    #: The longest prompt the model takes, in characters (None: no limit known); longer ones are refused
    #: with ``InvalidRequest`` when the request is planned, before anything is sent.
    max_prompt_chars: int | None = None
    #: Input images one img2img/inpaint call takes (``image=[...]``); the mask applies to the first.
    max_input_images: int = 1
    #: Partial images (previews) a streamed call can send before the final one; 0: the provider sends none.
    partial_images: int = 0

    def __post_init__(self) -> None:
        if self.sizes is not None and not self.sizes:
            raise ValueError("Capabilities.sizes: give at least one size, or None for free sizes")
        if self.multiple_of < 1 or self.max_images_per_call < 1 or self.max_input_images < 1:
            raise ValueError("Capabilities: multiple_of, max_images_per_call and max_input_images must be >= 1")
        if self.partial_images < 0:
            raise ValueError("Capabilities.partial_images must be >= 0")
        lo = -(-self.min_side // self.multiple_of) * self.multiple_of
        if self.sizes is None and lo > self.max_side:
            raise ValueError("Capabilities: no side length fits min_side, max_side and multiple_of")
        if self.sizes is None and self.max_pixels is not None and lo * lo > self.max_pixels:
            raise ValueError("Capabilities: max_pixels is smaller than the smallest allowed square")
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError("Capabilities: min_pixels is larger than max_pixels")
        if self.max_aspect is not None and self.max_aspect < 1:
            raise ValueError("Capabilities.max_aspect is width/height or height/width: must be >= 1")
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"Capabilities.operations: unknown {sorted(unknown)}; known {sorted(OPERATIONS)}")
        if self.max_prompt_chars is not None and self.max_prompt_chars < 1:
            raise ValueError("Capabilities.max_prompt_chars must be >= 1, or None for no known limit")
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
        if self.min_pixels is not None and width * height < self.min_pixels:
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
        if self.min_pixels:
            parts.append(f"at least {self.min_pixels} pixels")
        return ", ".join(parts)


@dataclass(frozen=True)
class ProgressEvent:
    """One step of work inside a provider call, for a progress display.

    ``stage`` names the phase: ``"import"`` (heavy libraries on first use; ``detail`` says which),
    ``"load"`` (a model's weights), ``"denoise"`` (``step`` of ``total``), ``"generate"`` (a remote call
    answered); any other name is shown as it is. ``total`` is 0 where the length is unknown.
    """

    stage: str
    step: int
    total: int
    image_index: int = 0
    detail: str = ""
    #: Who reported it (``"name:model"``): filled in by the client for ``Client.stream`` events.
    provider: str = ""


@dataclass(frozen=True)
class PartialImage:
    """A preview of an image still being made: a provider's partial image (OpenAI's ``partial_images``) or a
    local model's intermediate decode. Never billed and never saved; the finished image comes in the result.

    ``index`` is the image's position in the merged result (``req.index + i``), ``partial_index`` counts this
    image's previews from 0, ``step``/``total`` say how far along it was when known (0 otherwise).
    """

    image: ImageData
    index: int = 0
    partial_index: int = 0
    step: int = 0
    total: int = 0
    #: Who sent it (``"name:model"``): filled in by the client.
    provider: str = ""


PartialImageCallback = Callable[[PartialImage], None]


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
    #: More input images (``image=[a, b, ...]``), no more than ``Capabilities.max_input_images`` - 1.
    extra_images: tuple[ImageData, ...] = ()
    mask: ImageData | None = None
    strength: float | None = None
    control_image: ImageData | None = None
    control: str | None = None
    control_model: str | None = None
    control_scale: float | None = None
    loras: tuple[LoRA, ...] = ()
    #: None: the provider's default ("a1111" locally); "plain": the prompt exactly as written.
    prompt_syntax: PromptSyntax | None = None
    clip_skip: int | None = None
    embeddings: tuple[str, ...] = ()
    hires: Hires | None = None
    refiner: str | None = None
    refiner_switch: float | None = None
    vae: str | None = None
    tiling: bool = False
    #: The encoding asked for (``png``/``jpeg``/``webp``) and its compression: a provider that declares
    #: ``"output_format"`` in ``supports`` encodes them itself; for any other, imagegen re-encodes what it returns.
    output_format: str | None = None
    output_compression: int | None = None
    #: ``transparent``/``opaque``/``auto``, for a provider that declares ``"background"`` in ``supports``.
    background: str | None = None
    quality: str | None = None
    style: str | None = None
    provider_options: Mapping[str, Any] = field(default_factory=dict)
    request_id: str = ""
    progress: ProgressCallback | None = field(default=None, repr=False, compare=False)
    cancel: threading.Event | None = field(default=None, repr=False, compare=False)
    #: Streaming (``Client.stream``): how many previews per image the caller wants (0: none), and where to
    #: send them. A provider that can make previews (``Capabilities.partial_images``) calls ``partial`` at most
    #: that many times per image, from any thread; one that cannot ignores both.
    partial_images: int = field(default=0, compare=False)
    partial: PartialImageCallback | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


@dataclass
class ProviderResponse:
    """What a provider returns: images in request order, its cost if it knows it, its own warnings."""

    images: list[GeneratedImage]
    cost: Cost | None = None
    #: ``GenerationWarning``s (a plain string counts as one of kind ``"other"``).
    warnings: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """A backend. Optional extras: ``spec_version`` (a class attribute: the ``SPEC_VERSION`` it was
    written for, default 1), ``estimate_cost(req) -> Cost | None`` for budgets, ``async prepare()`` for
    one-time setup that a ``Client`` awaits before planning a request (outside any per-attempt timeout;
    called for every request, so it must be cheap once done), ``async aclose()`` to release clients
    or GPU memory; and for the catalog (``imagegen.models()``, ``imagegen models``): ``default_model`` (a
    class attribute: the model the provider recommends today, used when a user names none),
    ``catalog()`` (a classmethod: ``ModelInfo`` rows from the provider's data, no key or network) and
    ``async list_models() -> list[LiveModel]`` (what the vendor lists now, for ``--live``). A provider with
    lifecycle data refuses a shut-down model before sending anything, with ``check_lifecycle``."""

    name: str
    model: str

    def capabilities(self) -> Capabilities: ...

    async def generate(self, req: ProviderRequest) -> ProviderResponse: ...


def spec_version(provider: object) -> int:
    """The contract version ``provider`` was written for; ``ProviderUnavailable`` when it is newer than
    this imagegen's ``SPEC_VERSION``, or not a whole number."""
    version = getattr(provider, "spec_version", 1)
    label = f"{getattr(provider, 'name', '?')}:{getattr(provider, 'model', '?')}"
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProviderUnavailable(f"{label}: spec_version must be a whole number >= 1; got {version!r}",
                                  provider=label)
    if version > SPEC_VERSION:
        raise ProviderUnavailable(f"{label} was written for provider contract {version}, newer than this "
                                  f"imagegen's ({SPEC_VERSION}); upgrade imagegen", provider=label)
    return version


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
