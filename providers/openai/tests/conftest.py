"""The OpenAI Images API, scripted on 127.0.0.1 for the real ``openai`` client, and providers pointed at it.

``api`` is an ``imagegen.testing.ScriptedServer`` rooted at ``/v1``: ``api.script(path_suffix, *answers)``
queues answers for requests whose path ends with the suffix (the last one repeats); unscripted requests
get ``images_ok`` (as many PNGs of the asked size as ``n``). Every request is recorded in ``api.requests``
(path, headers, the JSON body or the multipart form fields and files). ``raw_server(reply)`` answers
every request with fixed bytes (truncated bodies), or resets the connection (``None``). Helpers come
through the ``kit`` fixture (test modules cannot import conftest under ``--import-mode=importlib``).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imagegen.provider import ProviderRequest
from imagegen.testing import Delayed, Raw, RecordedRequest, Reply, Reset, ScriptedServer, unused_port

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

def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(body, status=status, headers=headers)


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
          param: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    return json_response({"error": {"message": message, "type": kind, "param": param, "code": code}}, status=status,
                         headers=headers)


# -- the scripted server --------------------------------------------------------------------------

def images_ok(seen: RecordedRequest) -> Reply:
    """What the Images API answers: ``n`` PNGs of the asked size (revised prompts from dall-e-3)."""
    params = seen.fields
    w, h = (int(v) for v in str(params.get("size", "1024x1024")).split("x"))
    revised = f"revised: {params.get('prompt', '')}" if params.get("model") == "dall-e-3" else None
    return json_response(images_body(int(params.get("n") or 1), (w, h), revised=revised))


@pytest.fixture
def api() -> Iterator[ScriptedServer]:
    with ScriptedServer(default=images_ok, base_path="/v1") as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the machine's OpenAI settings or keys."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make(api: ScriptedServer) -> Callable[..., Any]:
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


def slow(seconds: float, answer: Reply) -> Delayed:
    return Delayed(seconds, answer)


def golden(name: str) -> Any:
    return json.loads((GOLDEN / f"{name}.json").read_text())


# -- raw answers: truncated bodies, resets ------------------------------------------------------------

def http_200(body: bytes, length: int | None = None, content_type: str = "application/json") -> bytes:
    return Reply(200, body, {"Content-Type": content_type}).to_bytes(length=length)


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes | None], ScriptedServer]]:
    """Factory: a server answering every request with ``reply``, raw (``None``: a connection reset)."""
    with contextlib.ExitStack() as stack:
        yield lambda reply: stack.enter_context(
            ScriptedServer(default=Reset() if reply is None else Raw(reply), base_path="/v1"))


@pytest.fixture
def dead_port() -> int:
    """A 127.0.0.1 port nothing listens on."""
    return unused_port()


@pytest.fixture(scope="session")
def kit() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        API_KEY=API_KEY, png=png, b64=b64, json_response=json_response, images_body=images_body, usage=usage,
        error=error, images_ok=images_ok, request=request, slow=slow, golden=golden, http_200=http_200)
