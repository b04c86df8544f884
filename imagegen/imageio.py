"""Encoded images as bytes, with their type and size read from the header.

Images travel through imagegen as the bytes the provider produced: no decode on the hot path,
and nothing re-encoded unless a caller asks for pixels (``to_pil``) or a resize is needed.
Pillow is imported on first use only.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequest

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from typing_extensions import Self

__all__ = ["FORMAT_MIME", "MAX_INPUT_BYTES", "MAX_INPUT_PIXELS", "PIL_FORMATS", "ImageData", "check_image",
           "cover_resize", "encode", "encode_png",
           "load_image", "sniff"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
_MIME_BY_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif",
                   "BMP": "image/bmp", "TIFF": "image/tiff"}


def sniff(data: bytes) -> tuple[str, int, int]:
    """Return (mime, width, height) of encoded image bytes without decoding the pixels.

    Raises ``ValueError`` when the bytes are not an image Pillow can read.
    """
    if data[:8] == _PNG_MAGIC and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return _MIME_BY_FORMAT.get(im.format or "", f"image/{(im.format or 'unknown').lower()}"), *im.size
    except Image.DecompressionBombError as exc:  # the header claims more pixels than Pillow will open
        raise ValueError(f"not an image imagegen takes: {exc}") from exc
    except Exception as exc:  # not an image, or a header Pillow cannot parse (any error type)
        raise ValueError(f"not a readable image ({len(data)} bytes)") from exc


#: The encodings imagegen writes, by MIME type, and the output_format name of each.
PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
FORMAT_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def encode(image: PILImage.Image, mime: str, quality: int | None = None) -> bytes:
    """``image`` as ``mime`` (PNG, JPEG or WebP). ``quality`` 0-100 for JPEG and WebP (None: Pillow's default);
    JPEG has no alpha, so an image with one is flattened to RGB."""
    if mime == "image/jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    options = {"quality": quality} if quality is not None and mime != "image/png" else {}
    image.save(buf, format=PIL_FORMATS[mime], **options)
    return buf.getvalue()


def encode_png(image: PILImage.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@dataclass(eq=False)
class ImageData:
    """An encoded image: ``data`` bytes plus ``mime``, ``width`` and ``height``.

    ``from_base64`` keeps a PNG as the base64 text an API sent and decodes it on first use of
    ``data``: a caller that only saves some images, or never looks at the pixels, skips the work.
    """

    data: bytes
    mime: str = "image/png"
    width: int = 0
    height: int = 0

    @classmethod
    def from_bytes(cls, data: bytes, **fields: Any) -> ImageData:
        mime, width, height = sniff(data)
        return cls(data=data, mime=mime, width=width, height=height, **fields)

    @classmethod
    def from_base64(cls, text: str | bytes, **fields: Any) -> Self:
        """An image from base64 text, decoded lazily when it is a complete PNG.

        The PNG header (type and size) and its closing IEND chunk are checked now, from the first and
        last few characters, so a cut-off payload fails here; anything else is decoded now. Raises
        ``ValueError`` for text that is not a base64 image.
        """
        raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
        raw = raw.strip()
        if len(raw) >= 64 and b"\n" not in raw and b"\r" not in raw and len(raw) % 4 == 0:
            try:
                head = binascii.a2b_base64(raw[:32])
                tail = binascii.a2b_base64(raw[-24:])
            except binascii.Error:
                head = tail = b""
            if head[:8] == _PNG_MAGIC and head[12:16] == b"IHDR" and tail.endswith(_PNG_END):
                width, height = struct.unpack(">II", head[16:24])
                image = cls(data=b"", mime="image/png", width=width, height=height, **fields)
                image.__dict__.update(_data=None, _b64=raw)
                return image
        try:
            data = binascii.a2b_base64(raw)
        except binascii.Error as exc:
            raise ValueError(f"not valid base64 ({len(raw)} characters): {exc}") from exc
        mime, width, height = sniff(data)
        if mime == "image/png" and not data.endswith(_PNG_END):
            raise ValueError(f"truncated PNG ({len(data)} bytes, no IEND chunk)")
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


def _get_data(self: ImageData) -> bytes:
    state = self.__dict__
    data: bytes | None = state.get("_data")
    if data is None:
        # decode once; a corrupt middle of a lazy payload surfaces here as binascii.Error (a ValueError)
        data = state["_data"] = binascii.a2b_base64(state.pop("_b64"))
    return data


def _set_data(self: ImageData, value: bytes) -> None:
    self.__dict__.pop("_b64", None)
    self.__dict__.pop("_checked", None)
    self.__dict__["_data"] = value


# ``data`` stays a dataclass field (constructor, repr, asdict) but reads through a property, so a
# ``from_base64`` image decodes on first access. Set after @dataclass has read the field.
ImageData.data = property(_get_data, _set_data)  # type: ignore[assignment]


#: Inputs larger than this many bytes are refused before they are read (no API takes more: GPT Image edits
#: take files under 50 MB).
MAX_INPUT_BYTES = 64 * 1024 * 1024
#: Inputs with more pixels than this (8192 x 8192) are refused from their header, before any decoding: a
#: small file can claim 100000 x 100000 pixels and take gigabytes to decode.
MAX_INPUT_PIXELS = 8192 * 8192
#: PIL modes that are converted to RGB on the way in (PNG cannot hold them); other modes PNG cannot
#: hold (``F``: 32-bit float pixels, ...) are refused, as what they look like is not defined.
_TO_RGB = ("CMYK", "YCbCr", "LAB", "HSV")


def load_image(value: Any, field: str) -> ImageData:
    """Accept a path, bytes, a PIL image or an ``ImageData`` (a ``GeneratedImage`` too), fully decoded and
    bounded (``MAX_INPUT_BYTES``, ``MAX_INPUT_PIXELS``) before anything is sent: a truncated, corrupt or
    header-only file is an ``InvalidRequest`` naming ``field``, never a provider's problem."""
    if isinstance(value, ImageData):
        if type(value) is ImageData and value.__dict__.get("_checked"):
            return value  # made by load_image, unchanged since (setting ``data`` clears the mark)
        try:
            data = value.data
        except ValueError as exc:  # a lazy base64 image whose middle is corrupt
            raise InvalidRequest(f"{field}: the image's data cannot be decoded ({exc})", field=field) from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, (str, os.PathLike)):
        data = _read_file(os.fspath(value), field)
    elif type(value).__module__.startswith("PIL.") and hasattr(value, "save"):
        data = _pil_png(value, field)
    else:
        raise InvalidRequest(
            f"{field}: expected a file path, bytes, a PIL image or an ImageData; got {type(value).__name__}",
            field=field,
        )
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidRequest(f"{field}: {len(data)} bytes is more than imagegen takes as an input image (at most "
                             f"{MAX_INPUT_BYTES})", field=field)
    mime, width, height = check_image(data, field)
    image = ImageData(data=data, mime=mime, width=width, height=height)
    image.__dict__["_checked"] = True
    return image


