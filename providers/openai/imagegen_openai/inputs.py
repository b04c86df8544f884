"""Input images and masks made into what the edit and variation endpoints accept.

- DALL·E 2 (edits, variations): a square PNG under 4 MB; edits want RGBA. A non-square image is
  center-cropped to a square, anything else is re-encoded, and a file still too big is scaled to the
  output size. Each change is a warning.
- GPT Image (edits): PNG, JPEG or WEBP under 50 MB, sent as it is; other formats become PNG (a warning).
- Masks: imagegen's masks are white where the image should be repainted and black where it is kept;
  OpenAI wants a PNG of the image's size whose *transparent* pixels mark what to edit. The mask is
  converted to that (an RGBA PNG, alpha 0 where the mask is light). A mask that already has transparent
  pixels is taken as OpenAI's own form and its alpha is used as it is (with a warning saying so).

Pillow is imported here, on first use of an edit or a variation only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagegen.provider import GenerationWarning, ImageData, InvalidRequest

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["DALL_E_2_MAX_BYTES", "GPT_IMAGE_MAX_BYTES", "MASK_MAX_BYTES", "Upload", "dall_e_2_image", "gpt_image",
           "openai_mask"]

MB = 1024 * 1024
DALL_E_2_MAX_BYTES = 4 * MB
GPT_IMAGE_MAX_BYTES = 50 * MB
MASK_MAX_BYTES = 4 * MB
_GPT_IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


@dataclass(frozen=True)
class Upload:
    """A file for the SDK's multipart body, plus how it was made from the input."""

    name: str
    data: bytes
    mime: str
    #: (left, top, right, bottom) of the input that was kept, and the size it was scaled to; None: sent as is.
    crop: tuple[int, int, int, int] | None = None
    scaled_to: tuple[int, int] | None = None

    def as_file(self) -> tuple[str, bytes, str]:
        return (self.name, self.data, self.mime)


def _png(image: PILImage.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def dall_e_2_image(image: ImageData, out_size: int, *, rgba: bool, warnings: list[GenerationWarning]) -> Upload:
    """The image for a DALL·E 2 edit (``rgba=True``) or variation: a square PNG under 4 MB."""
    w, h = image.width, image.height
    mode_ok = not rgba or _png_mode(image) == "RGBA"
    if image.mime == "image/png" and w == h and mode_ok and len(image.data) < DALL_E_2_MAX_BYTES:
        return Upload("image.png", image.data, "image/png")
    im = image.to_pil()
    crop = None
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        crop = (left, top, left + side, top + side)
        im = im.crop(crop)
    im = im.convert("RGBA") if rgba else (im if im.mode in ("RGB", "RGBA", "L", "LA") else im.convert("RGBA"))
    data = _png(im)
    scaled = None
    if len(data) >= DALL_E_2_MAX_BYTES and im.width > out_size:
        from PIL import Image

        im = im.resize((out_size, out_size), Image.Resampling.LANCZOS)
        scaled = (out_size, out_size)
        data = _png(im)
    if len(data) >= DALL_E_2_MAX_BYTES:
        raise InvalidRequest(f"image: DALL·E 2 takes a PNG under 4 MB; this image is still {len(data)} bytes as a "
                             f"{im.width}x{im.height} PNG", field="image")
    changes = []
    if crop:
        changes.append(f"center-cropped {w}x{h} to {crop[2] - crop[0]}x{crop[3] - crop[1]}")
    if scaled:
        changes.append(f"scaled to {scaled[0]}x{scaled[1]} to stay under 4 MB")
    changes.append(f"sent as {'an RGBA' if rgba else 'a'} PNG (was {_describe(image)})")
    what = "edits take a square RGBA PNG" if rgba else "variations take a square PNG"
    warnings.append(GenerationWarning(f"image: dall-e-2 {what} under 4 MB; {', '.join(changes)}",
                                      kind="compatibility", field="image"))
    return Upload("image.png", data, "image/png", crop=crop, scaled_to=scaled)


def gpt_image(image: ImageData, warnings: list[GenerationWarning]) -> Upload:
    """The image for a GPT Image edit: PNG, JPEG or WEBP as given, anything else as PNG; under 50 MB."""
    ext = _GPT_IMAGE_TYPES.get(image.mime)
    if ext is not None:
        upload = Upload(f"image.{ext}", image.data, image.mime)
    else:
        upload = Upload("image.png", _png(image.to_pil()), "image/png")
        warnings.append(GenerationWarning(f"image: GPT Image edits take PNG, JPEG or WEBP; converted the {image.mime} "
                                          "image to PNG", kind="compatibility", field="image"))
    if len(upload.data) >= GPT_IMAGE_MAX_BYTES:
        raise InvalidRequest(f"image: GPT Image edits take files under 50 MB; this image is {len(upload.data)} bytes",
                             field="image")
    return upload


def openai_mask(mask: ImageData, image: Upload, warnings: list[GenerationWarning]) -> Upload:
    """imagegen's mask (white = repaint) as OpenAI's: an RGBA PNG, transparent where to edit, cut and
    scaled like ``image`` was."""
    from PIL import Image

    im = mask.to_pil()
    if image.crop is not None:
        im = im.crop(image.crop)
    if image.scaled_to is not None:
        im = im.resize(image.scaled_to, Image.Resampling.NEAREST)
    if _has_transparency(im):
        alpha = im.convert("RGBA").getchannel("A")
        warnings.append(GenerationWarning("mask: it has transparent pixels, so it was read as OpenAI's own form "
                                          "(transparent = edit) and its alpha channel used as it is",
                                          kind="compatibility", field="mask"))
    else:  # light = repaint -> alpha 0; dark = keep -> alpha 255
        alpha = im.convert("L").point(lambda v: 0 if v >= 128 else 255)
    out = Image.new("RGBA", im.size, (0, 0, 0, 255))
    out.putalpha(alpha)
    data = _png(out)
    if len(data) >= MASK_MAX_BYTES:
        raise InvalidRequest(f"mask: OpenAI takes a mask PNG under 4 MB; this mask is {len(data)} bytes as an "
                             f"RGBA PNG", field="mask")
    return Upload("mask.png", data, "image/png")


def _has_transparency(im: PILImage.Image) -> bool:
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        extrema = im.convert("RGBA").getchannel("A").getextrema()
        return bool(extrema[0] < 255)  # type: ignore[operator]  # a single band gives (min, max)
    return False


def _png_mode(image: ImageData) -> str | None:
    """The PNG's mode from its header (colour type 6 = RGBA), without decoding pixels."""
    data = image.data
    if image.mime != "image/png" or len(data) < 26:
        return None
    return {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}.get(data[25])


def _describe(image: ImageData) -> str:
    mode = _png_mode(image)
    return f"{image.width}x{image.height} {image.mime}{' ' + mode if mode else ''}"
