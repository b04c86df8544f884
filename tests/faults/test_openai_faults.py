"""Fault injection through the real OpenAI provider and SDK, against a scripted 127.0.0.1 server.

Proves the whole path: HTTP failure -> the provider's error mapping -> our one retry layer (the
server's request count equals our attempts, so the SDK does not retry too) -> fallback -> ledger.
"""

from __future__ import annotations

import json
import logging
import traceback

import pytest

from imagegen import (
    AllProvidersFailed,
    AuthenticationError,
    Capabilities,
    Client,
    ContentPolicyError,
    ImageGenError,
    RateLimited,
    TransientError,
    registry,
)
from imagegen.testing import FakeProvider, Hang, Raw, Reply, Reset

imagegen_openai = pytest.importorskip("imagegen_openai")

KEY = "sk-test-faultsuite-0123456789abcdef"
PRICE = 0.04  # dall-e-3, standard, 1024x1024
LOCAL = Capabilities(default_size=(64, 64), max_images_per_call=4, supports=frozenset({"seed"}))


def error_body(message: str, code: str | None = None, kind: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": kind, "code": code, "param": None}}


def raw(body: bytes, length: int | None = None) -> Raw:
    return Raw(Reply(200, body, {"Content-Type": "application/json"}).to_bytes(length=length))


def status(code: int, headers: dict | None = None) -> Reply:
    return Reply.json(error_body(f"upstream said {code}", kind="server_error"), status=code, headers=headers)


# (id, scripted answer, expected class, retried?)
FAULTS = [
    ("429-retry-after", Reply.json(error_body("Rate limit reached", "rate_limit_exceeded", "requests"), status=429,
                                   headers={"Retry-After": "7"}), RateLimited, True),
    ("429-no-retry-after", Reply.json(error_body("Rate limit reached", "rate_limit_exceeded", "requests"), status=429),
     RateLimited, True),
    ("500", status(500), TransientError, True),
    ("502", status(502), TransientError, True),
    ("503", status(503), TransientError, True),
    ("504", status(504), TransientError, True),
    ("connection-reset", Reset(), TransientError, True),
    ("truncated-body", raw(b'{"created": 1, "da', length=4096), TransientError, True),
    ("truncated-json", raw(b'{"created": 1, "data": [{"b64_json": "iVBOR'), TransientError, True),
    ("invalid-base64", Reply.json({"created": 1, "data": [{"b64_json": "!!not base64!!"}]}), TransientError, True),
    ("content-policy", Reply.json(error_body("Your request was rejected as a result of our safety system.",
                                             "content_policy_violation"), status=400), ContentPolicyError, False),
    ("401", Reply.json(error_body(f"Incorrect API key provided: {KEY}.", "invalid_api_key"), status=401),
     AuthenticationError, False),
]
IDS = [f[0] for f in FAULTS]
RETRIED = [f for f in FAULTS if f[3]]
#: Faults where OpenAI answered 200 and the answer could not be used: such an attempt is most likely billed,
#: so the ledger counts it at its estimate.
BILLED = {"truncated-json", "invalid-base64"}


@pytest.fixture
def openai_provider(server):
    def make(model: str = "dall-e-3"):
        return imagegen_openai.OpenAIProvider(model, api_key=KEY, base_url=f"{server.url}/v1")

    return make


def local() -> FakeProvider:
    return FakeProvider("local", name="diffusers", capabilities=LOCAL, price_per_image=0.0)


@pytest.mark.parametrize(("name", "action", "expected", "retried"), FAULTS, ids=IDS)
def test_a_persistent_fault_maps_to_its_class_with_the_right_attempts(name, action, expected, retried, server,
                                                                      openai_provider, retry, clock, ledger):
    server.push(*[action] * 5)
    with pytest.raises(expected):
        Client(openai_provider(), retry=retry, ledger=ledger, budget_usd=1.0).generate("a fox", size="1024x1024")
    attempts = 3 if retried else 1
    assert server.count == attempts  # our retries only: the SDK's own are off
    assert [(e.status, e.error) for e in ledger.entries()] == [("error", expected.__name__)] * attempts
    assert ledger.spent() == pytest.approx(attempts * PRICE if name in BILLED else 0.0)
    if name == "429-retry-after":
        assert clock.sleeps == [7.0, 7.0]


@pytest.mark.parametrize(("name", "action", "expected", "retried"), RETRIED, ids=[f[0] for f in RETRIED])
def test_a_passing_fault_is_retried_and_charged_once(name, action, expected, retried, server, openai_provider,
                                                     retry, ledger):
    server.push(action)
    result = Client(openai_provider(), retry=retry, ledger=ledger, budget_usd=1.0).generate("a fox")
    assert len(result.images) == 1 and result.images[0].to_pil().size == (1024, 1024)
    assert server.count == 2
    assert [(e.status, e.error) for e in ledger.entries()] == [("error", expected.__name__), ("ok", None)]
    assert ledger.spent() == pytest.approx(2 * PRICE if name in BILLED else PRICE)
    assert result.cost.usd == pytest.approx(PRICE)  # the images' own cost; the ledger holds what was billed


@pytest.mark.parametrize(("name", "action", "expected", "retried"), FAULTS, ids=IDS)
def test_fallback_to_local_follows_the_configured_triggers(name, action, expected, retried, server,
                                                           openai_provider, retry, ledger):
    server.push(*[action] * 5)
    backup = local()
    client = Client([openai_provider(), backup], retry=retry, ledger=ledger)
    if retried:  # rate limits and transient errors fall back by default
        result = client.generate("a fox", seed=4)
        assert (result.provider, result.seeds) == ("diffusers", [4])
        assert any(w.startswith("fallback: openai:dall-e-3") for w in result.warnings)
        assert [e.status for e in ledger.entries()] == ["error"] * 3 + ["ok"]
    else:
        with pytest.raises(expected):
            client.generate("a fox")
        assert backup.calls == []


def test_a_timeout_is_a_transient_error_retried_then_fallen_back(server, openai_provider, retry, ledger):
    server.push(Hang(), Hang(), Hang())
    result = Client([openai_provider(), local()], retry=retry, ledger=ledger, timeout=0.3).generate("a fox")
    assert result.provider == "diffusers" and server.count == 3
    assert [(e.provider, e.error) for e in ledger.entries()] == [("openai", "TransientError")] * 3 + [
        ("diffusers", None)]


def test_done_when_cloud_503_three_times_then_local(server, openai_provider, retry, monkeypatch, tmp_path):
    monkeypatch.setitem(registry._registered, "openai", lambda model: openai_provider(model))
    monkeypatch.setitem(registry._registered, "diffusers",
                        lambda model: FakeProvider(model, name="diffusers", capabilities=LOCAL, price_per_image=0.0))
    server.push(status(503), status(503), status(503))
    client = Client(providers=["openai:dall-e-3", "diffusers:tiny"], budget_usd=1, retry=retry,
                    ledger=tmp_path / "ledger.sqlite")
    result = client.generate("a lighthouse in a storm", seed=2)
    assert (result.provider, result.model, server.count) == ("diffusers", "tiny", 3)
    assert [(a.provider, a.status, a.error) for a in result.attempts] == [
        ("openai", "error", "TransientError")] * 3 + [("diffusers", "ok", None)]
    assert result.cost.usd == 0.0 and client.budget.spent == 0.0
    assert any(w.startswith("fallback: openai:dall-e-3 failed (TransientError") for w in result.warnings)


def test_all_failing_raises_all_providers_failed_and_keeps_every_attempt(server, openai_provider, retry, ledger):
    server.push(*[status(502)] * 6)
    with pytest.raises(AllProvidersFailed) as info:
        Client([openai_provider(), openai_provider("dall-e-2")], retry=retry, ledger=ledger).generate("a fox")
    assert len(info.value.attempts) == 6 == server.count == len(ledger.entries())


def test_a_failure_mid_batch_loses_no_finished_image(server, openai_provider, retry, ledger, tmp_path):
    prompts = [f"p{i}" for i in range(5)]
    answer = server.default
    refusal = Reply.json(error_body("rejected by our safety system", "content_policy_violation"), status=400)
    server.default = lambda request: refusal if (request.json or {}).get("prompt") == "p2" else answer(request)
    client = Client(openai_provider(), retry=retry, ledger=ledger, budget_usd=1.0)
    items = client.generate_many(prompts, out_dir=tmp_path / "out", concurrency=2)
    assert isinstance(items[2], ContentPolicyError)
    assert [len(i.images) for n, i in enumerate(items) if n != 2] == [1, 1, 1, 1]
    assert len(list((tmp_path / "out").glob("*.png"))) == 4
    assert ledger.spent() == pytest.approx(4 * PRICE)
    before = server.count
    client.generate_many(prompts, out_dir=tmp_path / "out", concurrency=2)
    assert server.count == before + 1  # the rerun only asks again for the refused item
    assert ledger.spent() == pytest.approx(4 * PRICE)


def test_the_key_never_leaks(server, openai_provider, retry, ledger, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    server.push(Reply.json(error_body(f"Incorrect API key provided: {KEY}. Find yours at ...", "invalid_api_key"),
                           status=401))
    provider = openai_provider()
    client = Client(provider, retry=retry, ledger=ledger)
    with pytest.raises(AuthenticationError) as info:
        client.generate("a fox")
    result = client.generate("a fox", provider_options={"user": "u1"})
    saved = result.images[0].save(tmp_path / "fox.png")
    err = info.value
    texts = [str(err), repr(err), "".join(traceback.format_exception(type(err), err, err.__traceback__)),
             repr(provider), repr(client), repr(result), json.dumps(result.to_dict(), default=str), caplog.text]
    assert not [t for t in texts if KEY in t]
    ledger_bytes = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger"))
    with open(saved, "rb") as fh:
        assert KEY.encode() not in fh.read() and KEY.encode() not in ledger_bytes
    assert isinstance(err, ImageGenError)
