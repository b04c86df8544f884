"""Presets as a pure function of a device description: no GPU needed to test what runs on one."""

from __future__ import annotations

import pytest
from imagegen_diffusers import LADDER, PRESETS, DeviceInfo, choose_settings
from imagegen_diffusers.presets import apply_rung, call_settings, next_rung

from imagegen import InvalidRequest

GiB = 1024**3


def cuda(free_gib: float, cc: tuple[int, int] = (8, 0), total_gib: float = 80.0) -> DeviceInfo:
    return DeviceInfo("cuda", "Simulated GPU", int(total_gib * GiB), int(free_gib * GiB), cc)


CPU = DeviceInfo("cpu", "CPU", 64 * GiB, 48 * GiB)
MPS = DeviceInfo("mps", "Apple M2", 24 * GiB, 20 * GiB)


def test_presets_are_the_five_named_ones_with_auto_first():
    assert PRESETS == ("auto", "quality", "fast", "max", "low-memory")


@pytest.mark.parametrize("preset", PRESETS)
def test_cpu_runs_float32_without_compile_or_offload(preset):
    s = choose_settings(CPU, preset, family="sdxl")
    assert (s.dtype, s.compile_unet, s.offload, s.fused_qkv, s.device) == ("float32", False, "none", False, "cpu")


def test_cuda_ampere_or_newer_runs_bfloat16_with_sdpa_channels_last_and_fused_qkv():
    s = choose_settings(cuda(70), "auto", family="sdxl")
    assert (s.dtype, s.attention, s.channels_last, s.fused_qkv) == ("bfloat16", "sdpa", True, True)
    assert (s.offload, s.vae_slicing, s.compile_unet, s.device) == ("none", False, False, "cuda:0")


def test_cuda_before_ampere_runs_float16():
    assert choose_settings(cuda(14, cc=(7, 5), total_gib=16), "auto", family="sd1").dtype == "float16"


def test_max_compiles_the_unet_on_cuda_only():
    assert choose_settings(cuda(70), "max", family="sd1").compile_unet is True
    assert choose_settings(cuda(70), "fast", family="sd1").compile_unet is False
    assert choose_settings(MPS, "max", family="sd1").compile_unet is False


def test_quality_runs_float32_when_it_fits_with_room_to_spare():
    assert choose_settings(cuda(70), "quality", family="sdxl").dtype == "float32"
    assert choose_settings(cuda(7, total_gib=8), "quality", family="sdxl").dtype == "bfloat16"
    assert choose_settings(cuda(70), "quality", family="sdxl").fused_qkv is False


def test_plenty_of_memory_needs_no_savers():
    s = choose_settings(cuda(20, total_gib=24), "auto", family="sd1")
    assert s.savers() == [] and s.max_batch == 4


def test_tight_memory_turns_on_vae_slicing_then_attention_slicing():
    vae_only = choose_settings(cuda(5.5, total_gib=6), "auto", family="sd1", width=768, height=768, batch=4)
    assert vae_only.savers() == ["vae-slicing"]
    both = choose_settings(cuda(4.2, total_gib=6), "auto", family="sd1", width=768, height=768, batch=4)
    assert both.savers() == ["vae-slicing", "attention-slicing"]


def test_sdxl_on_a_small_gpu_offloads_whole_models_to_the_cpu():
    s = choose_settings(cuda(7, cc=(7, 5), total_gib=8), "auto", family="sdxl")
    assert (s.offload, s.attention, s.vae_tiling, s.max_batch) == ("model", "sliced", True, 1)


def test_sdxl_on_a_tiny_gpu_offloads_layer_by_layer():
    assert choose_settings(cuda(3, cc=(7, 5), total_gib=4), "auto", family="sdxl").offload == "sequential"


def test_low_memory_preset_uses_every_saver_even_with_room():
    s = choose_settings(cuda(70), "low-memory", family="sd1")
    assert s.savers() == ["vae-slicing", "attention-slicing", "model-offload"] and s.max_batch == 1


def test_the_models_own_parameter_count_replaces_the_family_estimate():
    big = choose_settings(cuda(5, cc=(7, 5), total_gib=6), "auto", family="sd1", params=2_400_000_000)
    small = choose_settings(cuda(5, cc=(7, 5), total_gib=6), "auto", family="sd1", params=100_000_000)
    assert big.offload != "none" and small.offload == "none"


