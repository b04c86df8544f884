"""User params + a provider's capabilities -> provider requests + warnings.

Every value that is changed or dropped on the way produces a ``GenerationWarning`` naming the
field (its text starts with it, ``"size: ..."``), so nothing is silently ignored; the policies in
``GenerateParams`` (``size_policy``, ``unsupported``) turn those changes into errors instead.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest, UnsupportedFeature
from .params import GenerateParams, Size
from .provider import Capabilities, ProviderRequest
from .result import GenerationWarning

__all__ = ["Plan", "fit_size", "normalize", "resolve_size"]

#: Aspect ratios closer than this (relative) count as the same shape.
ASPECT_TOLERANCE = 0.01
_FALLBACK_DEFAULT = (1024, 1024)


@dataclass
class Plan:
    """The outcome of normalization: requests to send and what changed on the way."""

    requests: list[ProviderRequest]
    warnings: list[GenerationWarning]
    size: tuple[int, int]
    output_size: tuple[int, int]
    seeds: list[int | None] = field(default_factory=list)

    @property
    def needs_resize(self) -> bool:
        return self.size != self.output_size


def normalize(prompt: str, params: GenerateParams, caps: Capabilities, *, provider: str = "provider",
              request_id: str = "") -> Plan:
    """Plan the provider calls for one user request. Raises ``UnsupportedFeature`` under the
    strict policies, never for something a warning can honestly cover, and ``InvalidRequest`` for a
    prompt longer than the model takes."""
    warnings: list[GenerationWarning] = []
    operation = params.resolved_operation
    if operation not in caps.operations:
        raise UnsupportedFeature(
            f"operation: {provider} cannot do {operation}; it supports {', '.join(sorted(caps.operations))}",
            field="operation", provider=provider)

    limit = caps.max_prompt_chars
    if limit is not None and operation != "variation" and len(prompt) > limit:  # a variation sends no prompt
        raise InvalidRequest(f"prompt: {provider} takes prompts of at most {limit} characters; this one has "
                             f"{len(prompt)}", field="prompt", provider=provider)

    if params.extra_images and 1 + len(params.extra_images) > caps.max_input_images:
        raise UnsupportedFeature(
            f"image: {provider} takes at most {caps.max_input_images} input image"
            f"{'s' if caps.max_input_images != 1 else ''} per edit; got {1 + len(params.extra_images)}",
            field="image", provider=provider)
    source = params.control_image if operation == "controlnet" else params.image
    if params.size is None and source is not None and caps.sizes is None:
        # an edit keeps its input's shape: the input's aspect at the provider's default area, not a square crop
        size, output_size, _ = resolve_size(Size(ratio=(source.width, source.height)), caps, provider=provider)
    else:
        size, output_size, size_warnings = resolve_size(params.size, caps, params.size_policy, provider=provider)
        warnings += size_warnings

    kept = _honoured(params, caps, provider, warnings)
    if params.output_format is not None:  # always honoured: by the provider, or re-encoded by imagegen
        kept.update(output_format=params.output_format, output_compression=params.output_compression)
    if "hires" in kept and output_size != size:
        warnings.append(_size(f"size: hires fix makes the final size from {size[0]}x{size[1]}; the resize to "
                              f"{output_size[0]}x{output_size[1]} is skipped"))
        output_size = size
    seeds = _seeds(params, caps, provider, warnings)

    requests = []
    per_call = caps.max_images_per_call
    for start in range(0, params.n, per_call):
        count = min(per_call, params.n - start)
        requests.append(ProviderRequest(
            prompt=prompt, operation=operation, width=size[0], height=size[1], n=count,
            seeds=tuple(seeds[start:start + count]), index=start,
            image=params.image, extra_images=params.extra_images, mask=params.mask,
            control_image=params.control_image,
            control=params.control, control_model=params.control_model,
            provider_options=params.provider_options, request_id=request_id, **kept,
        ))
    return Plan(requests=requests, warnings=warnings, size=size, output_size=output_size, seeds=seeds)


# -- parameters a provider may not honour ------------------------------------------------------

_OPTIONAL: tuple[tuple[str, str], ...] = (
    # (GenerateParams field, Capabilities.supports name)
    ("steps", "steps"), ("guidance", "guidance"), ("negative_prompt", "negative_prompt"),
    ("scheduler", "scheduler"), ("loras", "lora"), ("quality", "quality"), ("style", "style"),
    ("strength", "strength"), ("control_scale", "control_scale"), ("prompt_syntax", "prompt_syntax"),
    ("clip_skip", "clip_skip"), ("embeddings", "embeddings"), ("hires", "hires"), ("refiner", "refiner"),
    ("refiner_switch", "refiner"), ("vae", "vae"), ("tiling", "tiling"), ("background", "background"),
)


def _honoured(params: GenerateParams, caps: Capabilities, provider: str,
              warnings: list[GenerationWarning]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, capability in _OPTIONAL:
        value = getattr(params, name)
        if value is None or value == () or value is False:
            continue
        if name == "prompt_syntax" and value == "plain":  # every provider can send the prompt as it is
            kept[name] = value
            continue
        if name == "background" and value != "transparent" and capability not in caps.supports:
            continue  # an opaque (or automatic) background is what a model without the option makes anyway
        if capability not in caps.supports:
            _unsupported(params, warnings, name, f"{provider} does not support {name}", f"ignoring {value!r}",
                         provider)
            continue
        allowed = caps.qualities if name == "quality" else caps.styles if name == "style" else None
        if allowed is not None and value not in allowed:
            _unsupported(params, warnings, name, f"{value!r} is not a {name} {provider} offers "
                         f"(allowed: {', '.join(sorted(allowed))})", "ignoring it", provider)
            continue
        kept[name] = value
    return kept


def _unsupported(params: GenerateParams, warnings: list[GenerationWarning], name: str, problem: str,
                 consequence: str, provider: str) -> None:
    """``problem`` refused under ``unsupported="error"``; else a warning that also says what follows from it."""
    if params.unsupported == "error":
        raise UnsupportedFeature(f"{name}: {problem} (unsupported='error')", field=name, provider=provider)
    warnings.append(GenerationWarning(f"{name}: {problem}; {consequence}", kind="unsupported", field=name))


def _seeds(params: GenerateParams, caps: Capabilities, provider: str,
           warnings: list[GenerationWarning]) -> list[int | None]:
    if "seed" not in caps.supports:
        if params.seed is not None:
            _unsupported(params, warnings, "seed", f"{provider} does not take seeds",
                         "images will not be reproducible", provider)
        return [None] * params.n
    base = params.seed if params.seed is not None else secrets.randbelow(2**32)
    modulus = caps.max_seed + 1
    if base + params.n - 1 > caps.max_seed:
        warnings.append(GenerationWarning(f"seed: {provider} takes seeds up to {caps.max_seed}; seeds past it "
                                          f"wrap around (modulo {modulus})", kind="seed", field="seed"))
    return [(base + i) % modulus for i in range(params.n)]


# -- sizes -------------------------------------------------------------------------------------

def resolve_size(size: Size | None, caps: Capabilities, policy: str = "nearest", *,
                 provider: str = "provider") -> tuple[tuple[int, int], tuple[int, int], list[GenerationWarning]]:
    """Return (size to generate, size to deliver, warnings) for a requested size."""
    default = _default_size(caps)
    if size is None:
        return default, default, []
    if not size.is_ratio:
        assert size.width is not None and size.height is not None
        wanted = (size.width, size.height)
        if caps.allows(*wanted):
            return wanted, wanted, []
        if policy == "strict":
            raise UnsupportedFeature(f"size: {size} is not supported by {provider}; allowed: "
                                     f"{caps.describe_sizes()}", field="size", provider=provider)
        got = fit_size(size.aspect, wanted[0] * wanted[1], caps)
        if policy == "exact":
            return got, wanted, [_size(f"size: {provider} cannot make {size}; generating {got[0]}x{got[1]} "
                                       f"and resizing/cropping to {size}")]
        return got, got, [_size(f"size: {provider} cannot make {size}; using {got[0]}x{got[1]} "
                                f"(closest supported; allowed: {caps.describe_sizes()})")]
    area = default[0] * default[1]
    got = fit_size(size.aspect, area, caps)
    if _same_aspect(got[0] / got[1], size.aspect):
        return got, got, []
    if policy == "strict":
        raise UnsupportedFeature(f"size: {provider} has no size with aspect {size}; allowed: "
                                 f"{caps.describe_sizes()}", field="size", provider=provider)
    if policy == "exact":
        out = _crop_to_aspect(got, size.aspect)
        return got, out, [_size(f"size: {size} resolved to {got[0]}x{got[1]} (closest {provider} supports), "
                                f"cropped to {out[0]}x{out[1]}")]
    return got, got, [_size(f"size: {size} resolved to {got[0]}x{got[1]} (aspect {got[0] / got[1]:.3g}), "
                            f"the closest {provider} supports")]


def _size(text: str) -> GenerationWarning:
    return GenerationWarning(text, kind="size", field="size")


def _same_aspect(a: float, b: float) -> bool:
    return abs(math.log(a / b)) <= ASPECT_TOLERANCE


def _crop_to_aspect(size: tuple[int, int], aspect: float) -> tuple[int, int]:
    w, h = size
    if w / h > aspect:
        return max(1, round(h * aspect)), h
    return w, max(1, round(w / aspect))


def _default_size(caps: Capabilities) -> tuple[int, int]:
    if caps.default_size is not None:
        return caps.default_size
    if caps.allows(*_FALLBACK_DEFAULT):
        return _FALLBACK_DEFAULT
    return fit_size(1.0, _FALLBACK_DEFAULT[0] * _FALLBACK_DEFAULT[1], caps)


def fit_size(aspect: float, area: float, caps: Capabilities) -> tuple[int, int]:
    """The allowed size closest to ``aspect`` first and to ``area`` second."""

    def score(wh: tuple[int, int]) -> tuple[float, float, float]:
        # Aspects within half the tolerance tie, so area decides among near-identical shapes.
        aspect_err = abs(math.log((wh[0] / wh[1]) / aspect))
        return (max(0.0, aspect_err - ASPECT_TOLERANCE / 2), abs(math.log(wh[0] * wh[1] / area)), aspect_err)

    if caps.sizes is not None:
        return min(sorted(caps.sizes), key=score)
    m = caps.multiple_of
    lo = -(-caps.min_side // m) * m
    hi = caps.max_side // m * m
    candidates: list[tuple[int, int]] = []
    for h in range(lo, hi + 1, m):
        ideal = h * aspect
        for w in {max(lo, min(hi, math.floor(ideal / m) * m)), max(lo, min(hi, math.ceil(ideal / m) * m))}:
            if caps.allows(w, h):
                candidates.append((w, h))
    if not candidates:  # aspect and area limits leave nothing near: the smallest square always fits
        return (lo, lo)
    return min(candidates, key=score)
