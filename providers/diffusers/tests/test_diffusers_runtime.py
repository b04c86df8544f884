"""The pipeline cache, one job per device, progress events, cancellation and GPU-seconds cost."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from imagegen_diffusers import Cancelled, DiffusersProvider, PipelineCache
from imagegen_diffusers.cache import CacheKey

import imagegen
from imagegen.provider import ProviderRequest

PROMPT = "a red castle"


def request(**kw) -> ProviderRequest:
    fields = dict(prompt=PROMPT, operation="txt2img", width=32, height=32, n=1, seeds=(1,), steps=4,
                  scheduler="ddim")
    fields.update(kw)
    return ProviderRequest(**fields)


# -- the cache -------------------------------------------------------------------------------------------------

def key(name: str) -> CacheKey:
    return CacheKey(name, "auto", "cpu", "auto")


def test_cache_loads_a_key_once_and_counts_hits():
    cache: PipelineCache[str] = PipelineCache(2)
    loads = []
    for _ in range(3):
        cache.get_or_load(key("a"), lambda: loads.append("a") or "model-a")
    assert loads == ["a"] and (cache.loads, cache.hits) == (1, 2)


def test_cache_drops_the_least_recently_used_model_past_its_bound_and_releases_it():
    released = []
    cache: PipelineCache[str] = PipelineCache(2, release=released.append)
    cache.get_or_load(key("a"), lambda: "A")
    cache.get_or_load(key("b"), lambda: "B")
    cache.get_or_load(key("a"), lambda: "A again")  # a is now the most recent
    cache.get_or_load(key("c"), lambda: "C")
    assert released == ["B"] and cache.keys() == [key("a"), key("c")]


def test_cache_loads_once_when_threads_ask_for_the_same_model_together():
    cache: PipelineCache[str] = PipelineCache(2)
    started, loads = threading.Event(), []

    def load() -> str:
        loads.append(1)
        started.set()
        time.sleep(0.2)
        return "model"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load(key("a"), load)[0]))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1] and results == ["model"] * 4


def test_a_failed_load_is_not_cached():
    cache: PipelineCache[str] = PipelineCache(2)

    def broken() -> str:
        raise OSError("disk on fire")

    with pytest.raises(OSError):
        cache.get_or_load(key("a"), broken)
    assert cache.get_or_load(key("a"), lambda: "fine") == ("fine", True)


def test_cache_key_is_model_dtype_device_and_preset(tiny):
    cache = PipelineCache(4)
    for preset, dtype in [("auto", None), ("fast", None), ("auto", "float32")]:
        imagegen.generate(PROMPT, provider=DiffusersProvider(str(tiny.sd1), preset=preset, dtype=dtype, cache=cache),
                          steps=1, seed=1)
    imagegen.generate(PROMPT, provider=DiffusersProvider(str(tiny.sd1), cache=cache), steps=1, seed=1)
    assert {(k.preset, k.dtype, k.device) for k in cache} == {
        ("auto", "auto", "cpu"), ("fast", "auto", "cpu"), ("auto", "float32", "cpu")}
    assert cache.loads == 3


def test_two_provider_instances_share_one_loaded_model(tiny):
    cache = PipelineCache(2)
    first = imagegen.generate(PROMPT, provider=DiffusersProvider(str(tiny.sd1), cache=cache), steps=1, seed=1)
    second = imagegen.generate(PROMPT, provider=DiffusersProvider(str(tiny.sd1), cache=cache), steps=1, seed=1)
    assert cache.loads == 1 and "load_s" in first.timings and "load_s" not in second.timings


def test_aclose_frees_the_models_the_provider_loaded(tiny):
    cache = PipelineCache(2)
    provider = DiffusersProvider(str(tiny.sd1), cache=cache)
    imagegen.generate(PROMPT, provider=provider, steps=1, seed=1)
    asyncio.run(provider.aclose())
    assert len(cache) == 0


def test_prepare_reads_the_configs_off_the_event_loop_and_loads_no_weights(tiny):
    cache = PipelineCache(1)
    provider = DiffusersProvider(str(tiny.sd2), cache=cache)
    asyncio.run(provider.prepare())
    assert provider._info is not None and provider._info.family == "sd2" and cache.loads == 0


# -- one job at a time per device ------------------------------------------------------------------------------

def test_concurrent_calls_on_one_device_run_one_at_a_time(tiny, monkeypatch):
    from imagegen_diffusers.engine import LoadedModel

    provider = DiffusersProvider(str(tiny.sd1), cache=PipelineCache(1))
    imagegen.generate(PROMPT, provider=provider, steps=1, seed=1)
    running, peak = [0], [0]
    real = LoadedModel.run

    def tracked(self, job):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)
            return real(self, job)
        finally:
            running[0] -= 1

    monkeypatch.setattr(LoadedModel, "run", tracked)

    async def many():
        return await asyncio.gather(*(provider.generate(request(seeds=(s,), steps=2)) for s in range(4)))

    responses = asyncio.run(many())
    assert peak[0] == 1 and [r.images[0].seed for r in responses] == [0, 1, 2, 3]
    assert max(r.timings["queue_s"] for r in responses) > 0.05


def test_the_event_loop_stays_free_while_an_image_is_made(tiny):
    provider = DiffusersProvider(str(tiny.sd1))
    ticks = []

    async def main():
        async def ticker():
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await provider.generate(request(steps=8))
        task.cancel()

    asyncio.run(main())
    assert len(ticks) > 3


# -- progress and cancellation -----------------------------------------------------------------------------------

def test_each_denoising_step_is_a_progress_event(tiny):
    events = []
    asyncio.run(DiffusersProvider(str(tiny.sd1)).generate(request(progress=events.append, index=2)))
    assert [(e.stage, e.step, e.total, e.image_index) for e in events if e.stage == "denoise"] == [
        ("denoise", i, 4, 2) for i in range(1, 5)]


def test_loading_the_model_is_a_progress_phase_of_its_own_only_when_it_loads(tiny):
    provider = DiffusersProvider(str(tiny.sd1), cache=PipelineCache(1))
    cold: list = []
    asyncio.run(provider.generate(request(progress=cold.append, steps=1)))
    warm: list = []
    asyncio.run(provider.generate(request(progress=warm.append, steps=1)))
    assert [(e.stage, e.detail) for e in cold] == [("load", provider_label(provider)), ("denoise", "")]
    assert [e.stage for e in warm] == ["denoise"]


def provider_label(provider: DiffusersProvider) -> str:
    return f"{provider.name}:{provider.model}"


def test_progress_of_a_split_call_names_the_first_image_of_each_batch(tiny):
    provider = DiffusersProvider(str(tiny.sd1), cache=PipelineCache(1))
    imagegen.generate(PROMPT, provider=provider, steps=1, seed=1)
    provider._cache.peek(provider._last_key).max_batch = 1
    events = []
    asyncio.run(provider.generate(request(n=2, seeds=(1, 2), steps=2, progress=events.append)))
    assert [e.image_index for e in events] == [0, 0, 1, 1]


def test_setting_cancel_stops_at_the_next_step_and_raises(tiny):
    cancel = threading.Event()
    events = []

    def progress(event):
        events.append(event)
        if event.step == 2:
            cancel.set()

    with pytest.raises(Cancelled, match="step 3 of 4"):
        asyncio.run(DiffusersProvider(str(tiny.sd1)).generate(request(progress=progress, cancel=cancel)))
    assert [e.step for e in events if e.stage == "denoise"] == [1, 2]


def test_a_request_cancelled_before_it_starts_makes_nothing(tiny):
    cancel = threading.Event()
    cancel.set()
    events = []
    with pytest.raises(Cancelled):
        asyncio.run(DiffusersProvider(str(tiny.sd1)).generate(request(progress=events.append, cancel=cancel)))
    assert events == []


def test_a_client_timeout_cancels_the_running_generation(tiny, monkeypatch):
    provider = DiffusersProvider(str(tiny.sd1), cache=PipelineCache(1))
    imagegen.generate(PROMPT, provider=provider, steps=1, seed=1)
    unet = provider._cache.peek(provider._last_key).base.unet
    real, calls = unet.forward, []
    monkeypatch.setattr(unet, "forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    with pytest.raises(imagegen.errors.TransientError, match="timeout"):
        imagegen.Client(provider, retry=False, fallback=False, timeout=0.2).generate(PROMPT, steps=500, seed=1,
                                                                                     scheduler="ddim")
    time.sleep(0.3)  # the worker sees the cancel event at its next step and stops
    stopped_at = len(calls)
    time.sleep(0.3)
    assert 0 < stopped_at == len(calls) < 500


# -- cost ----------------------------------------------------------------------------------------------------------

def test_local_cost_is_device_seconds_times_the_hourly_rate(tiny):
    result = imagegen.generate(PROMPT, provider=DiffusersProvider(str(tiny.sd1), usd_per_hour=3.6), steps=2, seed=1)
    assert result.cost.source == "gpu-seconds"
    assert result.cost.usd == pytest.approx(result.timings["gpu_s"] * 3.6 / 3600)
    assert result.cost.items[0].quantity == pytest.approx(result.timings["gpu_s"])


def test_local_cost_defaults_to_zero_and_is_known(tiny):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1)
    assert result.cost.usd == 0.0 and result.cost.source == "gpu-seconds"
    assert not any(w.startswith("cost:") for w in result.warnings)


def test_hourly_rate_comes_from_the_environment(tiny, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_GPU_USD_PER_HOUR", "2.5")
    assert DiffusersProvider(str(tiny.sd1)).usd_per_hour == 2.5


def test_cost_estimate_uses_the_measured_speed(tiny):
    provider = DiffusersProvider(str(tiny.sd1), usd_per_hour=36.0, cache=PipelineCache(1))
    assert provider.estimate_cost(request()) is None  # nothing measured yet
    done = imagegen.generate(PROMPT, provider=provider, steps=4, seed=1)
    estimate = provider.estimate_cost(request(steps=8, n=2))
    assert estimate is not None and estimate.usd == pytest.approx(done.cost.usd * 4, rel=1e-6)


def test_local_calls_land_in_the_ledger_with_their_cost(tiny, tmp_path):
    from imagegen import Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite")
    client = imagegen.Client(DiffusersProvider(str(tiny.sd1), usd_per_hour=1.0), ledger=ledger)
    result = client.generate(PROMPT, steps=2, seed=1)
    rows = ledger.entries()
    assert len(rows) == 1 and rows[0].cost_source == "gpu-seconds"
    assert rows[0].cost_usd == pytest.approx(result.cost.usd)