def test_large_images_get_vae_tiling_under_auto_but_not_fast():
    assert choose_settings(cuda(70), "auto", family="sdxl", width=2048, height=2048).vae_tiling is True
    assert choose_settings(cuda(70), "fast", family="sdxl", width=2048, height=2048).vae_tiling is False


def test_a_large_request_turns_tiling_on_for_that_call():
    s = choose_settings(cuda(70), "auto", family="sdxl")
    assert s.vae_tiling is False and call_settings(s, 2048, 2048).vae_tiling is True
    assert call_settings(s, 1024, 1024) is s


def test_apple_mps_runs_float16_with_attention_slicing():
    s = choose_settings(MPS, "auto", family="sd1")
    assert (s.dtype, s.attention, s.offload, s.device) == ("float16", "sliced", "none", "mps")


def test_a_forced_dtype_wins():
    assert choose_settings(cuda(70), "auto", family="sd1", dtype="float32").dtype == "float32"


def test_unknown_memory_assumes_it_fits():
    s = choose_settings(DeviceInfo("cuda", "GPU", None, None, (8, 6)), "auto", family="sdxl")
    assert s.savers() == []


def test_unknown_preset_is_invalid_naming_preset():
    with pytest.raises(InvalidRequest) as err:
        choose_settings(CPU, "turbo")
    assert err.value.field == "preset"


def test_settings_say_why_they_were_chosen():
    s = choose_settings(cuda(7, cc=(7, 5), total_gib=8), "auto", family="sdxl")
    assert "float16" in s.reason and "model CPU offload" in s.reason


# -- the out-of-memory ladder, step by step -----------------------------------------------------------------------

def _climb(settings, batch):
    rungs = []
    while (rung := next_rung(settings, batch)) is not None:
        rungs.append(rung)
        settings, batch = apply_rung(settings, rung, batch)
    return rungs, settings, batch


def test_ladder_on_cuda_goes_vae_attention_model_offload_sequential_then_smaller_batches():
    rungs, settings, batch = _climb(choose_settings(cuda(70), "auto", family="sd1"), 4)
    assert rungs == ["vae-slicing", "attention-slicing", "model-offload", "sequential-offload", "smaller-batch",
                     "smaller-batch"]
    assert (settings.offload, batch, settings.max_batch) == ("sequential", 1, 1)
    assert tuple(dict.fromkeys(rungs)) == LADDER


def test_ladder_on_cpu_has_no_offload_rungs():
    rungs, _, batch = _climb(choose_settings(CPU, "auto", family="sd1"), 2)
    assert rungs == ["vae-slicing", "attention-slicing", "smaller-batch"] and batch == 1


def test_ladder_skips_what_is_already_on():
    rungs, _, _ = _climb(choose_settings(cuda(70), "low-memory", family="sd1"), 1)
    assert rungs == ["sequential-offload"]


# -- CPU threads ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cores", "load"), [(2, 2.8), (2, 0.3), (8, 3.2), (4, 9.0)])
def test_cpu_threads_follow_the_cores_never_the_load_so_a_seed_replays_exactly(cores, load):
    device = DeviceInfo("cpu", "CPU", 64 * GiB, 48 * GiB, cpu_cores=cores, cpu_load=load)
    assert choose_settings(device, "auto", family="sd1").threads == cores


def test_unknown_cores_leave_torch_threads_alone():
    assert choose_settings(CPU, "auto", family="sd1").threads is None
    assert choose_settings(cuda(70), "auto", family="sd1").threads is None


def test_the_thread_count_holds_during_the_call_and_is_given_back_after(tiny, monkeypatch):
    import torch
    from imagegen_diffusers import DiffusersProvider, PipelineCache, provider

    import imagegen

    monkeypatch.setattr(provider, "probe_device", lambda requested: DeviceInfo("cpu", "CPU", cpu_cores=1,
                                                                               cpu_load=1.7))
    p = DiffusersProvider(str(tiny.sd1), cache=PipelineCache(1))
    imagegen.generate("a castle", provider=p, steps=1, seed=1)
    unet = p._cache.peek(p._last_key).base.unet
    real, seen = unet.forward, []
    monkeypatch.setattr(unet, "forward", lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        imagegen.generate("a castle", provider=p, steps=2, seed=1, scheduler="ddim")
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1] and after == 2
