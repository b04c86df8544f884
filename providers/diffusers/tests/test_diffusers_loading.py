"""Loading: hub ids, diffusers folders, single checkpoints; family detection; errors that say what to do."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from imagegen_diffusers import DiffusersProvider, PipelineCache
from imagegen_diffusers.mini import WEIGHTS_DIR
from imagegen_diffusers.models import checkpoint_tensors, detect_checkpoint_family, resolve_source

import imagegen
from imagegen import ProviderUnavailable


def make(tiny, name: str, **kwargs):
    return imagegen.generate("a red castle", provider=DiffusersProvider(str(getattr(tiny, name)), **kwargs), seed=1,
                             steps=3)


# -- families and their defaults -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "family", "side", "steps", "guidance"), [
    ("sd1", "sd1", 32, 20, 7.0), ("sd2", "sd2", 48, 25, 7.5), ("sdxl", "sdxl", 64, 30, 5.0)])
def test_folder_family_sets_default_size_steps_and_guidance(tiny, name, family, side, steps, guidance):
    provider = DiffusersProvider(str(getattr(tiny, name)))
    assert provider.info().family == family
    assert provider.capabilities().default_size == (side, side)
    assert provider.defaults() == (steps, guidance)


def test_sd2_is_detected_as_v_prediction_from_its_scheduler_config(tiny):
    info = DiffusersProvider(str(tiny.sd2)).info()
    assert (info.family, info.prediction_type) == ("sd2", "v_prediction")


@pytest.mark.parametrize(("name", "family"), [("sd1_file", "sd1"), ("sd2_file", "sd2"), ("sdxl_file", "sdxl")])
def test_single_file_family_is_read_from_its_tensor_names(tiny, name, family):
    path = str(getattr(tiny, name))
    assert detect_checkpoint_family(checkpoint_tensors(path), label=path) == (family, False)


@pytest.mark.parametrize("name", ["sd1", "sd2", "sdxl"])
def test_single_file_with_config_loads_the_same_weights_as_the_folder(tiny, name):
    folder = make(tiny, name)
    single = make(tiny, f"{name}_file", config=str(getattr(tiny, name)))
    assert single.images[0].info["local"]["family"] == name
    assert np.array_equal(tiny.pixels(folder.images[0].data), tiny.pixels(single.images[0].data))


def test_ckpt_file_loads_like_the_safetensors_file(tiny):
    a = make(tiny, "sd1_file", config=str(tiny.sd1))
    b = make(tiny, "sd1_ckpt", config=str(tiny.sd1))
    assert np.array_equal(tiny.pixels(a.images[0].data), tiny.pixels(b.images[0].data))


def test_single_file_finds_the_config_folder_beside_it(tiny):
    provider = DiffusersProvider(str(tiny.sd1_file))  # sd1.safetensors next to sd1/
    assert provider.info().config_dir == str(tiny.sd1)


def test_single_file_takes_its_config_from_the_family_environment_variable(tiny, tmp_path, monkeypatch):
    lone = tmp_path / "lonely.safetensors"
    shutil.copy(tiny.sd2_file, lone)
    monkeypatch.setenv("IMAGEGEN_DIFFUSERS_CONFIG_SD2", str(tiny.sd2))
    assert DiffusersProvider(str(lone)).info().config_dir == str(tiny.sd2)


def test_embedded_model_resolves_to_the_packaged_folder_and_loads_like_any_folder():
    provider = DiffusersProvider("imagegen-mini")
    assert provider.source == resolve_source(str(WEIGHTS_DIR))
    assert provider.info() == DiffusersProvider(str(WEIGHTS_DIR)).info()


def test_embedded_model_defaults_come_from_its_configs():
    provider = DiffusersProvider("imagegen-mini")
    unet = json.loads((WEIGHTS_DIR / "unet" / "config.json").read_text())
    vae = json.loads((WEIGHTS_DIR / "vae" / "config.json").read_text())
    side = unet["sample_size"] * 2 ** (len(vae["block_out_channels"]) - 1)
    recommended = json.loads((WEIGHTS_DIR / "imagegen.json").read_text())
    assert provider.capabilities().default_size == (side, side)
    assert provider.defaults() == (recommended["steps"], recommended["guidance"])


def test_a_folder_recommending_steps_and_guidance_sets_the_defaults(tiny, tmp_path):
    folder = shutil.copytree(tiny.sd1, tmp_path / "tuned")
    (folder / "imagegen.json").write_text(json.dumps({"steps": 12, "guidance": 2.5}))
    assert DiffusersProvider(str(folder)).defaults() == (12, 2.5)
    assert DiffusersProvider(str(folder), guidance=6.0).defaults() == (12, 6.0)  # the provider's own wins


def test_a_bad_recommendation_file_is_an_error_that_names_the_file(tiny, tmp_path):
    folder = shutil.copytree(tiny.sd1, tmp_path / "bad")
    (folder / "imagegen.json").write_text(json.dumps({"guidance": "high"}))
    with pytest.raises(ProviderUnavailable, match=r"imagegen\.json: 'guidance' must be a number"):
        DiffusersProvider(str(folder)).info()


def test_embedded_model_samples_with_its_own_scheduler_by_default(tmp_path):
    result = imagegen.generate("a red circle on a blue background", provider="diffusers:imagegen-mini", seed=1,
                               steps=2)
    scheduler = json.loads((WEIGHTS_DIR / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "DPMSolverMultistepScheduler" and not scheduler["use_karras_sigmas"]
    assert result.images[0].info["local"]["scheduler"] == "DPM++ 2M"


def test_capabilities_follow_a_retrained_model_with_another_size_and_vae_factor(tmp_path):
    folder = tmp_path / "retrained"
    shutil.copytree(WEIGHTS_DIR, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    unet = json.loads((folder / "unet" / "config.json").read_text())
    vae = json.loads((folder / "vae" / "config.json").read_text())
    unet["sample_size"] = 12
    vae["block_out_channels"] = [16, 32, 32]  # scale factor 4
    (folder / "unet" / "config.json").write_text(json.dumps(unet))
    (folder / "vae" / "config.json").write_text(json.dumps(vae))
    caps = DiffusersProvider(str(folder)).capabilities()
    assert caps.default_size == (48, 48)
    assert caps.multiple_of == 8 and caps.allows(48, 48) and not caps.allows(44, 48)


# -- errors -------------------------------------------------------------------------------------------------

def test_missing_path_is_unavailable_and_names_the_path(tmp_path):
    with pytest.raises(ProviderUnavailable, match="no such model file or folder"):
        DiffusersProvider(str(tmp_path / "nope.safetensors"))


def test_folder_without_model_index_is_unavailable_and_says_what_to_give(tmp_path):
    with pytest.raises(ProviderUnavailable, match="model_index.json"):
        DiffusersProvider(str(tmp_path))


def test_truncated_checkpoint_is_unavailable_and_says_to_download_again(tiny, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(tiny.sd1_file.read_bytes()[: 4000])
    with pytest.raises(ProviderUnavailable, match="download it again"):
        DiffusersProvider(str(broken)).capabilities()


def test_garbage_checkpoint_is_unavailable(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ProviderUnavailable, match="corrupt or truncated"):
        DiffusersProvider(str(junk)).capabilities()


def test_a_lora_given_as_the_model_is_an_unknown_architecture_that_says_it_is_a_lora(tiny):
    with pytest.raises(ProviderUnavailable, match="looks like a LoRA"):
        DiffusersProvider(str(tiny.lora_a)).capabilities()


def test_a_pipeline_of_another_architecture_is_unavailable(tiny, tmp_path):
    folder = tmp_path / "flux"
    shutil.copytree(tiny.sd1, folder)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "FluxPipeline"}))
    with pytest.raises(ProviderUnavailable, match="FluxPipeline"):
        DiffusersProvider(str(folder)).capabilities()


def test_hub_model_offline_and_not_cached_is_unavailable_and_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ProviderUnavailable, match="hf download nobody-here/no-such-model"):
        DiffusersProvider("nobody-here/no-such-model").capabilities()


def test_a_lone_single_file_is_described_by_the_shipped_configs_of_its_family(tiny, tmp_path):
    lone = tmp_path / "lonely.safetensors"
    shutil.copy(tiny.sdxl_file, lone)
    info = DiffusersProvider(str(lone)).info()
    assert info.config_dir is not None and info.config_dir.endswith("configs/sdxl") and info.native_side == 1024


def test_a_lone_single_file_of_another_shape_says_to_pass_config(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    lone = tmp_path / "lonely.safetensors"  # the tiny model is not SD 1.5's shape
    shutil.copy(tiny.sd1_file, lone)
    provider = DiffusersProvider(str(lone), cache=PipelineCache(1))
    with pytest.raises(ProviderUnavailable, match="published architecture.*config="):
        imagegen.generate("a castle", provider=provider, steps=1)


def test_config_of_another_family_is_unavailable(tiny):
    with pytest.raises(ProviderUnavailable, match="SD 1.x checkpoint but config"):
        DiffusersProvider(str(tiny.sd1_file), config=str(tiny.sdxl)).capabilities()


def test_unavailable_model_falls_back_to_the_next_provider(tmp_path):
    from imagegen.testing import FakeProvider

    client = imagegen.Client([f"diffusers:{tmp_path / 'missing.safetensors'}", FakeProvider()])
    result = client.generate("a castle", size="64x64")
    assert result.provider == "fake" and any(w.startswith("fallback:") for w in result.warnings)


def test_hub_id_loads_from_the_hugging_face_cache_offline(tiny, tmp_path):
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--sd1"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(tiny.sd1, repo / "snapshots" / revision)
    provider = DiffusersProvider("tiny-org/sd1", cache_dir=str(tmp_path / "hub"), cache=PipelineCache(1))
    assert provider.source.kind == "hub" and provider.info().family == "sd1"
    from_hub = imagegen.generate("a red castle", provider=provider, seed=1, steps=3)
    from_folder = make(tiny, "sd1")
    assert np.array_equal(tiny.pixels(from_hub.images[0].data), tiny.pixels(from_folder.images[0].data))
