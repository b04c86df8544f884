"""Making an image again from its metadata, whichever tool made it.

``plan_replay(meta)`` turns an ``ImageMetadata`` into a prompt, a provider and ``GenerateParams`` fields:

- an image imagegen made replays exactly (its ``imagegen`` entry names the provider and every parameter): on the
  same machine a local model gives the same pixels;
- an image from AUTOMATIC1111, Forge, ComfyUI, InvokeAI, Fooocus or NovelAI is mapped setting by setting: steps,
  CFG, seed, size, negative prompt, the sampler and its schedule (``DPM++ 2M`` + ``Karras`` is ``dpm++ 2m karras``;
  A1111's ``Automatic`` is the sampler's own default there), clip skip, hires fix, tiling, denoising strength;
  the checkpoint, VAE, refiner, LoRAs and embeddings are looked up by name in ``model_dirs`` (a LoRA or
  checkpoint whose hash differs from the image's is used with a warning). Each setting that cannot be honoured
  gets a ``GenerationWarning`` saying what was dropped or changed, and why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest
from .hashing import WEIGHT_SUFFIXES, file_sha256, lora_hash, model_hash
from .importers import ImageMetadata
from .infotext import A1111_DEFAULT_SCHEDULE, lora_tags
from .result import GenerationWarning, WarningKind
from .settings import HiresSettings, ImageSettings, ModelRef, model_name

__all__ = ["Replay", "find_model", "plan_replay"]

#: Schedule types that mean the model's own timestep schedule, which every sampler here steps on.
_OWN_SCHEDULE = {None, "Automatic", "Uniform", "Normal"}
#: ``settings.extra`` keys a replay needs no warning for (they describe the file, not the picture).
_BENIGN = {"Version", "Provider", "Size", "Revised prompt"}
#: The embedded model's name, and the spec that runs it.
_EMBEDDED = ("imagegen-mini", "diffusers:imagegen-mini")
_TOOLS = {"parameters": "AUTOMATIC1111", "comfyui": "ComfyUI", "invokeai": "InvokeAI", "fooocus": "Fooocus",
          "novelai": "NovelAI"}


@dataclass
class Replay:
    """What remakes an image: the prompt, the provider spec (``None``: use the default), the ``GenerateParams``
    fields, and a warning for each setting of the image that could not be honoured."""

    prompt: str
    spec: str | None
    params: dict[str, Any]
    warnings: list[GenerationWarning] = field(default_factory=list)
    source: str = "imagegen"

    @property
    def exact(self) -> bool:
        """True for imagegen's own images: every parameter is replayed as it was sent."""
        return self.source == "imagegen"


def _warn(field: str, text: str, kind: WarningKind = "unsupported") -> GenerationWarning:
    return GenerationWarning(f"replay: {text}", kind=kind, field=field)


def _candidates(dirs: Sequence[str]) -> Iterator[str]:
    """Every weight file and diffusers folder under ``dirs`` (walked once per lookup; folders are not entered)."""
    for root in dirs:
        for folder, subdirs, files in os.walk(root, followlinks=True):
            kept = []
            for name in sorted(subdirs):
                path = os.path.join(folder, name)
                if os.path.isfile(os.path.join(path, "model_index.json")):
                    yield path
                else:
                    kept.append(name)
            subdirs[:] = kept
            for name in sorted(files):
                if name.lower().endswith(WEIGHT_SUFFIXES):
                    yield os.path.join(folder, name)


def find_model(name: str, dirs: Sequence[str]) -> str | None:
    """The file or diffusers folder called ``name`` (its stem, or its whole file name) under ``dirs``."""
    wanted = name.replace("\\", "/").rsplit("/", 1)[-1]
    for path in _candidates(dirs):
        base = os.path.basename(path.rstrip("/"))
        if wanted in (base, model_name(base)) or model_name(wanted) == model_name(base):
            return path
    return None


def _matches(ref: ModelRef, path: str, *, lora: bool) -> bool | None:
    """Whether the local file at ``path`` has ``ref``'s hash: A1111's hash of that kind, or a prefix of the file's
    SHA-256 (Civitai's AutoV2, Fooocus' hashes). ``None`` when there is nothing to compare."""
    if not ref.hash or os.path.isdir(path):
        return None
    given = ref.hash.lower()
    known = [h for h in ((lora_hash(path) if lora else model_hash(path)), file_sha256(path)) if h]
    if not known:
        return None
    return any(h.startswith(given) or given.startswith(h) for h in known)


