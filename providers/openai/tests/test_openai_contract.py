"""imagegen's provider contract (``imagegen.testing.HTTPProviderContract``), run against OpenAIProvider for
one model of each family, through the real ``openai`` SDK and a scripted Images API on 127.0.0.1."""

from __future__ import annotations

import base64
import functools
import io
from typing import Any

import pytest
from imagegen_openai import OpenAIProvider

from imagegen.testing import HTTPProviderContract, RecordedRequest, Reply

pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # images.create_variation

KEY = "sk-test-contract-0123456789abcdefghij"


@functools.cache
def png(width: int, height: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


class TestOpenAIContract(HTTPProviderContract):
    models = ("dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-2")
    api_key = KEY

    def make_provider(self, model: str) -> OpenAIProvider:
        return OpenAIProvider(model, api_key=KEY, base_url=f"{self.server.url}/v1")

    def ok(self, request: RecordedRequest) -> Reply:
        fields = request.fields
        width, height = (int(v) for v in str(fields.get("size", "1024x1024")).split("x"))
        data = [{"b64_json": png(width, height)} for _ in range(int(fields.get("n") or 1))]
        return Reply.json({"created": 1_700_000_000, "data": data})

    def error(self, status: int, message: str) -> Reply:
        return Reply.json(_error(message, "server_error" if status >= 500 else "invalid_request_error"),
                          status=status)

    def refusal(self, request: RecordedRequest) -> Reply:
        return Reply.json(_error("Your request was rejected as a result of our safety system.",
                                 "invalid_request_error", code="content_policy_violation"), status=400)


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
