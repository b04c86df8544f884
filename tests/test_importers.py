"""Other tools' images read into one record: ComfyUI, InvokeAI, Fooocus, NovelAI and A1111.

The fixtures (``tests/fixtures_tools.py``) write each tool's metadata the way its source does (cited there). Each
is first read by ``sd-parsers`` (PyPI), a third-party reader, to show the fixture is what that tool writes.
"""

from __future__ import annotations

import json

import pytest

from imagegen import HiresSettings, ModelRef, read_metadata
from imagegen.cli import main

sd_parsers = pytest.importorskip("sd_parsers")
Generators = sd_parsers.data.Generators


def recognised_as(data: bytes, generator) -> None:
    import io

    info = sd_parsers.ParserManager().parse(io.BytesIO(data))
    assert info is not None and info.generator == generator


def test_comfyui_graph_gives_the_sampler_checkpoint_lora_clip_skip_and_size(tools):
    data = tools.comfy_png()
    recognised_as(data, Generators.COMFYUI)
    meta = read_metadata(data)
    s = meta.settings
    assert meta.source == "comfyui"
    assert meta.prompt == "a red circle on a blue background" and meta.negative_prompt == "blurry, low quality"
    assert (s.steps, s.sampler, s.schedule_type, s.guidance, s.seed) == (4, "DPM++ 2M", "Karras", 7.0, 8566257)
    assert (s.width, s.height, s.operation, s.strength) == (32, 32, "txt2img", None)
    assert s.model == ModelRef(name="imagegen-mini") and s.clip_skip == 2
    assert s.loras == (ModelRef(name="detail_tweaker", weight=0.6),)
    assert s.vae == ModelRef(name="vae-ft-mse-840000-ema-pruned.safetensors")


def test_comfyui_latent_upscale_and_second_sampler_read_as_a_hires_pass(tools):
    hires = read_metadata(tools.comfy_png()).settings.hires
    assert hires == HiresSettings(scale=1.5, upscaler="Latent (nearest-exact)", steps=2, strength=0.5,
                                  sampler="DPM++ 2M", schedule_type="Karras")


def test_comfyui_nodes_it_cannot_map_are_listed(tools):
    prompt = json.loads(json.dumps(tools.COMFY_PROMPT))
    prompt["20"] = {"inputs": {"b1": 1.3, "b2": 1.4, "s1": 0.9, "s2": 0.2, "model": ["10", 0]},
                    "class_type": "FreeU_V2"}
    prompt["3"]["inputs"]["model"] = ["20", 0]
    settings = read_metadata(tools.comfy_png(prompt)).settings
    assert settings.extra == {"ComfyUI FreeU_V2": "not read"}
    assert settings.model == ModelRef(name="imagegen-mini")


def test_comfyui_seed_from_a_linked_primitive_node_is_followed(tools):
    prompt = json.loads(json.dumps(tools.COMFY_PROMPT))
    prompt["21"] = {"inputs": {"seed": 42}, "class_type": "Seed (rgthree)"}
    prompt["3"]["inputs"]["seed"] = ["21", 0]
    assert read_metadata(tools.comfy_png(prompt)).settings.seed == 42


def test_invokeai_core_metadata_gives_every_setting(tools):
    data = tools.invokeai_png()
    recognised_as(data, Generators.INVOKEAI)
    meta = read_metadata(data)
    s = meta.settings
    assert meta.source == "invokeai" and meta.prompt == "a red circle on a blue background"
    assert meta.negative_prompt == "blurry"
    assert (s.steps, s.sampler, s.schedule_type, s.guidance, s.seed) == (4, "DPM++ 2M", "Karras", 7.5, 1234)
    assert (s.width, s.height, s.model) == (32, 32, ModelRef(name="imagegen-mini"))
    assert s.clip_skip == 2  # InvokeAI's clip_skip 1 skips one layer: A1111's 2
    assert s.loras == (ModelRef(name="detail_tweaker", weight=0.75),)


def test_fooocus_png_json_gives_its_settings_and_the_prompt_it_sent(tools):
    data = tools.fooocus_png()
    recognised_as(data, Generators.FOOOCUS)
    meta = read_metadata(data)
    s = meta.settings
    assert meta.source == "fooocus"
    assert meta.prompt == "a red circle on a blue background, sharp focus"  # styles and expansion applied
    assert meta.negative_prompt == "blurry, (worst quality, low quality:1.4)"
    assert (s.steps, s.sampler, s.schedule_type, s.guidance, s.seed) == (4, "DPM++ 2M SDE", "Karras", 4.0, 1234)
    assert s.model == ModelRef(name="imagegen-mini", hash="0123456789") and (s.width, s.height) == (32, 32)
    assert s.loras == (ModelRef(name="sd_xl_offset_example-lora_1.0", hash="4852686128", weight=0.1),)
    assert s.extra["Fooocus sharpness"] == "2.0" and s.vae is None and s.refiner is None


def test_fooocus_jpeg_exif_reads_the_same(tools):
    assert read_metadata(tools.fooocus_jpeg()).settings == read_metadata(tools.fooocus_png()).settings


def test_novelai_comment_gives_its_settings(tools):
    data = tools.novelai_png()
    recognised_as(data, Generators.NOVELAI)
    meta = read_metadata(data)
    s = meta.settings
    assert meta.source == "novelai" and meta.negative_prompt == "lowres, blurry"
    assert (s.steps, s.sampler, s.schedule_type, s.guidance, s.seed) == (4, "Euler a", "Karras", 5.0, 2210386917)
    assert s.model == ModelRef(name="Stable Diffusion XL C1E1DE52") and s.extra == {"NovelAI sm": "True"}


def test_a1111_infotext_gives_loras_from_the_prompt_with_their_hashes(tools):
    data = tools.a1111_png()
    recognised_as(data, Generators.AUTOMATIC1111)
    s = read_metadata(data).settings
    assert s.loras == (ModelRef(name="detail_tweaker", hash="7c6bad76eb54", weight=0.6),)
    assert (s.sampler, s.schedule_type, s.clip_skip, s.model.hash) == ("Euler a", "Automatic", 2, "0123456789")


@pytest.mark.parametrize("builder", ["comfy_png", "invokeai_png", "fooocus_png", "novelai_png", "a1111_png"])
def test_info_json_prints_one_normalized_record_for_every_tool(tools, builder, tmp_path, capsys):
    path = tmp_path / "image.png"
    path.write_bytes(getattr(tools, builder)())
    assert main(["info", str(path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["prompt"].startswith("a red circle on a blue background")
    assert {"source", "settings", "params", "seed", "width", "height", "spec"} <= set(record)
    assert record["settings"]["steps"] == 4 and record["settings"]["width"] == 32