def _scheduler(settings: ImageSettings, source: str, warnings: list[GenerationWarning]) -> str | None:
    sampler, schedule = settings.sampler, settings.schedule_type
    if sampler is None:
        return None
    if schedule in (None, "Automatic") and source == "parameters":
        schedule = A1111_DEFAULT_SCHEDULE.get(sampler)  # what A1111's Automatic picks for this sampler
    if schedule == "Karras":
        return f"{sampler} Karras"
    if schedule not in _OWN_SCHEDULE:
        warnings.append(_warn("scheduler", f"schedule type {schedule!r}: {sampler} runs on the model's own timestep "
                                           "schedule here", kind="compatibility"))
    return sampler


def _hires(h: HiresSettings, settings: ImageSettings, dirs: Sequence[str],
           warnings: list[GenerationWarning]) -> dict[str, Any] | None:
    spec: dict[str, Any] = {}
    if h.scale is not None:
        spec["scale"] = h.scale
    elif h.width and h.height:
        spec["size"] = f"{h.width}x{h.height}"
    else:
        warnings.append(_warn("hires", "hires fix without a scale or target size; dropped"))
        return None
    upscaler = h.upscaler or ""
    if upscaler.lower().startswith("latent"):
        spec["upscaler"] = "latent"
        if upscaler not in ("Latent", "latent"):
            warnings.append(_warn("hires", f"hires upscaler {upscaler!r}: replayed with imagegen's latent upscaler",
                                  kind="compatibility"))
    elif upscaler.lower() == "lanczos":
        spec["upscaler"] = "lanczos"
    elif upscaler:
        path = find_model(upscaler, dirs)
        if path is not None:
            spec["upscaler"] = path
        else:
            warnings.append(_warn("hires", f"hires upscaler {upscaler!r} not found in the model folders; the "
                                           "provider's default upscaler is used"))
    if h.steps:
        spec["steps"] = h.steps
    if h.strength is not None:
        spec["strength"] = h.strength
    if h.sampler and h.sampler != settings.sampler:
        warnings.append(_warn("hires", f"hires sampler {h.sampler!r}: the second pass uses the first pass's sampler"))
    return spec


