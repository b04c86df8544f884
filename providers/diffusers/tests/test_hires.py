"""Hires fix (a txt2img pass, upscaled, then an img2img pass at the larger size on the same components) and the
upscalers it uses.

A1111's defaults and names: hires upscaler "Latent", denoising strength 0.7, hires steps 0 = the first pass's
(``modules/processing.py``, ``StableDiffusionProcessingTxt2Img``); the latent upscale modes of
``modules/shared.py`` (``latent_upscale_modes``: Latent = bilinear, ... Latent (nearest-exact)).
"""

from __future__ import annotations

import asyncio
import sys
import types

import numpy as np
import pytest
import torch
from imagegen_diffusers import DiffusersProvider
from imagegen_diffusers.upscalers import LATENT_MODES, Upscaler, resolve_upscaler, upscale_image, upscale_latents

import imagegen
from imagegen import InvalidRequest, ProviderUnavailable
from imagegen.provider import Hires, ProviderRequest


def make(tiny, name="sd1", **kw):
    kw.setdefault("steps", 3)
    kw.setdefault("seed", 6)
    return imagegen.generate("a red castle", provider=f"diffusers:{getattr(tiny, name)}", **kw)


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_hires_fix_gives_the_target_size_and_records_both_passes(tiny, name):
    result = make(tiny, name, hires={"scale": 2.0, "steps": 2})
    native = 32 if name == "sd1" else 64
    image = result.images[0]
    assert (image.width, image.height) == (2 * native, 2 * native)
    assert image.info["local"]["hires"] == {"size": f"{2 * native}x{2 * native}", "first_pass": f"{native}x{native}",
                                            "upscaler": "Latent", "strength": 0.7, "steps": 2}
    assert image.info["params"]["hires"] == {"scale": 2.0, "steps": 2}


def test_a_hires_size_is_rounded_to_the_models_grid_with_a_warning(tiny):
    result = make(tiny, hires={"size": "60x50"})
    assert (result.images[0].width, result.images[0].height) == (64, 48)
    assert any(w.field == "hires" and "rounded to 64x48" in w for w in result.warnings)


def test_the_second_pass_defaults_to_the_first_pass_steps_and_strength_0_7(tiny):
    events = []
    provider = DiffusersProvider(str(tiny.sd1))
    req = ProviderRequest(prompt="a red castle", operation="txt2img", width=32, height=32, n=1, seeds=(1,), steps=10,
                          scheduler="euler", hires=Hires(scale=2.0), progress=events.append)
    out = asyncio.run(provider.generate(req))
    assert out.images[0].info["local"]["hires"]["steps"] == 10
    assert [e.stage for e in events].count("denoise") == 10 and [e.stage for e in events].count("hires") == 7


def test_latent_and_lanczos_upscalers_make_different_images_of_the_same_size(tiny):
    latent, lanczos = make(tiny, hires={"scale": 2.0}), make(tiny, hires={"scale": 2.0, "upscaler": "Lanczos"})
    assert latent.images[0].info["local"]["hires"]["upscaler"] == "Latent"
    assert lanczos.images[0].info["local"]["hires"]["upscaler"] == "Lanczos"
    assert not np.array_equal(tiny.pixels(latent.images[0].data), tiny.pixels(lanczos.images[0].data))


def test_hires_image_i_of_a_batch_equals_its_seed_alone(tiny):
    batch, alone = make(tiny, n=2, seed=6, hires={"scale": 1.5}), make(tiny, seed=7, hires={"scale": 1.5})
    assert np.abs(tiny.pixels(batch.images[1].data) - tiny.pixels(alone.images[0].data)).max() <= 1


def test_the_second_pass_loads_nothing(tiny, monkeypatch):
    import diffusers

    make(tiny, hires={"scale": 2.0})

    def refuse(*args, **kwargs):
        raise AssertionError("something was loaded for the second pass")

    for cls in (diffusers.DiffusionPipeline, diffusers.StableDiffusionPipeline,
                diffusers.StableDiffusionImg2ImgPipeline, diffusers.UNet2DConditionModel, diffusers.AutoencoderKL):
        monkeypatch.setattr(cls, "from_pretrained", classmethod(refuse))
    assert make(tiny, hires={"scale": 2.0, "upscaler": "lanczos"}).images[0].width == 64


def test_hires_with_img2img_is_dropped_with_a_warning(tiny):
    result = make(tiny, image=tiny.png((32, 32)), hires={"scale": 2.0})
    assert result.images[0].width == 32
    assert any(w.field == "hires" and w.kind == "unsupported" for w in result.warnings)


def test_an_unknown_upscaler_is_an_invalid_request_naming_the_choices(tiny):
    with pytest.raises(InvalidRequest) as err:
        make(tiny, hires={"scale": 2.0, "upscaler": "supersharp"})
    assert err.value.field == "hires" and "latent (bicubic)" in err.value.message and "lanczos" in err.value.message


