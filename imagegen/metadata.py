"""PNG text metadata: an A1111-style ``parameters`` entry and an ``imagegen`` JSON entry.

Chunks are spliced into the PNG byte stream right after IHDR, so the pixels are never
re-encoded and readers that stop at the first IDAT (Pillow's ``Image.open().info``) see them.
Nothing that looks like a secret is ever written: entries named like secrets are dropped and
key-shaped text is cut out (``imagegen.scrub``).

``read_metadata`` reads either entry back: the JSON one is exact, the ``parameters`` one is what
AUTOMATIC1111, Civitai and other tools write, parsed the way A1111's PNG Info parses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .scrub import redact, scrub

if TYPE_CHECKING:
    from .result import GeneratedImage

__all__ = ["ImageMetadata", "a1111_parameters", "parse_parameters", "png_text_chunks", "read_metadata",
           "read_png_text", "with_png_text"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")


def a1111_parameters(prompt: str, params: Mapping[str, Any], *, model: str | None, seed: int | None,
                     width: int, height: int, provider: str | None = None) -> str:
    """The AUTOMATIC1111 ``parameters`` text: prompt, ``Negative prompt:``, then key: value pairs.

    The last line always holds at least three pairs (A1111 reads fewer as part of the prompt)."""
    from ._version import __version__

    lines = [prompt]
    if params.get("negative_prompt"):
        lines.append(f"Negative prompt: {params['negative_prompt']}")
    pairs: list[tuple[str, Any]] = [
        ("Steps", params.get("steps")),
        ("Sampler", params.get("scheduler")),
        ("CFG scale", params.get("guidance")),
        ("Seed", seed),
        ("Size", f"{width}x{height}"),
        ("Model", model),
        ("Denoising strength", params.get("strength")),
        ("Provider", provider),
        ("Version", f"imagegen {__version__}"),
    ]
    lines.append(", ".join(f"{k}: {_a1111_value(v)}" for k, v in pairs if v is not None))
    return "\n".join(lines)


def _a1111_value(v: Any) -> str:
    """Quote a value the way A1111's ``infotext_utils.quote`` does, so its parser reads it back."""
    text = str(v)
    return json.dumps(text, ensure_ascii=False) if ("," in text or ":" in text or "\n" in text) else text


def png_text_chunks(image: GeneratedImage) -> dict[str, str]:
    info = redact(image.info)
    params = info.get("params", {})
    prompt = str(info.get("prompt", ""))
    entry = {**info, "seed": image.seed, "width": image.width, "height": image.height}
    if image.revised_prompt:
        entry["revised_prompt"] = image.revised_prompt
    return {
        "parameters": scrub(a1111_parameters(prompt, params, model=info.get("model"), seed=image.seed,
                                             width=image.width, height=image.height, provider=info.get("provider"))),
        "imagegen": scrub(json.dumps(entry, ensure_ascii=False, default=str, sort_keys=True)),
    }


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _text_chunk(key: str, value: str) -> bytes:
    try:
        return _chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:  # iTXt: keyword, compression flag/method, language, translated keyword
        return _chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        out.append((kind, data[pos:pos + 12 + length]))
        pos += 12 + length
    return out


def _text_key(raw: bytes) -> str:
    return raw[8:].split(b"\0", 1)[0].decode("latin-1")


def with_png_text(data: bytes, entries: Mapping[str, str]) -> bytes:
    """Return the PNG with ``entries`` as text chunks (replacing chunks of the same keys)."""
    if data[:8] != _PNG_MAGIC:
        raise ValueError("not a PNG")
    parts = [_PNG_MAGIC]
    for kind, raw in _chunks(data):
        if kind in _TEXT_TYPES and _text_key(raw) in entries:
            continue
        parts.append(raw)
        if kind == b"IHDR":
            parts.extend(_text_chunk(k, v) for k, v in entries.items())
    return b"".join(parts)


def read_png_text(source: bytes | str) -> dict[str, str]:
    """Text entries of a PNG (bytes or a path), as Pillow reads them."""
    import io

    from PIL import Image

    fp: Any = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(fp) as im:
        im.load()
        return {str(k): str(v) for k, v in getattr(im, "text", {}).items()}


# -- reading back ------------------------------------------------------------------------------

# A1111's own pattern (modules/infotext_utils.py): ``Key: value`` or ``Key: "json string"``.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")
#: ``parameters`` keys -> GenerateParams fields.
_A1111_FIELDS = {"Steps": "steps", "Sampler": "scheduler", "CFG scale": "guidance", "Seed": "seed",
                 "Denoising strength": "strength"}
