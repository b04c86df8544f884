"""Every input image is fully decoded and bounded (pixels, bytes) before any provider sees it: a truncated,
corrupt, header-only or huge-claiming file is an ``InvalidRequest`` naming ``image`` or ``mask``."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from imagegen import Capabilities, Client, GenerateParams, InvalidRequest
from imagegen.imageio import MAX_INPUT_BYTES, MAX_INPUT_PIXELS, ImageData, load_image
from imagegen.testing import FakeProvider


def noisy_png(size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, bytes((i * 37 + i // 7) % 256 for i in range(size[0] * size[1] * 3))).save(
        buf, format="PNG")
    return buf.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` over a few bytes of pixel data."""
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def bmp_claiming(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 14 + 40) + info + b"\x00" * 16


GOOD = noisy_png()


def bad_crc(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 20  # inside the image data, so only the chunk's checksum says it is wrong
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


CORRUPT = {
    "truncated": GOOD[: len(GOOD) // 2],
    "bad checksum": bad_crc(GOOD),
    "header only": GOOD[:33],
    "no IEND": GOOD[:-12],
    "PNG claiming 100000x100000": png_claiming(100_000, 100_000),
    "BMP claiming 100000x100000": bmp_claiming(100_000, 100_000),
    "PNG claiming 64x64 over no pixels": png_claiming(64, 64),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_image_is_refused_naming_the_field(name):
    with pytest.raises(InvalidRequest) as info:
        GenerateParams(image=CORRUPT[name])
    assert info.value.field == "image"


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_mask_is_refused_naming_the_mask(name):
    with pytest.raises(InvalidRequest) as info:
        GenerateParams(image=GOOD, mask=CORRUPT[name])
    assert info.value.field == "mask"


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_local_provider_never_sees_a_corrupt_image(name):
    fake = FakeProvider(capabilities=Capabilities(default_size=(64, 64), operations=frozenset({"txt2img", "img2img"})))
    with pytest.raises(InvalidRequest) as info:
        Client(fake, retry=False).generate("a fox", image=CORRUPT[name])
    assert info.value.field == "image" and fake.calls == []


def test_a_claimed_size_past_the_pixel_bound_is_refused_from_the_header():
    with pytest.raises(InvalidRequest, match=str(MAX_INPUT_PIXELS)):
        load_image(png_claiming(8193, 8192), "image")


def test_a_file_past_the_byte_bound_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.png"
    with open(path, "wb") as fh:
        fh.truncate(MAX_INPUT_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(InvalidRequest, match="more than imagegen takes") as info:
        load_image(path, "image")
    assert info.value.field == "image"


def test_a_float_pil_image_is_refused_with_what_to_convert_it_to():
    with pytest.raises(InvalidRequest, match="mode 'F'.*'RGB'") as info:
        GenerateParams(image=Image.new("F", (8, 8)))
    assert info.value.field == "image"


def test_a_cmyk_pil_image_is_taken_as_rgb():
    image = GenerateParams(image=Image.new("CMYK", (8, 8), (0, 255, 255, 0))).image
    assert image is not None and image.to_pil().mode == "RGB"
    assert image.to_pil().getpixel((0, 0)) == (255, 0, 0)


def test_an_image_data_that_lies_about_its_bytes_is_checked_too():
    liar = ImageData(data=GOOD[:40], mime="image/png", width=64, height=64)
    with pytest.raises(InvalidRequest) as info:
        GenerateParams(image=liar)
    assert info.value.field == "image"


def test_a_checked_image_is_not_decoded_again_when_params_are_rebuilt():
    params = GenerateParams(image=GOOD)
    rebuilt = GenerateParams(image=params.image, n=2)
    assert rebuilt.image is params.image


def test_setting_an_images_bytes_clears_its_checked_mark():
    image = load_image(GOOD, "image")
    image.data = GOOD[:40]
    with pytest.raises(InvalidRequest):
        load_image(image, "image")
