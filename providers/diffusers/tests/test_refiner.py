"""The SDXL refiner through diffusers' ensemble of experts: the base denoises the first ``refiner_switch`` of the
steps (``denoising_end``), the refiner the rest (``denoising_start``), sharing the base's second text encoder,
tokenizer and VAE (as diffusers' SDXL docs load the official pair). A1111's default switch point is 0.8
(``modules/processing.py``: ``refiner_switch_at``)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from imagegen_diffusers import DiffusersProvider, shared_cache

import imagegen
from imagegen import InvalidRequest
from imagegen.provider import ProviderRequest


def make(tiny, **kw):
    kw.setdefault("steps", 5)
    kw.setdefault("seed", 2)
    return imagegen.generate("a red castle", provider=f"diffusers:{tiny.sdxl}", **kw)


def test_a_refiner_pair_runs_with_the_switch_point_and_changes_the_image(tiny):
    base, refined = make(tiny), make(tiny, refiner=str(tiny.sdxl_refiner), refiner_switch=0.6)
    assert (refined.images[0].width, refined.images[0].height) == (64, 64)
    assert not np.array_equal(tiny.pixels(base.images[0].data), tiny.pixels(refined.images[0].data))
    assert refined.images[0].info["local"]["refiner"] == {"model": str(tiny.sdxl_refiner), "switch": 0.6}
    settings = refined.images[0].settings
    assert settings.refiner is not None and settings.refiner.name == "sdxl-refiner" and settings.refiner_switch == 0.6


def test_the_refiner_is_recorded_in_a1111s_keys(tiny, tmp_path):
    from PIL import Image

    made = make(tiny, refiner=str(tiny.sdxl_refiner), refiner_switch=0.6)
    with Image.open(made.images[0].save(tmp_path / "r.png")) as saved:
        text = saved.info["parameters"]
    assert "Refiner: sdxl-refiner" in text and "Refiner switch at: 0.6" in text


def test_the_switch_point_decides_the_steps_of_each_expert(tiny):
    events = []
    provider = DiffusersProvider(str(tiny.sdxl))
    req = ProviderRequest(prompt="a red castle", operation="txt2img", width=64, height=64, seeds=(2,), steps=10,
                          scheduler="euler", refiner=str(tiny.sdxl_refiner), refiner_switch=0.7,
                          progress=lambda e: events.append(e.stage))
    asyncio.run(provider.generate(req))
    assert events.count("denoise") == 7 and events.count("refiner") == 3


def test_the_refiner_shares_the_bases_text_encoder_and_vae(tiny):
    provider = DiffusersProvider(str(tiny.sdxl))
    make(tiny, refiner=str(tiny.sdxl_refiner))
    entry = shared_cache().peek(provider._cache_key(provider._device()))
    refiner = entry.refiner(str(tiny.sdxl_refiner))
    assert refiner.text_encoder_2 is entry.base.text_encoder_2 and refiner.vae is entry.base.vae
    assert refiner.unet is not entry.base.unet


def test_different_switch_points_make_different_images(tiny):
    a = make(tiny, refiner=str(tiny.sdxl_refiner), refiner_switch=0.4)
    b = make(tiny, refiner=str(tiny.sdxl_refiner), refiner_switch=0.8)
    assert not np.array_equal(tiny.pixels(a.images[0].data), tiny.pixels(b.images[0].data))


def test_the_refiner_is_loaded_once(tiny, monkeypatch):
    import diffusers

    first = make(tiny, refiner=str(tiny.sdxl_refiner))

    def refuse(*args, **kwargs):
        raise AssertionError("the refiner was loaded again")

    monkeypatch.setattr(diffusers.StableDiffusionXLImg2ImgPipeline, "from_pretrained", classmethod(refuse))
    again = make(tiny, refiner=str(tiny.sdxl_refiner))
    assert np.array_equal(tiny.pixels(first.images[0].data), tiny.pixels(again.images[0].data))


def test_refiner_then_hires_fix(tiny):
    result = make(tiny, refiner=str(tiny.sdxl_refiner), hires={"scale": 2.0, "steps": 2})
    assert result.images[0].width == 128 and result.images[0].info["local"]["refiner"]["switch"] == 0.8


def test_a_refiner_on_an_sd1_model_is_an_invalid_request(tiny):
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate("a castle", provider=f"diffusers:{tiny.sd1}", steps=3, refiner=str(tiny.sdxl_refiner))
    assert err.value.field == "refiner"


def test_an_sd1_model_as_the_refiner_is_an_invalid_request(tiny):
    with pytest.raises(InvalidRequest) as err:
        make(tiny, refiner=str(tiny.sd1))
    assert err.value.field == "refiner"


def test_a_switch_point_that_leaves_an_expert_no_step_is_an_invalid_request(tiny):
    with pytest.raises(InvalidRequest) as err:
        make(tiny, steps=4, refiner=str(tiny.sdxl_refiner), refiner_switch=0.95)
    assert err.value.field == "refiner_switch"
