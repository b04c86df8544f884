"""Every failure the API or the network can produce maps to imagegen's taxonomy, through the real SDK,
and the SDK itself never retries (one request per call reaches the server)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time

import pytest

import imagegen
import imagegen.testing
from imagegen import (
    AuthenticationError,
    ContentPolicyError,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    TransientError,
)


def run(provider, req):
    return asyncio.run(provider.generate(req))


def fail(provider, req, expected):
    with pytest.raises(expected) as info:
        run(provider, req)
    return info.value


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after-ms": "1500", "Retry-After": "2"}, 1.5),
    ({}, None),
], ids=["retry-after", "retry-after-ms-wins", "none"])
def test_429_is_rate_limited_with_retry_after_from_the_headers(headers, seconds, make, api, kit):
    api.script("/images/generations", kit.error(429, "Rate limit reached", "rate_limit_exceeded", "requests",
                                                headers=headers))
    err = fail(make(), kit.request(), RateLimited)
    assert err.retry_after == seconds and "Rate limit reached" in str(err)
    assert len(api.requests) == 1


def test_429_retry_after_as_an_http_date_is_seconds_from_now(make, api, kit):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    api.script("/images/generations", kit.error(429, "slow down", headers={"Retry-After": when}))
    err = fail(make(), kit.request(), RateLimited)
    assert err.retry_after is not None and 25 <= err.retry_after <= 31


@pytest.mark.parametrize(("code", "kind"), [("insufficient_quota", "insufficient_quota"), (None, "insufficient_quota")])
def test_429_insufficient_quota_is_unavailable_not_a_rate_limit(code, kind, make, api, kit):
    # OpenAI's body for it: https://platform.openai.com/docs/guides/error-codes/api-errors (checked 2026-12-02)
    api.script("/images/generations", kit.error(429, "You exceeded your current quota, please check your plan and "
                                                "billing details.", code, kind=kind))
    err = fail(make(), kit.request(), ProviderUnavailable)
    assert err.status == 429 and "quota" in str(err) and not err.retryable


def test_insufficient_quota_is_not_retried_but_falls_back(make, api, kit):
    api.script("/images/generations", kit.error(429, "You exceeded your current quota", "insufficient_quota"))
    backup = imagegen.testing.FakeProvider(capabilities=imagegen.Capabilities(default_size=(1024, 1024)))
    result = imagegen.Client([make(), backup]).generate("a fox")
    assert api.count == 1 and len(backup.calls) == 1
    assert result.provider == "fake" and any(w.kind == "fallback" for w in result.warnings)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient_and_not_retried_by_the_sdk(status, make, api, kit):
    api.script("/images/generations", kit.error(status, f"upstream said {status}", kind="server_error"))
    err = fail(make(), kit.request(), TransientError)
    assert str(status) in str(err) and len(api.requests) == 1


def test_a_timeout_is_transient(make, api, kit):
    api.script("/images/generations", kit.slow(1.0, kit.json_response(kit.images_body(1))))
    err = fail(make(timeout=0.2), kit.request(), TransientError)
    assert "timeout" in str(err)


def test_a_refused_connection_is_transient(make, kit, dead_port):
    err = fail(make(base_url=f"http://127.0.0.1:{dead_port}/v1"), kit.request(), TransientError)
    assert "connection to OpenAI failed" in str(err)


def test_a_reset_connection_is_transient(make, kit, raw_server):
    server = raw_server(None)
    fail(make(base_url=server.url), kit.request(), TransientError)
    assert server.count == 1


def test_a_body_cut_short_of_its_content_length_is_transient(make, kit, raw_server):
    server = raw_server(kit.http_200(b'{"created": 1, "da', length=4096))
    fail(make(base_url=server.url), kit.request(), TransientError)
    assert server.count == 1


def test_truncated_json_surfaces_as_a_bare_json_decode_error_and_becomes_transient(make, kit, raw_server):
    server = raw_server(kit.http_200(b'{"created": 1, "data": [{"b64_json": "iVBOR'))
    err = fail(make(base_url=server.url), kit.request(), TransientError)
    assert isinstance(err.__cause__, json.JSONDecodeError) and "truncated or non-JSON" in str(err)


def test_a_non_json_body_is_transient(make, kit, raw_server):
    server = raw_server(kit.http_200(b"<html>bad gateway</html>", content_type="text/html"))
    fail(make(base_url=server.url), kit.request(), TransientError)


@pytest.mark.parametrize("b64", ["!!not base64!!", "A" * 63, "iVBORw0KGgo" + "A" * 200],
                         ids=["garbage", "short", "png-head-no-end"])
def test_an_image_that_is_not_valid_base64_is_transient(b64, make, api, kit):
    api.script("/images/generations", kit.json_response({"created": 1, "data": [{"b64_json": b64}]}))
    err = fail(make(), kit.request(), TransientError)
    assert "cannot be decoded" in str(err)


@pytest.mark.parametrize("body", [{"created": 1}, {"created": 1, "data": []}, [1, 2], {"data": [{"x": 1}]}],
                         ids=["no-data", "empty-data", "not-an-object", "entry-without-image"])
def test_a_200_without_images_is_transient(body, make, api, kit):
    api.script("/images/generations", kit.json_response(body))
    fail(make(), kit.request(), TransientError)


@pytest.mark.parametrize(("code", "message"), [
    ("content_policy_violation", "Your request was rejected as a result of our safety system."),
    ("moderation_blocked", "Your request was rejected by the safety system."),
    (None, "This request has been blocked by our content filters: safety system."),
], ids=["dall-e", "gpt-image", "message-only"])
def test_a_content_policy_refusal_is_a_content_policy_error(code, message, make, api, kit):
    api.script("/images/generations", kit.error(400, message, code))
    err = fail(make(), kit.request(), ContentPolicyError)
    assert message in str(err) and len(api.requests) == 1


def test_a_400_about_the_moderation_setting_is_a_bad_request_not_a_refusal(make, api, kit):
    api.script("/images/generations", kit.error(400, "Invalid value for 'moderation': expected 'low' or 'auto'.",
                                                "invalid_value", param="moderation"))
    err = fail(make("gpt-image-1"), kit.request(), InvalidRequest)
    assert err.field == "provider_options.moderation"


@pytest.mark.parametrize(("status", "code"), [(401, "invalid_api_key"), (403, "unsupported_country_region_territory")])
def test_401_and_403_are_authentication_errors(status, code, make, api, kit):
    api.script("/images/generations", kit.error(status, "not allowed", code))
    err = fail(make(), kit.request(), AuthenticationError)
    assert err.status == status


@pytest.mark.parametrize(("status", "param", "field"), [
    (400, "size", "size"), (400, "output_compression", "provider_options.output_compression"),
    (404, "model", "model"), (422, None, None)])
def test_other_4xx_are_invalid_requests_with_the_apis_message(status, param, field, make, api, kit):
    api.script("/images/generations", kit.error(status, f"Invalid value for {param}: try again", "invalid_value",
                                                param=param))
    err = fail(make(), kit.request(), InvalidRequest)
    assert f"Invalid value for {param}: try again" in str(err) and err.field == field


@pytest.mark.parametrize("status", [408, 409])
def test_408_and_409_are_transient(status, make, api, kit):
    api.script("/images/generations", kit.error(status, "try again"))
    fail(make(), kit.request(), TransientError)


def test_the_request_id_is_kept_in_the_message(make, api, kit):
    api.script("/images/generations", kit.error(500, "oops", headers={"x-request-id": "req_123"}))
    err = fail(make(), kit.request(), TransientError)
    assert "req_123" in str(err) and err.provider_request_id == "req_123"


def test_the_sdk_exception_is_kept_as_the_cause(make, api, kit):
    import openai

    api.script("/images/generations", kit.error(503, "busy"))
    err = fail(make(), kit.request(), TransientError)
    assert isinstance(err.__cause__, openai.InternalServerError)


def test_the_sdk_client_is_built_without_retries(make, kit):
    provider = make()

    async def client():
        return provider._sdk()

    assert asyncio.run(client()).max_retries == 0
