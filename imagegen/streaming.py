"""One stream for every provider: ``Client.astream`` / ``Client.stream`` / ``imagegen.stream`` yield typed events
while a request runs, then its ``GenerationResult``.

- ``ProgressEvent``: an attempt starting (``stage="attempt"``, step = the try), a local model's denoising steps
  (``"denoise"``), a remote call answered (``"generate"``), loading and imports; ``provider`` says who.
- ``PartialImage``: a preview of an image still being made (OpenAI's ``partial_images``, a local model's
  intermediate decode); never billed, never saved.
- the ``GenerationResult``, last: the same result ``generate`` returns, after the same retries, fallback,
  budget and ledger rows (an error is raised after the events that came before it).

Providers send events from the event loop or from worker threads; ``Hooks`` hands them to the loop the stream
runs on, in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from .errors import InvalidRequest
from .provider import PartialImage, ProgressEvent, ProviderRequest
from .result import GenerationResult

__all__ = ["MAX_PARTIAL_IMAGES", "Hooks", "StreamEvent", "check_partial_images", "iterate", "sync_iterate"]

#: What ``Client.stream`` yields.
StreamEvent = ProgressEvent | PartialImage | GenerationResult
#: The most previews per image a caller may ask for (OpenAI's ``partial_images`` limit, 0-3).
MAX_PARTIAL_IMAGES = 3


def check_partial_images(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PARTIAL_IMAGES:
        raise InvalidRequest(f"partial_images: a whole number 0..{MAX_PARTIAL_IMAGES} (previews per image); "
                             f"got {value!r}", field="partial_images")
    return value


class Hooks:
    """Where a streamed request's events go: ``emit`` may be called from any thread."""

    def __init__(self, emit: Callable[[StreamEvent], None], partial_images: int) -> None:
        self._emit = emit
        self.partial_images = partial_images

    def progress(self, label: str, event: ProgressEvent) -> None:
        self._emit(dataclasses.replace(event, provider=label))

    def partial(self, label: str, image: PartialImage) -> None:
        self._emit(dataclasses.replace(image, provider=label))

    def wire(self, label: str, req: ProviderRequest) -> ProviderRequest:
        """``req`` with its progress (kept, and copied to the stream) and preview callbacks set."""
        given = req.progress

        def progress(event: ProgressEvent) -> None:
            if given is not None:
                given(event)
            self.progress(label, event)

        return dataclasses.replace(req, progress=progress, partial_images=self.partial_images,
                                   partial=lambda image: self.partial(label, image))


_DONE = object()


async def iterate(start: Callable[[Hooks], Coroutine[Any, Any, GenerationResult]],
                  partial_images: int) -> AsyncIterator[StreamEvent]:
    """Run ``start(hooks)`` and yield the events it sends, then its result (or raise its error)."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Any] = asyncio.Queue()

    def emit(event: StreamEvent) -> None:
        if threading.get_ident() == loop_thread:
            events.put_nowait(event)
        else:
            loop.call_soon_threadsafe(events.put_nowait, event)

    loop_thread = threading.get_ident()
    task = asyncio.ensure_future(start(Hooks(emit, partial_images)))
    task.add_done_callback(lambda _: events.put_nowait(_DONE))
    try:
        while True:
            item = await events.get()
            if item is _DONE:
                break
            yield item
        while not events.empty():  # sent from a worker thread just before the call returned
            item = events.get_nowait()
            if item is not _DONE:
                yield item
        yield task.result()
    finally:
        if not task.done():  # the consumer stopped early: stop the work too (its attempts are recorded)
            task.cancel()
            with contextlib.suppress(BaseException):  # cancelled on purpose: its error is nobody's to see
                await task


def sync_iterate(submit: Callable[[Coroutine[Any, Any, None]], concurrent.futures.Future[None]],
                 events: AsyncIterator[StreamEvent]) -> Iterator[StreamEvent]:
    """``events`` (an async stream) consumed on another loop's thread (``submit`` starts it there), yielded here
    as they come. Closing this iterator early cancels the work."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue()

    async def pump() -> None:
        try:
            async for event in events:
                handoff.put(("event", event))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the request's error, re-raised in the caller's thread
            handoff.put(("error", exc))
        else:
            handoff.put(("end", None))

    future = submit(pump())
    try:
        while True:
            kind, value = handoff.get()
            if kind == "event":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        if not future.done():
            future.cancel()
