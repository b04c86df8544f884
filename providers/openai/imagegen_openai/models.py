"""OpenAI's image models as data: one ``ModelSpec`` per model (sizes, images per call, input images per
edit, operations, quality and style values, the options it takes, its lifecycle), and the
``Capabilities`` imagegen plans with. Prices are in ``prices.json``.

Sources, checked 2026-12-02 (where a row says otherwise, it says so):

- the deprecations page, https://developers.openai.com/api/docs/deprecations: ``gpt-image-1-mini``,
  ``gpt-image-1.5`` (and ``gpt-image-1.5-2025-12-16``) and ``chatgpt-image-latest`` shut down on
  2026-12-01, notice given 2026-06-02, recommended replacement "gpt-image-2.6-sunburst or
  gpt-image-2.6-flare". Third-party summaries of the same announcement written in June name
  ``gpt-image-2`` instead (the 2.6 models did not exist yet): the vendor's page as it is today wins;
- the model pages https://developers.openai.com/api/docs/models/dall-e-2 and .../dall-e-3: "deprecated
  and removed from the API. We recommend GPT-Image-2.5 Sunburst"; .../gpt-image-1-mini (marked
  deprecated); .../gpt-image-2.6-sunburst;
- the API reference as OpenAI publishes it in its own SDK, generated from OpenAI's OpenAPI spec
  (``openai`` 3.57.0: ``openai/types/image_model.py``, ``image_generate_params.py``,
  ``image_edit_params.py``; https://developers.openai.com/api/reference/resources/images): ``dall-e-2``
  and ``dall-e-3`` retired 2026-05-12; ``gpt-image-1`` shut down 2026-10-23, "use gpt-image-2.5-sunburst or
  gpt-image-2.5-flare"; ``gpt-image-2`` and the 2.5 models (with their ``2026-09-08`` snapshots) take any
  ``WIDTHxHEIGHT`` with both edges divisible by 16, aspect ratio within 1:3..3:1, at most 3840x2160
  (8,294,400 pixels; edge at most 3840, at least 655,360 pixels); ``xhigh`` and ``max`` quality on the 2.5
  models; transparent backgrounds "in preview" on ``gpt-image-2``; up to 16 input images per edit; 1-10
  images a call; ``partial_images`` 0-3 when streaming (GPT image models only); ``input_fidelity``
  high/low on ``gpt-image-1.5``, low only on ``gpt-image-1-mini``, "for gpt-image-2, omit this parameter".

Not found on OpenAI's pages on 2026-12-02, so not claimed here: the size rules, qualities and input
fidelity of the 2.6 models (they get ``gpt-image-2``'s by the family rule below, as every ``gpt-image-2*``
id does), and ``input_fidelity`` on ``gpt-image-1`` (the current reference no longer lists it).
DALL·E 2 and 3 and the GPT Image 1 models keep their limits for OpenAI-compatible servers that still
serve those names.

Prompt limits (checked 2026-12-02): "The maximum length is 32000 characters for the GPT image models. Legacy
limits for the retired models were 1000 characters for ``dall-e-2`` and 4000 characters for ``dall-e-3``"
(OpenAI's own SDKs, generated from its API spec: openai-python 3.57 ``resources/images.py``, openai/openai-ruby
``rbi/openai/resources/images.rbi``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal

from imagegen.provider import Capabilities, Lifecycle

__all__ = ["GENERIC", "MODELS", "RECOMMENDED", "ModelSpec", "model_spec"]

Family = Literal["dall-e-2", "dall-e-3", "gpt-image", "generic"]
#: Whether a model takes ``background="transparent"``: yes, in preview (sent, with a warning), or no.
Transparency = Literal["yes", "preview", "no"]

#: provider_options each family takes (``user`` is taken by every model).
GPT_IMAGE_OPTIONS = frozenset({"background", "output_format", "output_compression", "moderation", "input_fidelity",
                               "user"})
DALL_E_OPTIONS = frozenset({"user"})

_SQUARES = frozenset({(256, 256), (512, 512), (1024, 1024)})
_DALL_E_3_SIZES = frozenset({(1024, 1024), (1792, 1024), (1024, 1792)})
_GPT_IMAGE_SIZES = frozenset({(1024, 1024), (1536, 1024), (1024, 1536)})
_GPT_QUALITIES = frozenset({"low", "medium", "high", "auto"})
_GPT_25_QUALITIES = _GPT_QUALITIES | {"xhigh", "max"}

_DEPRECATIONS = "https://developers.openai.com/api/docs/deprecations (checked 2026-12-02)"
_SDK_REFERENCE = ("OpenAI's API reference as generated into the openai SDK 3.57.0, openai/types/image_model.py "
                  "and image_generate_params.py (checked 2026-12-02)")


@dataclass(frozen=True)
class FreeSize:
    """Limits of a model that takes any size within them."""

    multiple_of: int
    min_side: int
    max_side: int
    min_pixels: int
    max_pixels: int
    max_aspect: float


#: The lifecycle of a model no vendor page describes: in service, as far as anyone here knows.
_UNKNOWN = Lifecycle()


@dataclass(frozen=True)
class ModelSpec:
    """One model's limits. ``sizes`` is None when ``free_size`` describes the sizes instead."""

    family: Family
    sizes: frozenset[tuple[int, int]] | None
    max_images_per_call: int
    operations: frozenset[str]
    qualities: frozenset[str] | None = None
    styles: frozenset[str] | None = None
    options: frozenset[str] = DALL_E_OPTIONS
    free_size: FreeSize | None = None
    #: Ask for ``response_format="b64_json"`` (models that would otherwise answer with a URL).
    asks_b64: bool = False
    known: bool = True
    lifecycle: Lifecycle = _UNKNOWN
    #: Input images one edit takes (the first is the one a mask applies to).
    max_input_images: int = 1
    transparent: Transparency = "no"
    #: ``input_fidelity`` values the model takes (empty: the option is not sent).
    input_fidelity: frozenset[str] = frozenset()
    #: Streams partial images (``stream=True``, ``partial_images`` 0-3).
    streams: bool = False
    #: The longest prompt, in characters (None: not known, as for a model on a compatible server).
    max_prompt_chars: int | None = None
    #: Whose prices apply where the price table has no row (or no per-image examples) for this model: the
    #: family rule.
    price_as: str | None = None

    def capabilities(self) -> Capabilities:
        supports = frozenset(name for name, values in (("quality", self.qualities), ("style", self.styles))
                             if values is not None)
        if "output_format" in self.options:  # the GPT Image models encode png/jpeg/webp and make backgrounds
            supports |= {"output_format", "background"}
        common = {"default_size": (1024, 1024), "max_images_per_call": self.max_images_per_call,
                  "operations": self.operations, "supports": supports, "qualities": self.qualities,
                  "styles": self.styles, "max_input_images": self.max_input_images,
                  "partial_images": 3 if self.streams else 0, "max_prompt_chars": self.max_prompt_chars}
        free = self.free_size
        if free is None:
            return Capabilities(sizes=self.sizes, **common)  # type: ignore[arg-type]
        return Capabilities(sizes=None, multiple_of=free.multiple_of, min_side=free.min_side, max_side=free.max_side,
                            max_pixels=free.max_pixels, max_aspect=free.max_aspect, min_pixels=free.min_pixels,
                            **common)  # type: ignore[arg-type]


