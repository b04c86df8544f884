from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from imagegen import Cost, GeneratedImage
from imagegen.imageio import ImageData, sniff
from imagegen.metadata import read_png_text, with_png_text
from imagegen.result import CostItem


@pytest.fixture
def image(make_png) -> GeneratedImage:
    return GeneratedImage(
        data=make_png((48, 32)), mime="image/png", width=48, height=32, seed=42, revised_prompt="a fox, revised",
        info={"prompt": "a fox", "provider": "openai", "model": "dall-e-3",
              "params": {"steps": 20, "scheduler": "euler", "guidance": 7.0, "negative_prompt": "blurry",
                         "size": "48x32", "provider_options": {"api_key": "sk-SECRET123", "background": "auto"}}},
    )


def test_save_writes_prompt_params_provider_model_and_seed(tmp_path, image):
    path = image.save(tmp_path / "fox.png")
    text = read_png_text(path)
    entry = json.loads(text["imagegen"])
    assert entry["prompt"] == "a fox" and entry["provider"] == "openai" and entry["model"] == "dall-e-3"
    assert entry["seed"] == 42 and entry["params"]["steps"] == 20
    assert text["parameters"].startswith("a fox\nNegative prompt: blurry\n")
    assert "Seed: 42" in text["parameters"] and "Model: dall-e-3" in text["parameters"]


def test_save_never_writes_a_key(tmp_path, image):
    path = image.save(tmp_path / "fox.png")
    raw = Path(path).read_bytes()
    assert b"sk-SECRET123" not in raw and b"api_key" not in raw
    assert json.loads(read_png_text(path)["imagegen"])["params"]["provider_options"] == {"background": "auto"}


def test_save_keeps_pixels_identical(tmp_path, image):
    path = image.save(tmp_path / "fox.png")
    assert Image.open(path).tobytes() == image.to_pil().tobytes()


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, image, monkeypatch):
    target = tmp_path / "out" / "fox.png"
    image.save(target)

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        image.save(target)
    assert os.listdir(target.parent) == ["fox.png"]
    assert read_png_text(str(target))["imagegen"]


def test_save_converts_to_the_format_the_extension_names(tmp_path, image):
    path = image.save(tmp_path / "fox.jpg")
    assert sniff(Path(path).read_bytes())[0] == "image/jpeg"


def test_unicode_prompt_round_trips_through_png_text(tmp_path, image):
    image.info["prompt"] = "ein Fuchs im Schnee, 雪の中の狐\nline two"
    text = read_png_text(image.save(tmp_path / "fox.png"))
    assert json.loads(text["imagegen"])["prompt"] == "ein Fuchs im Schnee, 雪の中の狐\nline two"


def test_with_png_text_replaces_existing_entries(image):
    once = with_png_text(image.data, {"imagegen": "first"})
    twice = with_png_text(once, {"imagegen": "second"})
    assert read_png_text(twice)["imagegen"] == "second"
    assert twice.count(b"imagegen") == 1


def test_to_pil_and_b64_give_the_image(image):
    import base64

    assert image.to_pil().size == (48, 32)
    assert base64.b64decode(image.b64()) == image.data


def test_image_data_reads_size_and_type_from_the_header(make_png):
    data = make_png((70, 30))
    assert ImageData.from_bytes(data).size == (70, 30)
    assert sniff(data) == ("image/png", 70, 30)


def test_repr_does_not_dump_bytes(image):
    assert "bytes" in repr(image) and len(repr(image)) < 120


def test_cost_combine_sums_known_costs_and_keeps_unknown_as_none():
    a = Cost(usd=0.04, source="price-table", items=[CostItem("img", 1, 0.04, 0.04)])
    b = Cost(usd=0.08, source="price-table")
    assert Cost.combine([a, b]).usd == pytest.approx(0.12)
    assert Cost.combine([a, b]).source == "price-table"
    assert Cost.combine([a, Cost(usd=None)]).usd is None
