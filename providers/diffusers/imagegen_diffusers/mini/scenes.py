"""The scene grammar of imagegen-mini: captions, the scenes they describe, and a renderer.

The vocabulary is small and the grammar regular so that a model trained on 2 CPU cores in under an hour can
learn it. The same module serves the training script (sample, caption, render), the held-out split and the
checker (parse a caption back into what it promises).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 32

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "yellow": (245, 225, 30),
    "purple": (140, 40, 190),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
SHAPES = ("circle", "square", "triangle")
CORNERS = ("top left", "top right", "bottom left", "bottom right")
RELATIONS = ("above", "below", "left of", "right of")

# Centre (x, y) of an object placed at a corner, in a 32x32 image.
_CORNER_XY = {"top left": (9, 9), "top right": (23, 9), "bottom left": (9, 23), "bottom right": (23, 23)}


@dataclass(frozen=True)
class Thing:
    """One object: what a caption says about it."""

    colour: str
    shape: str


@dataclass(frozen=True)
class Spec:
    """What a caption promises. `relation` links objects[0] to objects[1]; `count` is 2 for "two ...s"."""

    objects: tuple[Thing, ...]
    background: str | None = None
    corner: str | None = None
    relation: str | None = None

    @property
    def caption(self) -> str:
        first = self.objects[0]
        if len(self.objects) == 2 and self.relation is None:
            text = f"two {first.colour} {first.shape}s"
        else:
            text = f"{_article(first.colour)} {first.colour} {first.shape}"
            if self.relation is not None:
                second = self.objects[1]
                text += f" {self.relation} {_article(second.colour)} {second.colour} {second.shape}"
        if self.corner is not None:
            text += f" at the {self.corner}"
        if self.background is not None:
            text += f" on {_article(self.background)} {self.background} background"
        return text


@dataclass(frozen=True)
class Placed:
    """An object with its geometry: centre and size in pixels of the IMAGE_SIZE canvas."""

    thing: Thing
    x: float
    y: float
    size: float


@dataclass(frozen=True)
class Scene:
    """A spec made concrete: the background actually drawn and where each object sits."""

    spec: Spec
    background: str
    placed: tuple[Placed, ...] = field(default_factory=tuple)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def vocabulary() -> list[str]:
    """Every word a caption can contain (the tokenizer gives each its own token)."""
    words = {"a", "an", "two", "at", "the", "on", "background", "of", *COLOURS, *SHAPES}
    words |= {f"{s}s" for s in SHAPES}
    for phrase in (*CORNERS, *RELATIONS):
        words |= set(phrase.split())
    return sorted(words)


# ---------------------------------------------------------------------------------------------------------------
# Held-out split: (colour, shape, background) triples never seen in training.


def all_triples() -> list[tuple[str, str, str]]:
    return [(c, s, b) for c in COLOURS for s in SHAPES for b in COLOURS if b != c]


def held_out_triples(count: int = 25, seed: int = 8) -> list[tuple[str, str, str]]:
    """Triples excluded from training. Every colour, shape and background still occurs in training otherwise."""
    triples = all_triples()
    random.Random(seed).shuffle(triples)
    return sorted(triples[:count])


def held_out_specs() -> list[Spec]:
    """The 50 evaluation captions: each held-out triple centred, and at a corner."""
    specs = []
    for i, (c, s, b) in enumerate(held_out_triples()):
        thing = (Thing(c, s),)
        specs.append(Spec(thing, background=b))
        specs.append(Spec(thing, background=b, corner=CORNERS[i % len(CORNERS)]))
    return specs


def uses_held_out(scene: Scene, held_out: set[tuple[str, str, str]]) -> bool:
    return any((p.thing.colour, p.thing.shape, scene.background) in held_out for p in scene.placed)


# ---------------------------------------------------------------------------------------------------------------
# Sampling and geometry.


def sample_scene(rng: random.Random) -> Scene:
    """A random caption and a scene that satisfies it (the background is drawn at random when unnamed)."""
    colours = list(COLOURS)
    kind = rng.random()
    named_background = rng.random() < 0.6
    if kind < 0.55:
        thing = Thing(rng.choice(colours), rng.choice(SHAPES))
        corner = rng.choice(CORNERS) if rng.random() < 0.4 else None
        bg = rng.choice([c for c in colours if c != thing.colour])
        spec = Spec((thing,), bg if named_background else None, corner)
    elif kind < 0.75:
        thing = Thing(rng.choice(colours), rng.choice(SHAPES))
        bg = rng.choice([c for c in colours if c != thing.colour])
        spec = Spec((thing, thing), bg if named_background else None)
    else:
        a = Thing(rng.choice(colours), rng.choice(SHAPES))
        b = Thing(rng.choice([c for c in colours if c != a.colour]), rng.choice(SHAPES))
        bg = rng.choice([c for c in colours if c not in (a.colour, b.colour)])
        spec = Spec((a, b), bg if named_background else None, relation=rng.choice(RELATIONS))
    return place(spec, rng, background=bg)


def place(spec: Spec, rng: random.Random, background: str | None = None) -> Scene:
    """Geometry for a spec: jittered positions and sizes that keep the caption true."""
    bg = background or spec.background or "black"

    def jitter(v: float, amount: float) -> float:
        return v + rng.uniform(-amount, amount)

    placed: tuple[Placed, ...]
    if spec.relation is not None:
        a, b = spec.objects
        size = rng.uniform(9, 11)
        near, far = 9.0, 23.0
        first, second = (near, far) if spec.relation in ("above", "left of") else (far, near)
        off_a, off_b = jitter(16, 4), jitter(16, 4)
        if spec.relation in ("above", "below"):
            placed = (Placed(a, off_a, jitter(first, 1), size), Placed(b, off_b, jitter(second, 1), size))
        else:
            placed = (Placed(a, jitter(first, 1), off_a, size), Placed(b, jitter(second, 1), off_b, size))
    elif len(spec.objects) == 2:
        size = rng.uniform(9, 11)
        y1, y2 = jitter(16, 5), jitter(16, 5)
        placed = (Placed(spec.objects[0], jitter(9, 1), y1, size), Placed(spec.objects[1], jitter(23, 1), y2, size))
    elif spec.corner is not None:
        x, y = _CORNER_XY[spec.corner]
        placed = (Placed(spec.objects[0], jitter(x, 1), jitter(y, 1), rng.uniform(10, 12)),)
    else:
        placed = (Placed(spec.objects[0], jitter(16, 3), jitter(16, 3), rng.uniform(12, 16)),)
    return Scene(spec, bg, placed)


# ---------------------------------------------------------------------------------------------------------------
# Rendering.

_SUPERSAMPLE = 4


def render(scene: Scene, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw a scene, supersampled then downscaled so edges are anti-aliased like a natural image."""
    k = _SUPERSAMPLE * size / IMAGE_SIZE
    canvas = Image.new("RGB", (round(IMAGE_SIZE * k),) * 2, COLOURS[scene.background])
    draw = ImageDraw.Draw(canvas)
    for p in scene.placed:
        x, y, r = p.x * k, p.y * k, p.size * k / 2
        fill = COLOURS[p.thing.colour]
        if p.thing.shape == "circle":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        elif p.thing.shape == "square":
            s = r  # as wide as a circle of the same size: its corners then hold enough pixels to be learnt
            draw.rectangle((x - s, y - s, x + s, y + s), fill=fill)
        else:
            draw.polygon([(x, y - r), (x + r, y + r * 0.8), (x - r, y + r * 0.8)], fill=fill)
    return canvas.resize((size, size), Image.Resampling.BOX)


