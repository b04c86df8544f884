"""``GeneratedImage.settings``: what the provider reported, completed by imagegen with what it sent."""

from __future__ import annotations

import imagegen
from imagegen import Capabilities, GeneratedImage, ImageSettings, ModelRef
from imagegen.testing import FakeProvider


def test_a_provider_that_reports_nothing_gets_what_was_sent():
    result = imagegen.generate("a fox", provider=FakeProvider("fox-1"), seed=3, steps=12, guidance=6.0,
                               scheduler="Euler a", size="128x96", loras=["/models/detail.safetensors:0.6"])
    settings = result.images[0].settings
    assert (settings.steps, settings.guidance, settings.sampler, settings.seed) == (12, 6.0, "Euler a", 3)
    assert (settings.width, settings.height, settings.model) == (128, 96, ModelRef(name="fox-1"))
    assert settings.loras == (ModelRef(name="detail", weight=0.6),) and settings.operation == "txt2img"


def test_what_the_provider_reports_wins_and_the_rest_is_filled_in():
    def handler(req):
        from PIL import Image

        picture = imagegen.provider.encode_png(Image.new("RGB", (req.width, req.height)))
        reported = ImageSettings(steps=30, sampler="DPM++ 2M", schedule_type="Karras",
                                 model=ModelRef(name="sd15", hash="6ce0161689"))
        return [GeneratedImage(data=picture, mime="image/png", width=req.width, height=req.height, settings=reported)]

    result = imagegen.generate("a fox", provider=FakeProvider(handler=handler), seed=5, steps=12, size="128x128")
    settings = result.images[0].settings
    assert (settings.steps, settings.sampler, settings.schedule_type) == (30, "DPM++ 2M", "Karras")
    assert settings.model == ModelRef(name="sd15", hash="6ce0161689")
    assert (settings.seed, settings.width, settings.height) == (5, 128, 128)


def test_parameters_a_provider_does_not_honour_are_not_recorded():
    caps = Capabilities(sizes=frozenset({(64, 64)}), supports=frozenset({"seed"}))
    result = imagegen.generate("a fox", provider=FakeProvider(capabilities=caps), seed=1, steps=30, guidance=9.0)
    settings = result.images[0].settings
    assert settings.steps is None and settings.guidance is None and settings.seed == 1


def test_an_exact_resize_keeps_the_size_the_model_made():
    caps = Capabilities(sizes=frozenset({(64, 64)}), supports=frozenset({"seed"}))
    result = imagegen.generate("a fox", provider=FakeProvider(capabilities=caps), seed=1, size="60x40",
                               size_policy="exact")
    image = result.images[0]
    assert image.size == (60, 40) and (image.settings.width, image.settings.height) == (64, 64)


def test_scheduler_joins_a_karras_schedule_to_the_sampler_name():
    assert ImageSettings(sampler="DPM++ 2M", schedule_type="Karras").scheduler == "DPM++ 2M Karras"
    assert ImageSettings(sampler="Euler a", schedule_type="Uniform").scheduler == "Euler a"
