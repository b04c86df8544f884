"""A checkpoint file as model sites serve it loads offline with no ``config=``: imagegen-diffusers ships the
published architectures' configs and CLIP's tokenizer vocabulary (``imagegen_diffusers/shipped.py``).

The real-size test writes a random-weight SD 1.5 checkpoint in the original (LDM) layout at the published shapes
(SD 1.5's UNet has 859,520,964 parameters, the figure diffusers' and the SD 1.5 model card's architecture give),
and makes a 64x64 image in one step from it with the network off.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from imagegen_diffusers.shipped import CONFIGS, shipped_config, tokenizers

import imagegen


def test_the_shipped_clip_vocabulary_tokenizes_as_clip_does():
    # CLIP's tokens for this caption: <|startoftext|> a photo of an astronaut riding a horse <|endoftext|>
    ids = tokenizers("sd1")["tokenizer"]("a photo of an astronaut riding a horse").input_ids
    assert ids == [49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 49407]


def test_sdxl_gets_both_tokenizers_and_the_second_pads_with_an_exclamation_mark():
    pair = tokenizers("sdxl")
    assert pair["tokenizer"].pad_token == "<|endoftext|>" and pair["tokenizer_2"].pad_token == "!"
    assert pair["tokenizer"] is not tokenizers("sdxl")["tokenizer"]  # embeddings add words: never shared


@pytest.mark.parametrize(("family", "unet_params"), [("sd1", 859_520_964), ("sdxl", 2_567_463_684)])
def test_the_shipped_unet_configs_have_the_published_sizes(family, unet_params):
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(os.path.join(shipped_config(family),
                                                                                             "unet")))
    assert sum(p.numel() for p in unet.parameters()) == unet_params


def test_the_shipped_configs_are_what_the_package_data_ships():
    with open(os.path.join(os.path.dirname(CONFIGS), os.pardir, "pyproject.toml"), encoding="utf-8") as fh:
        pyproject = fh.read()
    assert '"configs/**/*.json", "configs/**/*.txt"' in pyproject
    for family in ("sd1", "sd2", "sdxl"):
        with open(os.path.join(shipped_config(family), "model_index.json"), encoding="utf-8") as fh:
            assert json.load(fh)["_class_name"].startswith("StableDiffusion")


@pytest.mark.slow
def test_a_real_size_sd15_checkpoint_loads_offline_without_config_and_makes_an_image(tmp_path, ldm_layout,
                                                                                      monkeypatch):
    import safetensors.torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # nothing cached either
    config = shipped_config("sd1")
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(os.path.join(config, "unet")))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(os.path.join(config, "vae")))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(os.path.join(config, "text_encoder")))
    shapes = {**ldm_layout.unet(unet), **ldm_layout.vae(vae), **ldm_layout.clip(text, "cond_stage_model.transformer.")}
    del unet, vae, text
    g = torch.Generator().manual_seed(0)
    state = {k: (torch.randn(v.shape, generator=g) * 0.02).to(torch.float16) for k, v in shapes.items()}
    path = tmp_path / "random-sd15.safetensors"
    safetensors.torch.save_file(state, str(path))
    del state
    result = imagegen.generate("a castle", provider=f"diffusers:{path}", size="64x64", steps=1, seed=1)
    image = result.images[0]
    assert (image.width, image.height) == (64, 64) and image.info["local"]["family"] == "sd1"
