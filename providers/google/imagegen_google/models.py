"""Google's image models as data: which API each uses, its sizes per aspect ratio and resolution tier, and limits.

Imagen models take an aspect ratio (and, on some models, a resolution tier ``image_size``), not pixels;
the pixel size each (ratio, tier) gives is listed here, so ``Capabilities.sizes`` can offer exactly
those and imagegen's size policies pick the nearest one. Sources: Vertex AI "Imagen" model pages and
API reference (aspect ratios, ``sampleImageSize``, ``sampleCount`` 1-4, seed 0..2**32-1), and the
Gemini API image-generation guide (Gemini image models' resolution tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imagegen.provider import InvalidRequest

__all__ = ["MODELS", "ModelSpec", "model_spec"]

Family = Literal["imagen", "gemini"]
Sizes = dict[str, tuple[int, int]]  # aspect ratio -> (width, height)

_IMAGEN_1K: Sizes = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408),
                     "16:9": (1408, 768)}
_IMAGEN_2K: Sizes = {"1:1": (2048, 2048), "3:4": (1792, 2560), "4:3": (2560, 1792), "9:16": (1536, 2816),
                     "16:9": (2816, 1536)}

_GEMINI_25: Sizes = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184),
                     "4:3": (1184, 864), "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344),
                     "16:9": (1344, 768), "21:9": (1536, 672)}
_GEMINI_3_1K: Sizes = {"1:1": (1024, 1024), "2:3": (848, 1264), "3:2": (1264, 848), "3:4": (896, 1200),
                       "4:3": (1200, 896), "4:5": (928, 1152), "5:4": (1152, 928), "9:16": (768, 1376),
                       "16:9": (1376, 768), "21:9": (1584, 672)}


def _scaled(sizes: Sizes, factor: int) -> Sizes:
    return {ratio: (w * factor, h * factor) for ratio, (w, h) in sizes.items()}


@dataclass(frozen=True)
class ModelSpec:
    """One model's limits. ``tiers`` maps a resolution tier ("1K", "2K", "4K") to its sizes per ratio."""

    family: Family
    tiers: dict[str, Sizes]
    max_images_per_call: int
    negative_prompt: bool = False
    #: Whether the API takes ``image_size`` for this model (else only its one tier exists, and is not sent).
    sends_image_size: bool = False
    known: bool = True

    @property
    def sizes(self) -> frozenset[tuple[int, int]]:
        return frozenset(wh for sizes in self.tiers.values() for wh in sizes.values())

    def locate(self, width: int, height: int) -> tuple[str, str]:
        """(aspect ratio, tier) of a size this model offers."""
        for tier, sizes in self.tiers.items():
            for ratio, wh in sizes.items():
                if wh == (width, height):
                    return ratio, tier
        raise InvalidRequest(f"size: {width}x{height} is not a size this model offers; allowed: "
                             + ", ".join(f"{w}x{h}" for w, h in sorted(self.sizes)), field="size")


def _imagen(*tiers: str, negative_prompt: bool = False, known: bool = True) -> ModelSpec:
    table = {"1K": _IMAGEN_1K, "2K": _IMAGEN_2K}
    return ModelSpec("imagen", {t: table[t] for t in tiers}, max_images_per_call=4,
                     negative_prompt=negative_prompt, sends_image_size=len(tiers) > 1, known=known)


_GEMINI_25_SPEC = ModelSpec("gemini", {"1K": _GEMINI_25}, max_images_per_call=1)

#: Every model imagegen knows the limits of. Other ``imagen-*`` and ``gemini-*image*`` ids work too,
#: with conservative limits (1K sizes) and an unknown price.
MODELS: dict[str, ModelSpec] = {
    "imagen-4.0-generate-001": _imagen("1K", "2K"),
    "imagen-4.0-ultra-generate-001": _imagen("1K", "2K"),
    "imagen-4.0-fast-generate-001": _imagen("1K"),
    "imagen-3.0-generate-002": _imagen("1K"),
    "imagen-3.0-generate-001": _imagen("1K", negative_prompt=True),
    "imagen-3.0-fast-generate-001": _imagen("1K", negative_prompt=True),
    "gemini-2.5-flash-image": _GEMINI_25_SPEC,
    "gemini-2.5-flash-image-preview": _GEMINI_25_SPEC,
    "gemini-3-pro-image-preview": ModelSpec(
        "gemini", {"1K": _GEMINI_3_1K, "2K": _scaled(_GEMINI_3_1K, 2), "4K": _scaled(_GEMINI_3_1K, 4)},
        max_images_per_call=1, sends_image_size=True),
}


def model_id(model: str) -> str:
    """The bare model id of ``publishers/google/models/x`` or ``models/x`` forms."""
    return model.rsplit("/", 1)[-1]


def model_spec(model: str) -> ModelSpec:
    """The spec of ``model``; unknown Imagen/Gemini image ids get conservative limits."""
    bare = model_id(model)
    if bare in MODELS:
        return MODELS[bare]
    if bare.startswith("imagen-"):
        return _imagen("1K", known=False)
    if bare.startswith("gemini-") and "image" in bare:
        return ModelSpec("gemini", _GEMINI_25_SPEC.tiers, max_images_per_call=1, known=False)
    raise InvalidRequest(
        f"model: {model!r} is not a Google image model; use one of {', '.join(MODELS)} "
        "(or another imagen-* or gemini-*-image* id)", field="model")
