"""Replaying another tool's image: its settings mapped to GenerateParams, a warning for each one not honoured.

Fixtures come from ``tests/fixtures_tools.py`` (each tool's format, cited there). A1111's ``Automatic`` schedule
means the sampler's own default (``modules/sd_samplers_kdiffusion.py``: ``DPM++ 2M`` defaults to Karras).
"""

from __future__ import annotations

import hashlib
import json
import struct

import pytest

from imagegen import read_metadata
from imagegen.hashing import lora_hash
from imagegen.replay import find_model, plan_replay


def fields(warnings) -> list[str]:
    return [w.field for w in warnings]


def lora_file(path, payload: bytes = b"\x05" * 64):
    header = json.dumps({"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(header)) + header + payload)
    return path


def test_an_a1111_image_maps_to_generate_params(tools):
    plan = plan_replay(read_metadata(tools.a1111_png()))
    assert plan.prompt == "a red circle on a blue background" and plan.spec == "diffusers:imagegen-mini"
    assert plan.params == {"steps": 4, "guidance": 7.0, "seed": 5, "negative_prompt": "blurry", "size": "32x32",
                           "scheduler": "Euler a", "clip_skip": 2}


def test_each_a1111_setting_not_honoured_gets_one_warning(tools):
    plan = plan_replay(read_metadata(tools.a1111_png()))
    assert fields(plan.warnings) == ["loras", "replay", "seed"]
    assert "detail_tweaker" in plan.warnings[0] and "ENSD (31337)" in plan.warnings[1]


def test_automatic_means_the_a1111_samplers_default_schedule(tools):
    text = tools.A1111_TEXT.replace("Sampler: Euler a", "Sampler: DPM++ 2M")
    assert plan_replay(read_metadata(tools.a1111_png(text))).params["scheduler"] == "DPM++ 2M Karras"


def test_a_schedule_the_local_samplers_lack_is_a_warning(tools):
    text = tools.A1111_TEXT.replace("Schedule type: Automatic", "Schedule type: Exponential")
    plan = plan_replay(read_metadata(tools.a1111_png(text)))
    assert plan.params["scheduler"] == "Euler a" and "scheduler" in fields(plan.warnings)


def test_a_lora_found_by_name_is_used_at_the_images_weight(tools, tmp_path):
    path = lora_file(tmp_path / "loras" / "detail_tweaker.safetensors")
    text = tools.A1111_TEXT.replace("7c6bad76eb54", lora_hash(path))
    plan = plan_replay(read_metadata(tools.a1111_png(text)), model_dirs=[tmp_path])
    assert plan.params["loras"] == [f"{path}:0.6"] and "loras" not in fields(plan.warnings)


def test_a_lora_whose_hash_differs_is_used_with_a_warning(tools, tmp_path):
    path = lora_file(tmp_path / "detail_tweaker.safetensors")
    plan = plan_replay(read_metadata(tools.a1111_png()), model_dirs=[tmp_path])
    assert plan.params["loras"] == [f"{path}:0.6"]
    (warning,) = [w for w in plan.warnings if w.field == "loras"]
    assert "7c6bad76eb54" in warning and warning.kind == "compatibility"


def test_a_checkpoint_found_by_name_runs_locally_and_its_hash_is_checked(tools, tmp_path):
    checkpoint = tmp_path / "SD1.5" / "imagegen-mini.safetensors"
    lora_file(checkpoint, b"\x01" * 32)
    text = tools.A1111_TEXT.replace("0123456789", hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10])
    plan = plan_replay(read_metadata(tools.a1111_png(text)), model_dirs=[tmp_path])
    assert plan.spec == f"diffusers:{checkpoint}" and "model" not in fields(plan.warnings)
    mismatched = plan_replay(read_metadata(tools.a1111_png()), model_dirs=[tmp_path])
    assert "model" in fields(mismatched.warnings)


def test_a_checkpoint_found_nowhere_falls_back_with_a_warning(tools):
    text = tools.A1111_TEXT.replace("Model: imagegen-mini", "Model: dreamshaper_8")
    plan = plan_replay(read_metadata(tools.a1111_png(text)))
    assert plan.spec is None and "dreamshaper_8" in next(w for w in plan.warnings if w.field == "model")


def test_a_comfyui_graph_maps_to_generate_params(tools):
    plan = plan_replay(read_metadata(tools.comfy_png()))
    assert plan.prompt == "a red circle on a blue background" and plan.spec == "diffusers:imagegen-mini"
    assert plan.params == {"steps": 4, "guidance": 7.0, "seed": 8566257, "negative_prompt": "blurry, low quality",
                           "size": "32x32", "scheduler": "DPM++ 2M Karras", "clip_skip": 2,
                           "hires": {"scale": 1.5, "upscaler": "latent", "steps": 2, "strength": 0.5}}


def test_each_comfyui_setting_not_honoured_gets_one_warning(tools):
    plan = plan_replay(read_metadata(tools.comfy_png()))
    assert sorted(fields(plan.warnings)) == ["hires", "loras", "seed", "vae"]


def test_a_fooocus_image_warns_about_its_own_settings(tools):
    plan = plan_replay(read_metadata(tools.fooocus_png()))
    assert plan.params["scheduler"] == "DPM++ 2M SDE Karras" and plan.params["guidance"] == 4.0
    dropped = [w for w in plan.warnings if w.field == "replay"]
    assert {w.split(" (")[0].removeprefix("replay: ") for w in dropped} == {
        "Fooocus performance", "Fooocus sharpness", "Fooocus adm_guidance", "Fooocus styles"}


def test_an_imagegen_image_replays_exactly_with_no_warning(make_png, tmp_path):
    from imagegen import GeneratedImage

    image = GeneratedImage(data=make_png((64, 48)), mime="image/png", width=64, height=48, seed=9,
                           info={"prompt": "a fox", "provider": "diffusers", "model": "imagegen-mini",
                                 "params": {"steps": 12, "scheduler": "Euler a", "size": "64x48"}})
    plan = plan_replay(read_metadata(image.save(tmp_path / "a.png")))
    assert plan.exact and plan.warnings == [] and plan.spec == "diffusers:imagegen-mini"
    assert plan.params == {"steps": 12, "scheduler": "Euler a", "size": "64x48", "seed": 9}


def test_find_model_matches_a_stem_a_file_name_or_a_diffusers_folder(tmp_path):
    lora_file(tmp_path / "a" / "detail.safetensors")
    (tmp_path / "b" / "sdxl-base").mkdir(parents=True)
    (tmp_path / "b" / "sdxl-base" / "model_index.json").write_text("{}")
    assert find_model("detail", [tmp_path]) == str(tmp_path / "a" / "detail.safetensors")
    assert find_model("sub/detail.safetensors", [tmp_path]) == str(tmp_path / "a" / "detail.safetensors")
    assert find_model("sdxl-base", [tmp_path]) == str(tmp_path / "b" / "sdxl-base")
    assert find_model("missing", [tmp_path]) is None


@pytest.mark.parametrize("builder", ["invokeai_png", "novelai_png"])
def test_invokeai_and_novelai_images_plan_with_their_seed_and_size(tools, builder):
    plan = plan_replay(read_metadata(getattr(tools, builder)()))
    assert plan.params["size"] == "32x32" and plan.params["steps"] == 4 and "seed" in plan.params


def test_a_jpeg_imagegen_saved_replays_on_the_provider_it_names(tmp_path):
    from PIL import Image

    from imagegen import GeneratedImage, ImageSettings, ModelRef
    from imagegen.provider import encode_png

    image = GeneratedImage(data=encode_png(Image.new("RGB", (1024, 1024))), mime="image/png", width=1024,
                           height=1024, info={"prompt": "a fox", "provider": "openai", "model": "gpt-image-1"},
                           settings=ImageSettings(width=1024, height=1024, model=ModelRef(name="gpt-image-1"),
                                                  quality="low"))
    plan = plan_replay(read_metadata(image.save(tmp_path / "fox.jpg")))  # a JPEG carries the infotext only
    assert plan.spec == "openai:gpt-image-1" and plan.params == {"size": "1024x1024", "quality": "low"}
    assert plan.warnings == []
