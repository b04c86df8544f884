from __future__ import annotations

import pytest
from PIL import Image

import imagegen
from imagegen import GenerateParams, InvalidRequest, LoRA, Size
from imagegen.params import build_params


@pytest.mark.parametrize(
    ("fields", "field", "hint"),
    [
        ({"n": 0}, "n", "greater than or equal to 1"),
        ({"n": -3}, "n", "greater than or equal to 1"),
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"size": "abc"}, "size", "1024x768"),
        ({"size": "0x512"}, "size", "positive"),
        ({"size": (512,)}, "size", "(width, height)"),
        ({"size": "16:0"}, "size", "positive"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"seed": 2**64}, "seed", "less than or equal to 18446744073709551615"),
        ({"guidance": float("nan")}, "guidance", "finite"),
        ({"size_policy": "closest"}, "size_policy", "'nearest', 'exact' or 'strict'"),
        ({"unsupported": "ignore"}, "unsupported", "'warn' or 'error'"),
        ({"colour": "red"}, "colour", "allowed: size, n, seed"),
        ({"n": 1.5}, "n", "whole number"),
        ({"n": True}, "n", "whole number"),
        ({"loras": [("x", "big")]}, "loras", "scale"),
        ({"loras": [("x", 50.0)]}, "loras", "within -10..10"),
    ],
)
def test_invalid_values_raise_invalid_request_naming_the_field(fields, field, hint):
    with pytest.raises(InvalidRequest) as info:
        GenerateParams(**fields)
    assert info.value.field == field
    assert field in str(info.value)
    assert hint in str(info.value)


def test_strength_above_one_is_rejected(png):
    with pytest.raises(InvalidRequest, match="strength") as info:
        GenerateParams(image=png, strength=1.5)
    assert info.value.field == "strength"


def test_strength_without_image_is_rejected():
    with pytest.raises(InvalidRequest, match="strength: .*image="):
        GenerateParams(strength=0.5)


def test_mask_without_image_is_rejected(png):
    with pytest.raises(InvalidRequest, match="mask: .*image=") as info:
        GenerateParams(mask=png)
    assert info.value.field == "mask"


def test_mask_of_another_size_is_rejected(png, make_png):
    with pytest.raises(InvalidRequest, match="mask is 32x32 but image is 64x64"):
        GenerateParams(image=png, mask=make_png((32, 32)))


def test_unreadable_image_is_rejected_with_field_name():
    with pytest.raises(InvalidRequest, match="image: not a readable image"):
        GenerateParams(image=b"definitely not an image")


def test_missing_image_file_is_rejected(tmp_path):
    with pytest.raises(InvalidRequest, match="image: cannot read image file"):
        GenerateParams(image=str(tmp_path / "missing.png"))


def test_image_accepts_path_bytes_and_pil(png, png_path):
    from_path = GenerateParams(image=png_path).image
    from_bytes = GenerateParams(image=png).image
    from_pil = GenerateParams(image=Image.new("RGB", (64, 64), (200, 30, 30))).image
    assert from_path == from_bytes
    assert from_pil is not None and from_pil.size == (64, 64) and from_pil.mime == "image/png"


def test_operation_is_inferred_from_inputs(png):
    assert GenerateParams().resolved_operation == "txt2img"
    assert GenerateParams(image=png).resolved_operation == "img2img"
    assert GenerateParams(image=png, mask=png).resolved_operation == "inpaint"
    assert GenerateParams(control_image=png, control="canny").resolved_operation == "controlnet"


def test_explicit_operation_needs_its_input():
    with pytest.raises(InvalidRequest, match="operation: 'variation' needs image="):
        GenerateParams(operation="variation")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1024x768", Size(1024, 768)), (" 512 X 512 ", Size(512, 512)), ((640, 480), Size(640, 480)),
     ([640, 480], Size(640, 480)), ("16:9", Size(ratio=(16.0, 9.0))), ("2.35:1", Size(ratio=(2.35, 1.0)))],
)
def test_size_accepts_pixels_ratios_and_pairs(raw, expected):
    assert GenerateParams(size=raw).size == expected


def test_loras_accept_strings_pairs_and_dicts():
    params = GenerateParams(loras=["style.safetensors:0.7", ("detail", 0.3), {"path": "x", "scale": 2, "name": "n"}])
    assert params.loras == (LoRA("style.safetensors", 0.7), LoRA("detail", 0.3), LoRA("x", 2.0, "n"))


def test_keyword_arguments_build_the_same_model_as_params():
    assert build_params(size="16:9", n=3, seed=5) == GenerateParams(size="16:9", n=3, seed=5)


def test_keyword_arguments_override_params_and_are_validated():
    base = GenerateParams(n=2, seed=1)
    merged = build_params(base, seed=9)
    assert (merged.n, merged.seed) == (2, 9)
    with pytest.raises(InvalidRequest, match="n:"):
        build_params(base, n=0)


def test_invalid_request_is_a_value_error():
    assert issubclass(InvalidRequest, ValueError)
    assert issubclass(InvalidRequest, imagegen.ImageGenError)


def test_provider_options_pass_through_untouched():
    options = {"background": "transparent", "nested": {"a": [1, 2]}}
    assert GenerateParams(provider_options=options).provider_options == options
