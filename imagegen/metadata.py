"""PNG text metadata: an A1111-style ``parameters`` entry and an ``imagegen`` JSON entry.

Chunks are spliced into the PNG byte stream right after IHDR, so the pixels are never
re-encoded and readers that stop at the first IDAT (Pillow's ``Image.open().info``) see them.
Nothing that looks like a secret is ever written.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .result import GeneratedImage

__all__ = ["a1111_parameters", "png_text_chunks", "read_png_text", "redact", "with_png_text"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|passwd|authorization|credential|bearer)", re.I)
_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")


def redact(value: Any) -> Any:
    """Drop mapping entries whose key names a secret, recursively."""
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def a1111_parameters(prompt: str, params: Mapping[str, Any], *, model: str | None, seed: int | None,
                     width: int, height: int) -> str:
    """The AUTOMATIC1111 ``parameters`` text: prompt, ``Negative prompt:``, then key: value pairs."""
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
    ]
    lines.append(", ".join(f"{k}: {_a1111_value(v)}" for k, v in pairs if v is not None))
    return "\n".join(lines)


def _a1111_value(v: Any) -> str:
    text = str(v)
    return json.dumps(text) if ("," in text or ":" in text or "\n" in text) and " " in text.strip() else text


def png_text_chunks(image: GeneratedImage) -> dict[str, str]:
    info = redact(image.info)
    params = info.get("params", {})
    prompt = str(info.get("prompt", ""))
    entry = {**info, "seed": image.seed, "width": image.width, "height": image.height}
    if image.revised_prompt:
        entry["revised_prompt"] = image.revised_prompt
    return {
        "parameters": a1111_parameters(prompt, params, model=info.get("model"), seed=image.seed,
                                       width=image.width, height=image.height),
        "imagegen": json.dumps(entry, ensure_ascii=False, default=str, sort_keys=True),
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
