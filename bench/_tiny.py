"""Stable Diffusion pipelines built from configs with random weights: nothing is downloaded.

``tiny_sd_folder(path)`` writes a small SD 1.x diffusers folder (2-block UNet, small CLIP, a
hand-written CLIP vocab) that loads through the real ``from_pretrained`` code, for the local
overhead benchmark and CPU smoke runs.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["tiny_sd_folder", "tiny_sd_pipeline"]

_WORDS = ["a", "red", "fox", "in", "fresh", "snow", "golden", "hour", "photo", "of", "the", "lighthouse", "storm",
          "cat", "dog", "blue", "sky", "mountain", "river", "forest", "city", "night", "35mm", "blurry", "low",
          "quality"]


def _tokenizer_files(folder: str) -> None:
    """A byte-level BPE vocab where every word above is one token (letters and ``</w>`` forms too)."""
    os.makedirs(folder, exist_ok=True)
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for code in range(33, 127):  # printable bytes map to themselves in CLIP's byte encoder
        ch = chr(code)
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    merges: list[str] = []
    for word in _WORDS:
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            merged = pieces[0] + pieces[1]
            merges.append(f"{pieces[0]} {pieces[1]}")
            vocab.setdefault(merged, len(vocab))
            pieces = [merged, *pieces[2:]]
    with open(os.path.join(folder, "vocab.json"), "w") as fh:
        json.dump(vocab, fh)
    with open(os.path.join(folder, "merges.txt"), "w") as fh:
        fh.write("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as fh:
        json.dump({"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, fh)


def tiny_sd_pipeline(*, width: int = 32, seed: int = 0) -> Any:
    """A small SD 1.x pipeline in memory (``width``: the UNet's first block's channels)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = diffusers().UNet2DConditionModel(
        block_out_channels=(width, width * 2), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8)
    vae = diffusers().AutoencoderKL(block_out_channels=(width, width * 2), in_channels=3, out_channels=3,
                                    latent_channels=4,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=8,
                        sample_size=32)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _tokenizer_files(tmp)
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1, projection_dim=32))
    scheduler = diffusers().DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                          clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = diffusers().StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def diffusers() -> Any:
    """The diffusers module, typed loosely: its classes are built by untyped decorators."""
    import diffusers as module

    return module


def tiny_sd_folder(path: str, *, width: int = 32) -> str:
    """Write ``tiny_sd_pipeline`` as a diffusers folder at ``path`` (returns ``path``)."""
    if not os.path.exists(os.path.join(path, "model_index.json")):
        tiny_sd_pipeline(width=width).save_pretrained(path, safe_serialization=True)
    return path
