"""Google-specific knobs, typed: given to ``GoogleProvider(...)`` as defaults or per call as ``provider_options``.

Values from the CLI arrive as strings (``--option add_watermark=false``); pydantic's lax mode turns
them into booleans and numbers. A bad value is an ``InvalidRequest`` naming the option and the allowed
values, raised before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imagegen.provider import InvalidRequest

__all__ = ["OPTION_NAMES", "GoogleOptions", "parse_options"]

PersonGeneration = Literal["dont_allow", "allow_adult", "allow_all"]
SafetyFilterLevel = Literal["block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"]
OutputMime = Literal["image/png", "image/jpeg"]
Language = Literal["auto", "en", "ja", "ko", "hi", "zh", "pt", "es"]

_MIME_ALIASES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "image/jpg": "image/jpeg"}


class GoogleOptions(BaseModel):
    """Options the Google APIs take beyond imagegen's common parameters. Unset means the API's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Whether people may be drawn (Imagen; Gemini image models on Vertex AI).
    person_generation: PersonGeneration | None = None
    #: How strict Imagen's safety filter is.
    safety_filter_level: SafetyFilterLevel | None = None
    #: Encoding of the returned images (Imagen; Gemini image models on Vertex AI).
    output_mime_type: OutputMime | None = None
    #: JPEG quality 0-100, with ``output_mime_type="image/jpeg"``.
    output_compression_quality: int | None = Field(None, ge=0, le=100)
    #: Let Imagen rewrite the prompt first; the rewrite comes back as ``image.revised_prompt``.
    enhance_prompt: bool | None = None
    #: Imagen's SynthID watermark (on by default). Seeds are honoured only with it off.
    add_watermark: bool | None = None
    #: Language of the prompt, for Imagen.
    language: Language | None = None
    #: Ask Imagen why an image was filtered (default on), so the warning can say.
    include_rai_reason: bool = True

    @field_validator("person_generation", "safety_filter_level", "language", "output_mime_type", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return _MIME_ALIASES.get(value, value)
        return value


OPTION_NAMES: tuple[str, ...] = tuple(GoogleOptions.model_fields)


def parse_options(values: Mapping[str, Any], *, base: GoogleOptions | None = None,
                  where: str = "provider_options") -> GoogleOptions:
    """Validate ``values`` (known option names only) on top of ``base``."""
    merged = {**(base.model_dump(exclude_unset=True) if base else {}), **values}
    try:
        return GoogleOptions(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            raise InvalidRequest(f"{where}: unknown Google option {name!r}; allowed: {', '.join(OPTION_NAMES)}",
                                 field=f"{where}.{name}") from None
        allowed = _allowed(name)
        raise InvalidRequest(f"{where}.{name}: {err['msg']} (got {err.get('input')!r}); allowed: {allowed}",
                             field=f"{where}.{name}") from None


def _allowed(name: str) -> str:
    annotation = GoogleOptions.model_fields[name].annotation
    literal = next((a for a in getattr(annotation, "__args__", ()) if getattr(a, "__origin__", None) is Literal),
                   None)
    if literal is not None:
        return ", ".join(literal.__args__)
    if name == "output_compression_quality":
        return "a whole number 0..100"
    return "true or false"
