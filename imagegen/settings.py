"""What an image was made with: the settings the provider actually used, as one typed record.

A local provider knows everything (its sampler and schedule, the steps and guidance it defaulted to, the
hashes of the checkpoint and LoRAs it loaded); a cloud provider knows what its API was sent and answered
(model, size, quality, a seed only where the API takes one). Each fills ``GeneratedImage.settings`` with
what it knows, and imagegen completes it from the request it sent (``complete_settings``), so every image
carries one record whichever provider made it. ``imagegen.infotext`` writes it as AUTOMATIC1111's
``parameters`` text; ``imagegen.importers`` read other tools' metadata into the same record.

Names follow A1111's infotext where it has one: ``sampler`` is the A1111 sampler (``"DPM++ 2M"``) and
``schedule_type`` its schedule (``"Karras"``); ``clip_skip`` counts A1111's way (1 = the last layer, no skip);
``width`` x ``height`` is the size the model sampled at (with hires fix, the first pass, as A1111 records it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from .provider import ProviderRequest

__all__ = ["HiresSettings", "ImageSettings", "ModelRef", "complete_settings", "model_name"]

_MODEL = ConfigDict(extra="forbid", frozen=True)


class ModelRef(BaseModel):
    """A model file an image was made with: a checkpoint, VAE, LoRA, embedding or refiner.

    ``name`` is how A1111 names it (a checkpoint's file stem, a VAE's file name, a LoRA's or embedding's
    name); ``hash`` is A1111's short hash (10 hex digits for checkpoints and VAEs, 12 for LoRAs and
    embeddings, see ``imagegen.hashing``), ``sha256`` the full digest it is cut from; ``weight`` a LoRA's strength.
    """

    model_config = _MODEL

    name: str
    hash: str | None = None
    sha256: str | None = None
    weight: float | None = None


class HiresSettings(BaseModel):
    """A1111's hires fix: a second, img2img pass at ``scale`` x the first pass (or at ``width`` x ``height``)."""

    model_config = _MODEL

    scale: float | None = None
    width: int | None = None
    height: int | None = None
    upscaler: str | None = None
    steps: int | None = None
    strength: float | None = None
    sampler: str | None = None
    schedule_type: str | None = None


class ImageSettings(BaseModel):
    """The settings one image was made with. ``None`` means not known (or not applicable), never a guess.

    ``extra`` holds further ``parameters`` pairs, written after A1111's own keys (a provider's own settings,
    or keys of another tool an import keeps).
    """

    model_config = _MODEL

    steps: int | None = None
    sampler: str | None = None
    schedule_type: str | None = None
    guidance: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model: ModelRef | None = None
    vae: ModelRef | None = None
    strength: float | None = None
    clip_skip: int | None = None
    tiling: bool = False
    hires: HiresSettings | None = None
    loras: tuple[ModelRef, ...] = ()
    embeddings: tuple[ModelRef, ...] = ()
    refiner: ModelRef | None = None
    refiner_switch: float | None = None
    operation: str | None = None
    quality: str | None = None
    style: str | None = None
    extra: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @property
    def scheduler(self) -> str | None:
        """The sampler as ``GenerateParams.scheduler`` takes it: ``"DPM++ 2M Karras"`` for DPM++ 2M on the
        Karras schedule, the sampler alone for any other schedule."""
        if self.sampler is None:
            return None
        if self.schedule_type == "Karras" and not self.sampler.endswith(" Karras"):
            return f"{self.sampler} Karras"
        return self.sampler


def complete_settings(settings: ImageSettings | None, req: ProviderRequest, *, model: str, seed: int | None,
                      width: int, height: int) -> ImageSettings:
    """``settings`` as the provider reported them, with every field it left empty filled from what was sent.

    The request is what ``normalize`` made valid for the provider, so each value in it is one the provider
    was given (a parameter it does not honour was dropped with a warning before the call)."""
    sent: dict[str, Any] = {
        "steps": req.steps, "guidance": req.guidance, "seed": seed, "width": width, "height": height,
        "model": ModelRef(name=model), "strength": req.strength, "operation": req.operation,
        "quality": req.quality, "style": req.style,
        "loras": tuple(ModelRef(name=_stem(lo.path), weight=lo.scale) for lo in req.loras),
        "clip_skip": req.clip_skip if req.clip_skip and req.clip_skip > 1 else None, "tiling": req.tiling or None,
        "vae": ModelRef(name=_base(req.vae)) if req.vae else None,
        "embeddings": tuple(ModelRef(name=_stem(path)) for path in req.embeddings),
        "refiner": ModelRef(name=_stem(req.refiner)) if req.refiner else None, "refiner_switch": req.refiner_switch,
    }
    if req.hires is not None:
        h = req.hires
        sent["hires"] = HiresSettings(scale=h.scale, width=h.size[0] if h.size else None,
                                      height=h.size[1] if h.size else None, upscaler=h.upscaler, steps=h.steps,
                                      strength=h.strength)
    if req.scheduler:
        sent["sampler"] = req.scheduler
    sent = {k: v for k, v in sent.items() if v is not None}
    if settings is None:
        return ImageSettings(**sent)
    given = settings.model_dump(exclude_defaults=True)
    fill = {k: v for k, v in sent.items() if k not in given and v != ()}
    return settings.model_copy(update=fill) if fill else settings


def _base(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def model_name(path: str) -> str:
    """A checkpoint's, LoRA's or embedding's name as A1111 shows it: the file name without folder and extension."""
    return _stem(path)


def _stem(path: str) -> str:
    base = _base(path)
    stem, dot, ext = base.rpartition(".")
    return stem if dot and stem and ext.lower() in ("safetensors", "ckpt", "pt", "bin", "pth") else base
