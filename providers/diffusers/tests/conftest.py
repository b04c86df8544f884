"""Tiny random-weight Stable Diffusion models, built from configs once per session and saved to disk.

Everything the provider tests load goes through the provider's real loading code: SD 1.x, SD 2.x
(v-prediction, OpenCLIP-style text encoder) and SDXL (two text encoders, micro-conditioning) pipelines saved
as diffusers folders and as single original-layout (LDM) checkpoints, an SD 1.x inpainting model, a
ControlNet and two LoRAs made with peft. Nothing is downloaded: the hub is switched off for the session.

The single files are written by inverting the key mapping diffusers applies when it converts an original
checkpoint (``diffusers/loaders/single_file_utils.py``), so loading one back exercises that conversion.

Test modules reach the builders through the ``tiny`` fixture (``--import-mode=importlib`` keeps them from
importing this file).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")

WORDS = ["a", "castle", "red", "circle", "on", "blue", "background", "fox", "in", "snow", "green", "square", "of",
         "the", "blurry", "low", "quality", "cat", "dog", "sky", "photo", "white", "black", "yellow"]


# -- the tokenizer: every word above is one token -------------------------------------------------------

def tokenizer_files(folder: Path) -> Path:
    """CLIP's layout in miniature: byte tokens, one merged token per word, and the two special tokens last (as
    CLIP's 49406 and 49407 are, which diffusers' ``unload_textual_inversion`` relies on)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}
    for code in range(33, 127):  # printable bytes stand for themselves in CLIP's byte encoder
        vocab.setdefault(chr(code), len(vocab))
        vocab.setdefault(chr(code) + "</w>", len(vocab))
    merges: list[str] = []
    for word in WORDS:
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            vocab.setdefault(pieces[0] + pieces[1], len(vocab))
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}))
    return folder


def _tokenizer(tmp: Path) -> Any:
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(tokenizer_files(tmp / "tok")), model_max_length=77)


def _text_encoder(tokenizer: Any, hidden: int, *, act: str = "quick_gelu", projection: int | None = None) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
                            num_hidden_layers=3, num_attention_heads=4, max_position_embeddings=77, hidden_act=act,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id, projection_dim=projection or hidden)
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                         up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=8, sample_size=32)


def _unet(*, sample: int, cross: int, in_channels: int = 4, linear: bool = False, xl: int | None = None,
          time_ids: int = 6) -> Any:
    from diffusers import UNet2DConditionModel

    extra: dict[str, Any] = {}
    if xl is not None:  # SDXL: pooled text embeds + 6 micro-conditioning numbers (5 for the refiner), 8 dims each
        extra = {"addition_embed_type": "text_time", "addition_time_embed_dim": 8,
                 "projection_class_embeddings_input_dim": xl + time_ids * 8}
    return UNet2DConditionModel(
        sample_size=sample, in_channels=in_channels, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross, attention_head_dim=(2, 4) if linear else 4, use_linear_projection=linear,
        norm_num_groups=8, **extra)


