"""No key is reachable from anything imagegen returns, raises, logs or stores, even when the server echoes the
key back in every place it can: the error's message, param, code and type, the request id header, a revised
prompt, an image URL. The real ``openai`` client talks to a scripted server on 127.0.0.1 that does exactly that.

``imagegen.testing.holding`` walks everything reachable from an error or a result (attributes, mappings,
sequences, args, causes and contexts) for the canary."""

from __future__ import annotations

import json
import logging

import pytest

import imagegen
from imagegen.testing import FakeClock, Reply, holding

#: One canary shaped like an OpenAI key, one that is not (so only imagegen's knowledge of the provider's own
#: key can catch it).
CANARIES = ["sk-canary-0123456789abcdefABCDEF", "canary-7f3a9c1e5b2d4a60c0ffee"]


def key_of(request) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


def echoing_error(status: int):
    def answer(request):
        key = key_of(request)
        body = {"error": {"message": f"key {key} / Bearer {key} was refused", "type": key, "param": key,
                          "code": key}}
        return Reply.json(body, status=status, headers={"x-request-id": key, "x-echo": f"Bearer {key}"})

    return answer


@pytest.fixture
def scan(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)

    def check(canary: str, *roots: object) -> None:
        for root in roots:
            assert holding(root, canary) == [], holding(root, canary)
        assert not [r.name for r in caplog.records if canary in r.getMessage()]
        assert canary not in caplog.text
        stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
        assert canary.encode() not in stored

    return check


@pytest.mark.parametrize("canary", CANARIES)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_a_failed_call_holds_no_key_anywhere(canary, status, make, api, scan, tmp_path):
    api.script("/images/generations", echoing_error(status))
    clock = FakeClock()
    client = imagegen.Client(make("gpt-image-1", api_key=canary), ledger=tmp_path / "ledger.sqlite",
                             retry=imagegen.RetryPolicy(attempts=2, sleep=clock.sleep, clock=clock))
    with pytest.raises(imagegen.ImageGenError) as info:
        client.generate("a fox")
    client.close()
    error = info.value
    assert error.status == status and api.count >= 1  # the server did echo the key back
    assert canary in json.dumps(api.requests[0].headers)
    scan(canary, error, str(error), repr(error), error.attempts)


@pytest.mark.parametrize("canary", CANARIES)
def test_a_key_echoed_in_a_revised_prompt_is_cut_before_it_is_stored(canary, make, api, kit, scan, tmp_path):
    def answer(request):
        body = kit.images_body(1, revised=f"a fox, made with {key_of(request)}")
        return Reply.json(body, headers={"x-request-id": key_of(request)})

    api.script("/images/generations", answer)
    client = imagegen.Client(make("dall-e-3", api_key=canary), ledger=tmp_path / "ledger.sqlite", retry=False)
    result = client.generate("a fox")
    client.close()
    image = result.images[0]
    assert image.revised_prompt is not None and "[redacted]" in image.revised_prompt
    image.save(tmp_path / "fox.png")
    scan(canary, result, result.to_dict(), json.dumps(result.to_dict(), default=str),
         imagegen.read_metadata(str(tmp_path / "fox.png")))


@pytest.mark.parametrize("canary", CANARIES)
def test_a_download_url_carrying_the_key_is_not_logged(canary, make, api, kit, scan, tmp_path):
    def answer(request):
        url = f"{api.url}/files/fox.png?sig={key_of(request)}"
        return Reply.json({"created": 1, "data": [{"url": url}]})

    api.script("/images/generations", answer)
    api.script("/files/fox.png", Reply(200, kit.png(1024, 1024), {"Content-Type": "image/png"}))
    client = imagegen.Client(make("some-compatible-model", api_key=canary), retry=False)
    result = client.generate("a fox")
    client.close()
    assert len(result.images) == 1 and api.calls("/files/fox.png")
    scan(canary, result)


def test_the_sdk_exception_kept_as_the_cause_has_no_request_or_response(make, api):
    api.script("/images/generations", echoing_error(401))
    with pytest.raises(imagegen.AuthenticationError) as info:
        imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox")
    cause = info.value.__cause__
    assert cause is not None and type(cause).__module__.startswith("openai")
    assert getattr(cause, "response", None) is None and getattr(cause, "request", None) is None
    assert getattr(cause, "status_code", None) == 401  # what it knew about the answer stays
