"""Input images for img2img, inpainting and ControlNet: decoded, fitted to the request size, and the
Canny edge map that ``control="canny"`` makes with OpenCV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagegen.provider import ImageData

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["CANNY_DEFAULTS", "canny", "fit"]

#: OpenCV's hysteresis thresholds for the Canny edge detector (low, high), the common ControlNet defaults.
CANNY_DEFAULTS = (100, 200)


def fit(image: ImageData, width: int, height: int, mode: str = "RGB") -> PILImage.Image:
    """``image`` decoded, scaled to cover ``width`` x ``height`` and center-cropped to exactly that."""
    from PIL import Image, ImageOps

    im = image.to_pil().convert(mode)
    if im.size == (width, height):
        return im
    return ImageOps.fit(im, (width, height), method=Image.Resampling.LANCZOS)


def canny(image: PILImage.Image, low: int = CANNY_DEFAULTS[0], high: int = CANNY_DEFAULTS[1]) -> PILImage.Image:
    """White edges on black, as an RGB image (the input Canny ControlNets were trained on)."""
    import cv2
    import numpy as np
    from PIL import Image

    gray: Any = np.asarray(image.convert("L"))
    edges: Any = cv2.Canny(gray, int(low), int(high))
    return Image.fromarray(np.stack([edges] * 3, axis=-1))