def build_sd1(tmp: Path, *, seed: int = 0, inpainting: bool = False) -> Any:
    import torch
    from diffusers import PNDMScheduler, StableDiffusionInpaintPipeline, StableDiffusionPipeline

    torch.manual_seed(seed)
    tokenizer = _tokenizer(tmp)
    cls = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
    pipe = cls(
        vae=_vae(), text_encoder=_text_encoder(tokenizer, 32), tokenizer=tokenizer,
        unet=_unet(sample=16, cross=32, in_channels=9 if inpainting else 4),
        scheduler=PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return pipe


def build_sd2(tmp: Path, *, seed: int = 1) -> Any:
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    torch.manual_seed(seed)
    tokenizer = _tokenizer(tmp)
    return StableDiffusionPipeline(
        vae=_vae(), text_encoder=_text_encoder(tokenizer, 32, act="gelu"), tokenizer=tokenizer,
        unet=_unet(sample=24, cross=32, linear=True),
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                                set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction"),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def build_sdxl(tmp: Path, *, seed: int = 2) -> Any:
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    torch.manual_seed(seed)
    tokenizer = _tokenizer(tmp)
    return StableDiffusionXLPipeline(
        vae=_vae(), text_encoder=_text_encoder(tokenizer, 32),
        text_encoder_2=_text_encoder(tokenizer, 64, act="gelu", projection=32), tokenizer=tokenizer,
        tokenizer_2=tokenizer, unet=_unet(sample=32, cross=32 + 64, linear=True, xl=32),
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         steps_offset=1, timestep_spacing="leading"))


def build_sdxl_refiner(base: Any, *, seed: int = 12) -> Any:
    """An SDXL refiner for ``base``, built the way the real pair is: the base's second text encoder and VAE, its
    own UNet conditioned on that encoder alone and on an aesthetic score (5 micro-conditioning numbers)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline

    torch.manual_seed(seed)
    return StableDiffusionXLImg2ImgPipeline(
        vae=base.vae, text_encoder=None, text_encoder_2=base.text_encoder_2, tokenizer=None,
        tokenizer_2=base.tokenizer_2, unet=_unet(sample=32, cross=64, linear=True, xl=32, time_ids=5),
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         steps_offset=1, timestep_spacing="leading"),
        requires_aesthetics_score=True, force_zeros_for_empty_prompt=False)


def build_controlnet(seed: int = 3) -> Any:
    import torch
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    net = ControlNetModel(
        in_channels=4, block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32, attention_head_dim=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), conditioning_embedding_out_channels=(16, 32),
        norm_num_groups=8)
    with torch.no_grad():  # its zero convolutions start at zero; give them weights so the control shows
        for module in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
            for p in module.parameters():
                p.normal_(0, 0.3)
    return net


def build_lora(folder: Path, seed: int) -> Path:
    """A LoRA for the tiny SD 1.x UNet, made with peft (random A and B, so it changes the output)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    unet = _unet(sample=16, cross=32)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "lora_" in name:
                p.mul_(3.0)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    return folder / "pytorch_lora_weights.safetensors"


# -- original (LDM) layout: the inverse of diffusers' single-file conversion --------------------------------

_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
           ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))
_UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}


def _resnet(rest: str) -> str:
    for new, old in _RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    return rest


