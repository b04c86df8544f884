"""Encoded images as bytes, with their type and size read from the header.

Images travel through imagegen as the bytes the provider produced: no decode on the hot path,
and nothing re-encoded unless a caller asks for pixels (``to_pil``) or a resize is needed.
Pillow is imported on first use only.
"""

from __future__ import annotations

import base64
import io
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequest

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["ImageData", "cover_resize", "encode_png", "load_image", "sniff"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MIME_BY_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif",
                   "BMP": "image/bmp", "TIFF": "image/tiff"}


def sniff(data: bytes) -> tuple[str, int, int]:
    """Return (mime, width, height) of encoded image bytes without decoding the pixels.

    Raises ``ValueError`` when the bytes are not an image Pillow can read.
    """
    if data[:8] == _PNG_MAGIC and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return _MIME_BY_FORMAT.get(im.format or "", f"image/{(im.format or 'unknown').lower()}"), *im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a readable image ({len(data)} bytes)") from exc


def encode_png(image: PILImage.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@dataclass(eq=False)
class ImageData:
    """An encoded image: ``data`` bytes plus ``mime``, ``width`` and ``height``."""

    data: bytes
    mime: str = "image/png"
    width: int = 0
    height: int = 0

    @classmethod
    def from_bytes(cls, data: bytes, **fields: Any) -> ImageData:
        mime, width, height = sniff(data)
        return cls(data=data, mime=mime, width=width, height=height, **fields)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def to_pil(self) -> PILImage.Image:
        """Decode to a Pillow image (loaded, so the bytes buffer can be dropped)."""
        from PIL import Image

        im = Image.open(io.BytesIO(self.data))
        im.load()
        return im

    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageData) and self.data == other.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.mime}, {self.width}x{self.height}, {len(self.data)} bytes)"


def load_image(value: Any, field: str) -> ImageData:
    """Accept a path, bytes, a PIL image or an ``ImageData`` (a ``GeneratedImage`` too)."""
    if isinstance(value, ImageData):
        return ImageData(data=value.data, mime=value.mime, width=value.width, height=value.height)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise InvalidRequest(f"{field}: cannot read image file {path!r}: {exc.strerror}",
                                 field=field) from exc
    elif type(value).__module__.startswith("PIL.") and hasattr(value, "save"):
        data = encode_png(value)
    else:
        raise InvalidRequest(
            f"{field}: expected a file path, bytes, a PIL image or an ImageData; got {type(value).__name__}",
            field=field,
        )
    try:
        return ImageData.from_bytes(data)
    except ValueError as exc:
        raise InvalidRequest(f"{field}: {exc}", field=field) from exc


def cover_resize(image: ImageData, width: int, height: int) -> bytes:
    """Scale to cover ``width`` x ``height`` and center-crop to exactly that (PNG bytes)."""
    from PIL import Image, ImageOps

    return encode_png(ImageOps.fit(image.to_pil(), (width, height), method=Image.Resampling.LANCZOS))
