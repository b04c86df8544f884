"""imagegen's provider contract (``imagegen.testing.HTTPProviderContract``), run against GoogleProvider for an
Imagen model on Vertex AI and a Gemini image model on the Gemini API, through the real google-genai SDK and a
scripted API on 127.0.0.1."""

from __future__ import annotations

import base64
import functools
import io

import pytest
from imagegen_google import GoogleProvider, model_spec

from imagegen.testing import HTTPProviderContract, RecordedRequest, Reply

pytestmark = pytest.mark.filterwarnings("ignore::Warning")

KEY = "AIzaSyCONTRACT-0123456789abcdefghijklmnop"
#: google.rpc.Code names the APIs send with each HTTP status.
RPC_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
              429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE"}


@functools.cache
def png(width: int, height: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def size_of(model: str, ratio: str, tier: str | None) -> tuple[int, int]:
    """The pixels Google makes for an aspect ratio and resolution tier, from the model's own table."""
    tiers = model_spec(model).tiers
    return tiers[tier or next(iter(tiers))][ratio]


class TestGoogleContract(HTTPProviderContract):
    models = ("imagen-4.0-generate-001", "gemini-2.5-flash-image")
    api_key = KEY

    def make_provider(self, model: str) -> GoogleProvider:
        if model.startswith("imagen-"):  # Vertex AI with an OAuth token, seeds on (the watermark off)
            import google.oauth2.credentials

            return GoogleProvider(model, vertexai=True, project="proj-1", location="us-central1",
                                  credentials=google.oauth2.credentials.Credentials(token="ya29.contract-token"),
                                  base_url=self.server.url, add_watermark=False)
        return GoogleProvider(model, api_key=KEY, base_url=self.server.url)

    def ok(self, request: RecordedRequest) -> Reply:
        model = request.path.rsplit("/", 1)[-1].split(":", 1)[0]
        body = request.json or {}
        if request.path.endswith(":predict"):
            params = body["parameters"]
            w, h = size_of(model, params["aspectRatio"], params.get("sampleImageSize"))
            return Reply.json({"predictions": [{"bytesBase64Encoded": png(w, h), "mimeType": "image/png"}
                                               for _ in range(params["sampleCount"])]})
        image = body.get("generationConfig", {}).get("imageConfig", {})
        w, h = size_of(model, image["aspectRatio"], image.get("imageSize"))
        parts = [{"text": "Here it is"}, {"inlineData": {"mimeType": "image/png", "data": png(w, h)}}]
        return Reply.json({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]})

    def error(self, status: int, message: str) -> Reply:
        return Reply.json({"error": {"code": status, "message": message, "status": RPC_STATUS.get(status, "UNKNOWN")}},
                          status=status)

    def refusal(self, request: RecordedRequest) -> Reply:
        if request.path.endswith(":predict"):  # Imagen: every image filtered, with the reason
            return Reply.json({"predictions": [{"raiFilteredReason": "The prompt violates our safety policy."}]})
        return Reply.json({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
