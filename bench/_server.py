"""A 127.0.0.1 server that speaks the OpenAI images API, for the benchmarks.

It answers ``POST …/v1/images/generations`` with the same ~1 MB base64 PNG every time, after a
latency taken from the path (``/lat/200/v1`` waits 200 ms, plain ``/v1`` waits the default;
``/lat/200/kb/64/v1`` also sends a 64 KB PNG instead), so one server serves every scenario.
It runs in its own process, so its work never competes with
the client being measured for the GIL, and it stops by itself after ``--max-seconds``.

    python bench/_server.py --image-kb 1024 --max-seconds 600      # prints "port NNNNN"

From Python, ``with serve() as base_url: ...`` starts it and always stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["make_png", "serve"]


def make_png(target_bytes: int, side: int = 1024) -> bytes:
    """A ``side``² PNG of about ``target_bytes``: noise rows (incompressible) over a flat rest."""
    import numpy as np
    from PIL import Image

    def encode(pixels: Any) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    pixels = np.full((side, side, 3), 127, dtype=np.uint8)
    flat = len(encode(pixels)) * (side - 1) // side  # what the flat rows cost
    noisy_rows = max(1, min(side, (target_bytes - flat) // (side * 3)))
    pixels[:noisy_rows] = np.random.default_rng(0).integers(0, 256, size=(noisy_rows, side, 3), dtype=np.uint8)
    return encode(pixels)


def build_app(image_kb: int, default_latency_s: float):  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    bodies = {image_kb: response_body(image_kb)}

    async def generations(request: Request) -> Response:
        await request.body()
        ms = request.path_params.get("ms")
        kb = request.path_params.get("kb", image_kb)
        body = bodies.get(kb)
        if body is None:
            body = bodies[kb] = response_body(kb)
        delay = default_latency_s if ms is None else ms / 1000.0
        if delay:
            await asyncio.sleep(delay)
        return Response(body, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(str(len(bodies[image_kb])).encode())

    return Starlette(routes=[
        Route("/v1/images/generations", generations, methods=["POST"]),
        Route("/lat/{ms:int}/v1/images/generations", generations, methods=["POST"]),
        Route("/lat/{ms:int}/kb/{kb:int}/v1/images/generations", generations, methods=["POST"]),
        Route("/health", health),
    ])


def response_body(image_kb: int) -> bytes:
    png = make_png(image_kb * 1024)
    b64 = base64.b64encode(png).decode("ascii")
    return json.dumps({"created": int(time.time()), "data": [{"b64_json": b64, "revised_prompt": "bench"}],
                       "usage": {"input_tokens": 10, "output_tokens": 4160, "total_tokens": 4170}}).encode()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-kb", type=int, default=1024, help="PNG size before base64 (default 1024)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="default server latency")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="stop by itself after this long")
    args = ap.parse_args(argv)

    app = build_app(args.image_kb, args.latency_ms / 1000.0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            backlog=1024, timeout_keep_alive=60)
    server = uvicorn.Server(config)
    threading.Timer(args.max_seconds, lambda: setattr(server, "should_exit", True)).start()
    print(f"port {sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
    os._exit(0)  # the timer thread must not keep the process alive


@contextlib.contextmanager
def serve(*, image_kb: int = 1024, latency_ms: float = 0.0, max_seconds: float = 600.0) -> Iterator[tuple[str, int]]:
    """Start the server in a child process; yield (``http://127.0.0.1:PORT/v1``, response bytes)."""
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--image-kb", str(image_kb), "--latency-ms", str(latency_ms),
         "--max-seconds", str(max_seconds)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) < 2 or line[0] != "port":
            raise RuntimeError(f"bench server did not start (got {line!r})")
        port = int(line[1])
        yield f"http://127.0.0.1:{port}/v1", _wait_ready(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(port: int, timeout: float = 30.0) -> int:
    """Wait for the server; returns the size of its default response body."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
            if r.status_code == 200:
                return int(r.text)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


if __name__ == "__main__":
    main()
