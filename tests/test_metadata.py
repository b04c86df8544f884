"""A1111 ``parameters`` and ``imagegen`` JSON metadata: written by ``save``, read back by ``read_metadata``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen import GeneratedImage, ImageSettings, ModelRef
from imagegen.infotext import format_infotext, parse_infotext
from imagegen.metadata import (
    a1111_parameters,
    parse_parameters,
    png_text_chunks,
    read_metadata,
    read_png_text,
    with_png_text,
)

TRICKY_PROMPT = 'a fox, "golden hour", 35mm: f/1.8\nsecond line, with commas\nrenard roux 🦊 — 雪の中の狐'
TRICKY_NEGATIVE = "blurry, low quality\nwatermark: text, ñ"


def make_image(make_png, prompt=TRICKY_PROMPT, negative=TRICKY_NEGATIVE, **params) -> GeneratedImage:
    merged = {"steps": 30, "guidance": 7.5, "scheduler": "dpm++ 2m karras", "negative_prompt": negative,
              "size": "64x48", "operation": "txt2img", **params}
    merged = {k: v for k, v in merged.items() if v is not None}
    return GeneratedImage(data=make_png((64, 48)), mime="image/png", width=64, height=48, seed=1234,
                          info={"prompt": prompt, "provider": "diffusers", "model": "runwayml/sd-v1-5:fp16",
                                "params": merged, "request_id": "r1"})


def only_parameters(image: GeneratedImage, path: str) -> bytes:
    """The image with just its A1111 ``parameters`` entry: what other tools leave in a file."""
    return with_png_text(image.data, {"parameters": read_png_text(path)["parameters"]})


def test_imagegen_entry_round_trips_prompt_with_commas_newlines_and_unicode(tmp_path, make_png):
    path = make_image(make_png).save(tmp_path / "a.png")
    meta = read_metadata(path)
    assert meta.source == "imagegen"
    assert meta.prompt == TRICKY_PROMPT and meta.negative_prompt == TRICKY_NEGATIVE
    assert (meta.provider, meta.model, meta.seed, meta.width, meta.height) == (
        "diffusers", "runwayml/sd-v1-5:fp16", 1234, 64, 48)
    assert meta.params["steps"] == 30 and meta.params["scheduler"] == "dpm++ 2m karras"


def test_parameters_text_alone_round_trips_the_same_fields(tmp_path, make_png):
    image = make_image(make_png)
    meta = read_metadata(only_parameters(image, image.save(tmp_path / "a.png")))
    assert meta.source == "parameters"
    assert meta.prompt == TRICKY_PROMPT and meta.negative_prompt == TRICKY_NEGATIVE
    assert meta.seed == 1234 and (meta.width, meta.height) == (64, 48)
    assert meta.model == "runwayml/sd-v1-5:fp16" and meta.provider == "diffusers"
    assert meta.params["steps"] == 30 and meta.params["guidance"] == 7.5
    assert meta.params["scheduler"] == "dpm++ 2m karras"


def test_parameters_text_has_a1111_layout(make_png):
    text = png_text_chunks(make_image(make_png, prompt="a fox", negative="blurry"))["parameters"]
    prompt, negative, pairs = text.split("\n")
    assert prompt == "a fox" and negative == "Negative prompt: blurry"
    assert pairs.startswith("Steps: 30, Sampler: dpm++ 2m karras, CFG scale: 7.5, Seed: 1234, Size: 64x48, ")
    assert 'Model: "runwayml/sd-v1-5:fp16"' in pairs


def test_a_cloud_image_still_gets_three_pairs_so_a1111_reads_the_last_line_as_parameters():
    settings = ImageSettings(width=1024, height=1024, model=ModelRef(name="dall-e-3"))
    text = a1111_parameters("a fox", None, settings, provider="openai")
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "a fox"
    assert parsed["pairs"]["Size"] == "1024x1024" and parsed["pairs"]["Model"] == "dall-e-3"


def test_parses_an_infotext_written_by_automatic1111():
    infotext = ("masterpiece, best quality, 1girl, (red hair:1.2)\n"
                "Negative prompt: lowres, bad anatomy\n"
                'Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3620487141, Size: 512x768, '
                'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "detail: 2a3f, style: 9b1c", '
                "Version: v1.6.0")
    parsed = parse_parameters(infotext)
    assert parsed["prompt"] == "masterpiece, best quality, 1girl, (red hair:1.2)"
    assert parsed["negative_prompt"] == "lowres, bad anatomy"
    assert parsed["pairs"]["Lora hashes"] == "detail: 2a3f, style: 9b1c"
    assert parsed["pairs"]["Seed"] == "3620487141" and parsed["pairs"]["Version"] == "v1.6.0"


def test_a1111_file_without_imagegen_entry_maps_to_generate_params(tmp_path, make_png):
    infotext = "a castle\nSteps: 25, Sampler: Euler a, CFG scale: 6.5, Seed: 99, Size: 64x48, Model: dreamshaper_8"
    path = tmp_path / "a1111.png"
    path.write_bytes(with_png_text(make_png((64, 48)), {"parameters": infotext}))
    meta = read_metadata(path)
    assert meta.source == "parameters" and meta.provider is None and meta.spec is None
    assert meta.replay_params() == {"steps": 25, "scheduler": "Euler a", "guidance": 6.5, "size": "64x48",
                                    "seed": 99}


def test_replay_params_remake_one_image_with_the_same_seed_size_and_settings(tmp_path, make_png):
    image = make_image(make_png, loras=[{"path": "detail.safetensors", "scale": 0.6}])
    meta = read_metadata(image.save(tmp_path / "a.png"))
    replay = meta.replay_params()
    assert meta.spec == "diffusers:runwayml/sd-v1-5:fp16"
    assert replay == {"steps": 30, "guidance": 7.5, "negative_prompt": TRICKY_NEGATIVE,
                      "scheduler": "dpm++ 2m karras", "loras": [{"path": "detail.safetensors", "scale": 0.6}],
                      "size": "64x48", "seed": 1234}


def test_replay_of_an_exact_resize_asks_for_the_delivered_size(tmp_path, make_png):
    image = make_image(make_png, output_size="60x40")
    replay = read_metadata(image.save(tmp_path / "a.png")).replay_params()
    assert replay["size"] == "60x40" and replay["size_policy"] == "exact"


def test_image_without_metadata_reads_as_none(make_png):
    meta = read_metadata(make_png((8, 8)))
    assert meta.source == "none" and meta.prompt is None and meta.replay_params() == {}


_line_chars = st.characters(codec="utf-8", exclude_characters="\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# A1111's parser strips every prompt line (modules/infotext_utils.py): lines are generated stripped
_line = st.text(_line_chars, min_size=1, max_size=30).map(str.strip).filter(bool)
_text = st.lists(_line, min_size=1, max_size=3).map("\n".join).filter(
    lambda t: all(not line.startswith("Negative prompt:") and "<lora:" not in line for line in t.split("\n")))


@settings(max_examples=150, deadline=None)
@given(prompt=_text, negative=st.none() | _text, model=st.text(_line_chars, min_size=1, max_size=20).filter(
    lambda m: m == m.strip()), seed=st.integers(0, 2**64 - 1), steps=st.integers(1, 150))
def test_parameters_text_round_trips_any_prompt(prompt, negative, model, seed, steps):
    settings = ImageSettings(steps=steps, seed=seed, width=512, height=768, model=ModelRef(name=model))
    parsed = parse_infotext(format_infotext(prompt, negative, settings))
    assert parsed.prompt == prompt
    assert parsed.negative_prompt == (negative or "")
    assert parsed.pairs["Model"] == model and parsed.pairs["Seed"] == str(seed)
    assert parsed.pairs["Steps"] == str(steps) and parsed.pairs["Size"] == "512x768"


@pytest.mark.parametrize("key", ["api_key", "OPENAI_API_KEY", "token"])
def test_secrets_in_provider_options_never_reach_either_entry(make_png, key):
    image = make_image(make_png, provider_options={key: "sk-live-XYZ", "background": "auto"})
    chunks = png_text_chunks(image)
    assert all("sk-live-XYZ" not in value for value in chunks.values())


def test_the_prompt_a_provider_rewrote_is_in_the_parameters_text(make_png):
    image = make_image(make_png, prompt="a fox")
    image.revised_prompt = "A photograph of a red fox, with snow: golden light"
    pairs = parse_parameters(png_text_chunks(image)["parameters"])["pairs"]
    assert pairs["Revised prompt"] == "A photograph of a red fox, with snow: golden light"
