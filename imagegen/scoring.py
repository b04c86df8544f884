"""Scoring images: the one ``Scorer`` type and the one way it is called, for best-of-n and comparisons.

A scorer is ``scorer(images, prompt) -> one score per image`` (higher is better), plain or async, for
example ``imagegen.eval.ClipScorer``. A plain scorer runs in a worker thread, so a slow model never
blocks the event loop; an async one is awaited (and must not call imagegen's sync API).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from .checks import check_real, shown
from .errors import ImageGenError, InvalidRequest
from .result import GeneratedImage, GenerationResult

__all__ = ["Scorer", "check_select", "score", "scorer_name", "select_best"]

#: ``scorer(images, prompt) -> one score per image`` (higher is better), plain or async.
Scorer = Callable[[list[GeneratedImage], str], Sequence[float] | Awaitable[Sequence[float]]]


async def score(scorer: Scorer, images: list[GeneratedImage], prompt: str) -> list[float]:
    """``scorer``'s scores for ``images``, one finite float per image, or an ``InvalidRequest`` (field
    ``scorer``) saying why not: it raised, or returned text, NaN or the wrong count."""
    out: Any
    try:
        if inspect.iscoroutinefunction(scorer):
            out = await scorer(images, prompt)
        else:
            out = await asyncio.to_thread(scorer, images, prompt)
            if inspect.isawaitable(out):
                out = await out
    except ImageGenError:
        raise
    except Exception as exc:  # the scorer's own failure, said as such (the caller keeps the images)
        raise InvalidRequest(f"scorer: raised {type(exc).__name__}: {exc}", field="scorer") from exc
    if isinstance(out, (str, bytes, Mapping)) or not isinstance(out, Iterable):
        raise InvalidRequest(f"scorer: must return one number per image; got {type(out).__name__} {shown(out)}",
                             field="scorer")
    scores = [check_real(s, "scorer") for s in out]
    if len(scores) != len(images):
        raise InvalidRequest(f"scorer: returned {len(scores)} scores for {len(images)} images; it must return "
                             "one score per image", field="scorer")
    return scores


def check_select(select: int | None, scorer: Scorer | None, n: int) -> None:
    """Validate best-of-n settings before anything is sent: ``select`` of ``n`` images needs a scorer."""
    if select is None:
        return
    if isinstance(select, bool) or not isinstance(select, int) or select < 1:
        raise InvalidRequest(f"select: must be a whole number >= 1; got {select!r}", field="select")
    if select > n:
        raise InvalidRequest(f"select: cannot keep {select} of n={n} images; use select <= n", field="select")
    if scorer is None or not callable(scorer):
        raise InvalidRequest("select: needs scorer=fn(images, prompt) -> scores to pick the best", field="scorer")


async def select_best(result: GenerationResult, select: int | None, scorer: Scorer, prompt: str) -> None:
    """Score ``result``'s images (``info["score"]``) and keep the ``select`` best, best first; ties keep
    generation order. With ``select=None`` every image is kept, sorted."""
    images = result.images
    scores = await score(scorer, images, prompt)
    for image, value in zip(images, scores, strict=True):
        image.info["score"] = value
    order = sorted(range(len(images)), key=lambda i: -scores[i])  # stable: ties keep generation order
    keep = len(images) if select is None else min(select, len(images))
    result.images = [images[i] for i in order[:keep]]


def scorer_name(scorer: Any) -> str:
    """What a report calls ``scorer``: its ``name``, else its function or class name."""
    return str(getattr(scorer, "name", None) or getattr(scorer, "__name__", None) or type(scorer).__name__)
