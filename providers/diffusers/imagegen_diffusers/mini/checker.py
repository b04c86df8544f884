"""Check a picture against its caption: colours, shapes, positions and background, read from the pixels.

Used by the tests to score imagegen-mini and by anyone who wants to know whether an image of this grammar is
right. Every pixel is snapped to the nearest palette colour; the background is the colour of most border pixels;
each object is the largest 4-connected blob of its colour, and its shape comes from how it fills its bounding box.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .scenes import COLOURS, IMAGE_SIZE, Spec, parse

_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[n] for n in _NAMES], dtype=np.float32)
_FAR = 110.0  # pixels further than this from every palette colour belong to no colour
MIN_AREA = 10  # pixels; smaller blobs are noise, not objects


@dataclass(frozen=True)
class Blob:
    colour: str
    area: int
    x: float  # centroid, pixels
    y: float
    shape: str


@dataclass(frozen=True)
class Verdict:
    """Whether each promise of the caption holds; None where the caption makes no such promise."""

    colour: bool
    shape: bool
    background: bool | None
    position: bool | None
    blobs: tuple[Blob, ...]

    @property
    def ok(self) -> bool:
        return self.colour and self.shape and self.background is not False and self.position is not False


def labels(image: Image.Image | np.ndarray) -> np.ndarray:
    """Palette index of every pixel at IMAGE_SIZE, -1 where no palette colour is near."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image = image.convert("RGB")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    px = np.asarray(image, dtype=np.float32)
    dist = np.linalg.norm(px[:, :, None, :] - _PALETTE[None, None], axis=-1)
    lab: np.ndarray = dist.argmin(-1)
    lab[dist.min(-1) > _FAR] = -1
    return lab


def background_of(lab: np.ndarray) -> str | None:
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    border = border[border >= 0]
    return _NAMES[int(np.bincount(border).argmax())] if border.size else None


def _components(mask: np.ndarray) -> list[np.ndarray]:
    seen = np.zeros_like(mask, dtype=bool)
    h, w = mask.shape
    found = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        queue, cells = deque([(y0, x0)]), []
        while queue:
            y, x = queue.popleft()
            cells.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        found.append(np.array(cells))
    return found


def shape_of(cells: np.ndarray) -> str:
    """From how the blob fills its bounding box (square ~1, circle ~0.8, triangle ~0.55) and whether it is much
    narrower at the top than at the bottom (a triangle, point up)."""
    ys, xs = cells[:, 0], cells[:, 1]
    top, bottom = ys.min(), ys.max()
    height = bottom - top + 1
    fill = len(cells) / (height * (xs.max() - xs.min() + 1))
    band = max(1, height // 4)
    top_width = np.sum(ys < top + band) / band
    bottom_width = np.sum(ys > bottom - band) / band
    if fill < 0.66 or top_width < 0.4 * bottom_width:
        return "triangle"
    return "square" if fill > 0.92 else "circle"


def blobs(image: Image.Image | np.ndarray) -> tuple[str | None, list[Blob]]:
    """The background colour and every non-background blob of at least MIN_AREA pixels, largest first."""
    lab = labels(image)
    bg = background_of(lab)
    found = []
    for i, name in enumerate(_NAMES):
        if name == bg:
            continue
        for cells in _components(lab == i):
            if len(cells) >= MIN_AREA:
                y, x = cells.mean(0)
                found.append(Blob(name, len(cells), float(x), float(y), shape_of(cells)))
    return bg, sorted(found, key=lambda b: -b.area)


def check(image: Image.Image | np.ndarray, caption: str | Spec) -> Verdict:
    """Score one image against a caption of the imagegen-mini grammar (a Spec, or text that parses to one)."""
    spec = parse(caption) if isinstance(caption, str) else caption
    bg, found = blobs(image)
    background = None if spec.background is None else bg == spec.background
    picks: list[Blob | None] = []
    if len(spec.objects) == 2 and spec.relation is None:
        same = [b for b in found if b.colour == spec.objects[0].colour]
        picks = [*same[:2], *([None] * (2 - len(same[:2])))]
    else:
        for thing in spec.objects:
            picks.append(next((b for b in found if b.colour == thing.colour), None))
    colour = all(p is not None for p in picks)
    shape = all(p is not None and p.shape == t.shape for p, t in zip(picks, spec.objects, strict=True))
    position: bool | None = None
    first = picks[0]
    if spec.corner is not None:
        position = first is not None and _corner(first) == spec.corner
    elif spec.relation is not None:
        second = picks[1]
        position = first is not None and second is not None and _relation_holds(first, second, spec.relation)
    return Verdict(colour, shape, background, position, tuple(found))


def _corner(b: Blob) -> str:
    half = IMAGE_SIZE / 2
    return f"{'top' if b.y < half else 'bottom'} {'left' if b.x < half else 'right'}"


def _relation_holds(a: Blob, b: Blob, relation: str) -> bool:
    return {
        "above": a.y < b.y,
        "below": a.y > b.y,
        "left of": a.x < b.x,
        "right of": a.x > b.x,
    }[relation]