def unet_to_ldm(unet: Any) -> dict[str, Any]:
    lpb = unet.config.layers_per_block
    has_attention = ["CrossAttn" in t for t in unet.config.up_block_types]
    out = {}
    for key, value in unet.state_dict().items():
        head, _, leaf = key.rpartition(".")
        if head in _UNET_TOP:
            new = f"{_UNET_TOP[head]}.{leaf}"
        elif m := re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"input_blocks.{1 + int(m[1]) * (lpb + 1) + int(m[2])}.0.{_resnet(m[3])}"
        elif m := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
            new = f"input_blocks.{1 + int(m[1]) * (lpb + 1) + int(m[2])}.1.{m[3]}"
        elif m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"input_blocks.{1 + int(m[1]) * (lpb + 1) + lpb}.0.op.{m[2]}"
        elif m := re.match(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
        elif m := re.match(r"mid_block\.attentions\.0\.(.+)", key):
            new = f"middle_block.1.{m[1]}"
        elif m := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"output_blocks.{int(m[1]) * (lpb + 1) + int(m[2])}.0.{_resnet(m[3])}"
        elif m := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
            new = f"output_blocks.{int(m[1]) * (lpb + 1) + int(m[2])}.1.{m[3]}"
        elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            block = int(m[1])
            new = f"output_blocks.{block * (lpb + 1) + lpb}.{2 if has_attention[block] else 1}.conv.{m[2]}"
        else:
            raise KeyError(f"no original-layout name for UNet key {key}")
        out[f"model.diffusion_model.{new}"] = value
    return out


_VAE_ATTN = (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out"))


def vae_to_ldm(vae: Any) -> dict[str, Any]:
    n = len(vae.config.up_block_types)
    out = {}
    for key, value in vae.state_dict().items():
        new = key.replace("conv_norm_out", "norm_out")
        if m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"decoder.up.{n - 1 - int(m[1])}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            new = f"decoder.up.{n - 1 - int(m[1])}.upsample.conv.{m[2]}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", key):
            rest = m[2]
            for dif, ldm in _VAE_ATTN:
                if rest.startswith(dif + "."):
                    rest = ldm + rest[len(dif):]
            new = f"{m[1]}.mid.attn_1.{rest}"
        out[f"first_stage_model.{new}"] = value
    return out


def clip_to_ldm(text_encoder: Any, prefix: str) -> dict[str, Any]:
    """A CLIP (OpenAI layout) text encoder under ``prefix`` (``cond_stage_model.transformer.``)."""
    return {f"{prefix}text_model.{k.removeprefix('text_model.')}": v for k, v in text_encoder.state_dict().items()
            if not k.endswith("position_ids")}


def open_clip_to_ldm(text_encoder: Any, prefix: str) -> dict[str, Any]:
    """An OpenCLIP-layout text encoder under ``prefix`` (``cond_stage_model.model.``): fused qkv, ``resblocks``."""
    import torch

    sd = {k.removeprefix("text_model."): v for k, v in text_encoder.state_dict().items()
          if not k.endswith("position_ids")}
    out = {f"{prefix}token_embedding.weight": sd.pop("embeddings.token_embedding.weight"),
           f"{prefix}positional_embedding": sd.pop("embeddings.position_embedding.weight"),
           f"{prefix}ln_final.weight": sd.pop("final_layer_norm.weight"),
           f"{prefix}ln_final.bias": sd.pop("final_layer_norm.bias")}
    if "text_projection.weight" in sd:
        out[f"{prefix}text_projection"] = sd.pop("text_projection.weight").T.contiguous()
    for i in range(text_encoder.config.num_hidden_layers):
        layer, block = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{block}attn.in_proj_{kind}"] = torch.cat([sd.pop(f"{layer}self_attn.{p}_proj.{kind}")
                                                            for p in "qkv"])
            for dif, ldm in (("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"),
                             ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")):
                out[f"{block}{ldm}.{kind}"] = sd.pop(f"{layer}{dif}.{kind}")
    assert not sd, f"text encoder keys left unmapped: {sorted(sd)}"
    return out


def to_ldm(pipe: Any) -> dict[str, Any]:
    """A whole pipeline as one original-layout state dict (what a .safetensors/.ckpt checkpoint holds)."""
    state = {**unet_to_ldm(pipe.unet), **vae_to_ldm(pipe.vae)}
    if getattr(pipe, "text_encoder_2", None) is not None:  # SDXL
        state.update(clip_to_ldm(pipe.text_encoder, "conditioner.embedders.0.transformer."))
        state.update(open_clip_to_ldm(pipe.text_encoder_2, "conditioner.embedders.1.model."))
    elif pipe.text_encoder.config.hidden_act == "gelu":  # SD 2.x: OpenCLIP
        state.update(open_clip_to_ldm(pipe.text_encoder, "cond_stage_model.model."))
    else:
        state.update(clip_to_ldm(pipe.text_encoder, "cond_stage_model.transformer."))
    return {k: v.detach().contiguous() for k, v in state.items()}


# -- the session's models ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tiny:
    root: Path
    sd1: Path
    sd1_file: Path
    sd1_ckpt: Path
    sd2: Path
    sd2_file: Path
    sdxl: Path
    sdxl_file: Path
    sdxl_refiner: Path  # a diffusers folder, sharing the tiny SDXL's second text encoder and VAE
    sd1_inpaint: Path
    controlnet: Path
    lora_a: Path
    lora_b: Path
    vae: Path        # another VAE for the SD 1.x models (other random weights): a diffusers folder
    vae_file: Path   # the same VAE as a single original-layout file (keys without a prefix, like vae-ft-mse)

    @staticmethod
    def png(size: tuple[int, int] = (32, 32), color: tuple[int, int, int] = (200, 40, 40), *,
            square: tuple[int, int, int, int] | None = None, fill: int | tuple[int, int, int] = 255,
            mode: str = "RGB") -> bytes:
        """PNG bytes: a plain image, optionally with a filled rectangle (x0, y0, x1, y1)."""
        import io

        from PIL import Image, ImageDraw

        im = Image.new(mode, size, color if mode == "RGB" else 0)
        if square is not None:
            ImageDraw.Draw(im).rectangle(square, fill=fill)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()

    @staticmethod
    def pixels(data: bytes) -> Any:
        import io

        import numpy as np
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def _save(pipe: Any, folder: Path) -> Path:
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _offline_and_single_threaded() -> None:
    import huggingface_hub.constants
    import torch

    huggingface_hub.constants.HF_HUB_OFFLINE = True
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _hash_cache_in_a_temp_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Model hashes computed by tests are cached in the session's temp folder, not the user's cache."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IMAGEGEN_HASH_CACHE", str(tmp_path_factory.mktemp("hash-cache") / "hashes.json"))
        yield


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    import safetensors.torch
    import torch

    root = tmp_path_factory.mktemp("tiny-models")
    sd1, sd2, sdxl = build_sd1(root / "t1"), build_sd2(root / "t2"), build_sdxl(root / "t3")
    sd1_state = to_ldm(sd1)
    safetensors.torch.save_file(sd1_state, str(root / "sd1.safetensors"))
    torch.save({"state_dict": sd1_state}, str(root / "sd1.ckpt"))
    safetensors.torch.save_file(to_ldm(sd2), str(root / "sd2.safetensors"))
    safetensors.torch.save_file(to_ldm(sdxl), str(root / "sdxl.safetensors"))
    inpaint = build_sd1(root / "t4", seed=4, inpainting=True)
    controlnet = build_controlnet()
    controlnet.save_pretrained(str(root / "controlnet"), safe_serialization=True)
    torch.manual_seed(9)
    vae = _vae()
    vae.save_pretrained(str(root / "vae"), safe_serialization=True)
    safetensors.torch.save_file({k.removeprefix("first_stage_model."): v.detach().contiguous()
                                 for k, v in vae_to_ldm(vae).items()},
                                str(root / "vae.safetensors"))
    return Tiny(root=root, sd1=_save(sd1, root / "sd1"), sd1_file=root / "sd1.safetensors", sd1_ckpt=root / "sd1.ckpt",
                sd2=_save(sd2, root / "sd2"), sd2_file=root / "sd2.safetensors", sdxl=_save(sdxl, root / "sdxl"),
                sdxl_file=root / "sdxl.safetensors", sd1_inpaint=_save(inpaint, root / "sd1-inpaint"),
                controlnet=root / "controlnet", lora_a=build_lora(root / "lora-a", 5),
                lora_b=build_lora(root / "lora-b", 6), vae=root / "vae", vae_file=root / "vae.safetensors",
                sdxl_refiner=_save(build_sdxl_refiner(sdxl), root / "sdxl-refiner"))


