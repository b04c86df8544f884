"""``imagegen generate``'s local-pipeline options and ``imagegen upscale``, run in-process through ``main(argv)``."""

from __future__ import annotations

import json

from PIL import Image

import imagegen
from imagegen.cli import main
from imagegen.imageio import encode_png
from imagegen.metadata import read_png_text
from imagegen.testing import FakeProvider

seen: list = []


def _recording(model: str = "rec") -> FakeProvider:
    def handler(req):
        seen.append(req)
        return [encode_png(Image.new("RGB", (req.width, req.height), (9, 9, 9)))] * req.n

    return FakeProvider(model, name="clirecord", handler=handler)


imagegen.register_provider("clirecord", _recording)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_passes_every_local_pipeline_option(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_LEDGER", str(tmp_path / "l.sqlite"))
    seen.clear()
    code, _, err = run(capsys, "generate", "(a:1.2) fox", "-p", "clirecord:rec", "--clip-skip", "2", "--embedding",
                       "/m/easynegative.pt", "--hires", "2", "--hires-upscaler", "lanczos", "--hires-strength", "0.4",
                       "--hires-steps", "8", "--refiner", "/m/refiner", "--refiner-switch", "0.7", "--vae", "/m/vae",
                       "--tiling", "--prompt-syntax", "plain", "-o", tmp_path)
    assert code == 0, err
    req = seen[-1]
    assert (req.clip_skip, req.embeddings, req.refiner, req.refiner_switch, req.vae, req.tiling, req.prompt_syntax) == (
        2, ("/m/easynegative.pt",), "/m/refiner", 0.7, "/m/vae", True, "plain")
    assert req.hires is not None and (req.hires.scale, req.hires.upscaler, req.hires.strength, req.hires.steps) == (
        2.0, "lanczos", 0.4, 8)


def test_hires_takes_a_size_too(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_LEDGER", str(tmp_path / "l.sqlite"))
    seen.clear()
    assert run(capsys, "generate", "a fox", "-p", "clirecord:rec", "--hires", "96x64", "-o", tmp_path)[0] == 0
    assert seen[-1].hires.size == (96, 64)


def test_a_hires_option_without_hires_is_bad_input(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "a fox", "-p", "clirecord:rec", "--hires-steps", "8", "-o", tmp_path)
    assert code == 2 and "--hires" in err


def test_upscale_with_lanczos_doubles_the_image_and_keeps_its_metadata(capsys, tmp_path):
    from imagegen.metadata import with_png_text

    source = tmp_path / "small.png"
    im = Image.new("RGB", (20, 10), (200, 30, 30))
    im.save(source)
    source.write_bytes(with_png_text(source.read_bytes(), {"parameters": "a fox\nSteps: 20, Sampler: Euler, Seed: 1"}))
    code, out, err = run(capsys, "upscale", source, "--scale", "2", "-o", tmp_path / "out", "--json")
    assert code == 0, err
    made = json.loads(out)
    with Image.open(made["file"]) as big:
        assert big.size == (40, 20) and big.getpixel((20, 10)) == (200, 30, 30)
    assert read_png_text(made["file"])["parameters"].startswith("a fox")


def test_upscale_to_a_size(capsys, tmp_path):
    source = tmp_path / "small.png"
    Image.new("RGB", (20, 10)).save(source)
    code, out, _ = run(capsys, "upscale", source, "--size", "50x30", "--upscaler", "nearest", "-o", tmp_path, "--json")
    assert code == 0 and (json.loads(out)["width"], json.loads(out)["height"]) == (50, 30)


def test_upscale_needs_exactly_one_of_scale_and_size(capsys, tmp_path):
    source = tmp_path / "small.png"
    Image.new("RGB", (20, 10)).save(source)
    code, _, err = run(capsys, "upscale", source, "-o", tmp_path)
    assert code == 2 and "--scale" in err


def test_a_provider_without_an_upscale_hook_cannot_run_a_model_upscaler(capsys, tmp_path):
    source = tmp_path / "small.png"
    Image.new("RGB", (20, 10)).save(source)
    code, _, err = run(capsys, "upscale", source, "--scale", "2", "--upscaler", "latent", "-p", "clirecord:rec")
    assert code == 2 and "--upscaler" in err and "lanczos" in err


def test_upscale_with_the_latent_upscaler_goes_through_a_local_models_vae(capsys, tmp_path):
    import pytest

    pytest.importorskip("imagegen_diffusers")
    source = tmp_path / "small.png"
    Image.new("RGB", (20, 12), (40, 160, 90)).save(source)
    code, out, err = run(capsys, "upscale", source, "--scale", "2", "--upscaler", "latent", "-p",
                         "diffusers:imagegen-mini", "-o", tmp_path / "out", "--json")
    assert code == 0, err
    made = json.loads(out)
    with Image.open(made["file"]) as big:
        assert big.size == (40, 24)
