"""API keys never reach logs, exceptions, reprs, the ledger or image metadata, even when a
provider's errors echo them."""

from __future__ import annotations

import json
import logging
import traceback

import pytest

from imagegen import AuthenticationError, Capabilities, Client, TransientError
from imagegen.retry import RetryPolicy
from imagegen.testing import FakeClock, FakeProvider

KEY = "sk-test-SECRETabcdef0123456789"
ENV_KEY = "env-secret-value-42424242"
CAPS = Capabilities(default_size=(64, 64), max_images_per_call=1)


class KeyedProvider(FakeProvider):
    """Holds a key like an SDK-backed provider, and echoes it in errors like a careless SDK."""

    def __init__(self, key: str, **kw) -> None:
        super().__init__("keyed", capabilities=CAPS, price_per_image=0.01, **kw)
        self.api_key = key


def leaked(*texts: str | bytes) -> list[str]:
    found = []
    for text in texts:
        blob = text.decode("latin-1") if isinstance(text, bytes) else text
        found += [s for s in (KEY, ENV_KEY) if s in blob]
    return found


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", ENV_KEY)


def echoing_errors():
    cause = RuntimeError(f"HTTP 500 with Authorization: Bearer {KEY}")
    transient = TransientError(f"server said: bad key {KEY} / {ENV_KEY}")
    transient.__cause__ = cause
    return [transient, AuthenticationError(f"Incorrect API key provided: {KEY}")]


def test_keys_echoed_by_a_provider_are_scrubbed_everywhere(env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    path = tmp_path / "ledger.sqlite"
    client = Client([KeyedProvider(KEY, script=echoing_errors()), KeyedProvider(KEY)], ledger=path, budget_usd=1,
                    retry=RetryPolicy(sleep=clock.sleep, clock=clock))
    with pytest.raises(AuthenticationError) as info:
        client.generate("x")
    error = info.value
    shown = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    attempts = error.attempts
    assert "[redacted]" in str(error)
    assert leaked(str(error), repr(error), shown, repr(attempts), repr(client), repr(client.budget)) == []
    assert leaked(*(r.getMessage() for r in caplog.records), caplog.text) == []
    client.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger"))
    assert b"[redacted]" in data and leaked(data) == []


def test_keys_never_reach_results_or_saved_images(env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client(KeyedProvider(KEY), ledger=tmp_path / "ledger.sqlite", retry=False)
    result = client.generate("x", provider_options={"api_key": KEY, "token": ENV_KEY, "style_hint": "calm"})
    path = result.images[0].save(tmp_path / "out.png")
    with open(path, "rb") as fh:
        saved = fh.read()
    assert b"style_hint" in saved  # metadata was written, minus the secrets
    assert leaked(saved, repr(result), json.dumps(result.to_dict(), default=str), caplog.text) == []