@pytest.fixture(scope="session", autouse=True)
def _room_for_every_tiny_model() -> None:
    """The shared cache holds every tiny model at once, so tests do not evict each other's models."""
    from imagegen_diffusers import shared_cache

    shared_cache().max_pipelines = 8


@dataclass(frozen=True)
class TinyEmbeddings:
    """Textual-inversion files for the tiny models, one per format people share."""

    folder: Path    # sd1: "tinystyle" (A1111 .pt, 3 vectors) and "tinyneg" (A1111 .safetensors, 1 vector)
    style_pt: Path
    neg_safetensors: Path
    diffusers_bin: Path  # sd1, diffusers' format: {"<tinydiff>": vector}
    sdxl: Path      # "tinyxl": clip_l (32 wide) and clip_g (64 wide), 2 vectors


@pytest.fixture(scope="session")
def tiny_embeddings(tmp_path_factory: pytest.TempPathFactory) -> TinyEmbeddings:
    import safetensors.torch
    import torch

    root = tmp_path_factory.mktemp("tiny-embeddings")
    folder = root / "sd1"
    folder.mkdir()
    g = torch.Generator().manual_seed(11)
    style = folder / "tinystyle.pt"
    torch.save({"string_to_param": {"*": torch.randn(3, 32, generator=g) * 2}, "name": "tinystyle", "step": 100},
               str(style))
    neg = folder / "tinyneg.safetensors"
    safetensors.torch.save_file({"emb_params": torch.randn(1, 32, generator=g) * 2}, str(neg))
    diff = root / "tinydiff.bin"
    torch.save({"tinydiff": torch.randn(32, generator=g) * 2}, str(diff))
    xl = root / "tinyxl.safetensors"
    safetensors.torch.save_file({"clip_l": torch.randn(2, 32, generator=g) * 2,
                                 "clip_g": torch.randn(2, 64, generator=g) * 2}, str(xl))
    return TinyEmbeddings(folder=folder, style_pt=style, neg_safetensors=neg, diffusers_bin=diff, sdxl=xl)


@pytest.fixture(scope="session")
def ldm_layout() -> Any:
    """The converters to the original (LDM) key layout, for tests that write checkpoints of other shapes."""
    from types import SimpleNamespace

    return SimpleNamespace(unet=unet_to_ldm, vae=vae_to_ldm, clip=clip_to_ldm, open_clip=open_clip_to_ldm)
