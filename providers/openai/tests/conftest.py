"""A scripted OpenAI Images API on 127.0.0.1 for the real ``openai`` client, and providers pointed at it.

``api.script(path_suffix, *responses)`` queues responses for requests whose path ends with the suffix
(the last one repeats); unscripted image paths get ``images_ok`` (as many PNGs of the asked size as
``n``). Every request is recorded in ``api.requests``: path, headers, the JSON body or the multipart
form fields and files. ``raw_server(reply)`` answers with fixed bytes (truncated bodies, resets).
Helpers come through the ``kit`` fixture (test modules cannot import conftest under
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
import struct
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

API_KEY = "sk-test-openai-provider-0123456789abcdef"
ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_ADMIN_KEY",
            "OPENAI_CUSTOM_HEADERS", "IMAGEGEN_OPENAI_PRICES", "IMAGEGEN_PROVIDER", "GOOGLE_API_KEY", "GEMINI_API_KEY")
GOLDEN = __import__("pathlib").Path(__file__).parent / "golden"


@functools.cache
def png(width: int, height: int, shade: int = 90, mode: str = "RGB") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    color: Any = (shade, 120, 200) if mode == "RGB" else (shade, 120, 200, 255)
    Image.new(mode, (width, height), color).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- response builders ----------------------------------------------------------------------------

def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def images_body(n: int, size: tuple[int, int] = (1024, 1024), *, revised: str | None = None,
                usage: dict[str, Any] | None = None, quality: str | None = None) -> dict[str, Any]:
    data = []
    for i in range(n):
        item: dict[str, Any] = {"b64_json": b64(png(*size, shade=10 + i))}
        if revised is not None:
            item["revised_prompt"] = f"{revised} #{i}"
        data.append(item)
    body: dict[str, Any] = {"created": 1_700_000_000, "data": data}
    if usage is not None:
        body["usage"] = usage
    if quality is not None:
        body["quality"] = quality
    return body


def usage(text_in: int = 50, image_in: int = 0, image_out: int = 4160, text_out: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"input_tokens": text_in + image_in, "output_tokens": image_out + (text_out or 0),
                           "total_tokens": text_in + image_in + image_out + (text_out or 0),
                           "input_tokens_details": {"text_tokens": text_in, "image_tokens": image_in}}
    if text_out is not None:
        out["output_tokens_details"] = {"image_tokens": image_out, "text_tokens": text_out}
    return out


def error(status: int, message: str, code: str | None = None, kind: str = "invalid_request_error",
          param: str | None = None, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": {"message": message, "type": kind, "param": param, "code": code}}, status=status,
                         headers=headers)


# -- the scripted server --------------------------------------------------------------------------

@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str | None, str | None, bytes]] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, Any]:
        """The request's parameters, whichever way they were sent."""
        return dict(self.json) if isinstance(self.json, dict) else dict(self.form)


def images_ok(request: Request, seen: Seen) -> Response:
    """What the Images API answers: ``n`` PNGs of the asked size (revised prompts from dall-e-3)."""
    params = seen.fields
    w, h = (int(v) for v in str(params.get("size", "1024x1024")).split("x"))
    revised = f"revised: {params.get('prompt', '')}" if params.get("model") == "dall-e-3" else None
    return json_response(images_body(int(params.get("n") or 1), (w, h), revised=revised))


Handler = Callable[[Request, Seen], Response]


@dataclass
class ScriptedAPI:
    server: HTTPServer
    requests: list[Seen] = field(default_factory=list)
    _scripts: dict[str, list[Response | Handler]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url_for("/v1")

    def script(self, suffix: str, *responses: Response | Handler) -> None:
        self._scripts[suffix] = list(responses)

    def handle(self, request: Request) -> Response:
        seen = Seen(request.path, dict(request.headers))
        if request.mimetype == "multipart/form-data":
            seen.form = {k: v for k, v in request.form.items()}
            seen.files = {k: (f.filename, f.mimetype, f.read()) for k, f in request.files.items()}
        else:
            seen.json = request.get_json(silent=True)
        with self._lock:
            self.requests.append(seen)
            step: Response | Handler = images_ok
            for suffix, queue in self._scripts.items():
                if request.path.endswith(suffix):
                    step = queue.pop(0) if len(queue) > 1 else queue[0]
                    break
        return step if isinstance(step, Response) else step(request, seen)

    def calls(self, suffix: str = "") -> list[Seen]:
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
    """No test sees the machine's OpenAI settings or keys."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make(api: ScriptedAPI) -> Callable[..., Any]:
    """Factory: an ``OpenAIProvider`` with a test key, talking to ``api``."""
    from imagegen_openai import OpenAIProvider

    def build(model: str = "dall-e-3", **options: Any) -> OpenAIProvider:
        options.setdefault("api_key", API_KEY)
        options.setdefault("base_url", api.url)
        return OpenAIProvider(model, **options)

    return build


def request(width: int = 1024, height: int = 1024, n: int = 1, **fields: Any) -> ProviderRequest:
    return ProviderRequest(prompt=fields.pop("prompt", "a red fox"), operation=fields.pop("operation", "txt2img"),
                           width=width, height=height, n=n, seeds=(None,) * n, **fields)


def slow(seconds: float, response: Response) -> Handler:
    def handler(_: Request, __: Seen) -> Response:
        time.sleep(seconds)
        return response

    return handler


def golden(name: str) -> Any:
    return json.loads((GOLDEN / f"{name}.json").read_text())


# -- a raw socket server: truncated bodies, resets ----------------------------------------------------

class RawServer:
    """Reads each request and answers with fixed bytes, then closes; ``reply=None`` resets the connection."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.count = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2.0)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                self.count += 1
                if self.reply is None:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue
                conn.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()


def http_200(body: bytes, length: int | None = None, content_type: str = "application/json") -> bytes:
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: "
            f"{len(body) if length is None else length}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes | None], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: bytes | None) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def dead_port() -> int:
    """A 127.0.0.1 port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def kit() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        API_KEY=API_KEY, png=png, b64=b64, json_response=json_response, images_body=images_body, usage=usage,
        error=error, images_ok=images_ok, request=request, slow=slow, golden=golden, http_200=http_200)
