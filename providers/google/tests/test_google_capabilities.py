"""Models as data: sizes, limits, seeds per backend, options and prices; nothing is sent in this module."""

from __future__ import annotations

import sys

import pytest
from imagegen_google import MODELS, PRICES, PRICES_AS_OF, GoogleProvider, model_spec

import imagegen
from imagegen import GenerateParams, InvalidRequest, UnsupportedFeature
from imagegen.testing import normalize

IMAGEN_1K = {(1024, 1024), (896, 1280), (1280, 896), (768, 1408), (1408, 768)}
IMAGEN_2K = {(2048, 2048), (1792, 2560), (2560, 1792), (1536, 2816), (2816, 1536)}


def plan(provider: GoogleProvider, **params):
    return normalize("a fox", GenerateParams(**params), provider.capabilities(), provider=f"google:{provider.model}")


def test_import_does_not_load_the_sdk():
    import subprocess

    code = "import imagegen_google, sys; print('google.genai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_entry_point_resolves_google_specs():
    provider = imagegen.Client().provider("google:gemini-2.5-flash-image")
    assert isinstance(provider, GoogleProvider) and provider.model == "gemini-2.5-flash-image"


def test_default_model_is_the_recommended_active_gemini_model_on_either_backend(monkeypatch):
    from imagegen_google.models import RECOMMENDED

    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaSyDEFAULT-000000000000000000000000000")
    assert GoogleProvider().model == RECOMMENDED and MODELS[RECOMMENDED].lifecycle.status_on() == "active"
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    assert GoogleProvider().model == RECOMMENDED  # Imagen, the old Vertex AI default, is shut down


@pytest.mark.parametrize("model", ["imagen-4.0-generate-001", "imagen-4.0-ultra-generate-001"])
def test_imagen_4_standard_and_ultra_offer_five_ratios_at_1k_and_2k(model):
    caps = GoogleProvider(model, vertexai=True).capabilities()
    assert caps.sizes == IMAGEN_1K | IMAGEN_2K and caps.max_images_per_call == 4


@pytest.mark.parametrize("model", ["imagen-4.0-fast-generate-001", "imagen-3.0-generate-002"])
def test_imagen_fast_and_3_offer_1k_only(model):
    caps = GoogleProvider(model, vertexai=True).capabilities()
    assert caps.sizes == IMAGEN_1K and caps.max_images_per_call == 4 and caps.operations == {"txt2img"}


def test_1920x1080_resolves_to_imagen_16_9_at_1k_with_a_size_warning():
    result = plan(GoogleProvider("imagen-4.0-generate-001", vertexai=True), size="1920x1080", n=6)
    assert result.size == (1408, 768) and [r.n for r in result.requests] == [4, 2]
    assert result.warnings and result.warnings[0].startswith("size: ")


def test_a_ratio_resolves_to_the_pixels_imagen_makes_for_it():
    provider = GoogleProvider("imagen-4.0-generate-001", vertexai=True)
    assert plan(provider, size="9:16").size == (768, 1408)
    assert provider.spec.locate(768, 1408) == ("9:16", "1K")
    assert provider.spec.locate(2816, 1536) == ("16:9", "2K")


def test_strict_size_policy_refuses_pixels_imagen_cannot_make():
    with pytest.raises(UnsupportedFeature, match="1408x768"):
        plan(GoogleProvider("imagen-4.0-generate-001", vertexai=True), size="1920x1080", size_policy="strict")


def test_imagen_takes_seeds_only_on_vertex_with_the_watermark_off():
    assert "seed" not in GoogleProvider("imagen-4.0-generate-001", vertexai=True).capabilities().supports
    assert "seed" not in GoogleProvider("imagen-4.0-generate-001", api_key="k" * 39).capabilities().supports
    caps = GoogleProvider("imagen-4.0-generate-001", vertexai=True, add_watermark=False).capabilities()
    assert "seed" in caps.supports and caps.max_seed == 2**32 - 1


def test_a_seed_imagen_cannot_honour_is_a_warning_and_no_seed():
    result = plan(GoogleProvider("imagen-4.0-generate-001", vertexai=True), seed=7, n=2)
    assert result.seeds == [None, None] and any(w.startswith("seed: ") for w in result.warnings)


def test_negative_prompt_only_where_the_model_honours_it():
    assert "negative_prompt" not in GoogleProvider("imagen-4.0-generate-001", vertexai=True).capabilities().supports
    assert "negative_prompt" in GoogleProvider("imagen-3.0-generate-001", vertexai=True).capabilities().supports
    result = plan(GoogleProvider("imagen-4.0-generate-001", vertexai=True), negative_prompt="blurry")
    assert result.requests[0].negative_prompt is None and result.warnings[0].startswith("negative_prompt: ")


