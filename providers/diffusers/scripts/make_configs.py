"""Write the architecture configs imagegen-diffusers ships for single checkpoint files (``imagegen_diffusers/configs``).

A ``.safetensors`` downloaded from a model site holds weights, not the configs to build its pipeline. A1111 ships
its own (``configs/v1-inference.yaml``, ...); this writes the diffusers equivalent for SD 1.x, SD 2.x and SDXL, so
``from_single_file`` needs neither the hub nor ``config=``:

- each family's ``model_index.json``, ``unet``, ``vae``, ``text_encoder`` (and ``text_encoder_2``) and ``scheduler``
  configs, with the values of the published pipelines (the keys that differ from the classes' defaults), and its
  tokenizers' ``tokenizer_config.json``;
- one copy of CLIP's BPE vocabulary (``clip/vocab.json``, ``clip/merges.txt``), which every SD tokenizer uses, built
  from OpenAI's ``bpe_simple_vocab_16e6.txt.gz`` exactly as CLIP's ``simple_tokenizer.py`` builds its encoder
  (github.com/openai/CLIP, ``clip/simple_tokenizer.py``, MIT licence).

Sources (checked 2026-12-02): huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5,
huggingface.co/stabilityai/stable-diffusion-2-1 and huggingface.co/stabilityai/stable-diffusion-xl-base-1.0 (their
``*/config.json``, ``scheduler/scheduler_config.json`` and ``tokenizer*/special_tokens_map.json``).

    python providers/diffusers/scripts/make_configs.py --bpe bpe_simple_vocab_16e6.txt.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from typing import Any

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "imagegen_diffusers", "configs")

_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
          "clip_sample": False, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
          "trained_betas": None}
_VAE = {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4,
        "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "act_fn": "silu", "norm_num_groups": 32,
        "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4}
_CLIP_L = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": 49408,
           "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
           "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "projection_dim": 768,
           "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "attention_dropout": 0.0, "dropout": 0.0,
           "initializer_factor": 1.0, "initializer_range": 0.02}
_UNET_SD = {"_class_name": "UNet2DConditionModel", "in_channels": 4, "out_channels": 4,
            "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, "act_fn": "silu", "norm_num_groups": 32,
            "norm_eps": 1e-05, "flip_sin_to_cos": True, "freq_shift": 0, "downsample_padding": 1,
            "mid_block_scale_factor": 1, "center_input_sample": False}


def _tokenizer(pad: str) -> dict[str, Any]:
    return {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, "errors": "replace",
            "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
            "pad_token": pad, "add_prefix_space": False, "clean_up_tokenization_spaces": True}


FAMILIES: dict[str, dict[str, Any]] = {
    "sd1": {  # stable-diffusion-v1-5/stable-diffusion-v1-5
        "model_index.json": {"_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "PNDMScheduler"],
                             "text_encoder": ["transformers", "CLIPTextModel"],
                             "tokenizer": ["transformers", "CLIPTokenizer"],
                             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                             "safety_checker": [None, None], "feature_extractor": [None, None],
                             "image_encoder": [None, None], "requires_safety_checker": False},
        "unet/config.json": {**_UNET_SD, "sample_size": 64, "cross_attention_dim": 768, "attention_head_dim": 8},
        "vae/config.json": {**_VAE, "sample_size": 512},
        "text_encoder/config.json": _CLIP_L,
        "scheduler/scheduler_config.json": {"_class_name": "PNDMScheduler", **_BETAS},
        "tokenizer/tokenizer_config.json": _tokenizer("<|endoftext|>"),
    },
    "sd2": {  # stabilityai/stable-diffusion-2-1 (768 px, v-prediction)
        "model_index.json": {"_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "DDIMScheduler"],
                             "text_encoder": ["transformers", "CLIPTextModel"],
                             "tokenizer": ["transformers", "CLIPTokenizer"],
                             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                             "safety_checker": [None, None], "feature_extractor": [None, None],
                             "image_encoder": [None, None], "requires_safety_checker": False},
        "unet/config.json": {**_UNET_SD, "sample_size": 96, "cross_attention_dim": 1024,
                             "attention_head_dim": [5, 10, 20, 20], "use_linear_projection": True},
        "vae/config.json": {**_VAE, "sample_size": 768},
        "text_encoder/config.json": {**_CLIP_L, "hidden_size": 1024, "intermediate_size": 4096,
                                     "num_hidden_layers": 23, "num_attention_heads": 16, "hidden_act": "gelu",
                                     "projection_dim": 512},
        "scheduler/scheduler_config.json": {"_class_name": "DDIMScheduler", **_BETAS,
                                            "prediction_type": "v_prediction"},
        "tokenizer/tokenizer_config.json": _tokenizer("!"),
    },
    "sdxl": {  # stabilityai/stable-diffusion-xl-base-1.0
        "model_index.json": {"_class_name": "StableDiffusionXLPipeline",
                             "scheduler": ["diffusers", "EulerDiscreteScheduler"],
                             "text_encoder": ["transformers", "CLIPTextModel"],
                             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
                             "tokenizer": ["transformers", "CLIPTokenizer"],
                             "tokenizer_2": ["transformers", "CLIPTokenizer"],
                             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                             "image_encoder": [None, None], "feature_extractor": [None, None],
                             "force_zeros_for_empty_prompt": True},
        "unet/config.json": {**_UNET_SD, "sample_size": 128, "block_out_channels": [320, 640, 1280],
                             "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                             "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                             "transformer_layers_per_block": [1, 2, 10], "attention_head_dim": [5, 10, 20],
                             "cross_attention_dim": 2048, "use_linear_projection": True,
                             "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
                             "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816},
        "vae/config.json": {**_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True},
        "text_encoder/config.json": _CLIP_L,
        "text_encoder_2/config.json": {**_CLIP_L, "architectures": ["CLIPTextModelWithProjection"],
                                       "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
                                       "num_attention_heads": 20, "hidden_act": "gelu", "projection_dim": 1280},
        "scheduler/scheduler_config.json": {"_class_name": "EulerDiscreteScheduler", **_BETAS,
                                            "prediction_type": "epsilon", "interpolation_type": "linear",
                                            "sample_max_value": 1.0, "timestep_spacing": "leading",
                                            "use_karras_sigmas": False},
        "tokenizer/tokenizer_config.json": _tokenizer("<|endoftext|>"),
        "tokenizer_2/tokenizer_config.json": _tokenizer("!"),
    },
}


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) byte-to-character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def clip_vocabulary(bpe_gz: str) -> tuple[dict[str, int], list[str]]:
    """(vocab, merges) as CLIP's ``SimpleTokenizer`` builds them: the 256 byte characters, the same with ``</w>``,
    one entry per merge (the first 48,894 lines after the header), then ``<|startoftext|>`` and ``<|endoftext|>``."""
    with gzip.open(bpe_gz) as fh:
        lines = fh.read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(vocab)}, merges


def write(path: str, data: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bpe", required=True, help="OpenAI CLIP's bpe_simple_vocab_16e6.txt.gz")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args(argv)
    for family, files in FAMILIES.items():
        for name, data in files.items():
            write(os.path.join(args.out, family, name), data)
    vocab, merges = clip_vocabulary(args.bpe)
    assert len(vocab) == 49408, len(vocab)
    os.makedirs(os.path.join(args.out, "clip"), exist_ok=True)
    with open(os.path.join(args.out, "clip", "vocab.json"), "w", encoding="utf-8") as fh:
        json.dump(vocab, fh, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(args.out, "clip", "merges.txt"), "w", encoding="utf-8") as fh:
        fh.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    print(f"wrote {args.out}: {', '.join(FAMILIES)} and clip/ ({len(vocab)} tokens, {len(merges)} merges)")


if __name__ == "__main__":
    main()
