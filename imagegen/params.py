"""``GenerateParams``: every knob of a request except the prompt, validated at the edge.

Anything invalid raises ``InvalidRequest`` naming the field and what is allowed, before a
provider is resolved, let alone called.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from .checks import check_real, check_text, check_whole, shown
from .errors import InvalidRequest
from .imageio import ImageData, load_image

__all__ = ["OPERATIONS", "OUTPUT_FORMATS", "PROMPT_SYNTAXES", "Background", "GenerateParams", "Hires", "LoRA",
           "Operation", "OutputFormat", "PromptSyntax", "Size", "build_params"]

MAX_SEED = 2**64 - 1
#: What a request asks for: the one list of operations, for params, capabilities and the CLI alike.
Operation = Literal["txt2img", "img2img", "inpaint", "variation", "controlnet"]
OPERATIONS: tuple[Operation, ...] = get_args(Operation)
#: How a local provider reads the prompt: AUTOMATIC1111's weighting syntax, or the text as it is.
PromptSyntax = Literal["a1111", "plain"]
PROMPT_SYNTAXES: tuple[PromptSyntax, ...] = get_args(PromptSyntax)

# ASCII digits only (``\d`` would take "١٠٢٤"), and no more of them than a size can have: "1" * 400 would
# read as infinity, and inf:inf as a ratio of NaN.
#: Encodings ``output_format`` takes, and backgrounds ``background`` names.
OutputFormat = Literal["png", "jpeg", "webp"]
Background = Literal["transparent", "opaque", "auto"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
_FORMAT_ALIASES = {"jpg": "jpeg", "image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}


def _format(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        return _FORMAT_ALIASES.get(lowered, lowered)
    return value


_PIXELS = re.compile(r"^ *([0-9]{1,6}) *[xX×*] *([0-9]{1,6}) *$")
_RATIO = re.compile(r"^ *([0-9]{1,6}(?:\.[0-9]{1,6})?) *: *([0-9]{1,6}(?:\.[0-9]{1,6})?) *$")
_SIZE_HELP = 'a size like "1024x768", an aspect ratio like "16:9", a (width, height) pair, or None'


@dataclass(frozen=True)
class Size:
    """Either a pixel size (``width`` x ``height``) or an aspect ratio (``ratio``)."""

    width: int | None = None
    height: int | None = None
    ratio: tuple[float, float] | None = None

    @property
    def is_ratio(self) -> bool:
        return self.ratio is not None

    @property
    def aspect(self) -> float:
        if self.ratio is not None:
            return self.ratio[0] / self.ratio[1]
        assert self.width and self.height
        return self.width / self.height

    @classmethod
    def parse(cls, value: Any) -> Size:
        if isinstance(value, Size):
            return value
        if isinstance(value, str):
            if m := _PIXELS.match(value):
                return cls._pixels(int(m[1]), int(m[2]), value)
            if m := _RATIO.match(value):
                a, b = float(m[1]), float(m[2])
                if not (a > 0 and b > 0 and 0.01 <= a / b <= 100):
                    raise ValueError(f"aspect ratio {value!r} must have two positive parts within 1:100")
                return cls(ratio=(_num(a), _num(b)))
            raise ValueError(f"cannot parse {shown(value)}; expected {_SIZE_HELP} (ASCII digits)")
        if isinstance(value, (tuple, list)) and len(value) == 2:
            w, h = value
            if not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in (w, h)):
                raise ValueError(f"a (width, height) pair must hold two integers; got {shown(value)}")
            return cls._pixels(int(w), int(h), value)
        raise ValueError(f"cannot use {shown(value)}; expected {_SIZE_HELP}")

    @classmethod
    def _pixels(cls, w: int, h: int, raw: Any) -> Size:
        if w <= 0 or h <= 0:
            raise ValueError(f"{raw!r}: width and height must be positive integers")
        if w > 16384 or h > 16384:
            raise ValueError(f"{raw!r}: width and height must be at most 16384")
        return cls(width=w, height=h)

    def __str__(self) -> str:
        if self.ratio is not None:
            return f"{_fmt(self.ratio[0])}:{_fmt(self.ratio[1])}"
        return f"{self.width}x{self.height}"


def _num(x: float) -> float:
    return float(int(x)) if x.is_integer() else x


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class LoRA:
    """A LoRA adapter: a hub id or path, its scale, and an adapter name (derived when omitted)."""

    path: str
    scale: float = 1.0
    name: str | None = None

    @classmethod
    def parse(cls, value: Any) -> LoRA:
        if isinstance(value, LoRA):
            return value
        if isinstance(value, str):
            path, sep, scale = value.rpartition(":")
            if sep and path and _is_float(scale):
                return cls(path=path, scale=float(scale))
            return cls(path=value)
        if isinstance(value, (tuple, list)) and 1 <= len(value) <= 3:
            return cls(*value)
        if isinstance(value, Mapping):
            return cls(**value)
        raise ValueError(f"cannot use {value!r}; expected 'path', 'path:scale', (path, scale) or a dict")

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("a LoRA needs a path or hub id")
        if not isinstance(self.scale, (int, float)) or not math.isfinite(self.scale) or not -10 <= self.scale <= 10:
            raise ValueError(f"LoRA scale must be a number within -10..10; got {self.scale!r}")


@dataclass(frozen=True)
class Hires:
    """A second pass at a larger size (A1111's "hires fix"): the first image is upscaled by ``scale`` (or to
    ``size``) with ``upscaler``, then re-noised by ``strength`` and denoised for ``steps`` steps. Every field
    but one of ``scale`` and ``size`` is optional; the provider fills in the rest (its defaults) and reports them."""

    scale: float | None = None
    size: tuple[int, int] | None = None
    upscaler: str | None = None
    strength: float | None = None
    steps: int | None = None

    KEYS = ("scale", "size", "upscaler", "strength", "steps")

    @classmethod
    def parse(cls, value: Any) -> Hires:
        if isinstance(value, Hires):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(scale=float(value))
        if not isinstance(value, Mapping):
            raise ValueError(f"cannot use {value!r}; expected a dict with 'scale' or 'size' (and optionally "
                             "'upscaler', 'strength', 'steps'), or a scale factor such as 2.0")
        unknown = sorted(set(map(str, value)) - set(cls.KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(cls.KEYS)}")
        size = value.get("size")
        if size is not None:
            parsed = Size.parse(size)
            if parsed.is_ratio:
                raise ValueError(f"size must be pixels such as '1024x1536', not an aspect ratio; got {size!r}")
            assert parsed.width is not None and parsed.height is not None
            size = (parsed.width, parsed.height)
        scale = value.get("scale")
        steps = value.get("steps")
        return cls(scale=None if scale is None else _number(scale, "scale"), size=size,
                   upscaler=value.get("upscaler"), strength=None if value.get("strength") is None
                   else _number(value["strength"], "strength"), steps=steps)

    def __post_init__(self) -> None:
        if (self.scale is None) == (self.size is None):
            raise ValueError("give one of 'scale' (a factor such as 2.0) or 'size' (such as '1024x1536')")
        if self.scale is not None and not 1.0 < self.scale <= 8.0:
            raise ValueError(f"scale must be a number above 1 and at most 8; got {self.scale!r}")
        if self.upscaler is not None and (not isinstance(self.upscaler, str) or not self.upscaler.strip()):
            raise ValueError(f"upscaler must be a name such as 'latent' or 'lanczos', or a model file; "
                             f"got {self.upscaler!r}")
        if self.strength is not None and not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be a number in (0, 1]; got {self.strength!r}")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                       or not 1 <= self.steps <= 1000):
            raise ValueError(f"steps must be a whole number 1..1000; got {self.steps!r}")

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, ``size`` as ``"WxH"``: what metadata and JSON carry."""
        out: dict[str, Any] = {k: getattr(self, k) for k in self.KEYS if getattr(self, k) is not None}
        if self.size is not None:
            out["size"] = f"{self.size[0]}x{self.size[1]}"
        return out


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number; got {value!r}")
    return float(value)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _size(value: Any) -> Size | None:
    return None if value is None else Size.parse(value)


