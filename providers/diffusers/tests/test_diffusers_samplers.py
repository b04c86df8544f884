"""Samplers by name: A1111 names and diffusers class names, each one running; unknown names fail first."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from imagegen_diffusers import DiffusersProvider, PipelineCache, resolve_sampler, sampler_names
from imagegen_diffusers.schedulers import describe_scheduler, make_scheduler

import imagegen
from imagegen import InvalidRequest
from imagegen.provider import ProviderRequest

REQUIRED = ["DDPM", "DDIM", "PNDM", "LMS", "Euler", "Euler a", "Heun", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE",
            "UniPC"]


def test_every_required_a1111_name_is_offered():
    assert set(REQUIRED) <= set(sampler_names())


@pytest.mark.parametrize(("spelling", "cls", "config"), [
    ("dpm++ 2m karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True, "algorithm_type": "dpmsolver++"}),
    ("DPM++ 2M", "DPMSolverMultistepScheduler", {"use_karras_sigmas": False}),
    ("dpmpp_2m_karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    ("k_dpmpp_2m_ka", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    ("DPM++ 2M SDE", "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    ("DPM++ SDE", "DPMSolverSinglestepScheduler", {}),
    ("euler a", "EulerAncestralDiscreteScheduler", {}),
    ("Euler_Ancestral", "EulerAncestralDiscreteScheduler", {}),
    ("k_euler_a", "EulerAncestralDiscreteScheduler", {}),
    ("euler", "EulerDiscreteScheduler", {"use_karras_sigmas": False}),
    ("LMS Karras", "LMSDiscreteScheduler", {"use_karras_sigmas": True}),
    ("plms", "PNDMScheduler", {}),
    ("uni_pc", "UniPCMultistepScheduler", {}),
    ("EulerDiscreteScheduler", "EulerDiscreteScheduler", {}),
    ("unipcmultistepscheduler", "UniPCMultistepScheduler", {}),
])
def test_spellings_resolve_to_the_diffusers_scheduler_and_config(spelling, cls, config):
    sampler = resolve_sampler(spelling)
    assert sampler.cls == cls
    assert {k: sampler.config[k] for k in config} == config


def test_unknown_sampler_is_invalid_naming_scheduler_and_listing_the_valid_names():
    with pytest.raises(InvalidRequest) as err:
        resolve_sampler("dpm++ 3m turbo")
    assert err.value.field == "scheduler"
    assert all(name in str(err.value) for name in REQUIRED)


def test_unknown_sampler_fails_before_any_model_is_loaded(tiny):
    cache = PipelineCache(1)
    provider = DiffusersProvider(str(tiny.sd1), cache=cache)
    req = ProviderRequest(prompt="a castle", operation="txt2img", width=32, height=32, seeds=(1,), scheduler="nope")
    with pytest.raises(InvalidRequest) as err:
        asyncio.run(provider.generate(req))
    assert err.value.field == "scheduler" and cache.loads == 0 and len(cache) == 0


def test_unknown_sampler_through_the_client_loads_nothing(tiny):
    cache = PipelineCache(1)
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate("a castle", provider=DiffusersProvider(str(tiny.sd1), cache=cache), scheduler="nope")
    assert err.value.field == "scheduler" and cache.loads == 0


def test_unknown_sampler_given_to_the_constructor_is_invalid(tiny):
    with pytest.raises(InvalidRequest) as err:
        DiffusersProvider(str(tiny.sd1), scheduler="fastest")
    assert err.value.field == "scheduler"


def test_sampler_keeps_the_models_prediction_type():
    config = {"prediction_type": "v_prediction", "beta_schedule": "linear", "steps_offset": 1}
    scheduler = make_scheduler(resolve_sampler("euler a"), config)
    assert scheduler.config.prediction_type == "v_prediction" and scheduler.config.beta_schedule == "linear"


def test_karras_flag_from_the_models_config_does_not_leak_into_a_plain_sampler():
    scheduler = make_scheduler(resolve_sampler("DPM++ 2M"), {"use_karras_sigmas": True})
    assert scheduler.config.use_karras_sigmas is False


def test_scheduler_names_are_described_back_in_a1111_terms():
    assert describe_scheduler("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}) == "DPM++ 2M Karras"
    assert describe_scheduler("EulerAncestralDiscreteScheduler", {}) == "Euler a"
    assert describe_scheduler("LCMScheduler", {}) == "LCM"
    assert describe_scheduler("EDMEulerScheduler", {}) == "EDMEulerScheduler"


@pytest.mark.parametrize("name", sampler_names())
def test_each_sampler_makes_an_image_and_is_reported(tiny, name):
    result = imagegen.generate("a red castle", provider=f"diffusers:{tiny.sd1}", steps=3, seed=1, scheduler=name)
    assert result.images[0].info["local"]["scheduler"] == name
    assert np.ptp(tiny.pixels(result.images[0].data)) > 0


@pytest.mark.parametrize("name", ["Euler a", "DPM++ 2M Karras", "UniPC"])
def test_samplers_run_on_a_v_prediction_model(tiny, name):
    result = imagegen.generate("a red castle", provider=f"diffusers:{tiny.sd2}", steps=3, seed=1, scheduler=name)
    assert result.images[0].info["local"]["scheduler"] == name


def test_different_samplers_make_different_images(tiny):
    spec = f"diffusers:{tiny.sd1}"
    ddim = imagegen.generate("a red castle", provider=spec, steps=3, seed=1, scheduler="ddim")
    euler = imagegen.generate("a red castle", provider=spec, steps=3, seed=1, scheduler="euler")
    assert not np.array_equal(tiny.pixels(ddim.images[0].data), tiny.pixels(euler.images[0].data))


def test_the_sampler_of_one_call_does_not_stick_to_the_next(tiny):
    spec = f"diffusers:{tiny.sd1}"
    before = imagegen.generate("a red castle", provider=spec, steps=3, seed=1)
    imagegen.generate("a red castle", provider=spec, steps=3, seed=1, scheduler="heun")
    after = imagegen.generate("a red castle", provider=spec, steps=3, seed=1)
    assert after.images[0].info["local"]["scheduler"] == "PNDM"
    assert np.array_equal(tiny.pixels(before.images[0].data), tiny.pixels(after.images[0].data))
