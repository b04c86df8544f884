"""The local provider reports the settings it actually used, and a saved image says so in A1111's terms.

The ``parameters`` text is read back by ``sd-parsers`` (PyPI), a third-party reader of A1111 metadata; hashes
are checked against hashlib, computed the way A1111's ``modules/hashes.py`` does (``sha256[0:10]`` for a
checkpoint, the header-less "addnet" SHA-256 ``[0:12]`` for a safetensors LoRA).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from imagegen_diffusers import resolve_sampler
from PIL import Image

import imagegen
from imagegen import read_metadata
from imagegen.provider import lora_hash

sd_parsers = pytest.importorskip("sd_parsers")

PROMPT = "a red circle on a blue background"


def parse(path):
    info = sd_parsers.ParserManager().parse(path)
    assert info is not None, "sd-parsers did not recognise the file"
    return info


def test_the_sampler_is_named_as_a1111_shows_it_and_reads_back_to_the_same_scheduler(tiny, tmp_path):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1, scheduler="dpm++ 2m karras")
    settings = result.images[0].settings
    assert (settings.sampler, settings.schedule_type) == ("DPM++ 2M", "Karras")
    meta = read_metadata(result.images[0].save(tmp_path / "a.png"))
    assert resolve_sampler(meta.settings.scheduler) == resolve_sampler("dpm++ 2m karras")


def test_the_models_own_scheduler_is_reported_when_none_is_asked_for(tiny):
    settings = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1).images[0].settings
    assert settings.sampler == "PLMS" and settings.schedule_type is None  # the tiny SD 1.x folder's PNDM


def test_a_checkpoint_files_model_hash_is_its_sha256_cut_to_10(tiny):
    settings = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1_file}", steps=2, seed=1).images[0].settings
    assert settings.model.name == "sd1"
    assert settings.model.hash == hashlib.sha256(tiny.sd1_file.read_bytes()).hexdigest()[:10]


def test_each_image_of_a_batch_records_its_own_seed(tiny):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=5, n=2)
    assert [im.settings.seed for im in result.images] == [5, 6]


def test_loras_are_listed_with_their_a1111_hash_and_strength(tiny, tmp_path):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1,
                               loras=[f"{tiny.lora_a}:0.7"])
    (lora,) = result.images[0].settings.loras
    assert (lora.name, lora.weight, lora.hash) == ("pytorch_lora_weights", 0.7, lora_hash(tiny.lora_a))
    text = parse(result.images[0].save(tmp_path / "a.png")).raw_parameters["parameters"]
    assert f'Lora hashes: "pytorch_lora_weights: {lora.hash}"' in text and "<lora:pytorch_lora_weights:0.7>" in text


def test_clip_skip_is_recorded_as_a1111_counts_it(tiny, tmp_path):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1, clip_skip=2)
    assert result.images[0].settings.clip_skip == 2
    assert "Clip skip: 2" in parse(result.images[0].save(tmp_path / "a.png")).raw_parameters["parameters"]


def test_a_vae_file_is_named_with_its_extension_and_hashed_as_a1111_does(tiny, tmp_path):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1, vae=str(tiny.vae_file))
    vae = result.images[0].settings.vae
    assert vae.name == tiny.vae_file.name
    assert vae.hash == hashlib.sha256(tiny.vae_file.read_bytes()).hexdigest()[:10]


def test_embeddings_the_prompt_uses_are_listed_with_their_ti_hash(tiny, tiny_embeddings):
    result = imagegen.generate("a castle", provider=f"diffusers:{tiny.sd1}", steps=2, seed=1,
                               negative_prompt="tinyneg", embeddings=[str(tiny_embeddings.folder)])
    (embedding,) = result.images[0].settings.embeddings  # tinystyle is loaded but not in either prompt
    digest = hashlib.sha256(tiny_embeddings.neg_safetensors.read_bytes()).hexdigest()
    assert (embedding.name, embedding.hash) == ("tinyneg", digest[:12])


def test_tiling_is_recorded(tiny):
    assert imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1,
                             tiling=True).images[0].settings.tiling


def test_img2img_records_its_denoising_strength(tiny):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=4, seed=1, image=tiny.png(),
                               strength=0.5)
    settings = result.images[0].settings
    assert settings.operation == "img2img" and settings.strength == 0.5


def test_the_imagegen_entry_keeps_the_settings_exactly(tiny, tmp_path):
    result = imagegen.generate(PROMPT, provider=f"diffusers:{tiny.sd1}", steps=2, seed=1, guidance=6.5)
    path = result.images[0].save(tmp_path / "a.png")
    assert read_metadata(path).settings == result.images[0].settings
    with Image.open(path) as im:
        entry = json.loads(im.text["imagegen"])
    assert entry["settings"]["guidance"] == 6.5
