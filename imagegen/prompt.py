"""``Prompt``: build prompt text from parts, in the order image models weigh them.

The structure is [subject], [action], [environment], [style], [quality], [params]: models give
more weight to what comes first, so the subject leads and boilerplate quality tags trail. Style,
quality and negative presets are curated tag sets; any other text is used as written.

    p = imagegen.Prompt(subject="a red fox", action="leaping over a log", environment="snowy forest at dawn",
                        style="photo", quality="high", negative="photo")
    imagegen.generate(p)     # a Prompt is accepted wherever a prompt string is, with its params

``prompt_request`` is the one way a prompt and its params become a request: ``generate``,
``compare`` and batches all go through it, so a ``Prompt`` means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .checks import MAX_PROMPT_CHARS, check_text
from .errors import InvalidRequest
from .params import GenerateParams, build_params

__all__ = ["NEGATIVE_PRESETS", "QUALITY_PRESETS", "STYLE_PRESETS", "Prompt", "prompt_request", "prompt_text"]

#: Style name -> tags. Names are matched case-insensitively; other text is used as written.
STYLE_PRESETS: dict[str, str] = {
    "photo": "photograph, 35mm lens, natural light, realistic, film grain",
    "cinematic": "cinematic still, dramatic lighting, shallow depth of field, anamorphic, color graded",
    "portrait": "portrait photograph, 85mm lens, soft studio lighting, bokeh",
    "product": "studio product photo, clean background, softbox lighting, commercial",
    "anime": "anime style, cel shading, vibrant colors, clean line art",
    "illustration": "digital illustration, flat colors, crisp shapes",
    "concept art": "concept art, matte painting, epic composition, artstation",
    "oil painting": "oil painting, visible brush strokes, canvas texture, classical",
    "watercolor": "watercolor painting, soft washes, paper texture",
    "3d render": "3d render, octane render, global illumination, subsurface scattering",
    "pixel art": "pixel art, 16-bit, limited palette",
    "isometric": "isometric view, low poly, diorama",
    "line art": "line art, black ink on white, minimal",
}

#: Quality level -> trailing tags.
QUALITY_PRESETS: dict[str, str] = {
    "none": "",
    "standard": "high quality, detailed",
    "high": "highly detailed, sharp focus, intricate details, high resolution",
    "masterpiece": "masterpiece, best quality, ultra detailed, award winning",
}

#: Negative prompt presets; several can be combined.
NEGATIVE_PRESETS: dict[str, str] = {
    "default": "blurry, low quality, jpeg artifacts, watermark, text, signature",
    "photo": "cartoon, painting, illustration, 3d render, oversaturated, plastic skin",
    "art": "photo, photorealistic, realism",
    "people": "bad anatomy, extra fingers, missing fingers, deformed hands, extra limbs, disfigured face",
    "composition": "cropped, out of frame, duplicate, cluttered background",
}

_PARTS = ("subject", "action", "environment", "style", "quality", "details")


class Prompt(BaseModel):
    """A prompt made of parts. ``str(prompt)`` is the text; ``kwargs()`` the matching params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(min_length=1)
    action: str | None = None
    environment: str | None = None
    style: str | tuple[str, ...] | None = None
    quality: str | None = None
    details: tuple[str, ...] = ()
    negative: str | tuple[str, ...] | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, subject: str | None = None, **data: Any) -> None:
        if subject is not None:
            data["subject"] = subject
        try:
            super().__init__(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else "prompt"
            allowed = ", ".join((*_PARTS, "negative", "params"))
            msg = (f"Prompt: unknown part {field!r}; allowed: {allowed}" if err["type"] == "extra_forbidden"
                   else f"Prompt.{field}: {err['msg'].removeprefix('Value error, ')}")
            raise InvalidRequest(msg, field=field) from None

    @field_validator("subject")
    @classmethod
    def _subject_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the subject cannot be blank")
        return v.strip()

    @field_validator("quality")
    @classmethod
    def _known_quality(cls, v: str | None) -> str | None:
        if v is not None and v.lower() not in QUALITY_PRESETS and " " not in v.strip() and "," not in v:
            raise ValueError(f"unknown quality preset {v!r}; presets: {', '.join(QUALITY_PRESETS)} "
                             "(or give your own tags, e.g. 'sharp focus, detailed')")
        return v

    @field_validator("params")
    @classmethod
    def _valid_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        build_params(v)  # raises InvalidRequest naming the bad field
        return v

    @property
    def text(self) -> str:
        pieces: list[str] = [self.subject, self.action or "", self.environment or ""]
        pieces += [_expand(s, STYLE_PRESETS) for s in _as_tuple(self.style)]
        if self.quality:
            pieces.append(_expand(self.quality, QUALITY_PRESETS))
        pieces += list(self.details)
        return _join(pieces)

    @property
    def negative_prompt(self) -> str | None:
        return _join([_expand(n, NEGATIVE_PRESETS) for n in _as_tuple(self.negative)]) or None

    def kwargs(self) -> dict[str, Any]:
        """``GenerateParams`` fields this prompt carries: its ``params`` and its negative prompt."""
        out = dict(self.params)
        if self.negative_prompt and "negative_prompt" not in out:
            out["negative_prompt"] = self.negative_prompt
        return out

    def with_(self, **changes: Any) -> Prompt:
        """A copy with some parts changed (validated like the original)."""
        return Prompt(**{**self.model_dump(), **changes})

    def __str__(self) -> str:
        return self.text


def prompt_text(prompt: Any) -> str:
    """The text of a prompt: a string as it is, an ``imagegen.Prompt`` as its text; anything else (bytes
    included: ``b"a fox"`` is not the text "a fox") is an ``InvalidRequest``."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Prompt):
        return prompt.text
    raise InvalidRequest(f"prompt: expected a string or imagegen.Prompt; got {type(prompt).__name__}",
                         field="prompt")


def prompt_request(prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None,
                   **overrides: Any) -> tuple[str, GenerateParams]:
    """(text, validated params) for one request. A ``Prompt``'s own params (its negative prompt, its
    ``params``) apply over ``params``; keyword ``overrides`` apply over both.

    The text must be something a model can be sent: not blank (except for a variation, which takes no
    prompt), no NUL bytes or lone surrogates, at most ``MAX_PROMPT_CHARS`` characters; a model's own,
    smaller limit is checked when the request is planned for it."""
    text = check_text(prompt_text(prompt), "prompt")
    carried = prompt.kwargs() if isinstance(prompt, Prompt) else {}
    request = build_params(params, **{**carried, **overrides})
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"prompt: {len(text)} characters is more than any image model takes (at most "
                             f"{MAX_PROMPT_CHARS})", field="prompt")
    if not text.strip() and request.resolved_operation != "variation":
        raise InvalidRequest("prompt: is blank; say what to draw (only a variation takes no prompt)", field="prompt")
    return text, request


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _expand(value: str, presets: dict[str, str]) -> str:
    return presets.get(value.strip().lower(), value)


def _join(pieces: Sequence[str]) -> str:
    """Join comma-separated tags, dropping blanks and repeats (case-insensitive), keeping order."""
    seen: set[str] = set()
    out: list[str] = []
    for piece in pieces:
        for tag in piece.split(","):
            tag = tag.strip()
            if tag and tag.lower() not in seen:
                seen.add(tag.lower())
                out.append(tag)
    return ", ".join(out)