def test_unsupported_error_policy_raises_for_steps():
    with pytest.raises(UnsupportedFeature, match="steps"):
        plan(GoogleProvider("imagen-4.0-generate-001", vertexai=True), steps=30, unsupported="error")


def test_gemini_image_models_edit_images_one_per_call_with_their_own_ratios():
    caps = GoogleProvider("gemini-2.5-flash-image").capabilities()
    assert caps.max_images_per_call == 1 and caps.operations == {"txt2img", "img2img"}
    assert (1536, 672) in caps.sizes and (1344, 768) in caps.sizes and "seed" in caps.supports


def test_gemini_3_pro_image_offers_1k_2k_and_4k():
    spec = model_spec("gemini-3-pro-image-preview")
    assert spec.locate(5504, 3072) == ("16:9", "4K") and spec.locate(1376, 768) == ("16:9", "1K")


def test_unknown_imagen_and_gemini_image_ids_get_conservative_limits():
    assert model_spec("imagen-5.0-generate-001").sizes == IMAGEN_1K
    assert not model_spec("gemini-9-flash-image").known
    assert model_spec("publishers/google/models/imagen-4.0-generate-001") is MODELS["imagen-4.0-generate-001"]


def test_a_model_that_makes_no_images_is_refused_with_the_known_ones():
    with pytest.raises(InvalidRequest, match="gemini-3.1-flash-image") as info:
        GoogleProvider("gemini-2.5-pro")
    assert info.value.field == "model"


def test_every_priced_model_has_a_dated_price_for_each_of_its_tiers():
    assert PRICES_AS_OF.count("-") == 2
    for name in PRICES:
        assert set(MODELS[name].tiers) <= set(PRICES[name]), name


def test_models_in_service_have_no_made_up_price():
    """Google's pricing page could not be read on 2026-12-02 (see pricing.py): no row, so cost is unknown."""
    active = [name for name, spec in MODELS.items() if spec.lifecycle.status_on() == "active"]
    assert active and not set(active) & set(PRICES)


def test_estimate_cost_uses_the_price_table():
    provider = GoogleProvider("imagen-4.0-ultra-generate-001", vertexai=True)
    cost = provider.estimate_cost(imagegen.ProviderRequest("x", "txt2img", 1408, 768, n=3))
    assert cost.usd == pytest.approx(0.18) and cost.source == "price-table"
    pro = GoogleProvider("gemini-3-pro-image-preview")
    assert pro.estimate_cost(imagegen.ProviderRequest("x", "txt2img", 4096, 4096)).usd == pytest.approx(0.24)


def test_unknown_price_is_none_not_zero():
    provider = GoogleProvider("imagen-5.0-generate-001", vertexai=True)
    assert provider.estimate_cost(imagegen.ProviderRequest("x", "txt2img", 1024, 1024)).usd is None


def test_prices_can_be_overridden_per_model():
    provider = GoogleProvider("imagen-5.0-generate-001", vertexai=True, prices={"imagen-5.0-generate-001": {"1K": 0.5}})
    assert provider.estimate_cost(imagegen.ProviderRequest("x", "txt2img", 1024, 1024, n=2)).usd == 1.0


@pytest.mark.parametrize(("option", "value", "allowed"), [
    ("person_generation", "everyone", "dont_allow"),
    ("safety_filter_level", "none", "block_only_high"),
    ("output_compression_quality", 101, "0..100"),
    ("add_watermark", "maybe", "true or false"),
])
def test_bad_option_values_name_the_option_and_the_allowed_values(option, value, allowed):
    with pytest.raises(InvalidRequest, match=allowed) as info:
        GoogleProvider("imagen-4.0-generate-001", vertexai=True, **{option: value})
    assert option in str(info.value) and info.value.field.endswith(option)


def test_unknown_constructor_option_lists_the_allowed_ones():
    with pytest.raises(InvalidRequest, match="person_generation") as info:
        GoogleProvider("imagen-4.0-generate-001", vertexai=True, persons="all")
    assert "'persons'" in str(info.value)


def test_cli_style_string_options_are_coerced():
    provider = GoogleProvider("imagen-4.0-generate-001", vertexai=True, add_watermark="false",
                              output_compression_quality="80", person_generation="ALLOW_ADULT",
                              output_mime_type="jpeg")
    assert provider.options.add_watermark is False and provider.options.output_compression_quality == 80
    assert provider.options.person_generation == "allow_adult" and provider.options.output_mime_type == "image/jpeg"


def test_repr_never_shows_the_key():
    key = "AIzaSyREPR-0000000000000000000000000000000"
    provider = GoogleProvider("gemini-2.5-flash-image", api_key=key)
    assert key not in repr(provider) and "gemini-2.5-flash-image" in repr(provider)