def test_a_hires_size_past_the_models_largest_side_is_an_invalid_request(tiny):
    with pytest.raises(InvalidRequest) as err:
        make(tiny, hires={"scale": 8.0})
    assert err.value.field == "hires"


def test_an_upscaler_model_without_spandrel_names_the_extra_to_install(tiny, tmp_path, monkeypatch):
    model = tmp_path / "4x-UltraSharp.pth"
    model.write_bytes(b"weights")
    monkeypatch.setitem(sys.modules, "spandrel", None)  # not importable, as on a machine without the extra
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "spandrel" else object())
    with pytest.raises(ProviderUnavailable) as err:
        resolve_upscaler(str(model))
    assert "imagegen-diffusers[upscalers]" in err.value.message


# -- upscalers ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LATENT_MODES))
def test_every_latent_mode_resizes_latents_to_the_target(name):
    latents = torch.randn(1, 4, 16, 16)
    out = upscale_latents(latents, 64, 48, resolve_upscaler(name), factor=2)
    assert out.shape == (1, 4, 24, 32)


def test_a1111_spellings_resolve():
    assert resolve_upscaler("Latent (bicubic antialiased)") == Upscaler("latent (bicubic antialiased)", "latent")
    assert resolve_upscaler(None).name == "latent" and resolve_upscaler("Lanczos").kind == "pixel"


class _StandInSR(torch.nn.Module):
    """A 2x nearest-neighbour 'upscaler model' in spandrel's calling convention (README of chaiNNer-org/spandrel:
    ``ModelLoader().load_from_file(path)`` gives an ``ImageModelDescriptor``; calling it maps (B, 3, H, W) in [0, 1]
    to the upscaled batch)."""

    scale = 2

    def forward(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


@pytest.fixture
def stand_in_spandrel(monkeypatch):
    loads = []

    class ImageModelDescriptor(_StandInSR):
        pass

    class ModelLoader:
        def __init__(self, device=None):
            self.device = device

        def load_from_file(self, path):
            loads.append(path)
            return ImageModelDescriptor()

    module = types.ModuleType("spandrel")
    module.ModelLoader, module.ImageModelDescriptor = ModelLoader, ImageModelDescriptor
    monkeypatch.setitem(sys.modules, "spandrel", module)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "spandrel" else real(name, *a))
    return loads


def test_an_upscaler_model_runs_through_spandrels_interface_and_lands_on_the_target_size(stand_in_spandrel, tmp_path):
    from PIL import Image

    path = tmp_path / "2x-test.pth"
    path.write_bytes(b"weights")
    upscaler = resolve_upscaler(str(path))
    assert upscaler.kind == "model" and upscaler.label == "2x-test"
    models: dict = {}
    image = Image.new("RGB", (8, 8), (10, 200, 30))
    out = upscale_image(image, 24, 24, upscaler, "cpu", models)  # 2x by the model, then Lanczos to 3x
    assert out.size == (24, 24) and out.getpixel((12, 12)) == (10, 200, 30)
    upscale_image(image, 16, 16, upscaler, "cpu", models)
    assert stand_in_spandrel == [str(path)]


def test_hires_fix_with_an_upscaler_model(tiny, stand_in_spandrel, tmp_path):
    path = tmp_path / "2x-test.pth"
    path.write_bytes(b"weights")
    result = make(tiny, hires={"scale": 2.0, "upscaler": str(path)})
    assert result.images[0].width == 64 and result.images[0].info["local"]["hires"]["upscaler"] == "2x-test"


# -- the upscale hook (``imagegen upscale``) ----------------------------------------------------------------

def test_the_upscale_hook_runs_an_upscaler_model_without_loading_the_sd_model(tiny, stand_in_spandrel, tmp_path):
    from imagegen.provider import ImageData

    path = tmp_path / "2x-test.pth"
    path.write_bytes(b"weights")
    provider = DiffusersProvider(str(tiny.sd2))
    source = ImageData(data=tiny.png((16, 16)), mime="image/png", width=16, height=16)
    image = asyncio.run(provider.upscale(source, 32, 32, str(path)))
    assert (image.width, image.height) == (32, 32) and provider._keys == set()


def test_a_hires_image_records_a1111s_hires_keys(tiny, tmp_path):
    from PIL import Image

    result = make(tiny, hires={"scale": 2.0, "upscaler": "latent (bicubic)", "steps": 2, "strength": 0.6})
    settings = result.images[0].settings
    assert settings.hires is not None and (settings.hires.scale, settings.hires.upscaler) == (2.0, "Latent (bicubic)")
    with Image.open(result.images[0].save(tmp_path / "h.png")) as saved:
        text = saved.info["parameters"]
    assert "Denoising strength: 0.6, Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent (bicubic)" in text
    assert "Size: 32x32" in text  # A1111 records the first pass's size