def render_array(scene: Scene) -> np.ndarray:
    return np.asarray(render(scene), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# Parsing a caption back into a spec (for the checker).

_COLOUR = "|".join(COLOURS)
_SHAPE = "|".join(SHAPES)
_THING = rf"an? ({_COLOUR}) ({_SHAPE})"
_TAIL = rf"(?: at the ({'|'.join(CORNERS)}))?(?: on an? ({_COLOUR}) background)?"
_SINGLE = re.compile(rf"^{_THING}{_TAIL}$")
_TWO = re.compile(rf"^two ({_COLOUR}) ({_SHAPE})s{_TAIL}$")
_RELATION = re.compile(rf"^{_THING} ({'|'.join(RELATIONS)}) {_THING}{_TAIL}$")


def parse(caption: str) -> Spec:
    """The spec a caption of this grammar describes. ValueError for anything outside the grammar."""
    text = " ".join(caption.lower().strip().rstrip(".").split())
    if m := _SINGLE.match(text):
        return Spec((Thing(m[1], m[2]),), m[4], m[3])
    if m := _TWO.match(text):
        thing = Thing(m[1], m[2])
        return Spec((thing, thing), m[4], m[3])
    if m := _RELATION.match(text):
        return Spec((Thing(m[1], m[2]), Thing(m[4], m[5])), m[7], m[6], relation=m[3])
    raise ValueError(
        f"caption: {caption!r} is outside the imagegen-mini grammar; try e.g. 'a red circle on a blue background' "
        f"(colours: {', '.join(COLOURS)}; shapes: {', '.join(SHAPES)})"
    )
