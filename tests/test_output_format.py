"""``output_format`` / ``output_compression`` / ``background``: validated at the edge, honoured by every provider
(imagegen re-encodes what a provider cannot encode itself), and the mime always tells the truth."""

from __future__ import annotations

import dataclasses

import pytest

import imagegen
from imagegen.provider import SUPPORTABLE
from imagegen.testing import FakeProvider


@pytest.mark.parametrize(("params", "field"), [
    ({"output_format": "gif"}, "output_format"),
    ({"output_compression": 50}, "output_compression"),  # needs jpeg or webp
    ({"output_format": "webp", "output_compression": 101}, "output_compression"),
    ({"output_format": "jpeg", "background": "transparent"}, "background"),
    ({"background": "glass"}, "background"),
])
def test_bad_output_settings_are_invalid_naming_the_parameter(params, field):
    with pytest.raises(imagegen.InvalidRequest) as info:
        imagegen.GenerateParams(**params)
    assert info.value.field == field


def test_jpg_means_jpeg():
    assert imagegen.GenerateParams(output_format="JPG").output_format == "jpeg"


@pytest.mark.parametrize(("fmt", "mime", "magic"), [
    ("jpeg", "image/jpeg", b"\xff\xd8"), ("webp", "image/webp", b"RIFF"), ("png", "image/png", b"\x89PNG")])
def test_a_provider_that_cannot_encode_gets_its_images_re_encoded(fmt, mime, magic):
    result = imagegen.Client(FakeProvider()).generate("x", size="64x64", output_format=fmt)
    assert result.images[0].mime == mime and result.images[0].data.startswith(magic)


def test_compression_changes_the_encoding():
    small = imagegen.Client(FakeProvider()).generate("x", size="64x64", output_format="jpeg", output_compression=5)
    large = imagegen.Client(FakeProvider()).generate("x", size="64x64", output_format="jpeg", output_compression=95)
    assert len(small.images[0].data) < len(large.images[0].data)


def test_an_opaque_background_needs_no_support_but_a_transparent_one_is_warned_about():
    caps = dataclasses.replace(FakeProvider().capabilities(), supports=SUPPORTABLE - {"background"})
    opaque = imagegen.Client(FakeProvider(capabilities=caps)).generate("x", size="64x64", background="opaque")
    assert not [w for w in opaque.warnings if w.field == "background"]
    clear = imagegen.Client(FakeProvider(capabilities=caps)).generate("x", size="64x64", background="transparent")
    assert [w for w in clear.warnings if w.kind == "unsupported" and w.field == "background"]
