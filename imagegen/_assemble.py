"""Merging a request's calls into one ``GenerationResult``: images in request order with their seeds and
metadata, resized when the size policy asks, costs combined, warnings kept, partial failures handled."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, Literal

from .errors import ImageGenError, InvalidRequest
from .imageio import FORMAT_MIME, cover_resize, encode
from .normalize import Plan
from .provider import Provider, ProviderRequest, ProviderResponse
from .result import Cost, GeneratedImage, GenerationResult, GenerationWarning
from .scrub import redact
from .settings import complete_settings

__all__ = ["Partial", "assemble", "check_partial", "merge_usage"]

#: What a request split over several calls does when some of them fail: return what was made (with a
#: warning), or raise the first error with the finished images attached.
Partial = Literal["return", "raise"]

_INFO_FIELDS = ("operation", "steps", "guidance", "negative_prompt", "scheduler", "strength", "control",
                "control_model", "control_scale", "quality", "style", "prompt_syntax", "clip_skip", "refiner",
                "refiner_switch", "vae")


def check_partial(value: Any) -> Partial:
    if value not in ("return", "raise"):
        raise InvalidRequest(f"partial: must be 'return' or 'raise'; got {value!r}", field="partial")
    return value  # type: ignore[no-any-return]


def assemble(provider: Provider, prompt: str, plan: Plan, outcomes: Sequence[ProviderResponse | ImageGenError], *,
             started: float, planned: float, request_id: str, partial: Partial = "raise") -> GenerationResult:
    """Merge per-call outcomes (one per ``plan.requests`` entry) into one result, in request order.

    When every call failed, the first error is raised. When only some did, ``partial="return"``
    returns the finished images with a ``partial`` warning, and ``"raise"`` raises the first
    error with the finished images attached (``error.images``): paid-for images are never lost.
    """
    images: list[GeneratedImage] = []
    warnings: list[GenerationWarning] = list(plan.warnings)
    costs: list[Cost] = []
    timings: dict[str, float] = {}
    errors: list[ImageGenError] = []
    usage: dict[str, Any] = {}
    native = "output_format" in provider.capabilities().supports
    for outcome, req in zip(outcomes, plan.requests, strict=True):
        if isinstance(outcome, ImageGenError):
            errors.append(outcome)
            continue
        for offset, image in enumerate(outcome.images):
            if image.seed is None and offset < len(req.seeds):
                image.seed = req.seeds[offset]
            # keep what the provider noted on the image (its settings), under the request's own fields
            image.info = {**image.info, **_image_info(provider, prompt, req, request_id)}
            image.settings = complete_settings(image.settings, req, model=provider.model, seed=image.seed,
                                               width=image.width, height=image.height)
            if plan.needs_resize:
                image = _resized(image, plan.output_size)
            if req.output_format is not None:
                image = _encoded(image, req.output_format, req.output_compression, native)
            images.append(image)
        warnings.extend(GenerationWarning.of(w) for w in outcome.warnings if w not in warnings)
        if outcome.cost is not None:
            costs.append(outcome.cost)
        for key, value in outcome.timings.items():
            timings[key] = timings.get(key, 0.0) + value
        usage = merge_usage(usage, outcome.usage)
    if errors and (not images or partial == "raise"):
        first = errors[0]
        first.images = images
        raise first
    if errors:
        wanted = sum(r.n for r in plan.requests)
        kinds = ", ".join(sorted({type(e).__name__ for e in errors}))
        warnings.append(GenerationWarning(f"partial: {len(images)} of {wanted} images were made; {len(errors)} of "
                                          f"{len(plan.requests)} calls failed ({kinds}: {errors[0].message}); "
                                          "see attempts"))
    cost = Cost.combine(costs) if costs else Cost()
    if cost.usd is None and not any(w.kind == "cost" for w in warnings):
        warnings.append(GenerationWarning(f"cost: {provider.name}:{provider.model} did not report a price; "
                                          "cost.usd is None (unknown)", kind="cost"))
    timings.update(normalize_s=planned - started, total_s=time.perf_counter() - started)
    return GenerationResult(images=images, provider=provider.name, model=provider.model, prompt=prompt,
                            cost=cost, warnings=warnings, timings=timings, request_id=request_id,
                            params=dict(images[0].info["params"]) if images else {}, usage=usage)


def merge_usage(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Two calls' ``usage`` as one: numbers (token counts, calls) summed, nested mappings merged the same way,
    anything else (a model name, a size) kept from the first call that gave it."""
    merged = dict(total)
    for key, value in more.items():
        have = merged.get(key)
        if key not in merged:
            merged[key] = dict(value) if isinstance(value, dict) else value
        elif isinstance(have, dict) and isinstance(value, dict):
            merged[key] = merge_usage(have, value)
        elif _is_number(have) and _is_number(value):
            merged[key] = have + value
    return merged


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _image_info(provider: Provider, prompt: str, req: ProviderRequest, request_id: str) -> dict[str, Any]:
    params: dict[str, Any] = {k: getattr(req, k) for k in _INFO_FIELDS if getattr(req, k) is not None}
    params["size"] = f"{req.width}x{req.height}"
    if req.loras:
        params["loras"] = [{"path": lo.path, "scale": lo.scale} for lo in req.loras]
    if req.embeddings:
        params["embeddings"] = list(req.embeddings)
    if req.hires is not None:
        params["hires"] = req.hires.as_dict()
    if req.tiling:
        params["tiling"] = True
    if req.provider_options:  # results, reprs and files never carry a key passed as an option
        params["provider_options"] = redact(dict(req.provider_options))
    return {"prompt": prompt, "provider": provider.name, "model": provider.model, "params": params,
            "request_id": request_id}


def _encoded(image: GeneratedImage, output_format: str, compression: int | None, native: bool) -> GeneratedImage:
    """``image`` in the asked encoding: as it is when the provider made it so itself, else re-encoded here."""
    mime = FORMAT_MIME[output_format]
    if image.mime == mime and (native or compression is None):
        return image
    data = encode(image.to_pil(), mime, compression)
    return dataclasses.replace(image, data=data, mime=mime)


def _resized(image: GeneratedImage, size: tuple[int, int]) -> GeneratedImage:
    data = cover_resize(image, *size)
    params = {**image.info["params"], "output_size": f"{size[0]}x{size[1]}"}
    return GeneratedImage(data=data, mime="image/png", width=size[0], height=size[1], seed=image.seed,
                          revised_prompt=image.revised_prompt, info={**image.info, "params": params},
                          settings=image.settings)
