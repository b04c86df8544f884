"""Generation through ``imagegen.generate``: the done-when call, seeds, and each operation on shared components."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from imagegen_diffusers import DiffusersProvider, shared_cache

import imagegen
from imagegen import InvalidRequest
from imagegen.provider import ProviderRequest

PROMPT = "a red castle"


def px(tiny, image):
    return tiny.pixels(image.data)


@pytest.fixture
def no_reload(monkeypatch):
    """Makes any pipeline or model load fail: what runs under it must find everything in the cache."""
    import diffusers

    def refuse(*args, **kwargs):
        raise AssertionError("something was loaded again")

    for cls in (diffusers.DiffusionPipeline, diffusers.StableDiffusionPipeline, diffusers.StableDiffusionXLPipeline,
                diffusers.UNet2DConditionModel, diffusers.ControlNetModel):
        monkeypatch.setattr(cls, "from_pretrained", classmethod(refuse))
    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "from_single_file", classmethod(refuse))
    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "load_lora_weights", refuse)


# -- the done-when call ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sd1", "sd1_file"])
def test_done_when_two_seeded_images_then_identical_pixels_without_reloading(tiny, name, request):
    spec = f"diffusers:{getattr(tiny, name)}"
    first = imagegen.generate("a castle", provider=spec, steps=20, scheduler="dpm++ 2m karras", seed=1, n=2)
    assert [im.seed for im in first.images] == [1, 2]
    assert first.images[0].info["local"]["scheduler"] == "DPM++ 2M Karras"
    request.getfixturevalue("no_reload")
    loads = shared_cache().loads
    again = imagegen.generate("a castle", provider=spec, steps=20, scheduler="dpm++ 2m karras", seed=1, n=2)
    assert shared_cache().loads == loads and "load_s" not in again.timings
    assert [px(tiny, a).tolist() for a in first.images] == [px(tiny, b).tolist() for b in again.images]


def test_the_two_images_of_a_batch_differ(tiny):
    result = imagegen.generate("a castle", provider=f"diffusers:{tiny.sd1}", steps=3, seed=1, n=2)
    assert not np.array_equal(px(tiny, result.images[0]), px(tiny, result.images[1]))


# -- seeds ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_image_i_of_a_batch_equals_its_seed_made_alone(tiny, name):
    spec = f"diffusers:{getattr(tiny, name)}"
    batch = imagegen.generate(PROMPT, provider=spec, steps=3, seed=5, n=3)
    alone = imagegen.generate(PROMPT, provider=spec, steps=3, seed=7)
    assert batch.images[2].seed == alone.images[0].seed == 7
    assert np.abs(px(tiny, batch.images[2]) - px(tiny, alone.images[0])).max() <= 1


def test_ancestral_sampler_keeps_the_seed_rule(tiny):
    spec = f"diffusers:{tiny.sd1}"
    batch = imagegen.generate(PROMPT, provider=spec, steps=3, seed=5, n=2, scheduler="euler a")
    alone = imagegen.generate(PROMPT, provider=spec, steps=3, seed=6, scheduler="euler a")
    assert np.abs(px(tiny, batch.images[1]) - px(tiny, alone.images[0])).max() <= 1


def test_request_without_a_seed_draws_one_and_reports_it(tiny):
    provider = DiffusersProvider(str(tiny.sd1))
    req = ProviderRequest(prompt=PROMPT, operation="txt2img", width=32, height=32, n=1, seeds=(None,), steps=2)
    image = asyncio.run(provider.generate(req)).images[0]
    assert isinstance(image.seed, int)
    again = imagegen.generate(PROMPT, provider=provider, steps=2, seed=image.seed)
    assert np.array_equal(px(tiny, image), px(tiny, again.images[0]))


def test_generate_without_a_seed_reports_the_seed_that_remakes_the_image(tiny):
    first = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2)
    remade = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=first.images[0].seed)
    assert np.array_equal(px(tiny, first.images[0]), px(tiny, remade.images[0]))


# -- parity with diffusers itself ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_txt2img_matches_the_diffusers_pipeline_called_directly(tiny, name):
    import diffusers
    import torch

    folder = str(getattr(tiny, name))
    cls = diffusers.StableDiffusionXLPipeline if name == "sdxl" else diffusers.StableDiffusionPipeline
    pipe = cls.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    side = pipe.unet.config.sample_size * pipe.vae_scale_factor
    raw = pipe(PROMPT, num_inference_steps=3, guidance_scale=6.0, height=side, width=side,
               generator=torch.Generator().manual_seed(11)).images[0]
    ours = imagegen.generate(PROMPT, provider=f"diffusers:{folder}", steps=3, guidance=6.0, seed=11)
    assert np.abs(np.asarray(raw, dtype=np.int16) - px(tiny, ours.images[0])).max() <= 1


# -- knobs -------------------------------------------------------------------------------------------------------

def test_negative_prompt_changes_the_image(tiny):
    spec = f"diffusers:{tiny.sd1}"
    plain = imagegen.generate(PROMPT, provider=spec, steps=3, seed=2)
    negative = imagegen.generate(PROMPT, provider=spec, steps=3, seed=2, negative_prompt="blurry low quality")
    assert not np.array_equal(px(tiny, plain.images[0]), px(tiny, negative.images[0]))


def test_negative_prompt_at_guidance_one_is_reported_as_having_no_effect(tiny):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=2, guidance=1.0,
                               negative_prompt="blurry")
    assert any(w.startswith("negative_prompt:") for w in result.warnings)


@pytest.mark.parametrize("name", ["sd1", "sd2", "sdxl"])
def test_clip_skip_two_changes_the_image_and_one_is_the_default(tiny, name):
    spec = f"diffusers:{getattr(tiny, name)}"
    plain = imagegen.generate(PROMPT, provider=spec, steps=3, seed=2)
    last = imagegen.generate(PROMPT, provider=spec, steps=3, seed=2, clip_skip=1)
    skipped = imagegen.generate(PROMPT, provider=spec, steps=3, seed=2, clip_skip=2)
    assert np.array_equal(px(tiny, plain.images[0]), px(tiny, last.images[0]))
    assert not np.array_equal(px(tiny, plain.images[0]), px(tiny, skipped.images[0]))
    assert skipped.images[0].info["local"]["clip_skip"] == 2


def test_clip_skip_past_the_text_encoder_depth_is_invalid(tiny):
    with pytest.raises(InvalidRequest) as err:  # the tiny text encoder has 3 layers
        imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, clip_skip=4)
    assert err.value.field == "clip_skip" and "1..3" in err.value.message


def test_unknown_provider_option_is_a_warning(tiny):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1,
                               provider_options={"sharpness": 3})
    assert any(w.startswith("provider_options:") and "sharpness" in w for w in result.warnings)


def test_steps_default_to_the_family_default(tiny):
    events = []
    provider = DiffusersProvider(str(tiny.sd1))
    req = ProviderRequest(prompt=PROMPT, operation="txt2img", width=32, height=32, seeds=(1,), scheduler="ddim",
                          progress=events.append)
    asyncio.run(provider.generate(req))
    steps = [e for e in events if e.stage == "denoise"]
    assert len(steps) == steps[-1].total == provider.defaults()[0] == 20


# -- img2img ------------------------------------------------------------------------------------------------------

def test_img2img_low_strength_stays_closer_to_the_input_than_high_strength(tiny):
    import random

    from imagegen_diffusers.mini import scenes

    source = scenes.render(scenes.place(scenes.parse("a red circle on a blue background"), random.Random(0)))
    buf = io.BytesIO()
    source.save(buf, format="PNG")

    def distance(strength: float) -> float:
        result = imagegen.generate("a green square on a yellow background", provider="diffusers:imagegen-mini",
                                   image=buf.getvalue(), strength=strength, steps=10, seed=3, n=2)
        return float(np.mean([np.abs(px(tiny, im) - tiny.pixels(buf.getvalue())).mean() for im in result.images]))

    assert distance(0.3) < distance(0.9)


def test_img2img_differs_from_txt2img_and_depends_on_strength(tiny):
    spec = f"diffusers:{tiny.sd1}"
    src = tiny.png(square=(8, 8, 24, 24), fill=(250, 250, 0))
    t2i = imagegen.generate(PROMPT, provider=spec, steps=4, seed=1)
    weak = imagegen.generate(PROMPT, provider=spec, steps=4, seed=1, image=src, strength=0.5)
    strong = imagegen.generate(PROMPT, provider=spec, steps=4, seed=1, image=src, strength=1.0)
    assert weak.params["operation"] == "img2img" and weak.images[0].info["local"]["strength"] == 0.5
    assert not np.array_equal(px(tiny, t2i.images[0]), px(tiny, weak.images[0]))
    assert not np.array_equal(px(tiny, weak.images[0]), px(tiny, strong.images[0]))


def test_img2img_with_too_few_steps_for_its_strength_is_invalid(tiny):
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, image=tiny.png(), strength=0.2)
    assert err.value.field == "strength"


def test_sdxl_img2img_runs_on_the_shared_components(tiny):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sdxl}", steps=4, seed=1, image=tiny.png((64, 64)),
                               strength=0.5)
    assert result.images[0].size == (64, 64) and result.images[0].info["local"]["family"] == "sdxl"


# -- inpainting -------------------------------------------------------------------------------------------------

def test_inpaint_with_the_embedded_model_changes_pixels_inside_the_mask_more_than_outside(tiny):
    src = tiny.png((32, 32), (20, 40, 220))
    mask = tiny.png((32, 32), square=(0, 0, 15, 15), mode="L")
    result = imagegen.generate("a yellow square on a blue background", provider="diffusers:imagegen-mini",
                               image=src, mask=mask, steps=10, seed=4)
    diff = np.abs(px(tiny, result.images[0]) - tiny.pixels(src)).mean(-1)
    inside, outside = diff[:16, :16].mean(), diff[20:, 20:].mean()
    assert inside > 3 * outside


def test_inpaint_depends_on_the_mask(tiny):
    spec = f"diffusers:{tiny.sd1}"
    src = tiny.png(square=(8, 8, 24, 24), fill=(250, 250, 0))
    a = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, image=src,
                          mask=tiny.png(square=(0, 0, 15, 15), mode="L"))
    b = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, image=src,
                          mask=tiny.png(square=(16, 16, 31, 31), mode="L"))
    assert a.params["operation"] == "inpaint"
    assert not np.array_equal(px(tiny, a.images[0]), px(tiny, b.images[0]))


def test_inpaint_uses_the_dedicated_inpainting_model_when_given(tiny):
    src, mask = tiny.png(square=(8, 8, 24, 24), fill=(250, 250, 0)), tiny.png(square=(0, 0, 15, 15), mode="L")
    base = imagegen.generate(PROMPT, provider=DiffusersProvider(str(tiny.sd1)), steps=3, seed=1, image=src, mask=mask)
    with_model = DiffusersProvider(str(tiny.sd1), inpaint_model=str(tiny.sd1_inpaint))
    dedicated = imagegen.generate(PROMPT, provider=with_model, steps=3, seed=1, image=src, mask=mask)
    assert dedicated.images[0].info["local"]["inpaint_model"] == str(tiny.sd1_inpaint)
    assert not np.array_equal(px(tiny, base.images[0]), px(tiny, dedicated.images[0]))


def test_inpainting_checkpoint_as_the_model_offers_only_inpainting(tiny):
    provider = DiffusersProvider(str(tiny.sd1_inpaint))
    assert provider.capabilities().operations == frozenset({"inpaint"})
    result = imagegen.generate(PROMPT, provider=provider, steps=3, seed=1, image=tiny.png(),
                               mask=tiny.png(square=(0, 0, 15, 15), mode="L"))
    assert result.images[0].size == (32, 32)


# -- ControlNet ---------------------------------------------------------------------------------------------------

def test_controlnet_canny_equals_passing_the_opencv_edge_map(tiny):
    import cv2
    from PIL import Image

    spec = f"diffusers:{tiny.sd1}"
    src = tiny.png(square=(8, 8, 24, 24), fill=(250, 250, 0))
    edges = cv2.Canny(np.asarray(Image.open(io.BytesIO(src)).convert("L")), 100, 200)
    buf = io.BytesIO()
    Image.fromarray(np.stack([edges] * 3, axis=-1)).save(buf, format="PNG")
    canny = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, control_image=src, control="canny",
                              control_model=str(tiny.controlnet))
    ready = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, control_image=buf.getvalue(),
                              control_model=str(tiny.controlnet))
    raw = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, control_image=src,
                            control_model=str(tiny.controlnet))
    assert canny.params["operation"] == "controlnet"
    assert np.array_equal(px(tiny, canny.images[0]), px(tiny, ready.images[0]))
    assert not np.array_equal(px(tiny, canny.images[0]), px(tiny, raw.images[0]))


def test_controlnet_canny_thresholds_are_settable(tiny):
    spec = f"diffusers:{tiny.sd1}"
    src = tiny.png(square=(8, 8, 24, 24), fill=(120, 120, 110))
    kw = dict(provider=spec, steps=3, seed=1, control_image=src, control="canny", control_model=str(tiny.controlnet))
    low = imagegen.generate(PROMPT, **kw, provider_options={"canny_low": 5, "canny_high": 10})
    high = imagegen.generate(PROMPT, **kw, provider_options={"canny_low": 900, "canny_high": 1000})
    assert not np.array_equal(px(tiny, low.images[0]), px(tiny, high.images[0]))


def test_controlnet_scale_zero_is_the_plain_image(tiny):
    spec = f"diffusers:{tiny.sd1}"
    plain = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1)
    off = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, control_image=tiny.png(), control_scale=0.0,
                            control_model=str(tiny.controlnet))
    on = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, control_image=tiny.png(),
                           control_model=str(tiny.controlnet))
    assert np.array_equal(px(tiny, plain.images[0]), px(tiny, off.images[0]))
    assert not np.array_equal(px(tiny, plain.images[0]), px(tiny, on.images[0]))


def test_controlnet_configured_on_the_provider_is_used_without_control_model(tiny):
    provider = DiffusersProvider(str(tiny.sd1), controlnet=str(tiny.controlnet))
    result = imagegen.generate(PROMPT, provider=provider, steps=3, seed=1, control_image=tiny.png())
    assert result.images[0].info["local"]["control_model"] == str(tiny.controlnet)


def test_controlnet_without_a_controlnet_model_is_invalid(tiny):
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=3, control_image=tiny.png())
    assert err.value.field == "control_model"


def test_controlnet_for_another_family_is_invalid(tiny):
    with pytest.raises(InvalidRequest, match="another model family"):
        imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sdxl}", steps=3, control_image=tiny.png((64, 64)),
                          control_model=str(tiny.controlnet))


def test_unknown_control_preprocessor_is_invalid(tiny):
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=3, control_image=tiny.png(),
                          control="depth", control_model=str(tiny.controlnet))
    assert err.value.field == "control"


# -- LoRA ------------------------------------------------------------------------------------------------------------

def test_lora_changes_the_image_and_scale_zero_does_not(tiny):
    spec = f"diffusers:{tiny.sd1}"
    plain = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1)
    full = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, loras=[str(tiny.lora_a)])
    zero = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, loras=[(str(tiny.lora_a), 0.0)])
    assert not np.array_equal(px(tiny, plain.images[0]), px(tiny, full.images[0]))
    assert np.abs(px(tiny, plain.images[0]) - px(tiny, zero.images[0])).max() <= 1


def test_two_loras_together_differ_from_each_alone(tiny):
    spec = f"diffusers:{tiny.sd1}"
    a = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, loras=[str(tiny.lora_a)])
    b = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, loras=[str(tiny.lora_b)])
    both = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, loras=[f"{tiny.lora_a}:0.7", f"{tiny.lora_b}:0.7"])
    assert both.images[0].info["local"]["loras"] == [[f"{tiny.lora_a}", 0.7], [f"{tiny.lora_b}", 0.7]]
    assert not np.array_equal(px(tiny, both.images[0]), px(tiny, a.images[0]))
    assert not np.array_equal(px(tiny, both.images[0]), px(tiny, b.images[0]))


def test_changing_the_lora_set_reloads_nothing_and_comes_back_to_the_same_pixels(tiny, request):
    provider = DiffusersProvider(str(tiny.sd1))
    kw = dict(provider=provider, steps=3, seed=1)
    imagegen.generate(PROMPT, **kw, loras=[str(tiny.lora_a), str(tiny.lora_b)])  # both adapters loaded once
    request.getfixturevalue("no_reload")
    first = imagegen.generate(PROMPT, **kw, loras=[str(tiny.lora_a)])
    other = imagegen.generate(PROMPT, **kw, loras=[str(tiny.lora_b)])
    none = imagegen.generate(PROMPT, **kw)
    back = imagegen.generate(PROMPT, **kw, loras=[str(tiny.lora_a)])
    assert np.array_equal(px(tiny, first.images[0]), px(tiny, back.images[0]))
    assert not np.array_equal(px(tiny, other.images[0]), px(tiny, none.images[0]))
    assert not np.array_equal(px(tiny, first.images[0]), px(tiny, other.images[0]))


def test_a_lora_name_given_to_another_file_loads_that_file(tiny):
    spec = f"diffusers:{tiny.sd1}"
    a = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, loras=[{"path": str(tiny.lora_a), "name": "style"}])
    b = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, loras=[{"path": str(tiny.lora_b), "name": "style"}])
    only_b = imagegen.generate(PROMPT, provider=spec, steps=3, seed=1, loras=[str(tiny.lora_b)])
    assert not np.array_equal(px(tiny, a.images[0]), px(tiny, b.images[0]))
    assert np.abs(px(tiny, b.images[0]) - px(tiny, only_b.images[0])).max() <= 1


def test_sdxl_inpaint_runs_on_the_shared_components(tiny):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sdxl}", steps=3, seed=1, image=tiny.png((64, 64)),
                               mask=tiny.png((64, 64), square=(0, 0, 31, 31), mode="L"))
    assert result.params["operation"] == "inpaint" and result.images[0].size == (64, 64)


def test_missing_lora_file_is_invalid(tiny, tmp_path):
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, loras=[str(tmp_path / "none.safetensors")])
    assert err.value.field == "loras"


def test_lora_for_another_family_is_invalid(tiny):
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sdxl}", steps=2, loras=[str(tiny.lora_a)])
    assert err.value.field == "loras"


# -- results --------------------------------------------------------------------------------------------------------

def test_images_are_png_bytes_at_the_asked_size(tiny):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1, size="48x32")
    image = result.images[0]
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n" and image.size == (48, 32)


def test_settings_reach_the_result_and_the_saved_file(tiny, tmp_path):
    from imagegen import read_metadata

    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1)
    local = result.images[0].info["local"]
    assert local["settings"]["preset"] == "auto" and local["settings"]["dtype"] == "float32"
    assert local["settings"]["device"] == "cpu" and local["scheduler"] == "PNDM" and local["steps"] == 2
    assert set(result.timings) >= {"gpu_s", "encode_s", "queue_s"}
    saved = read_metadata(result.images[0].save(tmp_path / "a.png"))
    assert saved.raw["local"]["settings"]["dtype"] == "float32"


@pytest.mark.parametrize("operation", ["img2img", "inpaint", "controlnet"])
def test_an_edit_of_a_3_2_input_without_a_size_comes_back_3_2(tiny, operation):
    source = tiny.png((96, 64), (40, 90, 200), square=(10, 10, 50, 40))
    mask = tiny.png((96, 64), square=(0, 0, 40, 40))
    fields = {"img2img": {"image": source}, "inpaint": {"image": source, "mask": mask},
              "controlnet": {"control_image": source, "control_model": str(tiny.controlnet)}}[operation]
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=3, seed=1, **fields)
    image = result.images[0]
    assert image.width * 2 == image.height * 3 and (image.width, image.height) == (48, 32)
    assert not any(w.kind == "size" for w in result.warnings)
