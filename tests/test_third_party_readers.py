"""Other tools read the images imagegen saves: ``sd-parsers`` (PyPI), a third-party A1111/ComfyUI/InvokeAI reader.

sd-parsers reads A1111 infotext from a PNG's ``parameters`` text chunk and from a JPEG's or WebP's EXIF
``UserComment`` (its ``extractors/_jpeg_usercomment.py``: 8-byte prefix, then UTF-16 big-endian), and needs at
least three of Sampler, CFG scale, Seed, Steps on the last line (``parsers/_automatic1111.py``).
"""

from __future__ import annotations

import pytest

from imagegen import GeneratedImage, ImageSettings, ModelRef, read_metadata

sd_parsers = pytest.importorskip("sd_parsers")

SETTINGS = ImageSettings(steps=20, sampler="DPM++ 2M", schedule_type="Karras", guidance=7.0, seed=3, width=64,
                         height=48, model=ModelRef(name="dreamshaper_8", hash="879db523c3"))


def saved(make_png, tmp_path, name: str) -> str:
    image = GeneratedImage(data=make_png((64, 48)), mime="image/png", width=64, height=48, seed=3,
                           info={"prompt": "a red fox in fresh snow", "provider": "diffusers", "model": "dreamshaper_8",
                                 "params": {"negative_prompt": "blurry, low quality"}},
                           settings=SETTINGS)
    return image.save(tmp_path / name)


@pytest.mark.parametrize("name", ["fox.png", "fox.jpg", "fox.webp"])
def test_sd_parsers_reads_prompt_and_settings_from_every_format(make_png, tmp_path, name):
    info = sd_parsers.ParserManager().parse(saved(make_png, tmp_path, name))
    assert info is not None and info.generator == sd_parsers.data.Generators.AUTOMATIC1111
    sampler = info.samplers[0]
    assert info.full_prompt == "a red fox in fresh snow"
    assert info.full_negative_prompt == "blurry, low quality"
    assert sampler.name == "DPM++ 2M" and sampler.parameters["scheduler"] == "Karras"
    assert sampler.parameters["steps"] == "20" and sampler.parameters["cfg_scale"] == "7"
    assert sampler.parameters["seed"] == "3" and info.metadata["Size"] == "64x48"
    assert (sampler.model.name, sampler.model.hash) == ("dreamshaper_8", "879db523c3")


@pytest.mark.parametrize("name", ["fox.jpg", "fox.webp"])
def test_jpeg_and_webp_read_back_the_same_settings(make_png, tmp_path, name):
    meta = read_metadata(saved(make_png, tmp_path, name))
    assert meta.source == "parameters" and meta.prompt == "a red fox in fresh snow"
    assert meta.settings is not None
    assert meta.settings.model_dump(exclude={"extra"}) == SETTINGS.model_dump(exclude={"extra"})
    assert meta.negative_prompt == "blurry, low quality"
