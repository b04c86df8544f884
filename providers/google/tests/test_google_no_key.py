"""No Gemini API key is reachable from what imagegen raises, logs or stores when the server echoes it back in the
error's message and details and in a header. The real ``google-genai`` client talks to a scripted server on
127.0.0.1; ``imagegen.testing.holding`` walks everything an error leads to."""

from __future__ import annotations

import json
import logging

import pytest

import imagegen
from imagegen.testing import FakeClock, Reply, holding

CANARIES = ["AIzaCanary0123456789abcdefghijklmnopqrstu", "gemini-canary-7f3a9c1e5b2d4a60"]


def echoing_error(status: int, name: str):
    def answer(request):
        key = request.headers.get("x-goog-api-key") or request.query.get("key", "")
        body = {"error": {"code": status, "status": name, "message": f"API key {key} was refused",
                          "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": key,
                                       "metadata": {"key": key}}]}}
        return Reply.json(body, status=status, headers={"x-echo": key})

    return answer


@pytest.mark.parametrize("canary", CANARIES)
@pytest.mark.parametrize(("status", "name"), [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"),
                                              (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL")])
def test_a_failed_gemini_call_holds_no_key_anywhere(canary, status, name, api, caplog, tmp_path):
    from imagegen_google import GoogleProvider

    caplog.set_level(logging.DEBUG)
    api.script(":generateContent", echoing_error(status, name))
    clock = FakeClock()
    provider = GoogleProvider("gemini-2.5-flash-image", api_key=canary, base_url=api.url)
    client = imagegen.Client(provider, ledger=tmp_path / "ledger.sqlite",
                             retry=imagegen.RetryPolicy(attempts=2, sleep=clock.sleep, clock=clock))
    with pytest.raises(imagegen.ImageGenError) as info:
        client.generate("a fox")
    client.close()
    assert api.count >= 1 and canary in json.dumps(dict(api.requests[0].headers))  # it was sent, and echoed
    error = info.value
    for root in (error, str(error), repr(error), error.attempts):
        assert holding(root, canary) == [], holding(root, canary)
    assert canary not in caplog.text
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert canary.encode() not in stored
