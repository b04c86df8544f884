"""The public edge is strict: numbers are numbers, text is sendable text, sizes are ASCII and finite, and a
prompt fits the model it goes to, all checked before a provider sees the request."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from imagegen import Capabilities, Client, GenerateParams, InvalidRequest, Prompt
from imagegen.checks import MAX_PROMPT_CHARS
from imagegen.testing import FakeProvider


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider(capabilities=Capabilities(default_size=(64, 64), max_images_per_call=4,
                                                  operations=frozenset({"txt2img", "variation"}),
                                                  supports=frozenset({"seed", "guidance", "steps"})))


def refused(fake: FakeProvider, prompt: object = "a fox", **kwargs: object) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        Client(fake, retry=False).generate(prompt, **kwargs)
    assert fake.calls == []
    return info.value


@pytest.mark.parametrize("size", ["1" * 400 + ":" + "1" * 400, "1" * 400 + "x" + "1" * 400, "1e999:1"])
def test_a_size_too_long_to_be_a_number_is_refused_not_read_as_infinity(fake, size):
    assert refused(fake, size=size).field == "size"


def test_a_size_written_in_other_scripts_digits_is_refused():
    with pytest.raises(InvalidRequest, match="ASCII digits") as info:
        GenerateParams(size="١٠٢٤x١٠٢٤")
    assert info.value.field == "size"


@pytest.mark.parametrize(("field", "value"), [
    ("n", "3"), ("n", b"3"), ("n", Decimal(3)), ("n", True), ("seed", " 7 "), ("seed", "7"), ("steps", "20"),
    ("steps", 20.5), ("guidance", True), ("guidance", "7.5"), ("guidance", Decimal("7.5")), ("guidance", b"1"),
])
def test_numbers_given_as_text_bytes_decimals_or_bools_are_refused_naming_the_field(fake, field, value):
    error = refused(fake, **{field: value})
    assert error.field == field and "number" in str(error)


@pytest.mark.parametrize(("field", "value"), [("guidance", math.nan), ("guidance", math.inf),
                                              ("strength", -math.inf), ("control_scale", math.nan)])
def test_float_settings_refuse_nan_and_infinity(field, value):
    with pytest.raises(InvalidRequest) as info:
        GenerateParams(**{field: value})
    assert info.value.field == field


def test_numpy_numbers_and_whole_floats_are_numbers():
    params = GenerateParams(n=np.int64(2), seed=3.0, guidance=np.float32(7.5))
    assert (params.n, params.seed, params.guidance) == (2, 3, 7.5)
    assert type(params.n) is int and type(params.seed) is int


@pytest.mark.parametrize(("field", "value"), [("negative_prompt", b"blurry"), ("scheduler", 5),
                                              ("negative_prompt", "blur\x00ry"), ("negative_prompt", "a\ud800b")])
def test_text_settings_must_be_sendable_text(field, value):
    with pytest.raises(InvalidRequest) as info:
        GenerateParams(**{field: value})
    assert info.value.field == field


def test_a_flag_takes_only_true_or_false():
    with pytest.raises(InvalidRequest, match="True or False") as info:
        GenerateParams(tiling="yes")
    assert info.value.field == "tiling"


def test_a_bytes_prompt_is_refused_not_sent_as_its_repr(fake):
    error = refused(fake, b"a fox")
    assert error.field == "prompt" and "bytes" in str(error)


@pytest.mark.parametrize("prompt", ["", " ", "\n\t"])
def test_a_blank_prompt_is_refused(fake, prompt):
    assert refused(fake, prompt).field == "prompt"


def test_a_variation_needs_no_prompt(fake, png):
    Client(fake, retry=False).generate("", image=png, operation="variation")
    assert len(fake.calls) == 1


@pytest.mark.parametrize(("prompt", "what"), [("a fox\x00", "NUL"), ("a \ud83d fox", "surrogate")])
def test_a_prompt_that_cannot_be_sent_as_utf8_is_refused(fake, prompt, what):
    error = refused(fake, prompt)
    assert error.field == "prompt" and what in str(error)


def test_a_prompt_longer_than_any_model_takes_is_refused(fake):
    error = refused(fake, "a" * (MAX_PROMPT_CHARS + 1))
    assert error.field == "prompt" and str(MAX_PROMPT_CHARS) in str(error)
    assert len(str(error)) < 200  # the prompt itself is not in the message


def test_a_prompt_over_the_models_limit_is_refused_when_planned():
    fake = FakeProvider(capabilities=Capabilities(default_size=(64, 64), max_prompt_chars=10))
    with pytest.raises(InvalidRequest, match="at most 10 characters") as info:
        Client(fake, retry=False).generate("a red fox in the snow")
    assert info.value.field == "prompt" and fake.calls == []
    Client(fake, retry=False).generate("a red fox")
    assert len(fake.calls) == 1


def test_a_prompt_builder_is_checked_like_a_string(fake):
    assert refused(fake, Prompt(subject="a fox", details=("x\x00",))).field == "prompt"


def test_a_non_positive_prompt_limit_is_a_capabilities_error():
    with pytest.raises(ValueError, match="max_prompt_chars"):
        Capabilities(max_prompt_chars=0)
