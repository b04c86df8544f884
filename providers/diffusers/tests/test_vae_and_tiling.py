"""A VAE in place of the model's own (``vae=``: folder or single file, cached), and seamless tiling (``tiling=True``:
circular padding in the UNet's and VAE's convolutions, as AUTOMATIC1111's "Tiling" sets ``padding_mode``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imagegen_diffusers import DiffusersProvider, shared_cache
from imagegen_diffusers.engine import Job

import imagegen
from imagegen import InvalidRequest


def px(tiny, result):
    return tiny.pixels(result.images[0].data)


def make(tiny, **kw):
    kw.setdefault("steps", 3)
    kw.setdefault("seed", 8)
    return imagegen.generate("a red castle", provider=f"diffusers:{tiny.sd1}", **kw)


def test_another_vae_replaces_the_decoder(tiny):
    own, other = make(tiny), make(tiny, vae=str(tiny.vae))
    assert not np.array_equal(px(tiny, own), px(tiny, other))
    assert other.images[0].info["local"]["vae"] == str(tiny.vae)


def test_the_models_own_vae_given_as_an_override_changes_nothing(tiny):
    assert np.array_equal(px(tiny, make(tiny)), px(tiny, make(tiny, vae=str(tiny.sd1 / "vae"))))


def test_a_single_file_vae_loads_offline_and_matches_its_folder(tiny):
    assert np.array_equal(px(tiny, make(tiny, vae=str(tiny.vae_file))), px(tiny, make(tiny, vae=str(tiny.vae))))


def test_a_vae_is_loaded_once_and_the_next_call_without_it_uses_the_models_own(tiny, monkeypatch):
    import diffusers

    own, first = make(tiny), make(tiny, vae=str(tiny.vae))

    def refuse(*args, **kwargs):
        raise AssertionError("the VAE was loaded again")

    monkeypatch.setattr(diffusers.AutoencoderKL, "from_pretrained", classmethod(refuse))
    assert np.array_equal(px(tiny, first), px(tiny, make(tiny, vae=str(tiny.vae))))
    assert np.array_equal(px(tiny, own), px(tiny, make(tiny)))


def test_img2img_encodes_with_the_override_too(tiny):
    image = tiny.png((32, 32), (30, 90, 200))
    own = make(tiny, image=image, strength=0.5)
    other = make(tiny, image=image, strength=0.5, vae=str(tiny.vae))
    assert not np.array_equal(px(tiny, own), px(tiny, other))


def test_the_provider_can_default_to_a_vae(tiny):
    provider = DiffusersProvider(str(tiny.sd1), vae=str(tiny.vae))
    made = imagegen.generate("a red castle", provider=provider, steps=3, seed=8)
    assert np.array_equal(px(tiny, made), px(tiny, make(tiny, vae=str(tiny.vae))))


def test_a_missing_vae_is_an_invalid_request(tiny, tmp_path):
    with pytest.raises(InvalidRequest) as err:
        make(tiny, vae=str(tmp_path / "nope.safetensors"))
    assert err.value.field == "vae"


def test_a_model_that_is_not_a_vae_is_an_invalid_request(tiny):
    with pytest.raises(InvalidRequest) as err:
        make(tiny, vae=str(tiny.controlnet))
    assert err.value.field == "vae"


# -- seamless tiling -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loaded(tiny):
    provider = DiffusersProvider(str(tiny.sd1))
    imagegen.generate("a red castle", provider=provider, steps=1, seed=1)
    return shared_cache().peek(provider._last_key)


def _decode(model, latents, tiling):
    job = Job(operation="txt2img", prompt="a red castle", width=64, height=64, seeds=[1], steps=3, guidance=7.0,
              tiling=tiling)
    with torch.inference_mode(), model._modules_for(model.base, job):
        out = model.base("a red castle", latents=latents, num_inference_steps=3, output_type="np",
                         generator=torch.Generator().manual_seed(1))
    return out.images[0]


def test_a_tiled_image_lives_on_a_torus_shifting_the_noise_shifts_the_picture_around_the_edge(loaded):
    noise = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(5))
    shifted = torch.roll(noise, shifts=8, dims=3)  # 8 latent columns = 16 pixels (the tiny VAE's factor is 2)
    tiled = np.roll(_decode(loaded, noise, True), 16, axis=1)
    assert np.abs(tiled - _decode(loaded, shifted, True)).max() < 1e-3
    untiled = np.roll(_decode(loaded, noise, False), 16, axis=1)
    assert np.abs(untiled - _decode(loaded, shifted, False)).max() > 0.05


def test_tiling_changes_the_image_for_its_call_only(tiny, loaded):
    before, tiled, after = make(tiny), make(tiny, tiling=True), make(tiny)
    assert not np.array_equal(px(tiny, before), px(tiny, tiled))
    assert np.array_equal(px(tiny, before), px(tiny, after))
    convs = [m for m in loaded.base.unet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {m.padding_mode for m in convs} == {"zeros"} and tiled.images[0].info["local"]["tiling"] is True