def _loras(value: Any) -> tuple[LoRA, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, LoRA, Mapping)):
        value = [value]
    try:
        return tuple(LoRA.parse(v) for v in value)
    except TypeError as exc:  # not iterable, or wrong fields: a validation error, not a crash
        raise ValueError(f"cannot use {value!r}; expected 'path', 'path:scale', (path, scale), a dict, "
                         f"or a list of those ({exc})") from None


def _hires(value: Any) -> Hires | None:
    return None if value is None else Hires.parse(value)


def _paths(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"cannot use {value!r}; expected a file or folder path, or a list of them")
    out = []
    for v in value:
        if not isinstance(v, (str, os.PathLike)) or not os.fspath(v).strip():
            raise ValueError(f"cannot use {v!r}; expected a file or folder path")
        out.append(os.fspath(v).strip())
    return tuple(dict.fromkeys(out))


def _images(value: Any) -> tuple[ImageData, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        value = [value]
    return tuple(load_image(v, f"extra_images[{i}]") for i, v in enumerate(value))


def _image(field: str) -> Any:
    def convert(value: Any) -> ImageData | None:
        return None if value is None else load_image(value, field)

    return BeforeValidator(convert)


SizeField = Annotated[Size | None, BeforeValidator(_size), PlainSerializer(lambda s: None if s is None else str(s))]
ImageField = Annotated[ImageData | None, PlainSerializer(
    lambda im: None if im is None else f"<{im.mime} {im.width}x{im.height}>")]


class GenerateParams(BaseModel):
    """Everything about a request but the prompt. ``generate(prompt, **kwargs)`` builds the same model."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True,
                              validate_default=False, str_strip_whitespace=False)

    size: SizeField = None
    n: int = Field(1, ge=1, le=128)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    steps: int | None = Field(None, ge=1, le=1000)
    guidance: float | None = Field(None, ge=0.0, le=100.0, allow_inf_nan=False)
    negative_prompt: str | None = None
    scheduler: str | None = None
    image: Annotated[ImageField, _image("image")] = None
    #: More input images for an edit (``image=[a, b, c]`` puts ``b`` and ``c`` here): references the model
    #: combines, up to its ``Capabilities.max_input_images`` in all; a mask applies to the first image.
    extra_images: Annotated[tuple[ImageData, ...], BeforeValidator(_images), PlainSerializer(
        lambda images: [f"<{im.mime} {im.width}x{im.height}>" for im in images])] = ()
    mask: Annotated[ImageField, _image("mask")] = None
    strength: float | None = Field(None, gt=0.0, le=1.0, allow_inf_nan=False)
    control_image: Annotated[ImageField, _image("control_image")] = None
    control: str | None = None
    control_model: str | None = None
    control_scale: float | None = Field(None, ge=0.0, le=5.0, allow_inf_nan=False)
    loras: Annotated[tuple[LoRA, ...], BeforeValidator(_loras)] = ()
    prompt_syntax: PromptSyntax | None = None
    clip_skip: int | None = Field(None, ge=1, le=32)
    embeddings: Annotated[tuple[str, ...], BeforeValidator(_paths)] = ()
    hires: Annotated[Hires | None, BeforeValidator(_hires), PlainSerializer(
        lambda h: None if h is None else h.as_dict())] = None
    refiner: str | None = None
    refiner_switch: float | None = Field(None, gt=0.0, lt=1.0, allow_inf_nan=False)
    vae: str | None = None
    tiling: bool = False
    quality: str | None = None
    style: str | None = None
    #: The encoding of the returned images (``png``, ``jpeg``, ``webp``; ``jpg`` means ``jpeg``): the provider's
    #: own where it offers one, else imagegen encodes; ``GeneratedImage.mime`` always tells the truth.
    output_format: Annotated[OutputFormat | None, BeforeValidator(_format)] = None
    #: Compression 0-100 for ``jpeg`` and ``webp`` output (100: least compressed).
    output_compression: int | None = Field(None, ge=0, le=100)
    #: A transparent, opaque or automatic background, where the model can make one (OpenAI's GPT Image).
    background: Background | None = None
    operation: Operation | None = None
    size_policy: Literal["nearest", "exact", "strict"] = "nearest"
    unsupported: Literal["warn", "error"] = "warn"
    provider_options: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _as_invalid(exc) from None

    @model_validator(mode="before")
    @classmethod
    def _image_list(cls, data: Any) -> Any:
        """``image=[a, b, c]``: ``a`` is the image (the one a mask applies to), ``b`` and ``c`` extra_images."""
        if isinstance(data, Mapping) and isinstance(data.get("image"), (list, tuple)):
            given = list(data["image"])
            if not given:
                raise InvalidRequest("image: an empty list; give one image, or a list of them", field="image")
            data = {**data, "image": given[0], "extra_images": [*given[1:], *(data.get("extra_images") or ())]}
        return data

    @model_validator(mode="before")
    @classmethod
    def _strict_types(cls, data: Any) -> Any:
        """Numbers are numbers and text is text: ``n="3"``, ``seed=" 7 "``, ``guidance=True``, ``n=Decimal(3)``
        or a ``bytes`` negative prompt are errors, not coerced. Which check a field gets follows from its type."""
        if not isinstance(data, Mapping):
            return data
        checked = dict(data)
        for name, value in data.items():
            kind = _KINDS.get(name)
            if value is None or kind is None:
                continue
            if kind == "whole":
                checked[name] = check_whole(value, name)
            elif kind == "real":
                checked[name] = check_real(value, name)
            elif kind == "text":
                checked[name] = check_text(value, name)
            elif not isinstance(value, bool):
                raise InvalidRequest(f"{name}: must be True or False; got {shown(value)}", field=name)
        return checked

    @field_validator("scheduler", "control", "quality", "style", "negative_prompt", "control_model", "refiner", "vae")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v if v is None or v.strip() else None

    @model_validator(mode="after")
    def _consistent(self) -> GenerateParams:
        if self.mask is not None and self.image is None:
            raise ValueError("mask: a mask needs an image to inpaint; pass image= too")
        if self.mask is not None and self.image is not None and self.mask.size != self.image.size:
            raise ValueError(f"mask: mask is {self.mask.width}x{self.mask.height} but image is "
                             f"{self.image.width}x{self.image.height}; they must be the same size")
        if self.extra_images and self.image is None:
            raise ValueError("extra_images: extra input images need an image to edit; pass image=[...]")
        if self.strength is not None and self.image is None:
            raise ValueError("strength: strength applies to img2img and inpainting; pass image= too")
        if self.control is not None and self.control_image is None:
            raise ValueError("control: a control preprocessor needs control_image=")
        if self.output_compression is not None and self.output_format not in ("jpeg", "webp"):
            raise ValueError("output_compression: applies to jpeg or webp output; set output_format='jpeg' or 'webp'")
        if self.background == "transparent" and self.output_format == "jpeg":
            raise ValueError("background: a transparent background needs output_format 'png' or 'webp', not 'jpeg'")
        if self.refiner_switch is not None and self.refiner is None:
            raise ValueError("refiner_switch: the switch point applies to an SDXL refiner; pass refiner= too")
        if self.operation is not None:
            need = {"img2img": "image", "inpaint": "mask", "variation": "image", "controlnet": "control_image"}
            field = need.get(self.operation)
            if field and getattr(self, field) is None:
                raise ValueError(f"operation: {self.operation!r} needs {field}=")
        return self

    @property
    def resolved_operation(self) -> str:
        """The operation these params ask for: explicit, or inferred from the inputs given."""
        if self.operation:
            return self.operation
        if self.control_image is not None:
            return "controlnet"
        if self.mask is not None:
            return "inpaint"
        if self.image is not None:
            return "img2img"
        return "txt2img"


_FIELDS = tuple(GenerateParams.model_fields)


def _kind(annotation: Any) -> str | None:
    """Which strict check a field's type calls for: "whole", "real", "text", "flag", or None (its own)."""
    members = set(get_args(annotation)) if get_origin(annotation) in (Union, types.UnionType) else {annotation}
    members.discard(type(None))
    return {int: "whole", float: "real", str: "text", bool: "flag"}.get(members.pop()) if len(members) == 1 else None


_KINDS = {name: kind for name, info in GenerateParams.model_fields.items() if (kind := _kind(info.annotation))}


def _as_invalid(exc: ValidationError) -> InvalidRequest:
    lines = []
    first_field: str | None = None
    errors = exc.errors()
    inner = (errors[0].get("ctx") or {}).get("error") if len(errors) == 1 else None
    if isinstance(inner, InvalidRequest):  # raised by GenerateParams.__init__ under model_validate
        return inner
    for err in errors:
        loc = ".".join(str(p) for p in err["loc"]) or ""
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown parameter {loc!r}; allowed: {', '.join(_FIELDS)}"
        elif err["type"] == "literal_error":
            msg = f"{loc}: {msg} (got {err['input']!r})"
        elif not msg.startswith(f"{loc.split('.')[0]}:") and loc:
            got = err.get("input")
            shown = f" (got {got!r})" if isinstance(got, (int, float, str)) and len(repr(got)) < 80 else ""
            msg = f"{loc}: {msg}{shown}"
        if first_field is None:
            first_field = loc.split(".")[0] or (msg.split(":")[0] if ":" in msg else None)
        lines.append(msg)
    return InvalidRequest("; ".join(lines), field=first_field)


def build_params(params: GenerateParams | Mapping[str, Any] | None = None, **overrides: Any) -> GenerateParams:
    """Merge a ``GenerateParams`` (or dict) with keyword overrides into one validated model."""
    if isinstance(params, GenerateParams) and not overrides:
        return params
    if params is not None and not isinstance(params, (GenerateParams, Mapping)):
        raise InvalidRequest(f"params: expected GenerateParams or a dict; got {type(params).__name__}",
                             field="params")
    base: dict[str, Any] = {}
    if isinstance(params, GenerateParams):
        base = {k: getattr(params, k) for k in params.model_fields_set}
    elif params is not None:
        base = dict(params)
    base.update(overrides)
    try:
        return GenerateParams.model_validate(base)
    except ValidationError as exc:
        raise _as_invalid(exc) from None
