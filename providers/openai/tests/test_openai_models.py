"""Each model's capabilities are the data OpenAI publishes (cited in ``imagegen_openai/models.py``, checked
2026-12-02), imagegen plans within them, and what the API cannot honour follows the core's ``unsupported``
policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imagegen_openai import MODELS, OpenAIProvider

import imagegen
from imagegen import GenerateParams, InvalidRequest, UnsupportedFeature
from imagegen.testing import normalize

GPT_SIZES = {(1024, 1024), (1536, 1024), (1024, 1536)}
GPT_QUALITIES = {"low", "medium", "high", "auto"}
GPT_25_QUALITIES = GPT_QUALITIES | {"xhigh", "max"}
EDITS = {"txt2img", "img2img", "inpaint"}
TABLE = [
    # model, sizes, images per call, operations, qualities, styles
    ("dall-e-2", {(256, 256), (512, 512), (1024, 1024)}, 10, {"txt2img", "inpaint", "variation"}, None, None),
    ("dall-e-3", {(1024, 1024), (1792, 1024), (1024, 1792)}, 1, {"txt2img"}, {"standard", "hd"}, {"vivid", "natural"}),
    ("gpt-image-1", GPT_SIZES, 10, {"txt2img", "img2img", "inpaint"}, GPT_QUALITIES, None),
    ("gpt-image-1-mini", GPT_SIZES, 10, {"txt2img", "img2img", "inpaint"}, GPT_QUALITIES, None),
    ("gpt-image-1.5", GPT_SIZES, 10, {"txt2img", "img2img", "inpaint"}, GPT_QUALITIES, None),
    ("gpt-image-1.5-2025-12-16", GPT_SIZES, 10, EDITS, GPT_QUALITIES, None),
    ("chatgpt-image-latest", GPT_SIZES, 10, EDITS, GPT_QUALITIES, None),
    ("gpt-image-2", None, 10, {"txt2img", "img2img", "inpaint"}, GPT_QUALITIES, None),
    ("gpt-image-2-2026-04-21", None, 10, EDITS, GPT_QUALITIES, None),
    ("gpt-image-2.5-sunburst", None, 10, EDITS, GPT_25_QUALITIES, None),
    ("gpt-image-2.5-sunburst-2026-09-08", None, 10, EDITS, GPT_25_QUALITIES, None),
    ("gpt-image-2.5-flare", None, 10, EDITS, GPT_25_QUALITIES, None),
    ("gpt-image-2.5-flare-2026-09-08", None, 10, EDITS, GPT_25_QUALITIES, None),
    ("gpt-image-2.6-sunburst", None, 10, EDITS, GPT_QUALITIES, None),
    ("gpt-image-2.6-flare", None, 10, EDITS, GPT_QUALITIES, None),
]


@pytest.mark.parametrize(("model", "sizes", "per_call", "operations", "qualities", "styles"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_each_model_declares_its_capability_table(model, sizes, per_call, operations, qualities, styles):
    caps = OpenAIProvider(model).capabilities()
    assert (caps.sizes, caps.max_images_per_call, caps.operations) == (sizes, per_call, operations)
    assert (caps.qualities, caps.styles) == (qualities, styles)
    encodes = {"output_format", "background"} if model.startswith(("gpt-image", "chatgpt-image")) else set()
    assert caps.supports == {n for n, v in (("quality", qualities), ("style", styles)) if v} | encodes


def test_the_table_covers_every_model_the_data_names():
    assert set(MODELS) == {row[0] for row in TABLE}


@pytest.mark.parametrize(("size", "ok"), [
    ((1536, 864), True), ((3840, 2160), True), ((1024, 768), True), ((1440, 480), True), ((2160, 3840), True),
    ((3856, 2160), False),  # edge past 3840
    ((1600, 512), False),  # aspect past 3:1
    ((512, 512), False),  # under 655,360 pixels
    ((1000, 1000), False),  # not in 16 px steps
    ((3840, 2176), False),  # over 8,294,400 pixels
])
def test_gpt_image_2_takes_any_16px_size_within_its_limits(size, ok):
    assert OpenAIProvider("gpt-image-2").capabilities().allows(*size) is ok


def test_gpt_image_2_makes_16_9_exactly_with_no_warning():
    plan = normalize("x", GenerateParams(size="16:9"), OpenAIProvider("gpt-image-2").capabilities())
    assert plan.size == (1360, 768) and plan.warnings == []


def test_gpt_image_2_moves_a_too_small_size_up_to_its_pixel_floor_with_a_warning():
    plan = normalize("x", GenerateParams(size="512x512"), OpenAIProvider("gpt-image-2").capabilities())
    assert plan.size[0] * plan.size[1] >= 655_360 and plan.warnings[0].startswith("size: ")
    assert "at least 655360 pixels" in plan.warnings[0]


def test_dall_e_3_16_9_resolves_to_1792x1024_with_a_size_warning():
    plan = normalize("x", GenerateParams(size="16:9", n=4), OpenAIProvider("dall-e-3").capabilities())
    assert [(r.width, r.height, r.n) for r in plan.requests] == [(1792, 1024, 1)] * 4
    assert plan.warnings[0].startswith("size: 16:9 resolved to 1792x1024")


@pytest.mark.parametrize("param", [{"seed": 3}, {"steps": 20}, {"guidance": 7.0}, {"negative_prompt": "blurry"},
                                   {"scheduler": "euler"}, {"loras": ["a.safetensors"]}])
def test_parameters_the_api_cannot_honour_are_warned_about_by_default(param, make, api):
    result = imagegen.Client(make("dall-e-3"), retry=False).generate("a fox", **param)
    name = "loras" if "loras" in param else next(iter(param))
    assert any(w.startswith(f"{name}: ") for w in result.warnings)
    assert result.images[0].seed is None
    assert set(api.requests[0].json) == {"model", "prompt", "n", "size", "response_format"}


@pytest.mark.parametrize("param", [{"seed": 3}, {"steps": 20}, {"guidance": 7.0}, {"negative_prompt": "blurry"},
                                   {"scheduler": "euler"}, {"loras": ["a.safetensors"]}, {"style": "vivid"}])
def test_parameters_the_api_cannot_honour_raise_under_unsupported_error(param, make, api):
    with pytest.raises(UnsupportedFeature):
        imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox", unsupported="error", **param)
    assert api.requests == []


def test_controlnet_is_an_unsupported_operation(make, api, kit):
    with pytest.raises(UnsupportedFeature) as info:
        imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox", control_image=kit.png(64, 64))
    assert info.value.field == "operation" and api.requests == []


def test_a_quality_the_model_does_not_take_is_dropped_with_a_warning_naming_the_allowed_values(make, api):
    result = imagegen.Client(make("dall-e-3"), retry=False).generate("a fox", quality="high")
    assert any("allowed: hd, standard" in w for w in result.warnings) and "quality" not in api.requests[0].json


def test_dall_e_2_refuses_img2img_without_a_mask_before_sending(make, api, kit):
    with pytest.raises(UnsupportedFeature) as info:
        imagegen.Client(make("dall-e-2"), retry=False).generate("a fox", image=kit.png(64, 64))
    assert "inpaint" in str(info.value) and "variation" in str(info.value) and api.requests == []


def test_an_unknown_model_works_with_generic_capabilities_and_a_warning(make, api):
    result = imagegen.Client(make("my-azure-deployment"), retry=False).generate("a fox", size="16:9", n=2)
    assert [c.json for c in api.requests] == [{"model": "my-azure-deployment", "prompt": "a fox", "n": 1,
                                               "size": "1536x1024"}] * 2
    assert any(w.startswith("model: 'my-azure-deployment' is not a model imagegen-openai knows")
               for w in result.warnings)


def test_an_unknown_gpt_image_1_style_id_gets_gpt_image_limits():
    caps = OpenAIProvider("gpt-image-1.7-nova").capabilities()
    assert (caps.sizes, caps.max_images_per_call, caps.qualities) == (GPT_SIZES, 10, GPT_QUALITIES)


def test_an_unknown_gpt_image_2_id_gets_gpt_image_2s_size_rules():
    assert OpenAIProvider("gpt-image-2.7-nova").capabilities() == OpenAIProvider("gpt-image-2").capabilities()


def test_gpt_image_models_take_up_to_16_input_images_and_stream_3_partial_images():
    caps = OpenAIProvider("gpt-image-2").capabilities()
    assert (caps.max_input_images, caps.partial_images) == (16, 3)
    assert (OpenAIProvider("dall-e-2").capabilities().max_input_images,
            OpenAIProvider("dall-e-2").capabilities().partial_images) == (1, 0)


def test_like_gives_a_deployment_the_limits_of_a_known_model():
    caps = OpenAIProvider("my-deployment", like="dall-e-3").capabilities()
    assert caps == OpenAIProvider("dall-e-3").capabilities()


def test_like_must_name_a_known_model():
    with pytest.raises(InvalidRequest) as info:
        OpenAIProvider("my-deployment", like="dall-e-4")
    assert info.value.field == "like" and "gpt-image-2" in str(info.value)


@settings(max_examples=60, deadline=None)
@given(width=st.integers(64, 8000), height=st.integers(64, 8000))
def test_every_size_planned_for_gpt_image_2_is_one_the_api_accepts(width, height):
    plan = normalize("x", GenerateParams(size=(width, height)), OpenAIProvider("gpt-image-2").capabilities())
    w, h = plan.size
    assert w % 16 == 0 and h % 16 == 0 and max(w, h) <= 3840 and max(w / h, h / w) <= 3
    assert 655_360 <= w * h <= 8_294_400
