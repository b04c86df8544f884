"""OpenAI-specific knobs, typed: given to ``OpenAIProvider(...)`` as defaults or per call as ``provider_options``.

``background``, ``output_format``, ``output_compression``, ``moderation`` (generations) and
``input_fidelity`` (edits) apply to the GPT Image models; ``user`` (an end-user id for OpenAI's abuse
monitoring) to every model. Values: the API reference as generated into the openai SDK 3.57.0
(``image_generate_params.py``, ``image_edit_params.py``; checked 2026-12-02); ``gif`` and ``svg`` output
formats, which that reference also lists behind preview access, are not offered here. Values from the CLI
arrive as strings (``--option output_compression=80``); pydantic's lax mode turns them into numbers.
A bad value is an ``InvalidRequest`` naming the option and the allowed values, raised before anything
is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imagegen.provider import InvalidRequest

__all__ = ["OPTION_NAMES", "OpenAIOptions", "parse_options"]

Background = Literal["transparent", "opaque", "auto"]
OutputFormat = Literal["png", "jpeg", "webp"]
Moderation = Literal["low", "auto"]
InputFidelity = Literal["high", "low"]

_FORMAT_ALIASES = {"jpg": "jpeg", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/png": "png",
                   "image/webp": "webp"}


class OpenAIOptions(BaseModel):
    """Options the Images API takes beyond imagegen's common parameters. Unset means the API's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Transparent, opaque or automatic background (GPT Image). Transparent needs png or webp output.
    background: Background | None = None
    #: Encoding of the returned images (GPT Image); the API's default is png.
    output_format: OutputFormat | None = None
    #: Compression 0-100 for jpeg or webp output (GPT Image).
    output_compression: int | None = Field(None, ge=0, le=100)
    #: Content-moderation strictness for generations (GPT Image).
    moderation: Moderation | None = None
    #: How closely an edit keeps the input images' features, faces especially (GPT Image edits; which
    #: values a model takes is in its spec).
    input_fidelity: InputFidelity | None = None
    #: A stable id of your end user, for OpenAI's abuse monitoring (every model).
    user: str | None = None

    @field_validator("background", "output_format", "moderation", "input_fidelity", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return _FORMAT_ALIASES.get(value, value)
        return value

    @field_validator("output_compression", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"must be a whole number 0..100; got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OpenAIOptions:
        if self.output_compression is not None and self.output_format not in ("jpeg", "webp"):
            raise ValueError("output_compression: applies to jpeg or webp output; set output_format to jpeg or webp")
        if self.background == "transparent" and self.output_format == "jpeg":
            raise ValueError("background: a transparent background needs output_format png or webp, not jpeg")
        return self


OPTION_NAMES: tuple[str, ...] = tuple(OpenAIOptions.model_fields)


def parse_options(values: Mapping[str, Any], *, base: OpenAIOptions | None = None,
                  where: str = "provider_options") -> OpenAIOptions:
    """Validate ``values`` (known option names only) on top of ``base``."""
    merged = {**(base.model_dump(exclude_unset=True) if base else {}), **values}
    try:
        return OpenAIOptions(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a rule across options
            message = str(err["msg"]).removeprefix("Value error, ")
            name = message.split(":", 1)[0]
            raise InvalidRequest(f"{where}.{message}", field=f"{where}.{name}") from None
        name = str(err["loc"][0])
        if err["type"] == "extra_forbidden":
            raise InvalidRequest(f"{where}: unknown OpenAI option {name!r}; allowed: {', '.join(OPTION_NAMES)}",
                                 field=f"{where}.{name}") from None
        message = str(err["msg"]).removeprefix("Value error, ")
        raise InvalidRequest(f"{where}.{name}: {message} (got {err.get('input')!r}); allowed: {_allowed(name)}",
                             field=f"{where}.{name}") from None


def _allowed(name: str) -> str:
    annotation = OpenAIOptions.model_fields[name].annotation
    literal = next((a for a in getattr(annotation, "__args__", ()) if getattr(a, "__origin__", None) is Literal),
                   None)
    if literal is not None:
        return ", ".join(literal.__args__)
    if name == "output_compression":
        return "a whole number 0..100"
    return "a string"
