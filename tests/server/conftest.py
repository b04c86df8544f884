"""A real server for the server tests: ``create_app`` under uvicorn on 127.0.0.1, in a thread
(``imagegen.testing.LiveServer``); it stops when the test ends. Clients talk to it over real sockets, as
they would to ``imagegen serve``.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from imagegen.errors import ImageGenError
from imagegen.provider import ProgressEvent, ProviderRequest, ProviderResponse
from imagegen.server import ServerConfig
from imagegen.testing import FakeProvider, LiveServer


@pytest.fixture
def live() -> Iterator:
    """``live(config | **settings)`` -> a started ``LiveServer`` (``.url``, ``.port``, ``.service``)."""
    started: list[LiveServer] = []

    def start(config: ServerConfig | None = None, **settings) -> LiveServer:
        server = LiveServer(config, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def _png(size=(64, 64), color=(200, 30, 30), mode="RGB", alpha=255) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else (*color, alpha)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def png():
    """Factory: ``png(size, color, mode="RGB"|"RGBA", alpha=255)`` -> PNG bytes."""
    return _png


@pytest.fixture
def stoppable():
    """Factory for ``Stoppable`` fakes."""
    return Stoppable


class Stoppable(FakeProvider):
    """A fake that, like the local provider, works step by step and stops when the request's cancel
    event is set; ``release`` lets its calls finish, ``entered`` says a call has begun."""

    def __init__(self, steps: int = 200, **kw) -> None:
        super().__init__(**kw)
        self.steps = steps
        self.entered = threading.Event()
        self.release = threading.Event()
        self.stopped: list[int] = []

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        await asyncio.to_thread(self._steps, req)  # in a worker thread, as the local provider runs
        return await super().generate(req)

    def _steps(self, req: ProviderRequest) -> None:
        self.entered.set()
        for step in range(1, self.steps + 1):
            if req.progress is not None:
                req.progress(ProgressEvent("denoise", step, self.steps))
            if req.cancel is not None and req.cancel.is_set():
                self.stopped.append(step)
                raise ImageGenError(f"cancelled at step {step}")
            if self.release.wait(0.01):
                return


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()
