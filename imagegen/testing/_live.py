"""``LiveServer``: ``imagegen serve``'s app under uvicorn on 127.0.0.1, in a thread, for tests that talk
to it with real clients (the ``openai`` SDK, ``webuiapi``, a browser). Needs the ``server`` extra::

    with LiveServer(ServerConfig(providers=[FakeProvider()])) as server:
        openai.OpenAI(base_url=server.url + "/v1", api_key="x").images.generate(prompt="a fox")
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ._server import unused_port

if TYPE_CHECKING:
    from ..server import ServerConfig
    from ..server.service import Service

__all__ = ["LiveServer"]


class LiveServer:
    """Serves ``create_app(config, **settings)`` on an unused 127.0.0.1 port until ``close`` (or the end
    of the ``with`` block), which drains requests in flight like a SIGTERM does."""

    def __init__(self, config: ServerConfig | None = None, **settings: Any) -> None:
        import uvicorn

        from ..server import create_app

        self.app = create_app(config, **settings)
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, name=f"imagegen-serve-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.01)

    @property
    def service(self) -> Service:
        """The app's shared state (its client, chains, jobs), for assertions."""
        svc: Service = self.app.state.service
        return svc

    def close(self, timeout: float = 30.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
