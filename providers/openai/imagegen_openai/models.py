"""OpenAI's image models as data: one ``ModelSpec`` per model (sizes, images per call, operations,
quality and style values, the options it takes), and the ``Capabilities`` imagegen plans with.

Sources: the OpenAI API reference for ``images.generate``, ``images.edit`` and
``images.create_variation`` (https://developers.openai.com/api/reference/resources/images), the model
pages (https://developers.openai.com/api/docs/models) and the image generation guide
(https://developers.openai.com/api/docs/guides/image-generation): DALL·E 2 makes 256/512/1024 squares,
up to 10 a call, and edits (with a mask) and variations; DALL·E 3 makes 1024x1024, 1792x1024 and
1024x1792, one image a call, with ``quality`` standard/hd and ``style`` vivid/natural; the GPT Image
models make 1024x1024, 1536x1024 and 1024x1536 (``gpt-image-2``: any size whose edges are multiples of
16, at most 3840 px, long:short at most 3:1, 655,360 to 8,294,400 pixels), up to 10 a call, with
``quality`` low/medium/high/auto, and always answer in base64.

Prompt limits (checked 2026-12-02): "The maximum length is 32000 characters for the GPT image models. Legacy
limits for the retired models were 1000 characters for ``dall-e-2`` and 4000 characters for ``dall-e-3``"
(OpenAI's own SDKs, generated from its API spec: openai-python 3.57 ``resources/images.py``, openai/openai-ruby
``rbi/openai/resources/images.rbi``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imagegen.provider import Capabilities

__all__ = ["GENERIC", "MODELS", "ModelSpec", "model_spec"]

Family = Literal["dall-e-2", "dall-e-3", "gpt-image", "generic"]

#: provider_options each family takes (``user`` is taken by every model).
GPT_IMAGE_OPTIONS = frozenset({"background", "output_format", "output_compression", "moderation", "user"})
DALL_E_OPTIONS = frozenset({"user"})

_SQUARES = frozenset({(256, 256), (512, 512), (1024, 1024)})
_DALL_E_3_SIZES = frozenset({(1024, 1024), (1792, 1024), (1024, 1792)})
_GPT_IMAGE_SIZES = frozenset({(1024, 1024), (1536, 1024), (1024, 1536)})
_GPT_QUALITIES = frozenset({"low", "medium", "high", "auto"})


@dataclass(frozen=True)
class FreeSize:
    """Limits of a model that takes any size within them."""

    multiple_of: int
    min_side: int
    max_side: int
    min_pixels: int
    max_pixels: int
    max_aspect: float


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
    #: The longest prompt, in characters (None: not known, as for a model on a compatible server).
    max_prompt_chars: int | None = None

    def capabilities(self) -> Capabilities:
        supports = frozenset(name for name, values in (("quality", self.qualities), ("style", self.styles))
                             if values is not None)
        free = self.free_size
        if free is None:
            return Capabilities(sizes=self.sizes, default_size=(1024, 1024),
                                max_images_per_call=self.max_images_per_call, operations=self.operations,
                                supports=supports, qualities=self.qualities, styles=self.styles,
                                max_prompt_chars=self.max_prompt_chars)
        return Capabilities(
            sizes=None, multiple_of=free.multiple_of, min_side=free.min_side, max_side=free.max_side,
            max_pixels=free.max_pixels, max_aspect=free.max_aspect, min_pixels=free.min_pixels,
            default_size=(1024, 1024), max_images_per_call=self.max_images_per_call, operations=self.operations,
            supports=supports, qualities=self.qualities, styles=self.styles, max_prompt_chars=self.max_prompt_chars)


def _gpt_image(sizes: frozenset[tuple[int, int]] | None = _GPT_IMAGE_SIZES, free_size: FreeSize | None = None,
               known: bool = True) -> ModelSpec:
    return ModelSpec("gpt-image", sizes, max_images_per_call=10,
                     operations=frozenset({"txt2img", "img2img", "inpaint"}), qualities=_GPT_QUALITIES,
                     options=GPT_IMAGE_OPTIONS, free_size=free_size, known=known, max_prompt_chars=32_000)


#: Every model imagegen knows the limits of.
MODELS: dict[str, ModelSpec] = {
    "dall-e-2": ModelSpec("dall-e-2", _SQUARES, max_images_per_call=10,
                          operations=frozenset({"txt2img", "inpaint", "variation"}), asks_b64=True,
                          max_prompt_chars=1000),
    "dall-e-3": ModelSpec("dall-e-3", _DALL_E_3_SIZES, max_images_per_call=1, operations=frozenset({"txt2img"}),
                          qualities=frozenset({"standard", "hd"}), styles=frozenset({"vivid", "natural"}),
                          asks_b64=True, max_prompt_chars=4000),
    "gpt-image-1": _gpt_image(),
    "gpt-image-1-mini": _gpt_image(),
    "gpt-image-1.5": _gpt_image(),
    "gpt-image-2": _gpt_image(None, FreeSize(multiple_of=16, min_side=480, max_side=3840, min_pixels=655_360,
                                             max_pixels=8_294_400, max_aspect=3.0)),
}

#: Capabilities of a model id imagegen does not know (an Azure deployment name, a model on an
#: OpenAI-compatible server): the three sizes every GPT Image model takes, one image a call,
#: generations and edits, no quality or style (dropped with a warning, as the values such a model takes
#: are not known). Answers in base64 or as URLs both work.
GENERIC = ModelSpec("generic", _GPT_IMAGE_SIZES, max_images_per_call=1,
                    operations=frozenset({"txt2img", "img2img", "inpaint"}), options=DALL_E_OPTIONS, known=False)


def model_spec(model: str) -> ModelSpec:
    """The spec of ``model``: a known one, GPT Image limits for other ``gpt-image-*`` ids, else ``GENERIC``."""
    if model in MODELS:
        return MODELS[model]
    if model.startswith(("gpt-image-", "chatgpt-image-")):
        return _gpt_image(known=False)
    return GENERIC
