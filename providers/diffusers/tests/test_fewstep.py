"""Few-step models: the LCM and TCD samplers, and the defaults a model or LoRA made for a few steps gets (steps,
guidance, sampler), recognised by what it is or by name, or declared. The settings are the makers' own (sources
in ``imagegen_diffusers/fewstep.py``)."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from imagegen_diffusers import DiffusersProvider
from imagegen_diffusers.fewstep import detect

import imagegen
from imagegen import InvalidRequest
from imagegen.provider import LoRA, ProviderRequest


def run(provider, **fields):
    events = []
    fields.setdefault("width", 32)
    fields.setdefault("height", 32)
    req = ProviderRequest(prompt="a red castle", operation="txt2img", n=1, seeds=(3,), progress=events.append,
                          **fields)
    out = asyncio.run(provider.generate(req))
    return out.images[0], [e for e in events if e.stage == "denoise"]


@pytest.fixture(scope="module")
def lcm_lora(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("loras") / "lcm-lora-tiny.safetensors"
    shutil.copy(tiny.lora_a, path)
    return path


def test_an_lcm_lora_runs_in_4_lcm_steps_at_guidance_1(tiny, lcm_lora):
    image, steps = run(DiffusersProvider(str(tiny.sd1)), loras=(LoRA(str(lcm_lora)),))
    local = image.info["local"]
    assert len(steps) == 4 and local["scheduler"] == "LCM" and local["guidance"] == 1.0
    assert local["few_step"] == {"kind": "lcm", "from": "LoRA 'lcm-lora-tiny.safetensors'", "steps": 4,
                                 "guidance": 1.0, "sampler": "LCM"}


def test_the_requests_own_steps_guidance_and_sampler_win(tiny, lcm_lora):
    image, steps = run(DiffusersProvider(str(tiny.sd1)), loras=(LoRA(str(lcm_lora)),), steps=6, guidance=1.5,
                       scheduler="euler")
    assert len(steps) == 6 and image.info["local"]["scheduler"] == "Euler" and image.info["local"]["guidance"] == 1.5


def test_the_lcm_sampler_by_name(tiny):
    image, steps = run(DiffusersProvider(str(tiny.sd1)), steps=4, scheduler="LCM")
    assert len(steps) == 4 and image.info["local"]["scheduler"] == "LCM"


def test_the_tcd_sampler_by_name(tiny):
    image, steps = run(DiffusersProvider(str(tiny.sd1)), steps=4, scheduler="tcd", guidance=1.0)
    assert len(steps) == 4 and image.info["local"]["scheduler"] == "TCD"


def test_a_turbo_model_is_recognised_by_its_name_and_makes_one_step(tiny, tmp_path):
    folder = tmp_path / "tiny-sdxl-turbo"
    shutil.copytree(tiny.sdxl, folder)
    image, steps = run(DiffusersProvider(str(folder)), width=64, height=64)
    assert len(steps) == 1 and image.info["local"]["guidance"] == 0.0
    assert image.info["local"]["few_step"]["kind"] == "turbo"


def test_imagegen_json_declares_a_few_step_model(tiny, tmp_path):
    folder = tmp_path / "tiny-sd"
    shutil.copytree(tiny.sd1, folder)
    (folder / "imagegen.json").write_text(json.dumps({"few_step": "tcd", "steps": 3}))
    image, steps = run(DiffusersProvider(str(folder)))
    local = image.info["local"]
    assert len(steps) == 3 and local["scheduler"] == "TCD" and local["guidance"] == 0.0
    assert local["few_step"]["from"] == "the model folder's imagegen.json"


def test_the_provider_declares_a_few_step_model(tiny):
    image, steps = run(DiffusersProvider(str(tiny.sd1), few_step="lcm"))
    assert len(steps) == 4 and image.info["local"]["few_step"]["from"] == "few_step= on the provider"


def test_an_unknown_few_step_kind_is_an_invalid_request(tiny):
    with pytest.raises(InvalidRequest) as err:
        DiffusersProvider(str(tiny.sd1), few_step="fast")
    assert err.value.field == "few_step" and "lightning" in err.value.message


def test_an_ordinary_model_keeps_its_family_defaults(tiny):
    assert imagegen.generate("a castle", provider=f"diffusers:{tiny.sd1}", seed=1).images[0].info["local"][
        "steps"] == 20


@pytest.mark.parametrize(("model", "loras", "kind", "steps"), [
    ("/m/sd15", ["latent-consistency/lcm-lora-sdv1-5"], "lcm", 4),
    ("/m/sd15", ["/l/TCD-SD15-LoRA/pytorch_lora_weights.safetensors"], "tcd", 4),
    ("/m/sdxl", ["/l/sdxl_lightning_2step_lora.safetensors"], "lightning", 2),
    ("/m/realvisxl-v40-lightning", [], "lightning", 4),
    ("stabilityai/sdxl-turbo", [], "turbo", 1),
    ("/m/sd15", ["/l/lightning-bolts-style.safetensors"], None, None),  # a style LoRA, not SDXL-Lightning
    ("/m/dreamshaper_8.safetensors", ["/l/ink.safetensors"], None, None),
])
def test_names_people_publish_these_models_under(model, loras, kind, steps):
    found = detect(model, loras)
    assert (found.kind if found else None, found.steps if found else None) == (kind, steps)


def test_an_lcm_distilled_unet_is_recognised_by_its_config():
    found = detect("/m/some-model", [], guidance_embedded=True)
    assert found is not None and (found.kind, found.steps, found.guidance) == ("lcm-unet", 4, 8.5)