_NUMERIC = {"steps": int, "seed": int, "guidance": float, "strength": float}
#: Fields of the ``imagegen`` entry's params that a replay passes back to ``GenerateParams``.
_REPLAYABLE = ("steps", "guidance", "negative_prompt", "scheduler", "strength", "control", "control_model",
               "control_scale", "quality", "style", "loras", "provider_options")


def parse_parameters(text: str) -> dict[str, Any]:
    """Parse an A1111 ``parameters`` text into ``{"prompt", "negative_prompt", "pairs"}``.

    Follows A1111's ``parse_generation_parameters``: the last line holds the pairs when it has at
    least three of them; lines from ``Negative prompt:`` on form the negative prompt."""
    *lines, last = text.strip().split("\n")
    if len(_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if not negative and line.startswith("Negative prompt:"):
            negative.append(line[len("Negative prompt:"):].lstrip())
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)
    pairs: dict[str, str] = {}
    for key, value in _PARAM.findall(last):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            with contextlib.suppress(json.JSONDecodeError):
                value = str(json.loads(value))
        pairs[key.strip()] = value
    return {"prompt": "\n".join(prompt), "negative_prompt": "\n".join(negative) or None, "pairs": pairs}


@dataclass
class ImageMetadata:
    """What an image says about how it was made. ``source`` is ``"imagegen"`` (exact JSON entry),
    ``"parameters"`` (A1111 text only) or ``"none"``."""

    prompt: str | None = None
    negative_prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    revised_prompt: str | None = None
    source: str = "none"
    parameters: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> str | None:
        """``"name:model"`` of the provider that made the image, when known."""
        return f"{self.provider}:{self.model}" if self.provider and self.model else None

    def replay_params(self) -> dict[str, Any]:
        """``GenerateParams`` fields that remake this image (one image, same seed and size)."""
        out: dict[str, Any] = {k: self.params[k] for k in _REPLAYABLE if self.params.get(k) not in (None, "", [])}
        if self.negative_prompt:
            out["negative_prompt"] = self.negative_prompt
        size = self.params.get("output_size") or self.params.get("size")
        if size is None and self.width and self.height:
            size = f"{self.width}x{self.height}"
        if size is not None:
            out["size"] = size
        if self.params.get("output_size"):
            out["size_policy"] = "exact"
        if self.seed is not None:
            out["seed"] = self.seed
        operation = self.params.get("operation")
        if operation and operation != "txt2img":
            out["operation"] = operation
        return out


def read_metadata(source: bytes | str | os.PathLike[str]) -> ImageMetadata:
    """Read what an image file (or PNG bytes) records about its making: the ``imagegen`` JSON
    entry when present (exact), else the A1111 ``parameters`` text."""
    text = read_png_text(source if isinstance(source, bytes) else os.fspath(source))
    a1111 = parse_parameters(text["parameters"]) if text.get("parameters") else None
    pairs = a1111["pairs"] if a1111 else {}
    if text.get("imagegen"):
        try:
            entry = json.loads(text["imagegen"])
        except json.JSONDecodeError:
            entry = None
        if isinstance(entry, dict):
            exact = dict(entry.get("params") or {})
            return ImageMetadata(
                prompt=entry.get("prompt"), negative_prompt=exact.get("negative_prompt"),
                provider=entry.get("provider"), model=entry.get("model"), seed=entry.get("seed"),
                width=entry.get("width"), height=entry.get("height"), params=exact,
                revised_prompt=entry.get("revised_prompt"), source="imagegen", parameters=pairs, raw=entry)
    if a1111 is None:
        return ImageMetadata()
    params: dict[str, Any] = {}
    for key, name in _A1111_FIELDS.items():
        if key in pairs:
            params[name] = _number(pairs[key], _NUMERIC.get(name))
    width = height = None
    if m := _SIZE.match(pairs.get("Size", "")):
        width, height = int(m[1]), int(m[2])
        params["size"] = f"{width}x{height}"
    if a1111["negative_prompt"]:
        params["negative_prompt"] = a1111["negative_prompt"]
    seed = params.pop("seed", None)
    return ImageMetadata(
        prompt=a1111["prompt"], negative_prompt=a1111["negative_prompt"], provider=pairs.get("Provider"),
        model=pairs.get("Model"), seed=seed if isinstance(seed, int) else None, width=width, height=height,
        params=params, source="parameters", parameters=pairs)


def _number(value: str, kind: Any) -> Any:
    if kind is None:
        return value
    try:
        return kind(value)
    except ValueError:
        return value
