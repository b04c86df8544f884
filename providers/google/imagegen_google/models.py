"""Google's image models as data: which API each uses, its sizes per aspect ratio and resolution tier, its
limits and its lifecycle (one row per model; prices are in ``pricing.py``).

Imagen models take an aspect ratio (and, on some models, a resolution tier ``image_size``), not pixels;
the pixel size each (ratio, tier) gives is listed here, so ``Capabilities.sizes`` can offer exactly
those and imagegen's size policies pick the nearest one.

Lifecycle, checked 2026-12-02 on Google's own pages:

- https://ai.google.dev/gemini-api/docs/deprecations: ``gemini-3.1-flash-image`` and ``gemini-3-pro-image``
  released 2026-05-28, "No shutdown date announced"; ``gemini-3.1-flash-image-preview`` and
  ``gemini-3-pro-image-preview`` shut down 2026-06-25, replaced by those two; ``gemini-2.5-flash-image``
  shutdown 2026-10-02; ``imagen-3.0-generate-002`` shut down 2025-11-10.
- https://ai.google.dev/gemini-api/docs/changelog: 2026-05-28 (the GA image models), 2026-06-15 (Imagen 4
  "will be shut down on August 17, 2026"), 2026-06-30 (``gemini-3.1-flash-lite-image``, GA).
- https://ai.google.dev/gemini-api/docs/imagen (updated 2026-09-18): Imagen "is shut down and no longer
  available in the Gemini API"; use ``gemini-2.5-flash-image`` or a Nano Banana 2 model "such as
  gemini-3.1-flash-image".
- https://firebase.google.com/docs/ai-logic/imagen-models-migration: "All Imagen models shut down on August 17,
  2026", across Google, Gemini Developer API and Vertex AI; replacements ``gemini-nano-banana-2.1`` (for
  Imagen 4 and 4 Fast) and ``gemini-3-pro-image`` (for Imagen 4 Ultra). Older Firebase banners said June 24,
  2026: Google's later page wins.

Where sources disagree: a third-party gateway (LiteLLM discussion #44983) and others report that
``gemini-3.1-flash-image`` shut down on 2026-10-29 and that ``gemini-2.5-flash-image`` was extended to
2027-03-15; neither is on Google's pages as read on 2026-12-02, so the data follows Google's pages
(``imagegen models --live`` shows what Google lists today).

Sizes: the Gemini 2.5 table and the Gemini 3 1K table (2K and 4K are 2x and 4x) are from the Gemini API
image-generation guide as read when ``gemini-3-pro-image-preview`` was added; the GA models and
``gemini-nano-banana-2.1`` get the Gemini 3 tables, and ``gemini-3.1-flash-lite-image`` the 1K one only.
Google's guide could not be found again on 2026-12-02, so these rows are not re-checked: the extra ratios and
the 512 tier that third parties report for the 3.x models are not offered. Imagen: Vertex AI "Imagen" model
pages (aspect ratios, ``sampleImageSize``, ``sampleCount`` 1-4, seed 0..2**32-1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from imagegen.provider import InvalidRequest, Lifecycle

__all__ = ["MODELS", "RECOMMENDED", "ModelSpec", "active_models", "model_spec"]

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


#: The lifecycle of a model no vendor page describes: in service, as far as anyone here knows.
_UNKNOWN = Lifecycle()


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
    lifecycle: Lifecycle = _UNKNOWN

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


_DEPRECATIONS = "https://ai.google.dev/gemini-api/docs/deprecations (checked 2026-12-02)"


def _shut(day: str, replacement: str, source: str, note: str = "") -> Lifecycle:
    return Lifecycle("retired", dt.date.fromisoformat(day), replacement, source, note)


_IMAGEN_4 = _shut("2026-08-17", "gemini-3.1-flash-image",
                  "https://ai.google.dev/gemini-api/docs/changelog (2026-06-15) and "
                  "https://firebase.google.com/docs/ai-logic/imagen-models-migration (checked 2026-12-02)",
                  note="Firebase's migration guide names gemini-nano-banana-2.1 for Imagen 4 and 4 Fast")
_IMAGEN_4_ULTRA = _shut("2026-08-17", "gemini-3-pro-image", _IMAGEN_4.source)
_IMAGEN_3 = _shut("2026-08-17", "gemini-3.1-flash-image",
                  "https://firebase.google.com/docs/ai-logic/imagen-models-migration (\"All Imagen models shut down "
                  "on August 17, 2026\", checked 2026-12-02)", note="its own date, if earlier, was not found")
_ACTIVE_GA = Lifecycle("active", source=f"{_DEPRECATIONS}: released 2026-05-28, no shutdown date announced")


def _imagen(*tiers: str, lifecycle: Lifecycle, negative_prompt: bool = False, known: bool = True) -> ModelSpec:
    table = {"1K": _IMAGEN_1K, "2K": _IMAGEN_2K}
    return ModelSpec("imagen", {t: table[t] for t in tiers}, max_images_per_call=4,
                     negative_prompt=negative_prompt, sends_image_size=len(tiers) > 1, known=known,
                     lifecycle=lifecycle)


def _gemini_3(lifecycle: Lifecycle, *tiers: str) -> ModelSpec:
    table = {"1K": _GEMINI_3_1K, "2K": _scaled(_GEMINI_3_1K, 2), "4K": _scaled(_GEMINI_3_1K, 4)}
    return ModelSpec("gemini", {t: table[t] for t in tiers or ("1K", "2K", "4K")}, max_images_per_call=1,
                     sends_image_size=len(tiers) != 1, lifecycle=lifecycle)


#: Every model imagegen knows the limits of. Other ``imagen-*``, ``gemini-*image*`` and ``*nano-banana*``
#: ids work too, with conservative limits (1K sizes) and an unknown price.
MODELS: dict[str, ModelSpec] = {
    "imagen-4.0-generate-001": _imagen("1K", "2K", lifecycle=_IMAGEN_4),
    "imagen-4.0-ultra-generate-001": _imagen("1K", "2K", lifecycle=_IMAGEN_4_ULTRA),
    "imagen-4.0-fast-generate-001": _imagen("1K", lifecycle=_IMAGEN_4),
    "imagen-3.0-generate-002": _imagen("1K", lifecycle=_shut("2025-11-10", "gemini-3.1-flash-image", _DEPRECATIONS)),
    "imagen-3.0-generate-001": _imagen("1K", negative_prompt=True, lifecycle=_IMAGEN_3),
    "imagen-3.0-fast-generate-001": _imagen("1K", negative_prompt=True, lifecycle=_IMAGEN_3),
    "gemini-2.5-flash-image": ModelSpec("gemini", {"1K": _GEMINI_25}, max_images_per_call=1, lifecycle=Lifecycle(
        "deprecated", dt.date(2026, 10, 2), "gemini-3.1-flash-image", _DEPRECATIONS,
        note="a third party reports an extension to 2027-03-15 that Google's page does not show")),
    "gemini-3-pro-image-preview": _gemini_3(_shut("2026-06-25", "gemini-3-pro-image", _DEPRECATIONS)),
    "gemini-3.1-flash-image-preview": _gemini_3(_shut("2026-06-25", "gemini-3.1-flash-image", _DEPRECATIONS)),
    "gemini-3.1-flash-image": _gemini_3(_ACTIVE_GA),
    "gemini-3-pro-image": _gemini_3(_ACTIVE_GA),
    "gemini-3.1-flash-lite-image": _gemini_3(Lifecycle("active", source="https://ai.google.dev/gemini-api/docs/"
                                                       "changelog (2026-06-30, GA; checked 2026-12-02)"), "1K"),
    "gemini-nano-banana-2.1": _gemini_3(Lifecycle("active", source="https://firebase.google.com/docs/ai-logic/"
                                                  "imagen-models-migration (named as a replacement; checked "
                                                  "2026-12-02)")),
}

#: The model a user with only a Google key gets: the Nano Banana 2 model Google's Imagen page points to
#: (https://ai.google.dev/gemini-api/docs/imagen, checked 2026-12-02), in service per the deprecations page.
RECOMMENDED = "gemini-3.1-flash-image"


def model_id(model: str) -> str:
    """The bare model id of ``publishers/google/models/x`` or ``models/x`` forms."""
    return model.rsplit("/", 1)[-1]


def model_spec(model: str) -> ModelSpec:
    """The spec of ``model``; unknown Imagen/Gemini image ids get conservative limits."""
    bare = model_id(model)
    if bare in MODELS:
        return MODELS[bare]
    if bare.startswith("imagen-"):
        return _imagen("1K", known=False, lifecycle=_UNKNOWN)
    if bare.startswith("gemini-") and ("image" in bare or "nano-banana" in bare):
        return ModelSpec("gemini", {"1K": _GEMINI_25}, max_images_per_call=1, known=False)
    raise InvalidRequest(
        f"model: {model!r} is not a Google image model; use one of {', '.join(active_models())} "
        "(or another imagen-*, gemini-*-image* or gemini-nano-banana-* id)", field="model")


def active_models() -> list[str]:
    """The known models in service today."""
    return [name for name, spec in MODELS.items() if spec.lifecycle.status_on() != "retired"]
