"""A1111 infotext, written and parsed exactly as AUTOMATIC1111 does.

The layout, key order and quoting follow AUTOMATIC1111/stable-diffusion-webui ``modules/processing.py``
(``create_infotext``: fixed keys, then ``extra_generation_params`` in the order A1111 adds them: the hires keys
in ``StableDiffusionProcessingTxt2Img.init``, ``Lora hashes`` in ``extensions-builtin/Lora/networks.py``, ``TI
hashes`` from the text encoder, ``Refiner`` in ``sd_samplers_common.apply_refiner``), ``modules/infotext_utils.py``
(``quote``, ``parse_generation_parameters``) and ``modules/sd_samplers.py`` (``get_sampler_and_scheduler``).
"""

from __future__ import annotations

import pytest

from imagegen import HiresSettings, ImageSettings, ModelRef
from imagegen.infotext import format_infotext, lora_tags, parse_infotext, quote, settings_from_pairs

FULL = ImageSettings(
    steps=20, sampler="DPM++ 2M", schedule_type="Karras", guidance=7.0, seed=3620487141, width=512, height=768,
    model=ModelRef(name="v1-5-pruned-emaonly", hash="6ce0161689"),
    vae=ModelRef(name="vae-ft-mse-840000-ema-pruned.safetensors", hash="735e4c3a44"), clip_skip=2,
    hires=HiresSettings(scale=2.0, upscaler="Latent", steps=10, strength=0.5),
    loras=(ModelRef(name="add_detail", hash="7c6bad76eb54", weight=0.6),),
    embeddings=(ModelRef(name="easynegative", hash="c74b4e810b03"),),
    refiner=ModelRef(name="sd_xl_refiner_1.0", hash="7440042bbd"), refiner_switch=0.8)

#: What A1111 v1.10 writes for FULL: the LoRA as a prompt tag, its hash in ``Lora hashes``.
FULL_TEXT = (
    "masterpiece, 1girl <lora:add_detail:0.6>\n"
    "Negative prompt: easynegative\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3620487141, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, "
    "VAE: vae-ft-mse-840000-ema-pruned.safetensors, Denoising strength: 0.5, Clip skip: 2, Hires upscale: 2, "
    'Hires steps: 10, Hires upscaler: Latent, Lora hashes: "add_detail: 7c6bad76eb54", '
    'TI hashes: "easynegative: c74b4e810b03", Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch at: 0.8, '
    "Version: v1.10.1")


def test_full_settings_are_written_in_a1111_key_order_and_quoting():
    assert format_infotext("masterpiece, 1girl", "easynegative", FULL, version="v1.10.1") == FULL_TEXT


def test_parsing_what_a1111_writes_gives_back_every_setting():
    parsed = parse_infotext(FULL_TEXT)
    settings = settings_from_pairs(parsed.pairs)
    assert parsed.prompt == "masterpiece, 1girl <lora:add_detail:0.6>" and parsed.negative_prompt == "easynegative"
    assert settings.model_dump(exclude={"loras", "extra"}) == FULL.model_dump(exclude={"loras", "extra"})
    assert settings.loras == (ModelRef(name="add_detail", hash="7c6bad76eb54"),)
    assert settings.extra == {}


@pytest.mark.parametrize(("value", "written"), [
    ("Euler a", "Euler a"), ("runwayml/sd-v1-5:fp16", '"runwayml/sd-v1-5:fp16"'), ("a, b", '"a, b"'),
    ("two\nlines", '"two\\nlines"'), ('say "hi": ñ', '"say \\"hi\\": ñ"'), (7.0, "7"), (7.5, "7.5"), (20, "20"),
])
def test_values_are_quoted_as_infotext_utils_quote_does(value, written):
    assert quote(value) == written


def test_clip_skip_1_means_no_skip_and_is_not_written():
    text = format_infotext("a fox", None, ImageSettings(steps=20, seed=1, width=64, height=64, clip_skip=1))
    assert "Clip skip" not in text


def test_a_pairs_line_with_fewer_than_three_pairs_is_part_of_the_prompt():
    parsed = parse_infotext("a castle\nat night: stars")
    assert parsed.prompt == "a castle\nat night: stars" and parsed.pairs == {}


def test_old_sampler_names_with_their_schedule_split_as_a1111_does():
    settings = settings_from_pairs(parse_infotext("a fox\nSteps: 20, Sampler: DPM++ 2M Karras, Seed: 1").pairs)
    assert (settings.sampler, settings.schedule_type) == ("DPM++ 2M", "Karras")
    assert settings.scheduler == "DPM++ 2M Karras"


def test_hires_resize_is_read_as_a_target_size():
    pairs = parse_infotext("a fox\nSteps: 20, Seed: 1, Size: 512x512, Denoising strength: 0.4, "
                           "Hires resize: 1024x768, Hires upscaler: R-ESRGAN 4x+").pairs
    settings = settings_from_pairs(pairs)
    assert settings.hires == HiresSettings(width=1024, height=768, upscaler="R-ESRGAN 4x+", strength=0.4)
    assert settings.strength is None


def test_img2img_denoising_strength_without_hires_is_the_strength():
    settings = settings_from_pairs(parse_infotext("a fox\nSteps: 20, Seed: 1, Denoising strength: 0.75").pairs)
    assert settings.strength == 0.75 and settings.hires is None


def test_unknown_keys_are_kept_in_extra():
    pairs = parse_infotext('a fox\nSteps: 20, Seed: 1, ENSD: 31337, ADetailer model: "face_yolov8n.pt"').pairs
    assert settings_from_pairs(pairs).extra == {"ENSD": "31337", "ADetailer model": "face_yolov8n.pt"}


def test_lora_tags_come_out_of_the_prompt_with_their_strength():
    assert lora_tags("a castle <lora:detail:0.6>, <lora:style_v2>") == ("a castle", [("detail", 0.6),
                                                                                      ("style_v2", 1.0)])


def test_a_lora_already_tagged_in_the_prompt_is_not_tagged_twice():
    settings = ImageSettings(seed=1, width=64, height=64, loras=(ModelRef(name="detail", weight=0.6),))
    text = format_infotext("a castle <lora:detail:0.6>", None, settings)
    assert text.split("\n")[0] == "a castle <lora:detail:0.6>"
