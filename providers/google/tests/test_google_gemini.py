"""Gemini image models through generate_content, on both backends, against the scripted API."""

from __future__ import annotations

import asyncio
import base64

import pytest
from imagegen_google import GoogleProvider

from imagegen import Client, ContentPolicyError, ProviderUnavailable
from imagegen.provider import ImageData

pytestmark = pytest.mark.filterwarnings("ignore::Warning")


def run(provider, req):
    async def go():
        try:
            return await provider.generate(req)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def test_gemini_api_request_uses_the_key_header_and_image_output(api, gemini_api, kit):
    api.script(":generateContent", kit.gemini_ok())
    run(gemini_api(), kit.request(1344, 768, seeds=(11,), prompt="a fox"))
    (seen,) = api.requests
    assert seen.path.endswith(kit.gemini_path()) and seen.headers["X-Goog-Api-Key"] == kit.API_KEY
    assert seen.fields == {"contents": [{"role": "user", "parts": [{"text": "a fox"}]}],
                         "generationConfig": {"seed": 11, "responseModalities": ["TEXT", "IMAGE"],
                                              "imageConfig": {"aspectRatio": "16:9"}}}


def test_vertex_request_goes_to_the_project_path_and_takes_vertex_only_options(api, vertex, kit):
    api.script(":generateContent", kit.gemini_ok((1024, 1024)))
    run(vertex("gemini-2.5-flash-image", person_generation="dont_allow", output_mime_type="image/png"),
        kit.request(1024, 1024))
    seen = api.requests[0]
    assert seen.path == (f"/v1beta1/projects/{kit.PROJECT}/locations/{kit.LOCATION}/publishers/google/models/"
                         "gemini-2.5-flash-image:generateContent")
    assert seen.fields["generationConfig"]["imageConfig"] == {
        "aspectRatio": "1:1", "personGeneration": "ALLOW_NONE", "imageOutputOptions": {"mimeType": "image/png"}}


def test_options_the_backend_cannot_take_are_warnings_and_not_sent(api, gemini_api, kit):
    api.script(":generateContent", kit.gemini_ok())
    response = run(gemini_api(person_generation="allow_all", safety_filter_level="block_none"),
                   kit.request(1344, 768))
    assert "personGeneration" not in str(api.requests[0].fields) and "safety" not in str(api.requests[0].fields)
    assert sorted(w.split(" applies")[0] for w in response.warnings if w.startswith("provider_options: ")) == [
        "provider_options: person_generation", "provider_options: safety_filter_level"]


def test_gemini_3_pro_sends_the_resolution_tier(api, gemini_api, kit):
    api.script(":generateContent", kit.gemini_ok((2752, 1536)))
    response = run(gemini_api("gemini-3-pro-image-preview"), kit.request(2752, 1536))
    assert api.requests[0].fields["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert response.cost.usd == pytest.approx(0.134)


def test_input_image_is_sent_inline_for_editing(api, gemini_api, kit):
    api.script(":generateContent", kit.gemini_ok((1024, 1024)))
    source = ImageData.from_bytes(kit.png(64, 48))
    run(gemini_api(), kit.request(1024, 1024, operation="img2img", image=source, prompt="make it night"))
    parts = api.requests[0].fields["contents"][0]["parts"]
    assert parts[0] == {"text": "make it night"}
    inline = parts[1]["inlineData"]  # the SDK writes urlsafe base64 and a snake_case mime key
    assert base64.urlsafe_b64decode(inline["data"]) == source.data
    assert inline.get("mimeType", inline.get("mime_type")) == "image/png"


def test_the_image_part_is_returned_with_its_seed_size_and_price(api, gemini_api, kit):
    api.script(":generateContent", kit.gemini_ok())
    response = run(gemini_api(), kit.request(1344, 768, seeds=(3,)))
    (image,) = response.images
    assert image.data == kit.png(1344, 768) and (image.width, image.height, image.seed) == (1344, 768, 3)
    assert response.cost.usd == pytest.approx(0.039)


def test_a_blocked_prompt_is_a_content_policy_error_with_the_reason(api, gemini_api, kit):
    api.script(":generateContent", kit.json_response({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))
    with pytest.raises(ContentPolicyError, match="PROHIBITED_CONTENT"):
        run(gemini_api(), kit.request(1344, 768))


def test_an_answer_without_an_image_is_a_content_policy_error_quoting_the_model(api, gemini_api, kit):
    body = {"candidates": [{"content": {"role": "model", "parts": [{"text": "I can't draw that."}]},
                            "finishReason": "IMAGE_SAFETY"}]}
    api.script(":generateContent", kit.json_response(body))
    with pytest.raises(ContentPolicyError, match="IMAGE_SAFETY.*I can't draw that"):
        run(gemini_api(), kit.request(1344, 768))


def test_no_api_key_is_provider_unavailable_before_anything_is_sent(api):
    provider = GoogleProvider("gemini-2.5-flash-image", base_url=api.url)
    with pytest.raises(ProviderUnavailable, match="GOOGLE_API_KEY"):
        run(provider, default_request())
    assert api.requests == []


def default_request():  # a request for the default 1:1 size
    from imagegen.provider import ProviderRequest

    return ProviderRequest("a fox", "txt2img", 1024, 1024)


def test_the_key_is_read_from_the_environment(api, kit, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", kit.API_KEY)
    api.script(":generateContent", kit.gemini_ok((1024, 1024)))
    run(GoogleProvider("gemini-2.5-flash-image", base_url=api.url), default_request())
    assert api.requests[0].headers["X-Goog-Api-Key"] == kit.API_KEY


def test_client_makes_n_images_one_call_each_with_consecutive_seeds(api, gemini_api, kit):
    api.script(":generateContent", kit.gemini_ok((1024, 1024)))
    with Client(gemini_api(), retry=False) as client:
        result = client.generate("a fox", n=3, seed=40)
    assert sorted(r.fields["generationConfig"]["seed"] for r in api.requests) == [40, 41, 42]
    assert result.seeds == [40, 41, 42] and result.cost.usd == pytest.approx(3 * 0.039)


def test_interim_thought_images_are_not_returned(api, gemini_api, kit):
    parts = [{"inlineData": {"mimeType": "image/png", "data": kit.b64(kit.png(1024, 1024, 1))}, "thought": True},
             {"text": "Refining the composition", "thought": True},
             {"inlineData": {"mimeType": "image/png", "data": kit.b64(kit.png(1024, 1024, 2))}}]
    api.script(":generateContent", kit.json_response(
        {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}))
    response = run(gemini_api("gemini-3-pro-image-preview"), kit.request(1024, 1024))
    assert [im.data for im in response.images] == [kit.png(1024, 1024, 2)]