def plan_replay(meta: ImageMetadata, *, model_dirs: Sequence[str] = ()) -> Replay:
    """How to make the image ``meta`` describes again (see the module docstring)."""
    if meta.source == "none":
        raise InvalidRequest("replay: the image carries no metadata imagegen can read", field="replay")
    if meta.source == "imagegen":
        return Replay(prompt=meta.prompt or "", spec=meta.spec, params=meta.replay_params())
    settings = meta.settings or ImageSettings()
    # a JPEG or WebP imagegen saved carries only the infotext, with its Provider pair
    tool = "imagegen" if meta.provider else _TOOLS.get(meta.source, meta.source)
    warnings: list[GenerationWarning] = []
    dirs = [os.fspath(d) for d in model_dirs]
    prompt, tags = lora_tags(meta.prompt or "")
    params: dict[str, Any] = {}
    for key, value in (("steps", settings.steps), ("guidance", settings.guidance), ("seed", settings.seed),
                       ("negative_prompt", meta.negative_prompt)):
        if value is not None:
            params[key] = value
    if settings.width and settings.height:
        params["size"] = f"{settings.width}x{settings.height}"
    scheduler = _scheduler(settings, meta.source, warnings)
    if scheduler:
        params["scheduler"] = scheduler
    if settings.operation in ("img2img", "inpaint"):
        params["operation"] = settings.operation
        if settings.strength is not None:
            params["strength"] = settings.strength
    if settings.clip_skip and settings.clip_skip > 1:
        params["clip_skip"] = settings.clip_skip
    if settings.tiling:
        params["tiling"] = True
    for key, value in (("quality", settings.quality), ("style", settings.style)):
        if value:
            params[key] = value
    if settings.hires is not None and (hires := _hires(settings.hires, settings, dirs, warnings)):
        params["hires"] = hires
    spec = _checkpoint(settings.model, meta, dirs, warnings)
    params.update(_components(settings, dirs, warnings))
    loras = _loras(settings, tags, dirs, warnings)
    if loras:
        params["loras"] = loras
    for key, value in settings.extra.items():
        if key == "Guidance cutoff" and _number(value) is not None:
            params["provider_options"] = {"guidance_cutoff": _number(value)}
        elif key not in _BENIGN:
            warnings.append(_warn("replay", f"{key} ({value}) is a {tool} setting imagegen cannot replay; dropped"))
    if settings.seed is not None and tool != "imagegen":
        warnings.append(_warn("seed", f"the same seed draws different noise here than in {tool}, so the picture "
                                      "differs while the settings match", kind="seed"))
    return Replay(prompt=prompt, spec=spec, params=params, warnings=warnings, source=meta.source)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _checkpoint(ref: ModelRef | None, meta: ImageMetadata, dirs: Sequence[str],
                warnings: list[GenerationWarning]) -> str | None:
    """The spec of the image's checkpoint: a local file or folder of that name, the embedded model, or (for an
    image imagegen saved as JPEG or WebP) the cloud model its ``Provider`` pair names."""
    if meta.provider and meta.provider != "diffusers" and meta.model:
        return f"{meta.provider}:{meta.model}"
    if ref is None:
        warnings.append(_warn("model", "the image names no checkpoint; the default provider is used"))
        return None
    path = find_model(ref.name, dirs) if dirs else None
    if path is None:
        if ref.name == _EMBEDDED[0]:
            return _EMBEDDED[1]
        where = "the model folders (--model-dir)" if dirs else "any model folder (pass --model-dir)"
        warnings.append(_warn("model", f"checkpoint {ref.name!r} not found in {where}; the default provider is used"))
        return None
    if _matches(ref, path, lora=False) is False:
        warnings.append(_warn("model", f"checkpoint {ref.name!r}: {path} does not have the image's hash {ref.hash}; "
                                       "used anyway", kind="compatibility"))
    return f"diffusers:{path}"


def _components(settings: ImageSettings, dirs: Sequence[str], warnings: list[GenerationWarning]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field_name, ref in (("vae", settings.vae), ("refiner", settings.refiner)):
        if ref is None:
            continue
        path = find_model(ref.name, dirs) if dirs else None
        if path is None:
            warnings.append(_warn(field_name, f"{field_name} {ref.name!r} not found in the model folders; dropped"))
            continue
        if _matches(ref, path, lora=False) is False:
            warnings.append(_warn(field_name, f"{field_name} {ref.name!r}: {path} does not have the image's hash "
                                              f"{ref.hash}; used anyway", kind="compatibility"))
        out[field_name] = path
        if field_name == "refiner" and settings.refiner_switch is not None:
            out["refiner_switch"] = settings.refiner_switch
    embeddings = []
    for ref in settings.embeddings:
        path = find_model(ref.name, dirs) if dirs else None
        if path is None:
            warnings.append(_warn("embeddings", f"embedding {ref.name!r} not found in the model folders; its name "
                                                "stays in the prompt as text"))
        else:
            embeddings.append(path)
    if embeddings:
        out["embeddings"] = embeddings
    return out


def _loras(settings: ImageSettings, tags: list[tuple[str, float]], dirs: Sequence[str],
           warnings: list[GenerationWarning]) -> list[str]:
    """``path:weight`` for each LoRA the image used that is found by name, with a warning for the others."""
    refs = list(settings.loras)
    named = {r.name for r in refs}
    refs += [ModelRef(name=name, weight=weight) for name, weight in tags if name not in named]
    out = []
    for ref in refs:
        weight = 1.0 if ref.weight is None else ref.weight
        path = find_model(ref.name, dirs) if dirs else None
        if path is None:
            warnings.append(_warn("loras", f"LoRA {ref.name!r} not found in the model folders; dropped"))
            continue
        if _matches(ref, path, lora=True) is False:
            warnings.append(_warn("loras", f"LoRA {ref.name!r}: {path} does not have the image's hash {ref.hash}; "
                                           "used anyway", kind="compatibility"))
        out.append(f"{path}:{weight:g}")
    return out
