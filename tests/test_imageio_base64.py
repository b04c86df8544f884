"""``ImageData.from_base64``: PNGs stay base64 until ``data`` is read; broken payloads fail at once."""

import base64
import io

import pytest
from PIL import Image

from imagegen import GeneratedImage
from imagegen.imageio import ImageData


@pytest.fixture(scope="module")
def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_png_from_base64_reports_size_before_decoding(png):
    image = GeneratedImage.from_base64(base64.b64encode(png).decode(), seed=5)
    assert "_b64" in image.__dict__
    assert (image.mime, image.width, image.height, image.seed) == ("image/png", 300, 200, 5)


def test_lazy_png_decodes_to_the_original_bytes_once(png):
    image = ImageData.from_base64(base64.b64encode(png))
    assert image.data == png
    assert "_b64" not in image.__dict__
    assert image.data is image.data


def test_assigning_data_replaces_a_pending_payload(png):
    image = ImageData.from_base64(base64.b64encode(png))
    image.data = b"other"
    assert image.data == b"other"


def test_truncated_png_payload_is_rejected_up_front(png):
    with pytest.raises(ValueError, match="truncated PNG"):
        ImageData.from_base64(base64.b64encode(png)[:-8])


def test_text_that_is_not_base64_is_rejected(png):
    with pytest.raises(ValueError, match="base64"):
        ImageData.from_base64("!!!not base64")


def test_non_png_is_decoded_eagerly():
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buf, format="JPEG")
    image = ImageData.from_base64(base64.b64encode(buf.getvalue()))
    assert (image.mime, image.width, image.height) == ("image/jpeg", 40, 30)
    assert image.data == buf.getvalue()


def test_lazy_image_saves_and_compares_like_an_eager_one(png, tmp_path):
    lazy = GeneratedImage.from_base64(base64.b64encode(png))
    eager = GeneratedImage.from_bytes(png)
    assert lazy == eager
    assert lazy.to_pil().size == (300, 200)
    assert Image.open(lazy.save(tmp_path / "a.png")).size == (300, 200)
