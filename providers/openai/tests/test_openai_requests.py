"""What goes over the wire: the exact request each model x operation sends through the real SDK
(golden files under golden/), multipart edits and variations, n-splitting, options and inputs."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import pytest
import respx
from PIL import Image

import imagegen
from imagegen import ImageGenError, InvalidRequest, TransientError
from imagegen.provider import ImageData, ProgressEvent

pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # images.create_variation


def run(provider, req):
    return asyncio.run(provider.generate(req))


def image_data(kit, width=64, height=64, **kw):
    return ImageData.from_bytes(kit.png(width, height, **kw))


def encoded(mode, size, fmt, color):
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format=fmt)
    return ImageData.from_bytes(buf.getvalue())


def half_white_mask(width=64, height=64):
    """White (repaint) on the left half, black (keep) on the right."""
    im = Image.new("L", (width, height), 0)
    im.paste(255, (0, 0, width // 2, height))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return ImageData.from_bytes(buf.getvalue())


def assert_matches_golden(seen, expected):
    assert seen.path == expected["path"]
    if "json" in expected:
        assert seen.json == expected["json"]
    else:
        assert seen.form == expected["form"]
        assert {k: [v[0], v[1]] for k, v in seen.files.items()} == expected["files"]


GENERATE_CASES = [
    ("generate-dall-e-2", "dall-e-2", {"width": 512, "height": 512, "n": 3}),
    ("generate-dall-e-3", "dall-e-3", {"width": 1792, "height": 1024, "quality": "hd", "style": "natural"}),
    ("generate-gpt-image-1", "gpt-image-1", {"width": 1536, "height": 1024, "n": 2, "quality": "high",
                                             "provider_options": {"background": "transparent", "output_format": "webp",
                                                                  "output_compression": 80, "moderation": "low"}}),
    ("generate-gpt-image-1-mini", "gpt-image-1-mini", {}),
    ("generate-gpt-image-1.5", "gpt-image-1.5", {"width": 1024, "height": 1536, "n": 4, "quality": "low",
                                                 "provider_options": {"user": "user-42"}}),
    ("generate-gpt-image-2", "gpt-image-2", {"width": 2048, "height": 1152, "quality": "medium"}),
]


@pytest.mark.parametrize(("name", "model", "fields"), GENERATE_CASES, ids=[c[0] for c in GENERATE_CASES])
def test_generate_sends_the_golden_json_body(name, model, fields, make, api, kit):
    result = run(make(model), kit.request(**fields))
    (seen,) = api.requests
    assert_matches_golden(seen, kit.golden(name))
    assert len(result.images) == fields.get("n", 1)


def test_every_call_carries_the_key_as_a_bearer_token(make, api, kit):
    run(make("dall-e-3"), kit.request())
    assert api.requests[0].headers["Authorization"] == f"Bearer {kit.API_KEY}"


def test_dall_e_2_inpaint_is_a_multipart_edit_with_an_rgba_png_and_an_alpha_mask(make, api, kit):
    req = kit.request(256, 256, n=2, operation="inpaint", image=image_data(kit), mask=half_white_mask())
    run(make("dall-e-2"), req)
    (seen,) = api.requests
    assert_matches_golden(seen, kit.golden("edit-dall-e-2-inpaint"))
    assert Image.open(io.BytesIO(seen.files["image"][2])).mode == "RGBA"


def test_the_mask_becomes_transparent_where_it_is_white_and_opaque_where_black(make, api, kit):
    run(make("gpt-image-1.5"), kit.request(1536, 1024, operation="inpaint", image=image_data(kit),
                                            mask=half_white_mask()))
    mask = Image.open(io.BytesIO(api.requests[0].files["mask"][2]))
    assert mask.mode == "RGBA" and mask.size == (64, 64)
    alpha = mask.getchannel("A")
    assert alpha.getpixel((5, 30)) == 0 and alpha.getpixel((60, 30)) == 255


def test_gpt_image_inpaint_sends_the_golden_form(make, api, kit):
    run(make("gpt-image-1.5"), kit.request(1536, 1024, n=3, operation="inpaint", image=image_data(kit),
                                            mask=half_white_mask()))
    assert_matches_golden(api.requests[0], kit.golden("edit-gpt-image-1.5-inpaint"))


def test_gpt_image_img2img_sends_a_jpeg_as_it_is_and_no_mask(make, api, kit):
    photo = encoded("RGB", (80, 60), "JPEG", (200, 30, 30))
    result = run(make("gpt-image-1"), kit.request(operation="img2img", image=photo, quality="medium",
                                                  provider_options={"output_format": "jpeg"}))
    seen = api.requests[0]
    assert_matches_golden(seen, kit.golden("edit-gpt-image-1-img2img"))
    assert seen.files["image"][2] == photo.data
    assert not [w for w in result.warnings if w.startswith(("image:", "mask:"))]


def test_dall_e_2_variation_sends_the_image_and_no_prompt(make, api, kit):
    result = run(make("dall-e-2"), kit.request(n=2, operation="variation", image=image_data(kit)))
    assert_matches_golden(api.requests[0], kit.golden("variation-dall-e-2"))
    assert "prompt: openai:dall-e-2 variations take no prompt; it was not sent" in result.warnings


def test_a_non_square_jpeg_is_cropped_to_a_square_rgba_png_for_dall_e_2_with_a_warning(make, api, kit):
    photo = encoded("RGB", (120, 80), "JPEG", (10, 200, 10))
    mask = encoded("L", (120, 80), "PNG", 255)
    result = run(make("dall-e-2"), kit.request(256, 256, operation="inpaint", image=photo, mask=mask))
    files = api.requests[0].files
    image, sent_mask = Image.open(io.BytesIO(files["image"][2])), Image.open(io.BytesIO(files["mask"][2]))
    assert (image.size, image.mode, sent_mask.size) == ((80, 80), "RGBA", (80, 80))
    (warning,) = [w for w in result.warnings if w.startswith("image:")]
    assert "center-cropped 120x80 to 80x80" in warning and "image/jpeg" in warning


def test_a_gif_is_converted_to_png_for_gpt_image_with_a_warning(make, api, kit):
    gif = encoded("P", (32, 32), "GIF", 3)
    result = run(make("gpt-image-1"), kit.request(operation="img2img", image=gif))
    name, mime, data = api.requests[0].files["image"]
    assert (name, mime, Image.open(io.BytesIO(data)).format) == ("image.png", "image/png", "PNG")
    assert any(w.startswith("image: GPT Image edits take PNG, JPEG or WEBP") for w in result.warnings)


def test_a_mask_with_transparent_pixels_is_taken_as_openais_own_form(make, api, kit):
    rgba = Image.new("RGBA", (64, 64), (255, 255, 255, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 16, 64))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    result = run(make("gpt-image-1"), kit.request(operation="inpaint", image=image_data(kit),
                                                  mask=ImageData.from_bytes(buf.getvalue())))
    alpha = Image.open(io.BytesIO(api.requests[0].files["mask"][2])).getchannel("A")
    assert alpha.getpixel((2, 2)) == 0 and alpha.getpixel((40, 2)) == 255  # white there, yet kept: alpha rules
    assert any(w.startswith("mask: it has transparent pixels") for w in result.warnings)


def test_dall_e_3_n4_is_four_one_image_calls_and_every_image_keeps_its_revised_prompt(make, api, kit):
    calls = []

    def numbered(seen):
        calls.append(seen.json["n"])
        return kit.json_response(kit.images_body(1, revised=f"call {len(calls)}"))

    api.script("/images/generations", numbered)
    result = imagegen.Client(make("dall-e-3"), retry=False).generate("a fox", n=4)
    assert calls == [1, 1, 1, 1]
    assert sorted(im.revised_prompt for im in result.images) == [f"call {i} #0" for i in (1, 2, 3, 4)]
    assert [a.index for a in result.attempts] == [0, 1, 2, 3]


def test_dall_e_2_n12_is_a_call_of_10_and_a_call_of_2(make, api, kit):
    result = imagegen.Client(make("dall-e-2"), retry=False).generate("a fox", n=12, size="256x256")
    assert sorted(c.json["n"] for c in api.requests) == [2, 10]
    assert len(result.images) == 12


def test_one_planned_request_is_one_api_call_the_splitting_is_normalizes(make, api, kit):
    result = run(make("dall-e-2"), kit.request(256, 256, n=3))
    assert [c.json["n"] for c in api.requests] == [3]
    assert len(result.images) == 3


def test_a_failed_call_among_several_keeps_the_finished_images_on_the_error(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(1)),
               kit.error(400, "Your request was rejected by our safety system", "content_policy_violation"),
               kit.json_response(kit.images_body(1)))
    with pytest.raises(ImageGenError) as info:
        imagegen.Client(make("dall-e-3"), retry=False, partial="raise").generate("a fox", n=3)
    assert len(api.requests) == 3 and len(info.value.images) == 2


def test_progress_is_reported_when_the_call_is_done(make, api, kit):
    events: list[ProgressEvent] = []
    run(make("dall-e-2"), kit.request(256, 256, n=2, index=4, progress=events.append))
    assert [(e.stage, e.step, e.total, e.image_index) for e in events] == [("generate", 1, 1, 4)]


@respx.mock
def test_url_results_are_downloaded_inside_the_attempt_without_the_key(make, api, kit):
    route = respx.get("https://files.example/img-1.png").mock(
        return_value=httpx.Response(200, content=kit.png(1024, 1024)))
    api.script("/images/generations", kit.json_response(
        {"created": 1, "data": [{"url": "https://files.example/img-1.png?sig=abc", "revised_prompt": "r"}]}))
    result = run(make("my-compatible-model"), kit.request())
    assert route.call_count == 1 and "authorization" not in route.calls[0].request.headers
    assert (result.images[0].size, result.images[0].revised_prompt) == ((1024, 1024), "r")
    assert result.images[0].data == kit.png(1024, 1024)


@respx.mock
@pytest.mark.parametrize("failure", [httpx.Response(403), httpx.ConnectError("refused"), httpx.ReadTimeout("slow")],
                         ids=["403", "connect-error", "timeout"])
def test_a_failed_url_download_is_a_transient_error(failure, make, api, kit):
    route = respx.get("https://files.example/img-1.png")
    if isinstance(failure, httpx.Response):
        route.mock(return_value=failure)
    else:
        route.mock(side_effect=failure)
    api.script("/images/generations", kit.json_response({"created": 1,
                                                          "data": [{"url": "https://files.example/img-1.png?sig=s"}]}))
    with pytest.raises(TransientError) as info:
        run(make("my-compatible-model"), kit.request())
    assert "https://files.example/img-1.png" in str(info.value) and "sig=s" not in str(info.value)


def test_gpt_image_options_are_dropped_with_a_warning_for_dall_e(make, api, kit):
    result = run(make("dall-e-3"), kit.request(provider_options={"background": "transparent", "user": "u7"}))
    assert "background" not in api.requests[0].json and api.requests[0].json["user"] == "u7"
    assert "provider_options: background does not apply to GPT Image models; not sent" in result.warnings


def test_moderation_is_not_sent_with_an_edit(make, api, kit):
    result = run(make("gpt-image-1"), kit.request(operation="img2img", image=image_data(kit),
                                                  provider_options={"moderation": "low"}))
    assert "moderation" not in api.requests[0].form
    assert any(w.startswith("provider_options: moderation does not apply to img2img") for w in result.warnings)


def test_constructor_options_are_defaults_that_a_call_overrides(make, api, kit):
    provider = make("gpt-image-1", output_format="webp", background="opaque")
    run(provider, kit.request(provider_options={"background": "transparent"}))
    body = api.requests[0].json
    assert (body["output_format"], body["background"]) == ("webp", "transparent")


def test_an_unknown_provider_option_is_a_warning_and_not_sent(make, api, kit):
    result = run(make("gpt-image-1"), kit.request(provider_options={"stlye": "vivid"}))
    assert "stlye" not in api.requests[0].json
    assert any(w.startswith("provider_options: openai ignores 'stlye'") for w in result.warnings)


@pytest.mark.parametrize(("options", "field"), [
    ({"background": "glass"}, "provider_options.background"),
    ({"output_compression": 150, "output_format": "jpeg"}, "provider_options.output_compression"),
    ({"output_compression": 50}, "provider_options.output_compression"),
    ({"background": "transparent", "output_format": "jpeg"}, "provider_options.background"),
], ids=["bad-background", "compression-range", "compression-without-format", "transparent-jpeg"])
def test_a_bad_option_value_is_an_invalid_request_naming_it_before_sending(options, field, make, api, kit):
    with pytest.raises(InvalidRequest) as info:
        imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox", provider_options=options)
    assert info.value.field == field and field.split(".")[1] in str(info.value)
    assert api.requests == []


def test_a_bad_option_value_lists_the_allowed_values(make, kit):
    with pytest.raises(InvalidRequest) as info:
        make("gpt-image-1", moderation="strict")
    assert "allowed: low, auto" in str(info.value)


def test_output_format_aliases_are_normalised(make, api, kit):
    run(make("gpt-image-1"), kit.request(provider_options={"output_format": "JPG"}))
    assert api.requests[0].json["output_format"] == "jpeg"


def test_a_jpeg_result_keeps_its_type_and_size(make, api, kit):
    buf = io.BytesIO()
    Image.new("RGB", (1024, 1536), (1, 2, 3)).save(buf, format="JPEG")
    api.script("/images/generations", kit.json_response({"created": 1, "data": [{"b64_json": kit.b64(buf.getvalue())}],
                                                         "output_format": "jpeg"}))
    result = run(make("gpt-image-1"), kit.request(1024, 1536, provider_options={"output_format": "jpeg"}))
    assert (result.images[0].mime, result.images[0].size) == ("image/jpeg", (1024, 1536))


def test_a_png_result_keeps_the_bytes_the_api_sent(make, api, kit):
    result = run(make("dall-e-3"), kit.request())
    sent = json.loads(json.dumps(kit.images_body(1)))["data"][0]["b64_json"]
    assert result.images[0].b64() == sent
