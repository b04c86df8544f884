"""Issue 6's done-when, with spec strings resolved through the registry: the cloud answers 503
three times and the image comes from the local model, with attempts, costs and a fallback warning.

The providers are FakeProviders registered under the real names for this test only; the same
scenario against the real OpenAI provider and a scripted HTTP server is in
tests/faults/test_openai_faults.py.
"""

from __future__ import annotations

import pytest

from imagegen import Capabilities, Client, RetryPolicy, TransientError, registry
from imagegen.testing import FakeClock, FakeProvider

DALLE3 = Capabilities(sizes=frozenset({(1024, 1024), (1792, 1024), (1024, 1792)}), default_size=(1024, 1024),
                      max_images_per_call=1, supports=frozenset({"quality", "style"}))
LOCAL = Capabilities(default_size=(64, 64), max_images_per_call=4, supports=frozenset({"seed", "steps"}))


@pytest.fixture
def made(monkeypatch):
    """Register fake "openai" and "diffusers" providers; returns the instances built."""
    built: dict[str, FakeProvider] = {}

    def openai(model):
        built["openai"] = FakeProvider(model, name="openai", capabilities=DALLE3, price_per_image=0.04,
                                       script=[TransientError("503 Service Unavailable")] * 3)
        return built["openai"]

    def diffusers(model):
        built["diffusers"] = FakeProvider(model, name="diffusers", capabilities=LOCAL, price_per_image=0.0)
        return built["diffusers"]

    monkeypatch.setitem(registry._registered, "openai", openai)
    monkeypatch.setitem(registry._registered, "diffusers", diffusers)
    return built


def test_cloud_503_three_times_then_the_local_model_makes_the_image(made, tmp_path):
    clock = FakeClock()
    client = Client(providers=["openai:dall-e-3", "diffusers:tiny-sd"], budget_usd=1,
                    ledger=tmp_path / "ledger.sqlite", retry=RetryPolicy(attempts=3, sleep=clock.sleep, clock=clock))
    result = client.generate("a lighthouse in a storm", size="1024x1024", seed=9)

    assert (result.provider, result.model) == ("diffusers", "tiny-sd")
    assert len(made["openai"].calls) == 3 and len(made["diffusers"].calls) == 1
    assert len(clock.sleeps) == 2  # two backoff waits between the three cloud tries
    assert [(a.provider, a.status, a.error, a.attempt) for a in result.attempts] == [
        ("openai", "error", "TransientError", 1), ("openai", "error", "TransientError", 2),
        ("openai", "error", "TransientError", 3), ("diffusers", "ok", None, 1)]
    assert [a.cost_usd for a in result.attempts] == [None, None, None, 0.0]
    assert result.cost.usd == 0.0 and result.seeds == [9]
    assert any(w.startswith("fallback: openai:dall-e-3 failed (TransientError: 503") and "diffusers:tiny-sd" in w
               for w in result.warnings)
    logged = client.ledger.entries(request_id=result.request_id)
    assert [(e.provider, e.status) for e in logged] == [("openai", "error")] * 3 + [("diffusers", "ok")]
    assert client.budget.spent == 0.0  # the cloud's reservations were released, nothing was charged
