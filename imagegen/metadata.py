"""Image metadata: written so other tools read it, read back from what any of them wrote.

Every image imagegen saves carries two entries: ``parameters``, AUTOMATIC1111's infotext of the settings the
provider actually used (``imagegen.infotext``), and ``imagegen``, exact JSON of the request and those settings.
In a PNG they are text chunks, spliced in right after IHDR so the pixels are never re-encoded and readers
that stop at the first IDAT (Pillow's ``Image.open().info``) see them. JPEG and WebP carry the infotext as
A1111 writes it there, an EXIF ``UserComment`` (``modules/images.py``, ``save_image_with_geninfo``: piexif's
``UserComment.dump(..., encoding="unicode")``), spliced in without re-encoding too (``imagegen.exif``).
Nothing that looks like a secret is ever written: entries named like secrets are dropped and key-shaped text
is cut out (``imagegen.scrub``).

``read_metadata`` reads imagegen's own entry (exact), else A1111/Forge infotext, else what ComfyUI, InvokeAI,
Fooocus or NovelAI wrote (``imagegen.importers``), into one ``ImageMetadata``.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .importers import SOURCES, ImageMetadata, import_metadata
from .infotext import format_infotext, parse_infotext
from .scrub import redact, scrub
from .settings import ImageSettings

if TYPE_CHECKING:
    from .result import GeneratedImage

__all__ = ["SOURCES", "ImageMetadata", "a1111_parameters", "image_text", "parse_parameters", "png_text_chunks",
           "read_metadata", "read_png_text", "with_metadata", "with_png_text"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")


def a1111_parameters(prompt: str, negative_prompt: str | None, settings: ImageSettings, *,
                     provider: str | None = None, revised_prompt: str | None = None) -> str:
    """The ``parameters`` text of an image: A1111's infotext of ``settings``, plus ``Provider`` when known and the
    prompt the provider actually drew (``Revised prompt``) when it rewrote the one it was sent."""
    extra = {"Revised prompt": revised_prompt, "Provider": provider}
    return format_infotext(prompt, negative_prompt, settings, extra={k: v for k, v in extra.items() if v})


def parse_parameters(text: str) -> dict[str, Any]:
    """A1111 ``parameters`` text as ``{"prompt", "negative_prompt", "pairs"}`` (see ``infotext.parse_infotext``)."""
    parsed = parse_infotext(text)
    return {"prompt": parsed.prompt, "negative_prompt": parsed.negative_prompt or None, "pairs": parsed.pairs}


def image_settings(image: GeneratedImage) -> ImageSettings:
    """What ``image`` was made with: its ``settings``, or for an image built by hand, what its ``info`` says."""
    if image.settings is not None:
        return image.settings
    from .settings import ModelRef

    params = image.info.get("params") or {}
    model = image.info.get("model")
    return ImageSettings(steps=params.get("steps"), sampler=params.get("scheduler"), guidance=params.get("guidance"),
                         seed=image.seed, width=image.width, height=image.height,
                         model=ModelRef(name=str(model)) if model else None, strength=params.get("strength"))


def png_text_chunks(image: GeneratedImage) -> dict[str, str]:
    """The ``parameters`` and ``imagegen`` entries of ``image``, scrubbed of anything secret."""
    info = redact(image.info)
    params = info.get("params", {})
    settings = image_settings(image)
    entry = {**info, "seed": image.seed, "width": image.width, "height": image.height,
             "settings": settings.model_dump(mode="json", exclude_defaults=True)}
    if image.revised_prompt:
        entry["revised_prompt"] = image.revised_prompt
    text = a1111_parameters(str(info.get("prompt", "")), params.get("negative_prompt"), settings,
                            provider=info.get("provider"), revised_prompt=image.revised_prompt)
    return {"parameters": scrub(text),
            "imagegen": scrub(json.dumps(entry, ensure_ascii=False, default=str, sort_keys=True))}


def with_metadata(data: bytes, mime: str, image: GeneratedImage) -> bytes:
    """``data`` (an encoded image of type ``mime``) carrying ``image``'s metadata: PNG text chunks, or an EXIF
    ``UserComment`` for JPEG and WebP. Other types are returned as they are."""
    chunks = png_text_chunks(image)
    if mime == "image/png":
        return with_png_text(data, chunks)
    if mime in ("image/jpeg", "image/webp"):
        from .exif import with_user_comment

        return with_user_comment(data, mime, chunks["parameters"])
    return data


# -- PNG text chunks -----------------------------------------------------------------------------

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
    return image_text(source)


def image_text(source: bytes | str | os.PathLike[str]) -> dict[str, str]:
    """The metadata text an image carries: a PNG's text chunks; for JPEG and WebP, the EXIF ``UserComment``
    (as ``parameters``, where A1111 and Fooocus put it) and, for NovelAI's JPEGs, the ``comment`` entry."""
    import io

    from PIL import Image

    fp: Any = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with Image.open(fp) as im:
        im.load()
        text = {str(k): str(v) for k, v in getattr(im, "text", {}).items()}
        if im.format in ("JPEG", "WEBP"):
            from .exif import user_comment

            comment = user_comment(im)
            if comment:
                text.setdefault("parameters", comment)
            if isinstance(im.info.get("comment"), bytes):
                text.setdefault("Comment", im.info["comment"].decode("utf-8", "replace"))
        return text


# -- reading back ------------------------------------------------------------------------------

def read_metadata(source: bytes | str | os.PathLike[str]) -> ImageMetadata:
    """Read what an image file (or its bytes) records about its making, from whichever tool wrote it."""
    return import_metadata(image_text(source if isinstance(source, bytes) else os.fspath(source)))