#: ``gpt-image-2``'s sizes: edges in steps of 16 up to 3840, 1:3..3:1, 655,360 to 8,294,400 pixels.
GPT_IMAGE_2_SIZE = FreeSize(multiple_of=16, min_side=480, max_side=3840, min_pixels=655_360, max_pixels=8_294_400,
                            max_aspect=3.0)


def _gpt_image(lifecycle: Lifecycle, *, sizes: frozenset[tuple[int, int]] | None = _GPT_IMAGE_SIZES,
               free_size: FreeSize | None = None, qualities: frozenset[str] = _GPT_QUALITIES,
               transparent: Transparency = "yes", input_fidelity: frozenset[str] = frozenset(),
               known: bool = True, price_as: str | None = None) -> ModelSpec:
    return ModelSpec("gpt-image", sizes, max_images_per_call=10,
                     operations=frozenset({"txt2img", "img2img", "inpaint"}), qualities=qualities,
                     options=GPT_IMAGE_OPTIONS, free_size=free_size, known=known, lifecycle=lifecycle,
                     max_input_images=16, transparent=transparent, input_fidelity=input_fidelity, streams=True,
                     price_as=price_as, max_prompt_chars=32_000)


def _gpt_image_2(lifecycle: Lifecycle, *, qualities: frozenset[str] = _GPT_QUALITIES,
                 transparent: Transparency = "yes", known: bool = True, price_as: str | None = None) -> ModelSpec:
    return _gpt_image(lifecycle, sizes=None, free_size=GPT_IMAGE_2_SIZE, qualities=qualities,
                      transparent=transparent, known=known, price_as=price_as)


def _shut(day: str, replacement: str, source: str, note: str = "") -> Lifecycle:
    return Lifecycle("retired", dt.date.fromisoformat(day), replacement, source, note)


_ACTIVE = Lifecycle("active", source=_SDK_REFERENCE)
_DALL_E = _shut("2026-05-12", "gpt-image-2.5-sunburst", f"{_SDK_REFERENCE}; the model pages "
                "https://developers.openai.com/api/docs/models/dall-e-2 and .../dall-e-3 (\"removed from the API. We "
                "recommend GPT-Image-2.5 Sunburst\")")
