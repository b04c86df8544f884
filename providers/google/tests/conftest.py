"""A scripted Google API on 127.0.0.1 for the real google-genai client, and providers pointed at it.

``api.script(path_suffix, *responses)`` queues responses for requests whose path ends with the suffix
(the last one repeats); every request is recorded in ``api.requests`` with its path, headers and JSON.
Response builders and paths come through the ``kit`` fixture (test modules cannot import conftest under
``--import-mode=importlib``).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import re
import socket
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from imagegen.provider import ProviderRequest

API_KEY = "AIzaSyTEST-0123456789abcdefghijklmnopqrstu"
PROJECT, LOCATION = "proj-1", "us-central1"
ENV_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
            "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_VERTEX_BASE_URL", "GOOGLE_GEMINI_BASE_URL",
            "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_API_VERSION", "GOOGLE_GENAI_HTTP_CLIENT",
            "IMAGEGEN_PROVIDER", "OPENAI_API_KEY")


@functools.cache
def png(width: int, height: int, shade: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 120, 200)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- response builders ----------------------------------------------------------------------------

def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def imagen_ok(n: int, size: tuple[int, int] = (1408, 768), *, filtered: list[str] = (),  # type: ignore[assignment]
              enhanced: str | None = None) -> Response:
    predictions: list[dict[str, Any]] = []
    for i in range(n):
        item: dict[str, Any] = {"bytesBase64Encoded": b64(png(*size, shade=10 + i)), "mimeType": "image/png"}
        if enhanced:
            item["prompt"] = enhanced
        predictions.append(item)
    predictions += [{"raiFilteredReason": reason} for reason in filtered]
    return json_response({"predictions": predictions})


def imagen_echo(size: tuple[int, int] = (1408, 768)) -> Callable[[Request], Response]:
    """As many images as the request's sampleCount asks for."""
    return lambda request: imagen_ok(request.get_json()["parameters"]["sampleCount"], size)


def gemini_ok(size: tuple[int, int] = (1344, 768), text: str | None = "Here you go") -> Response:
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts.append({"inlineData": {"mimeType": "image/png", "data": b64(png(*size))}})
    return json_response({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
                          "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1290}})


def api_error(code: int, status: str, message: str, *, details: list[Any] | None = None,
              headers: dict[str, str] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json_response({"error": error}, status=code, headers=headers)


# -- the scripted server --------------------------------------------------------------------------

@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedAPI:
    server: HTTPServer
    requests: list[Seen] = field(default_factory=list)
    _scripts: dict[str, list[Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url_for("/")

    def script(self, suffix: str, *responses: Response | Callable[[Request], Response]) -> None:
        self._scripts[suffix] = list(responses)

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.content_type != "application/x-www-form-urlencoded" else \
            dict(request.form)
        with self._lock:
            self.requests.append(Seen(request.path, dict(request.headers), body))
            for suffix, queue in self._scripts.items():
                if request.path.endswith(suffix):
                    step = queue.pop(0) if len(queue) > 1 else queue[0]
                    break
            else:
                return json_response({"error": {"code": 404, "message": f"unscripted {request.path}",
                                                "status": "NOT_FOUND"}}, status=404)
        return step if isinstance(step, Response) else step(request)

    def calls(self, suffix: str) -> list[Seen]:
        return [r for r in self.requests if r.path.endswith(suffix)]


@pytest.fixture(scope="session")
def _server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def api(_server: HTTPServer) -> Iterator[ScriptedAPI]:
    _server.clear()
    scripted = ScriptedAPI(_server)
    _server.expect_request(re.compile(".*")).respond_with_handler(scripted.handle)
    yield scripted
    errors = list(_server.handler_errors)
    _server.clear()
    assert not errors, f"the scripted server failed: {errors[0]!r}"  # a broken script, not the code under test


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the machine's Google settings, keys or credentials."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


# -- providers ------------------------------------------------------------------------------------

def token_credentials(token: str = "ya29.test-token") -> Any:
    import google.oauth2.credentials

    return google.oauth2.credentials.Credentials(token=token)  # no expiry: never refreshed


@pytest.fixture
def vertex(api: ScriptedAPI) -> Callable[..., Any]:
    """Factory: a Vertex AI provider (project + location, bearer token) talking to ``api``."""
    from imagegen_google import GoogleProvider

    def make(model: str = "imagen-4.0-generate-001", **options: Any) -> GoogleProvider:
        options.setdefault("credentials", token_credentials())
        return GoogleProvider(model, vertexai=True, project=PROJECT, location=LOCATION, base_url=api.url, **options)

    return make


@pytest.fixture
def gemini_api(api: ScriptedAPI) -> Callable[..., Any]:
    """Factory: a Gemini Developer API provider (API key) talking to ``api``."""
    from imagegen_google import GoogleProvider

    def make(model: str = "gemini-2.5-flash-image", **options: Any) -> GoogleProvider:
        return GoogleProvider(model, api_key=API_KEY, base_url=api.url, **options)

    return make


def imagen_path(model: str = "imagen-4.0-generate-001") -> str:
    return f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{model}:predict"


def gemini_path(model: str = "gemini-2.5-flash-image") -> str:
    return f"/models/{model}:generateContent"


def request(width: int = 1408, height: int = 768, n: int = 1, **fields: Any) -> ProviderRequest:
    return ProviderRequest(prompt=fields.pop("prompt", "a red fox"), operation=fields.pop("operation", "txt2img"),
                           width=width, height=height, n=n, **fields)


@pytest.fixture
def dead_port() -> int:
    """A 127.0.0.1 port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RawServer:
    """A 127.0.0.1 server that reads each request and answers with fixed raw bytes, then closes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(1.0)
                conn.recv(65536)
                conn.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes], RawServer]]:
    """Factory: ``raw_server(b"HTTP/1.1 200 OK...")``; ``b""`` hangs up without answering."""
    servers: list[RawServer] = []

    def make(reply: bytes) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def slow(seconds: float, response: Response) -> Callable[[Request], Response]:
    def handler(_: Request) -> Response:
        time.sleep(seconds)
        return response

    return handler


@pytest.fixture(scope="session")
def kit() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        API_KEY=API_KEY, PROJECT=PROJECT, LOCATION=LOCATION, png=png, b64=b64, json_response=json_response,
        imagen_ok=imagen_ok, imagen_echo=imagen_echo, gemini_ok=gemini_ok, api_error=api_error,
        imagen_path=imagen_path, gemini_path=gemini_path, request=request, slow=slow,
        token_credentials=token_credentials)
