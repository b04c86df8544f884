"""``imagegen.Prompt``: text in [subject], [action], [environment], [style], [quality] order, presets, params."""

from __future__ import annotations

import pytest

import imagegen
from imagegen import InvalidRequest, Prompt
from imagegen.prompt import NEGATIVE_PRESETS, QUALITY_PRESETS, STYLE_PRESETS
from imagegen.testing import FakeProvider


def test_parts_appear_in_subject_action_environment_style_quality_order():
    p = Prompt("a red fox", action="leaping over a log", environment="snowy forest", style="oil painting",
               quality="standard", details=["golden hour"])
    assert str(p) == ("a red fox, leaping over a log, snowy forest, oil painting, visible brush strokes, "
                      "canvas texture, classical, high quality, detailed, golden hour")


def test_style_and_quality_presets_expand_to_their_tags():
    p = Prompt("a castle", style="Pixel Art", quality="masterpiece")
    assert STYLE_PRESETS["pixel art"] in p.text and QUALITY_PRESETS["masterpiece"] in p.text


def test_free_text_style_is_used_as_written():
    assert Prompt("a castle", style="in the style of a medieval tapestry").text == (
        "a castle, in the style of a medieval tapestry")


def test_repeated_tags_are_dropped_case_insensitively():
    text = Prompt("a photo of a cat", style=["photo", "Photograph"], details=["film grain"]).text
    assert text.count("film grain") == 1
    assert Prompt("cat", details=["Photograph", "photograph"]).text == "cat, Photograph"


def test_negative_presets_combine_with_free_text():
    p = Prompt("a portrait", negative=["default", "people", "sunglasses"])
    assert p.negative_prompt == ", ".join([NEGATIVE_PRESETS["default"], NEGATIVE_PRESETS["people"], "sunglasses"])


def test_kwargs_carry_params_and_negative_but_explicit_negative_wins():
    p = Prompt("a fox", negative="default", params={"size": "16:9", "steps": 20})
    assert p.kwargs() == {"size": "16:9", "steps": 20, "negative_prompt": NEGATIVE_PRESETS["default"]}
    own = Prompt("a fox", negative="default", params={"negative_prompt": "cats"})
    assert own.kwargs()["negative_prompt"] == "cats"


def test_with_returns_a_changed_copy():
    p = Prompt("a fox", style="photo")
    assert p.with_(subject="a wolf").text.startswith("a wolf, photograph") and p.subject == "a fox"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"subject": "  "}, "subject"),
    ({"subject": "a fox", "colour": "red"}, "colour"),
    ({"subject": "a fox", "quality": "hgh"}, "quality"),
    ({"subject": "a fox", "params": {"stepz": 3}}, "params"),
])
def test_bad_parts_raise_invalid_request_naming_the_part(kwargs, field):
    with pytest.raises(InvalidRequest) as info:
        Prompt(**kwargs)
    assert info.value.field == field and field in str(info.value)


def test_unknown_quality_error_lists_the_presets():
    with pytest.raises(InvalidRequest, match="standard, high"):
        Prompt("a fox", quality="ultra")


def test_a_prompt_is_accepted_where_a_prompt_string_is():
    fake = FakeProvider()
    p = Prompt("a fox", environment="in snow", negative="default", params={"seed": 3, "size": "64x64"})
    result = imagegen.Client().generate(p, provider=fake, **p.kwargs())
    assert result.prompt == "a fox, in snow"
    assert fake.calls[0].prompt == "a fox, in snow" and fake.calls[0].negative_prompt == NEGATIVE_PRESETS["default"]
    assert result.images[0].seed == 3
