"""Imagen through the real google-genai client against the scripted API: bodies, splitting, seeds, filtering."""

from __future__ import annotations

import asyncio

import pytest
from imagegen_google import GoogleProvider

from imagegen import Client, ContentPolicyError, InvalidRequest, ProviderUnavailable

pytestmark = pytest.mark.filterwarnings("ignore::Warning")


def run(provider, req):
    async def go():
        try:
            return await provider.generate(req)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def test_vertex_request_goes_to_the_project_path_with_a_bearer_token(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(2))
    run(vertex(), kit.request(n=2))
    (seen,) = api.requests
    assert seen.path == kit.imagen_path() and seen.headers["Authorization"] == "Bearer ya29.test-token"
    assert "X-Goog-Api-Key" not in seen.headers


def test_imagen_body_carries_prompt_count_ratio_and_tier(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(3, (1792, 2560)))
    run(vertex(), kit.request(1792, 2560, n=3, prompt="a lighthouse"))
    assert api.requests[0].fields == {
        "instances": [{"prompt": "a lighthouse"}],
        "parameters": {"sampleCount": 3, "aspectRatio": "3:4", "sampleImageSize": "2K", "includeRaiReason": True}}


def test_models_with_one_tier_do_not_send_image_size(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(1, (1024, 1024)))
    run(vertex("imagen-4.0-fast-generate-001"), kit.request(1024, 1024))
    assert "sampleImageSize" not in api.requests[0].fields["parameters"]
    assert api.requests[0].path == kit.imagen_path("imagen-4.0-fast-generate-001")


def test_express_mode_sends_the_key_and_no_project(api, kit):
    api.script(":predict", kit.imagen_ok(1))
    provider = GoogleProvider("imagen-4.0-generate-001", vertexai=True, api_key=kit.API_KEY, base_url=api.url)
    run(provider, kit.request())
    seen = api.requests[0]
    assert seen.path == "/v1beta1/publishers/google/models/imagen-4.0-generate-001:predict"
    assert seen.headers["X-Goog-Api-Key"] == kit.API_KEY and "Authorization" not in seen.headers


def test_imagen_with_only_a_gemini_api_key_says_it_needs_vertex_and_sends_nothing(api, kit):
    provider = GoogleProvider("imagen-4.0-generate-001", api_key=kit.API_KEY, base_url=api.url)
    with pytest.raises(ProviderUnavailable, match="Vertex AI") as info:
        run(provider, kit.request())
    assert api.requests == [] and kit.API_KEY not in str(info.value)


def test_images_come_back_as_sent_with_their_pixel_size_and_price(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(2))
    response = run(vertex(), kit.request(n=2))
    assert [im.data for im in response.images] == [kit.png(1408, 768, 10), kit.png(1408, 768, 11)]
    assert {(im.width, im.height, im.mime) for im in response.images} == {(1408, 768, "image/png")}
    assert response.cost.usd == pytest.approx(0.08) and response.cost.source == "price-table"


def test_typed_options_reach_the_body(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(1, (1024, 1024), enhanced="a detailed fox"))
    provider = vertex(person_generation="allow_adult", safety_filter_level="block_only_high", enhance_prompt=True,
                      output_mime_type="image/jpeg", output_compression_quality=85, language="en")
    response = run(provider, kit.request(1024, 1024, guidance=9.5))
    params = api.requests[0].fields["parameters"]
    assert params["personGeneration"] == "ALLOW_ADULT" and params["safetySetting"] == "BLOCK_ONLY_HIGH"
    assert params["enhancePrompt"] is True and params["guidanceScale"] == 9.5 and params["language"] == "en"
    assert params["outputOptions"] == {"mimeType": "image/jpeg", "compressionQuality": 85}
    assert response.images[0].revised_prompt == "a detailed fox"


def test_provider_options_override_the_constructor_defaults_per_call(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(1))
    run(vertex(person_generation="dont_allow"), kit.request(provider_options={"person_generation": "allow_all"}))
    assert api.requests[0].fields["parameters"]["personGeneration"] == "ALLOW_ALL"


