"""Images in and out of the HTTP APIs: base64 and uploads decoded and bounded, answers encoded.

An input image is only ever bytes from the request (never a path or a URL the server would open), and
its header is read for its size before anything decodes it, so a huge or lying image is refused cheaply.
"""

from __future__ import annotations

import binascii
import io

from ..errors import InvalidRequest
from ..imageio import ImageData, check_image, sniff
from ..metadata import with_metadata
from ..result import GeneratedImage
from .errors import PayloadTooLarge

__all__ = ["FORMATS", "decode_b64_image", "encode_image", "image_from_bytes"]

#: ``output_format`` -> MIME type.
FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PIL = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def image_from_bytes(data: bytes, field: str, max_pixels: int) -> ImageData:
    """Bytes from a request as an image: known type, within ``max_pixels``, and fully decodable."""
    try:
        mime, width, height = sniff(data)
    except ValueError as exc:
        raise InvalidRequest(f"{field}: not a PNG, JPEG or WebP image ({exc})", field=field) from None
    if width * height > max_pixels:
        raise PayloadTooLarge(f"{field}: {width}x{height} is {width * height} pixels; this server takes at most "
                              f"{max_pixels}", field=field)
    check_image(data, field, max_pixels)  # every pixel decoded: truncated or corrupt input is never sent on
    return ImageData(data=data, mime=mime, width=width, height=height)


def decode_b64_image(text: object, field: str, max_pixels: int) -> ImageData:
    """A base64 image as A1111 clients send it: raw base64, or a ``data:image/...;base64,`` URL."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(f"{field}: expected a base64-encoded image", field=field)
    raw = text.strip()
    if raw.startswith("data:"):
        _, sep, raw = raw.partition(",")
        if not sep:
            raise InvalidRequest(f"{field}: a data URL needs ',' before its base64 data", field=field)
    if raw.startswith(("http://", "https://")):
        raise InvalidRequest(f"{field}: this server does not fetch image URLs; send the image as base64",
                             field=field)
    try:
        data = binascii.a2b_base64(raw)
    except binascii.Error as exc:
        raise InvalidRequest(f"{field}: not valid base64 ({exc})", field=field) from None
    return image_from_bytes(data, field, max_pixels)


def encode_image(image: GeneratedImage, output_format: str | None = None,
                 compression: int | None = None) -> tuple[bytes, str]:
    """The image's bytes in ``output_format`` (default: as made), PNGs with imagegen's metadata chunks
    (A1111's ``parameters`` and the ``imagegen`` JSON), as A1111's API answers its own PNGs."""
    mime = FORMATS[output_format] if output_format else image.mime
    data = image.data
    if mime != image.mime or (compression is not None and mime != "image/png"):
        im = image.to_pil()
        if mime == "image/jpeg" and im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        buf = io.BytesIO()
        extra = {"quality": max(1, compression)} if compression is not None and mime != "image/png" else {}
        im.save(buf, format=_PIL[mime], **extra)
        data = buf.getvalue()
    # PNGs with their text chunks, JPEG and WebP with the infotext as an EXIF UserComment, as A1111's API does
    # (modules/api/api.py, encode_pil_to_base64)
    return with_metadata(data, mime, image), mime