def check_image(data: bytes, field: str, max_pixels: int = MAX_INPUT_PIXELS) -> tuple[str, int, int]:
    """(mime, width, height) of ``data`` once it is known to be a whole image of at most ``max_pixels``:
    its header is read and bounded first, then every pixel is decoded (and a PNG's checksums verified)."""
    from PIL import Image

    try:
        mime, width, height = sniff(data)
    except ValueError as exc:
        raise InvalidRequest(f"{field}: {exc}", field=field) from None
    if width < 1 or height < 1 or width * height > max_pixels:
        raise InvalidRequest(f"{field}: the image says it is {width}x{height} ({width * height} pixels); imagegen "
                             f"takes input images of 1 to {max_pixels} pixels", field=field)
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format == "PNG":
                im.verify()  # chunk checksums, which load() skips for the image data
        with Image.open(io.BytesIO(data)) as im:
            if im.size != (width, height):
                raise ValueError(f"the header says {width}x{height} but the image is {im.size[0]}x{im.size[1]}")
            im.load()
    except Exception as exc:  # truncated, bad checksum, header only, corrupt data: all the same to the caller
        raise InvalidRequest(f"{field}: not a complete, readable image ({type(exc).__name__}: {exc})",
                             field=field) from None
    if mime == "image/png" and _PNG_END not in data:
        raise InvalidRequest(f"{field}: a truncated PNG (no IEND chunk)", field=field)
    return mime, width, height


def _read_file(path: str, field: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_INPUT_BYTES:
                raise InvalidRequest(f"{field}: {path!r} is {size} bytes, more than imagegen takes as an input "
                                     f"image (at most {MAX_INPUT_BYTES})", field=field)
            return fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InvalidRequest(f"{field}: cannot read image file {path!r}: {exc.strerror or exc}",
                             field=field) from None


def _pil_png(image: PILImage.Image, field: str) -> bytes:
    """A PIL image as PNG bytes; CMYK and the like become RGB, modes without a meaning as a picture are refused."""
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_INPUT_PIXELS:
        raise InvalidRequest(f"{field}: a {width}x{height} PIL image; imagegen takes input images of 1 to "
                             f"{MAX_INPUT_PIXELS} pixels", field=field)
    if image.mode in _TO_RGB:
        image = image.convert("RGB")
    try:
        return encode_png(image)
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"{field}: a PIL image in mode {image.mode!r} cannot be used ({exc}); convert it to "
                             "'RGB', 'RGBA', 'L' or 'LA' first", field=field) from None


def cover_resize(image: ImageData, width: int, height: int) -> bytes:
    """Scale to cover ``width`` x ``height`` and center-crop to exactly that (PNG bytes)."""
    from PIL import Image, ImageOps

    return encode_png(ImageOps.fit(image.to_pil(), (width, height), method=Image.Resampling.LANCZOS))
