"""`imagegen generate --replay` remakes a local image bit for bit on CPU, with the embedded model.

Runs once imagegen-diffusers (the local provider with `diffusers:imagegen-mini`) is installed."""

from __future__ import annotations

import json

import pytest
from PIL import Image

pytest.importorskip("imagegen_diffusers")

from imagegen.cli import main
from imagegen.metadata import read_metadata


def generate(capsys, *argv: str) -> dict:
    code = main(["generate", *argv, "--no-ledger", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_replay_reproduces_a_local_image_bit_for_bit(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    first = generate(capsys, "a red circle on a blue background", "-p", "diffusers:imagegen-mini", "--seed", "1",
                     "-o", str(tmp_path / "a"))
    meta = read_metadata(first["files"][0])
    assert meta.spec == "diffusers:imagegen-mini" and meta.seed == 1
    again = generate(capsys, "--replay", first["files"][0], "-o", str(tmp_path / "b"))
    assert again["replay_identical"] == [True]
    with Image.open(first["files"][0]) as a, Image.open(again["files"][0]) as b:
        assert a.size == b.size and a.tobytes() == b.tobytes()


def test_replay_with_another_seed_makes_a_different_image(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    first = generate(capsys, "a red circle on a blue background", "-p", "diffusers:imagegen-mini", "--seed", "1",
                     "-o", str(tmp_path / "a"))
    other = generate(capsys, "--replay", first["files"][0], "--seed", "2", "-o", str(tmp_path / "b"))
    assert other["replay_identical"] == [False] and other["images"][0]["seed"] == 2


def replay_fixture(capsys, tmp_path, data: bytes, *argv: str) -> tuple[dict, list[str]]:
    source = tmp_path / "from-another-tool.png"
    source.write_bytes(data)
    code = main(["generate", "--replay", str(source), "-o", str(tmp_path / "out"), "--no-ledger", "--json", *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    return result, result["warnings"]


def test_replay_of_a_comfyui_image_regenerates_locally_with_its_settings(capsys, tmp_path, monkeypatch, tools):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    result, warnings = replay_fixture(capsys, tmp_path, tools.comfy_png())
    assert (result["provider"], result["model"]) == ("diffusers", "imagegen-mini")
    settings = read_metadata(result["files"][0]).settings
    assert (settings.steps, settings.sampler, settings.schedule_type) == (4, "DPM++ 2M", "Karras")
    assert (settings.guidance, settings.seed) == (7.0, 8566257)
    replay_warnings = [w for w in warnings if w.startswith("replay: ")]
    assert len(replay_warnings) == 4  # the hires upscaler's interpolation, the LoRA and VAE not found, the noise
    assert any("detail_tweaker" in w for w in replay_warnings) and any("vae-ft-mse" in w for w in replay_warnings)


def test_replay_of_an_a1111_image_regenerates_locally_with_its_settings(capsys, tmp_path, monkeypatch, tools):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    result, warnings = replay_fixture(capsys, tmp_path, tools.a1111_png())
    settings = read_metadata(result["files"][0]).settings
    assert (settings.steps, settings.sampler, settings.guidance, settings.seed) == (4, "Euler a", 7.0, 5)
    assert (settings.width, settings.height) == (32, 32)
    replay_warnings = [w for w in warnings if w.startswith("replay: ")]
    assert any("ENSD" in w for w in replay_warnings) and any("detail_tweaker" in w for w in replay_warnings)


def test_options_given_with_replay_win_over_the_images(capsys, tmp_path, monkeypatch, tools):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    result, _ = replay_fixture(capsys, tmp_path, tools.a1111_png(), "--steps", "2", "--seed", "11")
    settings = read_metadata(result["files"][0]).settings
    assert (settings.steps, settings.seed) == (2, 11)
