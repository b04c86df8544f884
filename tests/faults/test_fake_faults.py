"""Fault injection with FakeProvider: each fault a provider maps to an imagegen error, end to end.

For every fault: the right class, the right number of attempts, fallback when configured, every
attempt in the ledger, no finished image lost, no double charge. (How real HTTP failures map to
these classes is proven against a scripted server in test_openai_faults.py.)
"""

from __future__ import annotations

import pytest

from imagegen import (
    AuthenticationError,
    Capabilities,
    Client,
    ContentPolicyError,
    ImageGenError,
    RateLimited,
    TransientError,
)
from imagegen.testing import FakeProvider

PRICE = 0.04
ONE_PER_CALL = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))

# (id, error the provider raises, retried?, falls back by default?)
FAULTS = [
    ("429-retry-after", lambda: RateLimited("429", retry_after=2.0), True, True),
    ("429-no-retry-after", lambda: RateLimited("429"), True, True),
    ("500", lambda: TransientError("500 internal error"), True, True),
    ("502", lambda: TransientError("502 bad gateway"), True, True),
    ("503", lambda: TransientError("503 unavailable"), True, True),
    ("504", lambda: TransientError("504 gateway timeout"), True, True),
    ("connection-reset", lambda: TransientError("connection reset by peer"), True, True),
    ("truncated-json", lambda: TransientError("truncated response body"), True, True),
    ("invalid-base64", lambda: TransientError("image data is not valid base64"), True, True),
    ("content-policy", lambda: ContentPolicyError("refused by safety system"), False, False),
    ("401", lambda: AuthenticationError("401 invalid api key"), False, False),
]
IDS = [f[0] for f in FAULTS]


def cloud(errors) -> FakeProvider:
    return FakeProvider("cloud", capabilities=ONE_PER_CALL, price_per_image=PRICE, script=errors)


def local() -> FakeProvider:
    return FakeProvider("local", capabilities=ONE_PER_CALL, price_per_image=0.0)


def rows(ledger, request_id=None):
    return ledger.entries(request_id=request_id)


@pytest.mark.parametrize(("name", "make", "retried", "_falls"), FAULTS, ids=IDS)
def test_a_persistent_fault_raises_its_class_after_the_right_attempts(name, make, retried, _falls, retry, ledger):
    provider = cloud([make() for _ in range(5)])
    with pytest.raises(ImageGenError) as info:
        Client(provider, retry=retry, ledger=ledger, budget_usd=1.0).generate("x")
    assert type(info.value) is type(make())
    expected = 3 if retried else 1
    assert len(provider.calls) == expected
    logged = rows(ledger)
    assert [(e.status, e.attempt, e.error) for e in logged] == [
        ("error", k, type(make()).__name__) for k in range(1, expected + 1)]
    assert ledger.spent() == 0.0  # failed calls are released, never charged


@pytest.mark.parametrize(("name", "make", "retried", "falls"), FAULTS, ids=IDS)
def test_a_persistent_fault_falls_back_only_when_configured(name, make, retried, falls, retry, ledger):
    primary, backup = cloud([make() for _ in range(5)]), local()
    client = Client([primary, backup], retry=retry, ledger=ledger, budget_usd=1.0)
    if falls:
        result = client.generate("x", seed=3)
        assert result.model == "local" and result.seeds == [3]
        assert any(w.startswith("fallback: fake:cloud") for w in result.warnings)
        assert [a.model for a in result.attempts] == ["cloud"] * 3 + ["local"]
        assert [e.status for e in rows(ledger, result.request_id)] == ["error"] * 3 + ["ok"]
    else:
        with pytest.raises(type(make())):
            client.generate("x")
        assert backup.calls == []
        opted_in = Client([cloud([make()]), local()], retry=retry, fallback=[type(make())])
        assert opted_in.generate("x").model == "local"


RETRIED = [f for f in FAULTS if f[2]]


@pytest.mark.parametrize(("name", "make", "retried", "_falls"), RETRIED, ids=[f[0] for f in RETRIED])
def test_a_passing_fault_is_retried_and_charged_once(name, make, retried, _falls, retry, clock, ledger):
    provider = cloud([make()])
    result = Client(provider, retry=retry, ledger=ledger, budget_usd=1.0).generate("x")
    assert len(result.images) == 1 and len(provider.calls) == 2
    assert [(e.status, e.cost_usd) for e in rows(ledger)] == [("error", None), ("ok", PRICE)]
    assert ledger.spent() == pytest.approx(PRICE) and result.cost.usd == pytest.approx(PRICE)
    if name == "429-retry-after":
        assert clock.sleeps == [2.0]


def test_a_timeout_is_retried_then_falls_back(retry, ledger):
    slow = FakeProvider("cloud", capabilities=ONE_PER_CALL, price_per_image=PRICE, latency=10.0)
    result = Client([slow, local()], retry=retry, ledger=ledger, timeout=0.02).generate("x")
    assert result.model == "local"
    assert [(e.model, e.status, e.error) for e in rows(ledger)] == [("cloud", "error", "TransientError")] * 3 + [
        ("local", "ok", None)]


def test_a_crash_mid_batch_costs_one_item_and_keeps_the_rest(tmp_path, retry, ledger):
    crashed = []

    def handler(req):
        if req.prompt == "p3" and not crashed:
            crashed.append(req)
            raise RuntimeError("segfault-like bug in the provider")
        return [FakeProvider()._paint(req, 0)]

    provider = FakeProvider("cloud", capabilities=ONE_PER_CALL, price_per_image=PRICE, handler=handler)
    client = Client(provider, retry=retry, ledger=ledger, budget_usd=10.0)
    prompts = [f"p{i}" for i in range(6)]
    items = client.generate_many(prompts, seed=1, out_dir=tmp_path / "out", concurrency=2)
    assert [type(i).__name__ for i in items] == ["GenerationResult"] * 3 + ["ImageGenError"] + ["GenerationResult"] * 2
    assert len(list((tmp_path / "out").glob("*.png"))) == 5
    assert sorted(e.status for e in rows(ledger)) == ["error"] + ["ok"] * 5
    assert next(e for e in rows(ledger) if e.status == "error").error == "RuntimeError"
    calls_before = len(provider.calls)
    again = client.generate_many(prompts, seed=1, out_dir=tmp_path / "out", concurrency=2)
    assert len(provider.calls) == calls_before + 1  # only the crashed item is generated again
    assert all(not isinstance(i, ImageGenError) for i in again)
    assert ledger.spent() == pytest.approx(6 * PRICE)
