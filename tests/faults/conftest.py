"""Fixtures for the fault-injection suites: instant retries, a ledger per test, a scripted server."""

from __future__ import annotations

import base64
import collections
import contextlib
import io
import json
import socket
import struct
import threading
from collections.abc import Callable
from http import HTTPStatus

import pytest
from PIL import Image

from imagegen import Ledger, RetryPolicy
from imagegen.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def retry(clock) -> RetryPolicy:
    """Three tries with waits on a fake clock: retries cost no real time."""
    return RetryPolicy(attempts=3, sleep=clock.sleep, clock=clock)


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


# -- a scripted HTTP server on 127.0.0.1 -----------------------------------------------------------

class ScriptedServer:
    """An HTTP/1.1 server on 127.0.0.1 that answers each request with the next scripted action.

    Raw sockets rather than a framework, so it can also misbehave the way networks do: reset the
    connection, stall, or cut a body short. Actions (consumed one per request; when the script
    runs out every request gets ``default``):
      ("json", status, body, headers)  a JSON response
      ("raw", bytes)                   these bytes, then close (truncated bodies, bad framing)
      ("reset",)                       close with a TCP RST before answering
      ("hang",)                        never answer (until the server stops)
    """

    def __init__(self, default: Callable[[dict], tuple]) -> None:
        self.default = default
        self.script: collections.deque[tuple] = collections.deque()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def push(self, *actions: tuple) -> None:
        self.script.extend(actions)

    @property
    def count(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = self._read(conn)
            except OSError:
                return
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
                action = self.script.popleft() if self.script else self.default(request)
            kind = action[0]
            if kind == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if kind == "hang":
                self._stop.wait(30)
                return
            if kind == "raw":
                data = action[1]
            else:
                _, status, body, headers = action
                payload = json.dumps(body).encode()
                lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json",
                         f"Content-Length: {len(payload)}", "Connection: close",
                         *(f"{k}: {v}" for k, v in headers.items())]
                data = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
            with contextlib.suppress(OSError):
                conn.sendall(data)

    @staticmethod
    def _read(conn: socket.socket) -> dict | None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        parsed = None
        if headers.get("content-type", "").startswith("application/json") and body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        return {"method": method, "path": path, "headers": headers, "body": body, "json": parsed}


def png_b64(size: tuple[int, int], color: tuple[int, int, int] = (10, 120, 200)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode()


def image_response(request: dict) -> tuple:
    """What the OpenAI Images API answers: one b64 PNG per requested image, of the requested size."""
    body = request.get("json") or {}
    w, h = (int(v) for v in str(body.get("size", "1024x1024")).split("x"))
    data = [{"b64_json": png_b64((w, h)), "revised_prompt": f"revised: {body.get('prompt', '')}"}
            for _ in range(int(body.get("n") or 1))]
    return ("json", 200, {"created": 1_700_000_000, "data": data}, {})


@pytest.fixture
def server():
    srv = ScriptedServer(default=image_response)
    yield srv
    srv.close()
