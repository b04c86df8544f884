"""Google's APIs, scripted on 127.0.0.1 for the real google-genai client, and providers pointed at it.

``api`` is an ``imagegen.testing.ScriptedServer``: ``api.script(path_suffix, *answers)`` queues answers for
requests whose path ends with the suffix (the last one repeats); every request is recorded in
``api.requests`` with its path, headers and JSON. Response builders and paths come through the ``kit``
fixture (test modules cannot import conftest under ``--import-mode=importlib``).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imagegen.provider import ProviderRequest
from imagegen.testing import Delayed, Raw, RecordedRequest, Reply, ScriptedServer, unused_port

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

def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(body, status=status, headers=headers)


def imagen_ok(n: int, size: tuple[int, int] = (1408, 768), *, filtered: list[str] = (),  # type: ignore[assignment]
              enhanced: str | None = None) -> Reply:
    predictions: list[dict[str, Any]] = []
    for i in range(n):
        item: dict[str, Any] = {"bytesBase64Encoded": b64(png(*size, shade=10 + i)), "mimeType": "image/png"}
        if enhanced:
            item["prompt"] = enhanced
        predictions.append(item)
    predictions += [{"raiFilteredReason": reason} for reason in filtered]
    return json_response({"predictions": predictions})


def imagen_echo(size: tuple[int, int] = (1408, 768)) -> Callable[[RecordedRequest], Reply]:
    """As many images as the request's sampleCount asks for."""
    return lambda request: imagen_ok(request.json["parameters"]["sampleCount"], size)


def gemini_ok(size: tuple[int, int] = (1344, 768), text: str | None = "Here you go") -> Reply:
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts.append({"inlineData": {"mimeType": "image/png", "data": b64(png(*size))}})
    return json_response({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
                          "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1290}})


def api_error(code: int, status: str, message: str, *, details: list[Any] | None = None,
              headers: dict[str, str] | None = None) -> Reply:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json_response({"error": error}, status=code, headers=headers)


# -- the scripted server --------------------------------------------------------------------------

@pytest.fixture
def api() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:  # unscripted paths get a 404 NOT_FOUND
        yield server


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
def vertex(api: ScriptedServer) -> Callable[..., Any]:
    """Factory: a Vertex AI provider (project + location, bearer token) talking to ``api``."""
    from imagegen_google import GoogleProvider

    def make(model: str = "imagen-4.0-generate-001", **options: Any) -> GoogleProvider:
        options.setdefault("credentials", token_credentials())
        return GoogleProvider(model, vertexai=True, project=PROJECT, location=LOCATION, base_url=api.url, **options)

    return make


@pytest.fixture
def gemini_api(api: ScriptedServer) -> Callable[..., Any]:
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
    return unused_port()


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes], ScriptedServer]]:
    """Factory: ``raw_server(b"HTTP/1.1 200 OK...")`` answers every request with those bytes; ``b""`` hangs up
    without answering."""
    with contextlib.ExitStack() as stack:
        yield lambda reply: stack.enter_context(ScriptedServer(default=Raw(reply)))


def slow(seconds: float, answer: Reply) -> Delayed:
    return Delayed(seconds, answer)


@pytest.fixture(scope="session")
def kit() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        API_KEY=API_KEY, PROJECT=PROJECT, LOCATION=LOCATION, png=png, b64=b64, json_response=json_response,
        imagen_ok=imagen_ok, imagen_echo=imagen_echo, gemini_ok=gemini_ok, api_error=api_error,
        imagen_path=imagen_path, gemini_path=gemini_path, request=request, slow=slow,
        token_credentials=token_credentials)