_GPT_IMAGE_1 = _shut("2026-10-23", "gpt-image-2.5-sunburst",
                     f"{_SDK_REFERENCE} (\"Use gpt-image-2.5-sunburst or gpt-image-2.5-flare\")")
#: Listed as "Deprecated" with a shutdown date that has now passed: retired from 2026-12-01 on.
_DEC_1 = Lifecycle("deprecated", dt.date(2026, 12, 1), "gpt-image-2.6-sunburst",
                   f"{_DEPRECATIONS}: notice 2026-06-02, replacement \"gpt-image-2.6-sunburst or gpt-image-2.6-flare\"",
                   note="summaries of the June notice name gpt-image-2; the vendor's page today names the 2.6 models")
_TWO_SIX = Lifecycle("active", source="https://developers.openai.com/api/docs/models/gpt-image-2.6-sunburst and "
                     f"{_DEPRECATIONS} (named as the replacement)")

#: Every model imagegen knows the limits of.
MODELS: dict[str, ModelSpec] = {
    "dall-e-2": ModelSpec("dall-e-2", _SQUARES, max_images_per_call=10,
                          operations=frozenset({"txt2img", "inpaint", "variation"}), asks_b64=True, lifecycle=_DALL_E,
                          max_prompt_chars=1000),
    "dall-e-3": ModelSpec("dall-e-3", _DALL_E_3_SIZES, max_images_per_call=1, operations=frozenset({"txt2img"}),
                          qualities=frozenset({"standard", "hd"}), styles=frozenset({"vivid", "natural"}),
                          asks_b64=True, lifecycle=_DALL_E, max_prompt_chars=4000),
    "gpt-image-1": _gpt_image(_GPT_IMAGE_1),
    "gpt-image-1-mini": _gpt_image(_DEC_1, input_fidelity=frozenset({"low"})),
    "gpt-image-1.5": _gpt_image(_DEC_1, input_fidelity=frozenset({"high", "low"})),
    "gpt-image-1.5-2025-12-16": _gpt_image(_DEC_1, input_fidelity=frozenset({"high", "low"}),
                                           price_as="gpt-image-1.5"),
    "chatgpt-image-latest": _gpt_image(_DEC_1, price_as="gpt-image-1.5"),
    "gpt-image-2": _gpt_image_2(_ACTIVE, transparent="preview"),
    "gpt-image-2-2026-04-21": _gpt_image_2(_ACTIVE, transparent="preview", price_as="gpt-image-2"),
    "gpt-image-2.5-sunburst": _gpt_image_2(_ACTIVE, qualities=_GPT_25_QUALITIES, price_as="gpt-image-2"),
    "gpt-image-2.5-sunburst-2026-09-08": _gpt_image_2(_ACTIVE, qualities=_GPT_25_QUALITIES, price_as="gpt-image-2"),
    "gpt-image-2.5-flare": _gpt_image_2(_ACTIVE, qualities=_GPT_25_QUALITIES, price_as="gpt-image-2"),
    "gpt-image-2.5-flare-2026-09-08": _gpt_image_2(_ACTIVE, qualities=_GPT_25_QUALITIES, price_as="gpt-image-2"),
    "gpt-image-2.6-sunburst": _gpt_image_2(_TWO_SIX, price_as="gpt-image-2"),
    "gpt-image-2.6-flare": _gpt_image_2(_TWO_SIX, price_as="gpt-image-2"),
}

#: The model a user with only an OpenAI key gets: the first replacement the deprecations page names for the
#: models shut down on 2026-12-01 (checked 2026-12-02).
RECOMMENDED = "gpt-image-2.6-sunburst"

#: Capabilities of a model id imagegen does not know (an Azure deployment name, a model on an
#: OpenAI-compatible server): the three sizes every GPT Image model takes, one image a call,
#: generations and edits, no quality or style (dropped with a warning, as the values such a model takes
#: are not known). Answers in base64 or as URLs both work.
GENERIC = ModelSpec("generic", _GPT_IMAGE_SIZES, max_images_per_call=1,
                    operations=frozenset({"txt2img", "img2img", "inpaint"}), options=DALL_E_OPTIONS, known=False)


def model_spec(model: str) -> ModelSpec:
    """The spec of ``model``: a known one; for another ``gpt-image-2*`` id (``gpt-image-2.7-...``)
    ``gpt-image-2``'s sizes, qualities and prices (the family rule); GPT Image 1 limits for other
    ``gpt-image-*`` and ``chatgpt-image-*`` ids; else ``GENERIC``."""
    if model in MODELS:
        return MODELS[model]
    if model.startswith("gpt-image-2"):
        return replace(MODELS["gpt-image-2"], known=False, lifecycle=_UNKNOWN, price_as="gpt-image-2")
    if model.startswith(("gpt-image-", "chatgpt-image-")):
        return _gpt_image(_UNKNOWN, known=False)
    return GENERIC
