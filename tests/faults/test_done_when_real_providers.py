"""Issue 6's done-when with both real providers: the real OpenAI SDK gets 503 three times from a scripted
127.0.0.1 server, and the image comes from the real local provider running the embedded model."""

from __future__ import annotations

import pytest

from imagegen import Client, registry
from imagegen.testing import Reply

imagegen_openai = pytest.importorskip("imagegen_openai")
imagegen_diffusers = pytest.importorskip("imagegen_diffusers")

KEY = "sk-test-donewhen-0123456789abcdef"


def test_cloud_503_three_times_then_the_embedded_local_model(server, retry, monkeypatch, tmp_path):
    monkeypatch.setitem(registry._registered, "openai",
                        lambda model: imagegen_openai.OpenAIProvider(model, api_key=KEY, base_url=f"{server.url}/v1"))
    unavailable = Reply.json({"error": {"message": "overloaded", "type": "server_error"}}, status=503)
    server.push(unavailable, unavailable, unavailable)
    client = Client(providers=["openai:dall-e-3", "diffusers:imagegen-mini"], budget_usd=1, retry=retry,
                    ledger=tmp_path / "ledger.sqlite")

    result = client.generate("a red circle on a blue background", seed=3)

    assert (result.provider, result.model, server.count) == ("diffusers", "imagegen-mini", 3)
    assert [(a.provider, a.status, a.error) for a in result.attempts] == [
        ("openai", "error", "TransientError")] * 3 + [("diffusers", "ok", None)]
    assert result.seeds == [3] and result.images[0].to_pil().size == (32, 32)
    assert result.cost.usd == 0.0 and result.cost.source == "gpu-seconds"
    assert any(w.startswith("fallback: openai:dall-e-3 failed (TransientError") for w in result.warnings)
    rows = client.ledger.entries(request_id=result.request_id)
    assert [(e.provider, e.status) for e in rows] == [("openai", "error")] * 3 + [("diffusers", "ok")]
    assert client.budget.spent == 0.0
