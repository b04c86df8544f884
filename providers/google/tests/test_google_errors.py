"""Error mapping: every HTTP answer and transport failure the SDK lets through becomes the right imagegen error,
after exactly one request (the SDK never retries), through both of the SDK's async transports."""

from __future__ import annotations

import asyncio
import traceback

import pytest
from imagegen_google import GoogleProvider

from imagegen import (
    AuthenticationError,
    Client,
    ContentPolicyError,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    RetryPolicy,
    TransientError,
)
from imagegen.testing import FakeClock, Reply

pytestmark = pytest.mark.filterwarnings("ignore::Warning")


@pytest.fixture(params=["sdk-default", "httpx2"])
def transport(request):
    """The SDK's own choice (aiohttp when installed) and httpx2, forced through a custom transport."""
    if request.param == "sdk-default":
        return {}
    import httpx2

    return {"http_options": {"async_client_args": {"transport": httpx2.AsyncHTTPTransport()}}}


def run(provider, req):
    async def go():
        try:
            return await provider.generate(req)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def fail(api, kit, vertex, response, transport=None):
    api.script(":predict", response)
    with pytest.raises(Exception) as info:
        run(vertex(**(transport or {})), kit.request())
    assert len(api.requests) == 1, "the SDK retried on its own"
    return info.value


RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}


def test_429_with_retry_after_is_rate_limited_after_one_request(api, vertex, kit, transport):
    error = fail(api, kit, vertex, kit.api_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded",
                                                 headers={"Retry-After": "7"}), transport)
    assert isinstance(error, RateLimited) and error.retry_after == 7.0


def test_429_retry_info_in_the_body_gives_retry_after(api, vertex, kit):
    error = fail(api, kit, vertex, kit.api_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", details=[RETRY_INFO]))
    assert isinstance(error, RateLimited) and error.retry_after == 12.0


def test_429_without_a_hint_has_no_retry_after(api, vertex, kit):
    error = fail(api, kit, vertex, kit.api_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"))
    assert isinstance(error, RateLimited) and error.retry_after is None


@pytest.mark.parametrize(("code", "status"), [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"),
                                              (499, "CANCELLED")])
def test_server_side_failures_are_transient(api, vertex, kit, code, status, transport):
    error = fail(api, kit, vertex, kit.api_error(code, status, "try again"), transport)
    assert isinstance(error, TransientError) and status in error.message


def test_an_html_502_from_a_proxy_is_transient(api, vertex, kit):
    error = fail(api, kit, vertex, Reply(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}))
    assert isinstance(error, TransientError) and "502" in error.message


@pytest.mark.parametrize(("code", "status"), [(401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED")])
def test_bad_credentials_are_authentication_errors(api, vertex, kit, code, status):
    error = fail(api, kit, vertex, kit.api_error(code, status, "Request had invalid authentication credentials."))
    assert isinstance(error, AuthenticationError)


def test_invalid_argument_is_invalid_request_naming_the_field(api, vertex, kit):
    error = fail(api, kit, vertex, kit.api_error(400, "INVALID_ARGUMENT", "Unsupported aspect ratio 2:1"))
    assert isinstance(error, InvalidRequest) and error.field == "size"


def test_a_refused_prompt_is_a_content_policy_error(api, vertex, kit):
    message = ("Image generation failed with the following error: The prompt could not be submitted. This prompt "
               "contains sensitive words that violate Google's Responsible AI practices.")
    error = fail(api, kit, vertex, kit.api_error(400, "INVALID_ARGUMENT", message))
    assert isinstance(error, ContentPolicyError) and "Responsible AI" in error.message


def test_an_unknown_model_is_provider_unavailable(api, vertex, kit):
    error = fail(api, kit, vertex, kit.api_error(404, "NOT_FOUND", "Publisher Model imagen-9 was not found"))
    assert isinstance(error, ProviderUnavailable)


def test_a_truncated_body_is_transient(api, vertex, kit, transport):
    cut = Reply(200, b'{"predictions": [{"bytesBase64En', {"Content-Type": "application/json"})
    error = fail(api, kit, vertex, cut, transport)
    assert isinstance(error, TransientError) and "undecodable" in error.message


def test_bytes_that_are_not_an_image_are_transient(api, vertex, kit):
    body = {"predictions": [{"bytesBase64Encoded": kit.b64(b"not an image at all"), "mimeType": "image/png"}]}
    error = fail(api, kit, vertex, kit.json_response(body))
    assert isinstance(error, TransientError) and "decoded" in error.message


def test_connection_refused_is_transient(dead_port, kit, transport):
    provider = GoogleProvider("imagen-4.0-generate-001", vertexai=True, project=kit.PROJECT, location=kit.LOCATION,
                              credentials=kit.token_credentials(), base_url=f"http://127.0.0.1:{dead_port}/",
                              **transport)
    with pytest.raises(TransientError, match="connection"):
        run(provider, kit.request())


TRUNCATED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
             b'{"candidates": [{"content": {"parts": [{"inlineData": {"data": "iVBOR')


@pytest.mark.parametrize("reply", [b"", TRUNCATED], ids=["hangs-up", "truncated-mid-body"])
def test_a_connection_that_ends_early_is_transient(raw_server, kit, transport, reply):
    server = raw_server(reply)
    provider = GoogleProvider("gemini-2.5-flash-image", api_key=kit.API_KEY, base_url=server.url, **transport)
    with pytest.raises(TransientError):
        run(provider, kit.request(1344, 768))


def test_a_slow_answer_past_the_timeout_is_transient(api, vertex, kit, transport):
    api.script(":predict", kit.slow(1.0, kit.imagen_ok(1)))
    with pytest.raises(TransientError, match="[Tt]imeout"):
        run(vertex(timeout=0.2, **transport), kit.request())
    assert len(api.requests) == 1


def test_imagegen_retries_once_per_attempt_and_the_sdk_never(api, vertex, kit):
    api.script(":predict", kit.api_error(503, "UNAVAILABLE", "overloaded"), kit.imagen_ok(1))
    clock = FakeClock()
    with Client(vertex(), retry=RetryPolicy(attempts=3, sleep=clock.sleep, clock=clock)) as client:
        result = client.generate("a fox", size="16:9")
    assert len(api.requests) == 2 and len(clock.sleeps) == 1
    assert [a.status for a in result.attempts] == ["error", "ok"] and result.attempts[0].error == "TransientError"


def test_the_key_never_appears_in_errors_their_causes_or_tracebacks(api, gemini_api, kit):
    echo = f"API key not valid: {kit.API_KEY}. Please pass a valid API key."
    api.script(":generateContent", kit.api_error(400, "INVALID_ARGUMENT", echo))
    with pytest.raises(InvalidRequest) as info:
        run(gemini_api(), kit.request(1344, 768))
    text = "".join(traceback.format_exception(info.value)) + repr(info.value) + str(vars(info.value))
    assert kit.API_KEY not in text and "[redacted]" in str(info.value)


def test_the_key_never_reaches_a_results_attempts_or_warnings(api, gemini_api, kit):
    api.script(":generateContent", kit.api_error(503, "UNAVAILABLE", f"busy ({kit.API_KEY})"), kit.gemini_ok())
    with Client(gemini_api(), retry=RetryPolicy(attempts=2, sleep=FakeClock().sleep)) as client:
        result = client.generate("a fox", size="16:9", provider_options={"api_key": kit.API_KEY})
    assert kit.API_KEY not in repr(result.to_dict()) and kit.API_KEY not in repr(result.images[0].info)
