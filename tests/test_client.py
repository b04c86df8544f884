"""Client: fallback chain, partial results, crashes, timeouts, best-of-n, limits, compare hook."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import imagegen
from imagegen import (
    AllProvidersFailed,
    AuthenticationError,
    Capabilities,
    Client,
    ContentPolicyError,
    ImageGenError,
    InvalidRequest,
    ProviderResponse,
    RetryPolicy,
    TransientError,
    UnsupportedFeature,
)
from imagegen.testing import FakeClock, FakeProvider

SMALL = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))
FIXED = Capabilities(sizes=frozenset({(64, 64)}), default_size=(64, 64), max_images_per_call=1)


def fast(clock: FakeClock | None = None, **fields) -> RetryPolicy:
    clock = clock or FakeClock()
    return RetryPolicy(sleep=clock.sleep, clock=clock, **fields)


def fake(model: str = "a", **kw) -> FakeProvider:
    kw.setdefault("capabilities", SMALL)
    return FakeProvider(model, **kw)


# -- fallback ------------------------------------------------------------------------------------

def test_transient_exhaustion_falls_back_to_the_next_provider_with_a_warning():
    cloud, local = fake("cloud", script=[TransientError("503")] * 3), fake("local")
    result = Client([cloud, local], retry=fast(attempts=3)).generate("x")
    assert result.model == "local" and len(cloud.calls) == 3 and len(local.calls) == 1
    assert [(a.model, a.status, a.attempt) for a in result.attempts] == [
        ("cloud", "error", 1), ("cloud", "error", 2), ("cloud", "error", 3), ("local", "ok", 1)]
    assert any(w.startswith("fallback: fake:cloud failed (TransientError") for w in result.warnings)


def test_each_provider_gets_the_request_normalized_for_itself():
    first = fake("first", capabilities=FIXED, script=[TransientError("503")])
    second = fake("second", capabilities=Capabilities(default_size=(64, 64)))
    result = Client([first, second], retry=False).generate("x", size="128x96")
    assert first.calls[0].size == (64, 64) and second.calls[0].size == (128, 96)
    assert result.images[0].size == (128, 96)


def test_content_policy_does_not_fall_back_by_default():
    local = fake("local")
    with pytest.raises(ContentPolicyError):
        Client([fake("cloud", script=[ContentPolicyError("no")]), local], retry=fast()).generate("x")
    assert local.calls == []


def test_content_policy_falls_back_when_asked():
    client = Client([fake("cloud", script=[ContentPolicyError("no")]), fake("local")], retry=fast(),
                    fallback=[*imagegen.DEFAULT_FALLBACK, ContentPolicyError])
    assert client.generate("x").model == "local"


def test_authentication_errors_stop_the_chain_and_are_raised_as_they_are():
    local = fake("local")
    with pytest.raises(AuthenticationError) as info:
        Client([fake("cloud", script=[AuthenticationError("401")]), local], retry=fast()).generate("x")
    assert local.calls == [] and len(info.value.attempts) == 1


def test_fallback_false_raises_the_first_providers_error():
    local = fake("local")
    with pytest.raises(TransientError):
        Client([fake("cloud", script=[TransientError("503")]), local], retry=False, fallback=False).generate("x")
    assert local.calls == []


def test_all_providers_failing_raises_all_providers_failed_with_every_attempt():
    a = fake("a", script=[TransientError("a1"), TransientError("a2")])
    b = fake("b", script=[TransientError("b1"), TransientError("b2")])
    with pytest.raises(AllProvidersFailed) as info:
        Client([a, b], retry=fast(attempts=2)).generate("x")
    err = info.value
    assert [(x.model, x.attempt) for x in err.attempts] == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert "fake:a" in str(err) and "fake:b" in str(err)


def test_a_provider_that_is_not_installed_is_skipped_and_recorded():
    result = Client(["nosuchprovider:model", fake("local")], retry=False).generate("x")
    assert result.model == "local"
    assert (result.attempts[0].provider, result.attempts[0].status) == ("nosuchprovider", "skipped")
    assert result.attempts[0].error == "ProviderUnavailable"


def test_a_provider_that_cannot_be_built_is_unavailable_and_skipped(monkeypatch):
    def broken(model):
        raise RuntimeError("The api_key client option must be set")

    monkeypatch.setitem(imagegen.registry._registered, "broken", broken)
    result = Client(["broken:x", fake("local")], retry=False).generate("x")
    assert result.model == "local"
    assert (result.attempts[0].status, result.attempts[0].error) == ("skipped", "ProviderUnavailable")
    assert any("broken:x could not be created: RuntimeError" in w for w in result.warnings)


def test_unsupported_feature_falls_back_only_when_listed():
    strict = fake("strict", capabilities=FIXED)
    loose = fake("loose", capabilities=Capabilities(default_size=(64, 64)))
    with pytest.raises(UnsupportedFeature):
        Client([strict, loose], retry=False).generate("x", size="96x96", size_policy="strict")
    client = Client([strict, loose], retry=False, fallback=[UnsupportedFeature])
    assert client.generate("x", size="96x96", size_policy="strict").model == "loose"


def test_per_call_provider_overrides_the_chain():
    a, b = fake("a"), fake("b")
    assert Client([a], retry=False).generate("x", provider=b).model == "b"
    assert a.calls == []


@pytest.mark.parametrize("value", ["yes", [ValueError], []])
def test_bad_fallback_values_are_rejected(value):
    with pytest.raises(InvalidRequest, match="fallback"):
        Client(fake(), fallback=value)


# -- partial results, crashes, timeouts ----------------------------------------------------------

def test_partial_results_are_returned_in_order_with_a_warning():
    def handler(req):
        if req.index == 1:
            raise TransientError("503 on the second call")
        return [imagegen.testing.FakeProvider()._paint(req, 0)]

    provider = fake(handler=handler)
    result = Client(provider, retry=fast(attempts=2)).generate("x", n=3, seed=10)
    assert result.seeds == [10, 12]
    assert any(w.startswith("partial: 2 of 3 images") for w in result.warnings)
    failed = [a for a in result.attempts if a.status == "error"]
    assert [(a.index, a.attempt) for a in failed] == [(1, 1), (1, 2)]


def test_partial_raise_keeps_the_finished_images_on_the_error():
    def handler(req):
        if req.index == 2:
            raise TransientError("503")
        return [imagegen.testing.FakeProvider()._paint(req, 0)]

    with pytest.raises(TransientError) as info:
        Client(fake(handler=handler), retry=False, partial="raise").generate("x", n=3, seed=1)
    assert [im.seed for im in info.value.images] == [1, 2]


def test_a_partial_failure_does_not_fall_back_and_pay_again():
    def handler(req):
        if req.index == 1:
            raise TransientError("503")
        return [imagegen.testing.FakeProvider()._paint(req, 0)]

    backup = fake("backup")
    result = Client([fake(handler=handler), backup], retry=False).generate("x", n=2, seed=1)
    assert len(result.images) == 1 and backup.calls == []


def test_a_provider_crash_becomes_an_imagegen_error_and_is_not_retried():
    def crash(req):
        raise KeyError("data")

    provider = fake(handler=crash)
    with pytest.raises(ImageGenError, match="provider crashed: KeyError") as info:
        Client(provider, retry=fast(attempts=3)).generate("x")
    assert len(provider.calls) == 1
    assert info.value.attempts[0].error == "KeyError"
    assert isinstance(info.value.__cause__, KeyError)


def test_a_call_past_the_timeout_is_a_transient_error_and_is_retried():
    slow = fake(latency=[5.0, 0.0])
    result = Client(slow, retry=fast(attempts=2), timeout=0.05).generate("x")
    assert [a.status for a in result.attempts] == ["error", "ok"]
    assert result.attempts[0].error == "TransientError" and "timeout" in result.attempts[0].message
    assert slow.calls[0].cancel is not None


# -- best of n -----------------------------------------------------------------------------------

def by_red(images, prompt):
    return [im.to_pil().getpixel((0, 0))[0] for im in images]


def test_select_keeps_the_best_k_best_first_and_records_scores():
    result = Client(fake(), retry=False).generate("x", n=4, seed=3, select=2, scorer=by_red)
    reds = by_red(result.images, "x")
    assert len(result.images) == 2 and reds == sorted(reds, reverse=True)
    assert all(im.info["score"] == r for im, r in zip(result.images, reds, strict=True))


def test_select_ties_keep_generation_order():
    result = Client(fake(), retry=False).generate("x", n=4, seed=3, select=3, scorer=lambda ims, p: [1.0] * len(ims))
    assert result.seeds == [3, 4, 5]


def test_async_scorer_receives_the_prompt():
    seen = []

    async def scorer(images, prompt):
        seen.append(prompt)
        return list(range(len(images)))

    result = Client(fake(), retry=False).generate("a fox", n=2, seed=1, select=1, scorer=scorer)
    assert seen == ["a fox"] and result.seeds == [2]


@pytest.mark.parametrize(("kwargs", "field"), [({"select": 3, "n": 2, "scorer": by_red}, "select"),
                                               ({"select": 1}, "scorer"), ({"select": 0, "scorer": by_red}, "select")])
def test_bad_select_fails_before_any_call(kwargs, field):
    provider = fake()
    with pytest.raises(InvalidRequest, match=field):
        Client(provider).generate("x", **kwargs)
    assert provider.calls == []


def test_a_scorer_returning_the_wrong_number_of_scores_is_an_invalid_request():
    with pytest.raises(InvalidRequest, match="scorer: returned 1 scores for 2 images"):
        Client(fake(), retry=False).generate("x", n=2, select=1, scorer=lambda ims, p: [1.0])


# -- limits --------------------------------------------------------------------------------------

class CountingProvider:
    """Counts calls in flight across every thread and event loop."""

    name = "counting"

    def __init__(self, model: str = "m") -> None:
        self.model = model
        self.inflight = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.inner = FakeProvider(capabilities=SMALL)

    def capabilities(self) -> Capabilities:
        return SMALL

    async def generate(self, req) -> ProviderResponse:
        with self.lock:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
        try:
            await asyncio.sleep(0.02)
            return await self.inner.generate(req)
        finally:
            with self.lock:
                self.inflight -= 1


def test_max_concurrency_holds_across_threads_and_event_loops():
    provider = CountingProvider()
    client = Client(provider, max_concurrency=2, retry=False)

    def sync_user():
        client.generate("x", n=2)

    def async_user():
        async def main():
            await asyncio.gather(*(client.agenerate("y", n=2) for _ in range(3)))
        asyncio.run(main())

    threads = [threading.Thread(target=sync_user) for _ in range(3)] + [threading.Thread(target=async_user)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert provider.peak == 2 and len(provider.inner.calls) == 3 * 2 + 3 * 2


def test_concurrency_limits_are_per_provider():
    a, b = CountingProvider("a"), CountingProvider("b")
    client = Client(max_concurrency={"counting:a": 1, "*": 3}, retry=False)

    async def main():
        await asyncio.gather(client.agenerate("x", n=4, provider=a), client.agenerate("x", n=4, provider=b))

    asyncio.run(main())
    assert (a.peak, b.peak) == (1, 3)


def test_rpm_spaces_call_starts_evenly():
    clock = FakeClock()
    Client(fake(), rpm=30, retry=fast(clock)).generate("x", n=3)
    # the first call starts at once; the other two each wait one 60/30 s slot on the client's clock
    assert len(clock.sleeps) == 2 and clock() == pytest.approx(4.0)


@pytest.mark.parametrize(("kwargs", "field"), [({"max_concurrency": 0}, "max_concurrency"),
                                               ({"max_concurrency": 1.5}, "max_concurrency"),
                                               ({"rpm": -1}, "rpm"), ({"timeout": 0}, "timeout"),
                                               ({"partial": "some"}, "partial"),
                                               ({"budget_usd": -1}, "budget_usd"), ({"ledger": 3}, "ledger"),
                                               ({"unknown_cost": "ignore", "budget_usd": 1}, "unknown_cost")])
def test_bad_client_settings_name_the_parameter(kwargs, field):
    with pytest.raises(InvalidRequest, match=field):
        Client(fake(), **kwargs)


# -- many prompts, compare -----------------------------------------------------------------------

def test_generate_many_keeps_input_order_and_returns_per_item_errors():
    def handler(req):
        if req.prompt == "bad":
            raise ContentPolicyError("refused")
        time.sleep(0.01 if req.prompt == "first" else 0.0)
        return [imagegen.testing.FakeProvider()._paint(req, 0)]

    items = Client(fake(handler=handler), retry=False).generate_many(["first", "bad", "third"], seed=1)
    assert isinstance(items[1], ContentPolicyError)
    assert [r.prompt for r in (items[0], items[2])] == ["first", "third"]


def test_generate_many_bounds_concurrency():
    provider = CountingProvider()
    Client(provider, retry=False).generate_many([f"p{i}" for i in range(8)], concurrency=3)
    assert provider.peak <= 3 and len(provider.inner.calls) == 8


def test_generate_many_rejects_bad_input_before_any_call():
    provider = fake()
    client = Client(provider)
    with pytest.raises(InvalidRequest, match="n"):
        client.generate_many(["a", "b"], n=0)
    with pytest.raises(InvalidRequest, match="prompts"):
        client.generate_many("one string")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="names"):
        client.generate_many(["a", "b"], names=["x", "x"])
    assert provider.calls == []


def test_compare_delegates_to_run_comparison(monkeypatch):
    import imagegen.compare

    seen = {}

    async def fake_run(client, prompt, **kwargs):
        seen.update(client=client, prompt=prompt, **kwargs)
        return "comparison"

    monkeypatch.setattr(imagegen.compare, "run_comparison", fake_run)
    client = Client(retry=False)
    assert client.compare("p", providers=["fake:a"], seeds=[1, 2], steps=3) == "comparison"
    assert seen == {"client": client, "prompt": "p", "providers": ["fake:a"], "seeds": [1, 2], "params": None,
                    "scorer": None, "steps": 3}


def test_the_client_closes_what_it_opened(tmp_path):
    client = Client(["fake:x"], ledger=tmp_path / "l.sqlite", retry=False)
    client.generate("x", size="64x64")
    client.close()
    with pytest.raises(ImageGenError, match="closed"):
        client.ledger.entries()


class _Prepared(FakeProvider):
    """A FakeProvider whose one-time setup is slow (like importing an SDK) or broken."""

    def __init__(self, *args, setup_s: float = 0.0, broken: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setup_s, self.broken, self.prepared = setup_s, broken, 0

    async def prepare(self) -> None:
        self.prepared += 1
        if self.broken:
            raise RuntimeError("cannot load weights")
        if self.prepared == 1:
            await asyncio.sleep(self.setup_s)


def test_provider_setup_runs_before_the_call_and_outside_its_timeout():
    slow = _Prepared(setup_s=0.3)
    result = Client(slow, retry=False, timeout=0.2).generate("a fox", seed=1)
    assert slow.prepared == 1 and len(slow.calls) == 1 and result.seeds == [1]


def test_a_provider_whose_setup_breaks_is_unavailable_and_the_chain_falls_back():
    broken, backup = _Prepared(broken=True), FakeProvider("backup")
    result = Client([broken, backup], retry=False).generate("a fox")
    assert result.model == "backup" and broken.calls == []
    assert result.attempts[0].status == "skipped" and result.attempts[0].error == "ProviderUnavailable"