def test_unknown_provider_options_are_a_warning_not_sent(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(1))
    response = run(vertex(), kit.request(provider_options={"background": "transparent"}))
    assert response.warnings[0].startswith("provider_options: google ignores 'background'")
    assert "background" not in str(api.requests[0].fields)


def test_negative_prompt_is_sent_where_the_model_honours_it(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(1))
    run(vertex("imagen-3.0-generate-001"), kit.request(negative_prompt="blurry"))
    assert api.requests[0].fields["parameters"]["negativePrompt"] == "blurry"


def test_seeded_images_are_made_one_per_call_with_the_watermark_off(api, vertex, kit):
    api.script(":predict", kit.imagen_echo())
    response = run(vertex(add_watermark=False), kit.request(n=3, seeds=(7, 8, 9)))
    sent = sorted((r.fields["parameters"]["seed"], r.fields["parameters"]["sampleCount"],
                   r.fields["parameters"]["addWatermark"]) for r in api.requests)
    assert sent == [(7, 1, False), (8, 1, False), (9, 1, False)]
    assert [im.seed for im in response.images] == [7, 8, 9]


def test_a_seed_with_the_watermark_turned_back_on_is_dropped_with_a_warning(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(2))
    response = run(vertex(add_watermark=False), kit.request(n=2, seeds=(7, 8),
                                                            provider_options={"add_watermark": "true"}))
    params = api.requests[0].fields["parameters"]
    assert "seed" not in params and params["addWatermark"] is True and params["sampleCount"] == 2
    assert any(w.startswith("seed: ") for w in response.warnings)


def test_filtered_images_are_a_warning_with_the_reason_and_are_not_charged(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(3, filtered=["Image contains a person; personGeneration is dont_allow"]))
    response = run(vertex(), kit.request(n=4))
    assert len(response.images) == 3 and response.cost.usd == pytest.approx(0.12)
    (warning,) = [w for w in response.warnings if w.startswith("filtered: ")]
    assert "1 of 4" in warning and "personGeneration is dont_allow" in warning


def test_all_images_filtered_is_a_content_policy_error(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(0, filtered=["blocked by the safety filter", "blocked by the safety filter"]))
    with pytest.raises(ContentPolicyError, match="blocked by the safety filter"):
        run(vertex(), kit.request(n=2))


def test_an_empty_answer_is_a_content_policy_error_not_an_empty_success(api, vertex, kit):
    api.script(":predict", kit.json_response({}))
    with pytest.raises(ContentPolicyError, match="no image"):
        run(vertex(), kit.request())


def test_client_splits_six_into_four_and_two_and_merges_in_order(api, vertex, kit):
    api.script(":predict", kit.imagen_echo())
    with Client(vertex(), retry=False) as client:
        result = client.generate("a fox", size="16:9", n=6)
    assert sorted(r.fields["parameters"]["sampleCount"] for r in api.requests) == [2, 4]
    assert len(result.images) == 6 and result.cost.usd == pytest.approx(0.24)
    assert [a.n for a in result.attempts] == [4, 2] and [a.index for a in result.attempts] == [0, 4]


def test_a_bad_option_in_provider_options_is_invalid_request_before_sending(api, vertex, kit):
    with pytest.raises(InvalidRequest, match="allow_adult") as info:
        run(vertex(), kit.request(provider_options={"person_generation": "everyone"}))
    assert info.value.field == "provider_options.person_generation" and api.requests == []


def test_vertex_without_project_or_credentials_is_provider_unavailable_with_what_to_do(api, kit, monkeypatch,
                                                                                     tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    provider = GoogleProvider("imagen-4.0-generate-001", vertexai=True, allow_retired=True)
    with pytest.raises(ProviderUnavailable, match="credentials"):
        run(provider, kit.request())
    assert api.requests == []


def test_a_model_without_a_known_price_reports_unknown_cost_with_a_warning(api, vertex, kit):
    api.script(":predict", kit.imagen_ok(1, (1024, 1024)))
    response = run(vertex("imagen-5.0-generate-001"), kit.request(1024, 1024))
    assert response.cost.usd is None and len(response.images) == 1
    assert any(w.startswith("cost: no price known for google:imagen-5.0-generate-001") for w in response.warnings)
