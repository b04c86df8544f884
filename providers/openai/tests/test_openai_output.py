"""``output_format``, ``output_compression`` and ``background`` as GenerateParams on OpenAI: sent as the API's own
fields to the GPT Image models (openai SDK 3.57.0 ``image_generate_params.py``), and the image's ``mime`` is what
came back; models without them get imagegen's re-encoding or an ``unsupported`` warning."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import imagegen


def webp(size=(1024, 1024)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, format="WEBP", quality=60)
    return buf.getvalue()


def test_output_format_webp_is_sent_and_the_webp_openai_returns_is_kept_as_it_is(make, api, kit, tmp_path):
    sent = webp()
    api.script("/images/generations", kit.json_response({"created": 1, "data": [{"b64_json": kit.b64(sent)}]}))
    result = imagegen.Client(make("gpt-image-2"), retry=False).generate("a fox", output_format="webp",
                                                                         output_compression=60)
    body = api.requests[0].json
    assert (body["output_format"], body["output_compression"]) == ("webp", 60)
    image = result.images[0]
    assert image.mime == "image/webp" and image.data == sent
    (path,) = result.save(tmp_path)
    assert path.endswith(".webp") and imagegen.read_metadata(path).prompt == "a fox"


def test_a_png_answer_to_a_webp_request_is_re_encoded_so_the_mime_tells_the_truth(make, api):
    result = imagegen.Client(make("gpt-image-2"), retry=False).generate("a fox", output_format="webp")
    assert result.images[0].mime == "image/webp" and result.images[0].data[8:12] == b"WEBP"


def test_the_parameter_wins_over_a_conflicting_provider_option_with_a_warning(make, api):
    result = imagegen.Client(make("gpt-image-2"), retry=False).generate(
        "a fox", output_format="webp", provider_options={"output_format": "jpeg"})
    assert api.requests[0].json["output_format"] == "webp"
    assert any(w.field == "provider_options.output_format" and "gives way" in w for w in result.warnings)
    assert result.images[0].mime == "image/webp"


def test_a_transparent_background_is_sent_to_gpt_image_2_with_the_preview_warning(make, api):
    result = imagegen.Client(make("gpt-image-2"), retry=False).generate("a fox", background="transparent",
                                                                         output_format="png")
    assert api.requests[0].json["background"] == "transparent"
    assert any(w.field == "provider_options.background" and "preview" in w for w in result.warnings)


def test_the_2_5_models_take_transparent_backgrounds_without_a_warning(make, api):
    result = imagegen.Client(make("gpt-image-2.5-flare"), retry=False).generate("a fox", background="transparent")
    assert api.requests[0].json["background"] == "transparent"
    assert not [w for w in result.warnings if "background" in (w.field or "")]


def test_dall_e_gets_a_re_encoded_jpeg_and_a_warning_for_a_transparent_background(make, api):
    result = imagegen.Client(make("dall-e-3"), retry=False).generate("a fox", output_format="jpeg",
                                                                      output_compression=50)
    assert "output_format" not in api.requests[0].json and result.images[0].mime == "image/jpeg"
    transparent = imagegen.Client(make("dall-e-3"), retry=False).generate("a fox", background="transparent")
    assert "background" not in api.requests[1].json
    assert [w for w in transparent.warnings if w.kind == "unsupported" and w.field == "background"]


def test_several_input_images_are_sent_as_image_list_up_to_the_models_limit(make, api, kit):
    pictures = [kit.png(64, 64, shade=s) for s in (10, 20, 30)]
    result = imagegen.Client(make("gpt-image-2"), retry=False).generate("combine them", image=pictures)
    body = api.requests[0].body  # the recorder keeps one file per field name: count the parts in the body
    assert api.requests[0].path.endswith("/images/edits") and len(result.images) == 1
    assert body.count(b'name="image[]"') == 3 and all(picture in body for picture in pictures)


def test_more_input_images_than_the_model_takes_are_refused_before_sending(make, api, kit):
    with pytest.raises(imagegen.UnsupportedFeature) as info:
        imagegen.Client(make("gpt-image-2"), retry=False).generate("x", image=[kit.png(8, 8)] * 17)
    assert info.value.field == "image" and "at most 16" in str(info.value) and api.requests == []
