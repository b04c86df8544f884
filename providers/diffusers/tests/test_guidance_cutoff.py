"""Guidance cutoff: classifier-free guidance on the first share of the steps, then none, on every pipeline."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from imagegen_diffusers import DiffusersProvider
from imagegen_diffusers.guidance import cutoff_kwargs, guided_steps
from imagegen_diffusers.mini import WEIGHTS_DIR

import imagegen
from imagegen import InvalidRequest, ProviderUnavailable

PROMPT = "a red castle"


def px(tiny, image):
    return tiny.pixels(image.data)


def test_guided_steps_round_the_share_and_keep_at_least_one():
    assert guided_steps(20, 0.4) == 8
    assert guided_steps(20, 1.0) == 20
    assert guided_steps(3, 0.01) == 1


def test_cutting_guidance_off_equals_guidance_one_on_the_steps_left_for_each_prompt_of_a_batch():
    import diffusers
    import torch

    # imagegen-mini, whose captions matter (a random model's guidance barely moves its pictures)
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(WEIGHTS_DIR, safety_checker=None,
                                                             requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    prompts = ["a red circle on a blue background", "two green triangles"]

    def run(**kw):
        generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
        return np.stack([np.asarray(im, dtype=np.int16) for im in pipe(
            prompts, num_inference_steps=6, guidance_scale=7.0, generator=generators, **kw).images])

    def weight_one_after_three(p, index, timestep, tensors):
        if index + 1 == 3:
            p._guidance_scale = 1.0 + 1e-9  # still runs both halves, but weighs them as no guidance
        return tensors

    cut = run(**cutoff_kwargs(pipe, 0.5))
    # (a batch of one half the size sums in another order: a level or two of float noise, no more)
    assert np.abs(cut - run(callback_on_step_end=weight_one_after_three)).max() <= 2
    assert np.abs(cut - run()).max() > 10


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_cutoff_changes_the_image_and_cutoff_one_does_not(tiny, name):
    spec = f"diffusers:{getattr(tiny, name)}"
    plain = imagegen.generate(PROMPT, provider=spec, steps=4, seed=2, guidance=7.0, n=2)
    full = imagegen.generate(PROMPT, provider=spec, steps=4, seed=2, guidance=7.0, n=2,
                             provider_options={"guidance_cutoff": 1})
    cut = imagegen.generate(PROMPT, provider=spec, steps=4, seed=2, guidance=7.0, n=2,
                            provider_options={"guidance_cutoff": 0.5})
    assert [px(tiny, a).tolist() for a in plain.images] == [px(tiny, b).tolist() for b in full.images]
    assert not np.array_equal(px(tiny, plain.images[1]), px(tiny, cut.images[1]))
    assert cut.images[0].info["local"]["guidance_cutoff"] == 0.5


@pytest.mark.parametrize("operation", ["img2img", "inpaint", "inpaint_model", "controlnet"])
def test_cutoff_works_with_every_operation(tiny, operation):
    kw: dict = {"steps": 4, "seed": 1, "n": 2, "guidance": 7.0, "image": tiny.png(square=(8, 8, 24, 24))}
    provider = DiffusersProvider(str(tiny.sd1), inpaint_model=str(tiny.sd1_inpaint) if operation == "inpaint_model"
                                 else None, controlnet=str(tiny.controlnet))
    if operation.startswith("inpaint"):
        kw["mask"] = tiny.png(square=(0, 0, 15, 15), mode="L")
    if operation == "controlnet":
        kw["control_image"] = kw.pop("image")
    plain = imagegen.generate(PROMPT, provider=provider, **kw)
    cut = imagegen.generate(PROMPT, provider=provider, **kw, provider_options={"guidance_cutoff": 0.5})
    assert [im.size for im in cut.images] == [im.size for im in plain.images]
    assert not np.array_equal(px(tiny, plain.images[0]), px(tiny, cut.images[0]))


@pytest.mark.parametrize("bad", [0, 1.5, -0.2, "half", True])
def test_a_cutoff_outside_zero_to_one_is_invalid_and_named(tiny, bad):
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, provider_options={"guidance_cutoff": bad})
    assert err.value.field == "guidance_cutoff" and "(0, 1]" in str(err.value)
    with pytest.raises(InvalidRequest):
        DiffusersProvider(str(tiny.sd1), guidance_cutoff=bad)


def test_a_folder_recommending_a_cutoff_uses_it_unless_the_provider_or_request_says_otherwise(tiny, tmp_path):
    folder = shutil.copytree(tiny.sd1, tmp_path / "tuned")
    (folder / "imagegen.json").write_text(json.dumps({"guidance": 5.0, "guidance_cutoff": 0.25}))

    def used(provider, **options):
        result = imagegen.generate(PROMPT, provider=provider, steps=2, seed=1, provider_options=options)
        return result.images[0].info["local"]["guidance_cutoff"]

    assert used(DiffusersProvider(str(folder))) == 0.25
    assert used(DiffusersProvider(str(folder), guidance_cutoff=0.75)) == 0.75
    assert used(DiffusersProvider(str(folder)), guidance_cutoff=0.5) == 0.5
    assert used(DiffusersProvider(str(tiny.sd1))) == 1.0


def test_a_bad_recommended_cutoff_is_an_error_that_names_the_file(tiny, tmp_path):
    folder = shutil.copytree(tiny.sd1, tmp_path / "bad")
    (folder / "imagegen.json").write_text(json.dumps({"guidance_cutoff": 2}))
    with pytest.raises(ProviderUnavailable, match=r"imagegen\.json: 'guidance_cutoff' must be a number in \(0, 1\]"):
        DiffusersProvider(str(folder)).info()
