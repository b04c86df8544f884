"""An image from the embedded model says what made it, to a third-party reader and to `imagegen info` alike.

`sd-parsers` (PyPI) is a third-party reader of A1111 metadata: it needs at least three of Sampler, CFG scale,
Seed and Steps on the last line of the `parameters` text (its `parsers/_automatic1111.py`). The embedded
model's defaults come from its `imagegen.json` (20 steps, guidance 7), its scheduler from its own config
(DPM++ 2M on linspace timesteps: A1111's `Uniform` schedule). Runs once imagegen-diffusers is installed.
"""

from __future__ import annotations

import json
import re

import pytest

import imagegen
from imagegen.cli import main

pytest.importorskip("imagegen_diffusers")
sd_parsers = pytest.importorskip("sd_parsers")

PROMPT = "a red circle on a blue background"


@pytest.fixture(scope="module")
def mini_png(tmp_path_factory) -> str:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CUDA_VISIBLE_DEVICES", "")
        result = imagegen.generate(PROMPT, provider="diffusers:imagegen-mini", seed=3)
    return result.images[0].save(tmp_path_factory.mktemp("mini") / "a.png")


def test_sd_parsers_reads_the_settings_the_embedded_model_used(mini_png):
    info = sd_parsers.ParserManager().parse(mini_png)
    assert info is not None
    sampler = info.samplers[0]
    assert info.full_prompt == PROMPT
    assert sampler.parameters["steps"] == "20" and sampler.name == "DPM++ 2M"
    assert sampler.parameters["cfg_scale"] == "7" and sampler.parameters["seed"] == "3"
    assert info.metadata["Size"] == "32x32" and sampler.model.name == "imagegen-mini"
    assert re.fullmatch(r"[0-9a-f]{10}", sampler.model.hash)


def test_imagegen_info_shows_what_sd_parsers_reads(mini_png, capsys):
    model = sd_parsers.ParserManager().parse(mini_png).samplers[0].model
    assert main(["info", mini_png, "--json"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert (settings["steps"], settings["sampler"], settings["guidance"], settings["seed"]) == (20, "DPM++ 2M", 7.0, 3)
    assert (settings["width"], settings["height"]) == (32, 32)
    assert settings["model"] == {"name": model.name, "hash": model.hash, "sha256": settings["model"]["sha256"]}
    assert main(["info", mini_png]) == 0
    table = capsys.readouterr().out
    assert "DPM++ 2M" in table and model.hash in table
