"""Out of memory: the provider steps down the ladder and retries; the OOM is injected into the real UNet."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from imagegen_diffusers import DeviceInfo, DiffusersProvider, PipelineCache, choose_settings
from imagegen_diffusers.cache import CacheKey
from imagegen_diffusers.engine import LoadedModel, is_oom
from imagegen_diffusers.models import ModelInfo, Source

import imagegen
from imagegen import ProviderUnavailable

PROMPT = "a red castle"


def oom() -> torch.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.fixture
def loaded(tiny):
    """A provider with its own cache (the ladder changes its model's settings), loaded, and its model."""
    provider = DiffusersProvider(str(tiny.sd1), cache=PipelineCache(1))
    clean = imagegen.generate(PROMPT, provider=provider, steps=3, seed=1, n=2)
    entry = provider._cache.peek(provider._last_key)
    return SimpleNamespace(provider=provider, entry=entry, clean=clean)


def fail_unet(monkeypatch, entry, when) -> list[int]:
    """Make the UNet raise CUDA OOM on the calls where ``when(call_number, batch)`` is true."""
    unet = entry.base.unet
    real = unet.forward
    calls: list[int] = []

    def forward(sample, *args, **kwargs):
        calls.append(sample.shape[0])
        if when(len(calls), sample.shape[0]):
            raise oom()
        return real(sample, *args, **kwargs)

    monkeypatch.setattr(unet, "forward", forward)
    return calls


def test_cuda_oom_errors_are_recognised():
    assert is_oom(oom()) and is_oom(RuntimeError("MPS backend out of memory")) and not is_oom(RuntimeError("shape"))


def test_one_oom_is_retried_with_vae_slicing_and_gives_the_same_images(tiny, loaded, monkeypatch):
    fail_unet(monkeypatch, loaded.entry, lambda n, batch: n == 1)
    again = imagegen.generate(PROMPT, provider=loaded.provider, steps=3, seed=1, n=2)
    assert [w for w in again.warnings if w.startswith("memory:")] == [
        next(w for w in again.warnings if "vae-slicing" in w)]
    assert again.images[0].info["local"]["settings"]["vae_slicing"] is True
    for a, b in zip(loaded.clean.images, again.images, strict=True):
        assert np.abs(tiny.pixels(a.data) - tiny.pixels(b.data)).max() <= 1


def test_oom_with_two_images_at_once_ends_in_smaller_batches_with_the_same_images(tiny, loaded, monkeypatch):
    calls = fail_unet(monkeypatch, loaded.entry, lambda n, batch: batch > 2)  # 2 = one image with guidance
    again = imagegen.generate(PROMPT, provider=loaded.provider, steps=3, seed=1, n=2)
    rungs = [w for w in again.warnings if w.startswith("memory:")]
    assert ["vae-slicing" in rungs[0], "attention-slicing" in rungs[1], "smaller-batch" in rungs[2]] == [True] * 3
    assert again.images[0].info["local"]["batches"] == [1, 1] and max(calls[-3:]) == 2
    for a, b in zip(loaded.clean.images, again.images, strict=True):
        assert np.abs(tiny.pixels(a.data) - tiny.pixels(b.data)).max() <= 1
    assert loaded.provider.capabilities().max_images_per_call == 1


def test_oom_on_the_last_rung_is_provider_unavailable(loaded, monkeypatch):
    fail_unet(monkeypatch, loaded.entry, lambda n, batch: True)
    with pytest.raises(ProviderUnavailable, match="out of memory"):
        imagegen.generate(PROMPT, provider=loaded.provider, steps=3, seed=1, n=2)


def test_images_finished_before_the_last_rung_failed_are_kept_on_the_error(tiny, monkeypatch):
    import asyncio

    from imagegen.provider import ProviderRequest

    provider = DiffusersProvider(str(tiny.sd1), cache=PipelineCache(1), scheduler="ddim")
    imagegen.generate(PROMPT, provider=provider, steps=3, seed=1)
    entry = provider._cache.peek(provider._last_key)
    entry.max_batch = 1  # two images, one at a time: the first takes 3 UNet calls, then memory runs out for good
    fail_unet(monkeypatch, entry, lambda n, batch: n > 3)
    req = ProviderRequest(prompt=PROMPT, operation="txt2img", width=32, height=32, n=2, seeds=(1, 2), steps=3)
    with pytest.raises(ProviderUnavailable) as err:
        asyncio.run(provider.generate(req))
    assert [im.seed for im in err.value.images] == [1]


# -- the GPU-only rungs, wired to diffusers' calls (a recording stand-in for the pipeline) ------------------------

class Recorder:
    def __init__(self, log: list[str], name: str) -> None:
        self._log, self._name = log, name

    def __getattr__(self, method: str):
        def call(*args, **kwargs):
            self._log.append(f"{self._name}.{method}({', '.join(map(str, kwargs.values()))})")

        return call


def fake_model(offload: str = "none"):
    log: list[str] = []
    pipe = Recorder(log, "pipe")
    pipe.vae = Recorder(log, "vae")
    pipe.unet = Recorder(log, "unet")
    pipe.scheduler = SimpleNamespace(config={"_class_name": "DDIMScheduler"})
    pipe.vae_scale_factor = 8
    device = DeviceInfo("cuda", "Simulated GPU", 8 * 2**30, 7 * 2**30, (8, 9))
    settings = choose_settings(device, "auto", family="sd1")
    info = ModelInfo(family="sd1", inpainting=False, sample_size=64, vae_scale_factor=8, levels=4,
                     prediction_type="epsilon", scheduler_class="DDIMScheduler")
    model = LoadedModel(CacheKey("m", "auto", "cuda:0", "auto"), Source("folder", "/m"), info, settings, device, pipe)
    return model, pipe, log


def test_cuda_settings_place_the_model_and_apply_channels_last_and_fused_qkv():
    model, _, log = fake_model()
    model.configure()
    assert log[:4] == ["pipe.set_progress_bar_config(True)", "pipe.to()", "unet.to(torch.channels_last)",
                       "pipe.fuse_qkv_projections()"]


def test_each_rung_calls_diffusers_own_saver():
    from imagegen_diffusers.presets import apply_rung

    model, pipe, log = fake_model()
    settings, batch = model.settings, 4
    for rung in ("vae-slicing", "attention-slicing", "model-offload", "sequential-offload"):
        settings, batch = apply_rung(settings, rung, batch)
        model._sync_memory(pipe, settings)
    assert log == ["vae.enable_slicing()", "vae.enable_tiling()", "pipe.enable_attention_slicing()",
                   "pipe.enable_model_cpu_offload(cuda:0)", "pipe.enable_sequential_cpu_offload(cuda:0)"]


def test_offload_is_set_up_again_when_another_operation_runs():
    from dataclasses import replace

    model, pipe, log = fake_model()
    other = Recorder(log, "img2img")
    offloaded = replace(model.settings, offload="model")
    model._sync_memory(pipe, offloaded)
    model._sync_memory(pipe, offloaded)
    model._sync_memory(other, offloaded)
    assert log == ["pipe.enable_model_cpu_offload(cuda:0)", "img2img.enable_model_cpu_offload(cuda:0)"]
