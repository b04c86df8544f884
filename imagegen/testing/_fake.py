"""``FakeProvider``: a real provider for your own tests, with scripted behaviour.

It makes valid PNGs in a solid colour derived from the prompt and the seed (so seed handling is
checkable from pixels), and can be scripted like httpx's ``MockTransport``::

    fake = FakeProvider(script=[RateLimited(retry_after=0.1), RateLimited(retry_after=0.1), None])
    fake = FakeProvider(handler=lambda req: [b"...png bytes..."] * req.n)

``script`` entries are consumed one per call: an exception instance is raised, ``None`` means
succeed normally. Once the script is used up every call succeeds. ``calls`` records each request.

``FakeClock`` makes retries and rate limits instant and observable in tests::

    clock = FakeClock()
    client = Client(fake, retry=RetryPolicy(attempts=3, sleep=clock.sleep, clock=clock))
    ...
    assert clock.sleeps == [0.1, 0.1]    # the waits the client asked for; no real time passed
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..imageio import ImageData
from ..params import OPERATIONS
from ..provider import SUPPORTABLE, Capabilities, ProviderRequest, ProviderResponse
from ..result import Cost, CostItem, GeneratedImage, GenerationWarning

__all__ = ["FakeClock", "FakeProvider", "fake_color"]

Handler = Callable[[ProviderRequest], Sequence[bytes | ImageData]]

DEFAULT_CAPABILITIES = Capabilities(
    sizes=None, multiple_of=8, min_side=64, max_side=2048, max_pixels=2048 * 2048, default_size=(512, 512),
    max_images_per_call=4, operations=frozenset(OPERATIONS), supports=SUPPORTABLE,
)


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it (``RetryPolicy(sleep=, clock=)``)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def fake_color(prompt: str, seed: int | None) -> tuple[int, int, int]:
    """The colour FakeProvider paints for ``prompt`` and ``seed``: stable across runs and machines."""
    digest = hashlib.sha256(f"{prompt}\0{seed}".encode()).digest()
    return digest[0], digest[1], digest[2]


class FakeProvider:
    """A scriptable provider that never touches the network. Thread- and task-safe."""

    name = "fake"

    def __init__(self, model: str = "fake-1", *, capabilities: Capabilities | None = None,
                 latency: float | Iterable[float] = 0.0, script: Iterable[BaseException | None] = (),
                 handler: Handler | None = None, price_per_image: float | None = 0.0,
                 name: str | None = None, local: bool = False, log: str | os.PathLike[str] | None = None) -> None:
        self.model = model
        if name is not None:
            self.name = name
        self.local = local
        self.log = os.fspath(log) if log is not None else None
        self._caps = capabilities or DEFAULT_CAPABILITIES
        self._latency: Iterator[float] | None = None
        self._last_latency = 0.0
        if isinstance(latency, (int, float)):
            self._last_latency = float(latency)
        else:
            self._latency = iter(latency)
        self._script = list(script)
        self._scripted = 0
        self._handler = handler
        self.price_per_image = price_per_image
        self.calls: list[ProviderRequest] = []
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        state["calls"] = []
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def capabilities(self) -> Capabilities:
        return self._caps

    def estimate_cost(self, req: ProviderRequest) -> Cost | None:
        return self._cost(req.n)

    def _cost(self, n: int) -> Cost | None:
        if self.price_per_image is None:
            return None
        return Cost(usd=self.price_per_image * n, source="price-table",
                    items=[CostItem(f"{self.model} image", n, self.price_per_image, self.price_per_image * n)])

    def _next(self) -> tuple[float, BaseException | None]:
        with self._lock:
            if self._latency is not None:
                self._last_latency = next(self._latency, self._last_latency)
            failure = self._script[self._scripted] if self._scripted < len(self._script) else None
            self._scripted += 1
            return self._last_latency, failure

    def _write_log(self, event: str, req: ProviderRequest) -> None:
        if self.log is None:
            return
        line = json.dumps({"event": event, "prompt": req.prompt, "seeds": list(req.seeds), "n": req.n,
                           "pid": os.getpid()}) + "\n"
        with open(self.log, "a", encoding="utf-8") as fh:  # one short append: whole lines, even from many processes
            fh.write(line)

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        with self._lock:
            self.calls.append(req)
        self._write_log("start", req)
        try:
            return await self._make(req)
        finally:
            self._write_log("end", req)

    async def _make(self, req: ProviderRequest) -> ProviderResponse:
        delay, failure = self._next()
        if delay:
            await asyncio.sleep(delay)
        if failure is not None:
            raise failure
        if self._handler is not None:
            produced = self._handler(req)
            images = [_as_generated(item, req, i) for i, item in enumerate(produced)]
        else:
            images = [self._paint(req, i) for i in range(req.n)]
        cost = self._cost(len(images))
        warnings = [] if cost else [GenerationWarning(f"cost: no price set for fake:{self.model}", kind="cost")]
        return ProviderResponse(images=images, cost=cost, warnings=list(warnings))

    def _paint(self, req: ProviderRequest, i: int) -> GeneratedImage:
        from PIL import Image

        seed = req.seeds[i] if i < len(req.seeds) else None
        buf = io.BytesIO()
        Image.new("RGB", (req.width, req.height), fake_color(req.prompt, seed)).save(buf, format="PNG",
                                                                                     compress_level=1)
        return GeneratedImage(data=buf.getvalue(), mime="image/png", width=req.width, height=req.height, seed=seed)

    def __repr__(self) -> str:
        return f"FakeProvider({self.model!r}, calls={len(self.calls)})"


def _as_generated(item: bytes | ImageData, req: ProviderRequest, i: int) -> GeneratedImage:
    seed = req.seeds[i] if i < len(req.seeds) else None
    if isinstance(item, GeneratedImage):
        return item
    if isinstance(item, ImageData):
        return GeneratedImage(data=item.data, mime=item.mime, width=item.width, height=item.height, seed=seed)
    base = ImageData.from_bytes(bytes(item))
    return GeneratedImage(data=base.data, mime=base.mime, width=base.width, height=base.height, seed=seed)
